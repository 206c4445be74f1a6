#pragma once
// The metrics table of a run: one row per round, appended to <run>/metrics.jsonl and
// <run>/metrics.csv (same columns, in the order of the first row). Rank 0 only.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace hf {

using MetricValue = std::variant<int64_t, double, std::string>;
using MetricsRow = std::vector<std::pair<std::string, MetricValue>>;

std::string metric_text(const MetricValue& v);  // numbers round-trip exactly
std::string to_json(const MetricsRow& row);

class MetricsLog {
 public:
  // Rewrites both files with `rows` (the table so far: empty for a new run, the
  // checkpoint's table on resume, so rows past the checkpoint disappear).
  void open(const std::string& run_dir, const std::vector<MetricsRow>& rows);
  // A row with more columns than the table, the table's first, pads the older rows with NaN.
  void append(const MetricsRow& row);
  const std::vector<MetricsRow>& rows() const { return rows_; }

 private:
  void write_row(const MetricsRow& row);
  std::string run_dir_, jsonl_, csv_;
  std::vector<std::string> columns_;
  std::vector<MetricsRow> rows_;
};

}  // namespace hf
