#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "io/h5.h"
#include "util/check.h"

namespace hf {
namespace {

std::string temp_path(const char* name) { return ::testing::TempDir() + name; }

TEST(H5, RoundTripsDatasetsAndAttributes) {
  std::string path = temp_path("h5_roundtrip.h5");
  {
    auto f = h5::File::create(path);
    std::vector<float> w = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
    f.write("model/layer_0/expert_1/w1", w.data(), {2, 3});
    f.write("ids", std::vector<int32_t>{4, 5, 6});
    f.write_strings("names", {"alpha", "", "gamma"});
    f.set_attr("/meta", "format", std::string("hfedmoe-checkpoint"));
    f.set_attr("/meta", "round", int64_t{17});
    f.set_attr("model/layer_0/expert_1/w1", "scale", 0.5);
  }
  auto f = h5::File::open_read(path);
  EXPECT_EQ(f.shape("model/layer_0/expert_1/w1"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.read<float>("model/layer_0/expert_1/w1"), (std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f}));
  EXPECT_EQ(f.read<int32_t>("ids"), (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(f.read_strings("names"), (std::vector<std::string>{"alpha", "", "gamma"}));
  EXPECT_EQ(f.attr_string("/meta", "format"), "hfedmoe-checkpoint");
  EXPECT_EQ(f.attr_int("/meta", "round"), 17);
  EXPECT_DOUBLE_EQ(f.attr_double("model/layer_0/expert_1/w1", "scale"), 0.5);
  EXPECT_EQ(f.list("model/layer_0"), (std::vector<std::string>{"expert_1"}));
  EXPECT_TRUE(f.exists("model/layer_0/expert_1"));
  EXPECT_FALSE(f.exists("model/layer_9/expert_1/w1"));
  float wrong[5];
  EXPECT_THROW(f.read("model/layer_0/expert_1/w1", wrong, 5), Error);
}

TEST(H5, RejectsMissingTruncatedAndForeignFiles) {
  EXPECT_THROW(h5::File::open_read(temp_path("does_not_exist.h5")), Error);
  std::string foreign = temp_path("foreign.h5");
  std::ofstream(foreign) << "this is not hdf5";
  try {
    h5::File::open_read(foreign);
    FAIL() << "a text file opened as HDF5";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos) << e.what();
  }
  std::string good = temp_path("to_truncate.h5");
  {
    auto f = h5::File::create(good);
    std::vector<float> big(100000, 1.0f);
    f.write("x", big);
  }
  std::FILE* in = std::fopen(good.c_str(), "rb");
  std::vector<char> bytes(200000);
  size_t n = std::fread(bytes.data(), 1, bytes.size(), in);
  std::fclose(in);
  std::string cut = temp_path("truncated.h5");
  std::FILE* out = std::fopen(cut.c_str(), "wb");
  std::fwrite(bytes.data(), 1, n / 2, out);
  std::fclose(out);
  EXPECT_THROW({ auto f = h5::File::open_read(cut); f.read<float>("x"); }, Error);
}

}  // namespace
}  // namespace hf
