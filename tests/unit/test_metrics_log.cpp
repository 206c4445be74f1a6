// The metrics table (io/metrics.h): a run resumed from a checkpoint of an older build, whose
// rows lack the columns added since, goes on with the new columns, NaN ("null") in the older
// rounds, in both files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "io/metrics.h"

namespace hf {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MetricsLog, RowsOfAnOlderBuildGetTheNewColumnsAsNull) {
  std::string dir = ::testing::TempDir() + "metrics_log";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  MetricsLog log;
  log.open(dir, {{{"round", int64_t{1}}, {"loss", 0.5}}});  // the checkpoint's table
  log.append({{"round", int64_t{2}}, {"loss", 0.25}, {"rank_peak_rss_mb", 80.0}});
  EXPECT_EQ(read_text(dir + "/metrics.csv"), "round,loss,rank_peak_rss_mb\n1,0.5,null\n2,0.25,80\n");
  EXPECT_EQ(read_text(dir + "/metrics.jsonl"),
            "{\"round\": 1, \"loss\": 0.5, \"rank_peak_rss_mb\": null}\n"
            "{\"round\": 2, \"loss\": 0.25, \"rank_peak_rss_mb\": 80}\n");
  ASSERT_EQ(log.rows().size(), 2u);
  EXPECT_TRUE(std::isnan(std::get<double>(log.rows()[0][2].second)));
}

}  // namespace
}  // namespace hf
