// Hugging Face model folders (data/hf_folder.h, model/hf_families.h): a family's folder exported
// back gives the same tensors under the same names and the same config.json keys, and what the
// model cannot express is refused with one line naming it. The numerical check of each imported
// family against the float64 reference is HfFolderParity in test_model_parity.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli/common_options.h"
#include "data/json_fields.h"
#include "io/fs.h"
#include "data/hf_folder.h"
#include "model/hf_families.h"
#include "test_util.h"

namespace hf {
namespace {

using test::error_of;

const std::string kData = HFEDMOE_SOURCE_DIR "/tests/data/hf/";

std::map<std::string, std::string> config_fields(const std::string& dir) {
  return json_object_fields(read_text_file(dir + "/config.json"), dir);
}

class HfRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(HfRoundTrip, ExportGivesTheFolderBack) {
  const std::string src = kData + GetParam();
  const ModelConfig cfg = hf_folder_config(src, "byte260");
  const ParamTable table(cfg);
  std::vector<float> weights(table.total());
  load_hf_folder_weights(src, table, weights.data());

  const std::string out = test::fresh_temp_dir(GetParam());
  save_hf_folder(out, table, weights.data());
  // The same config keys with the same values (the source has more: keys hfedmoe does not use).
  const auto want = config_fields(src), got = config_fields(out);
  for (const auto& [key, value] : got) {
    ASSERT_TRUE(want.count(key)) << "exported config.json has " << key << ", which the family's does not";
    if (value == want.at(key)) continue;
    EXPECT_FLOAT_EQ(std::strtof(value.c_str(), nullptr), std::strtof(want.at(key).c_str(), nullptr)) << key;
  }
  for (const char* key : {"model_type", "hidden_size", "num_hidden_layers", "num_experts_per_tok", "rope_theta"})
    EXPECT_TRUE(got.count(key)) << key;
  // The exported folder imports to the same model and the same bits.
  EXPECT_EQ(ModelOptions::ini_of(hf_folder_config(out, "byte260")), ModelOptions::ini_of(cfg));
  std::vector<float> back(table.total());
  load_hf_folder_weights(out, table, back.data());
  EXPECT_EQ(back, weights);
}

INSTANTIATE_TEST_SUITE_P(Families, HfRoundTrip,
                         ::testing::Values("mixtral", "qwen2_moe", "olmoe", "deepseek", "deepseek_dense"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// A copy of a family's folder with config.json's `key` set to the JSON literal `value`.
std::string folder_with(const std::string& family, const std::string& key, const std::string& value) {
  const std::string dir = test::fresh_temp_dir(family + "_" + key);
  for (const auto& e : std::filesystem::directory_iterator(kData + family))
    std::filesystem::copy_file(e.path(), dir + "/" + e.path().filename().string());
  std::string text = read_text_file(dir + "/config.json");
  const std::string quoted = "\"" + key + "\": ";
  size_t at = text.find(quoted);
  EXPECT_NE(at, std::string::npos) << key;
  size_t end = text.find_first_of(",\n}", at + quoted.size());
  text.replace(at + quoted.size(), end - at - quoted.size(), value);
  std::ofstream(dir + "/config.json", std::ios::trunc) << text;
  return dir;
}

TEST(HfImport, RefusesWhatTheModelCannotExpress) {
  std::string msg = error_of([&] { hf_folder_config(folder_with("mixtral", "model_type", "\"llama\""), "byte260"); });
  EXPECT_NE(msg.find("model_type 'llama' is not supported"), std::string::npos) << msg;
  msg = error_of([&] { hf_folder_config(folder_with("deepseek", "moe_layer_freq", "2"), "byte260"); });
  EXPECT_NE(msg.find("unsupported option(s) moe_layer_freq=2"), std::string::npos) << msg;
  msg = error_of([&] { hf_folder_config(folder_with("deepseek", "first_k_dense_replace", "2"), "byte260"); });
  EXPECT_NE(msg.find("model.first_k_dense=2 is outside [0, model.n_layers=2)"), std::string::npos) << msg;
  msg = error_of([&] { hf_folder_config(folder_with("olmoe", "clip_qkv", "8.0"), "byte260"); });
  EXPECT_NE(msg.find("clip_qkv=8.0"), std::string::npos) << msg;
  msg = error_of([&] { hf_folder_config(folder_with("qwen2_moe", "hidden_act", "\"gelu\""), "byte260"); });
  EXPECT_NE(msg.find("hidden_act=gelu"), std::string::npos) << msg;
  msg = error_of([&] {
    hf_folder_config(folder_with("mixtral", "rope_theta", "1e6, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"),
                     "byte260");
  });
  EXPECT_NE(msg.find("rope_scaling={\"type\":\"linear\",\"factor\":2.0}"), std::string::npos) << msg;
  // Qwen2-MoE's dense layers: the leading ones only, of intermediate_size.
  msg = error_of([&] { hf_folder_config(folder_with("qwen2_moe", "mlp_only_layers", "[1]"), "byte260"); });
  EXPECT_NE(msg.find("unsupported option(s) mlp_only_layers=[1]"), std::string::npos) << msg;
  EXPECT_EQ(hf_folder_config(folder_with("qwen2_moe", "mlp_only_layers", "[ ]"), "byte260").first_k_dense, 0);
  const ModelConfig qwen_dense = hf_folder_config(folder_with("qwen2_moe", "mlp_only_layers", "[0]"), "byte260");
  EXPECT_EQ(qwen_dense.first_k_dense, 1);
  EXPECT_EQ(qwen_dense.dense_ff(), 128);
  EXPECT_NE(hf_config_json(qwen_dense).find("\"mlp_only_layers\": [0]"), std::string::npos);
  msg = error_of([&] { hf_folder_config(kData + "olmoe", ""); });
  EXPECT_NE(msg.find("has no tokenizer.json or tokenizer.model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--model.tokenizer"), std::string::npos) << msg;
}

TEST(HfImport, ReadsWeightsTheModelDoesNotHaveAsAnError) {
  // The qwen2_moe folder's tensors under the olmoe model: names differ (shared expert, biases).
  ModelConfig cfg = hf_folder_config(kData + "olmoe", "byte260");
  const ParamTable table(cfg);
  std::vector<float> w(table.total());
  const std::string dir = folder_with("olmoe", "model_type", "\"olmoe\"");
  std::filesystem::copy_file(kData + "qwen2_moe/model.safetensors", dir + "/extra.safetensors");
  std::string msg = error_of([&] { load_hf_folder_weights(dir, table, w.data()); });
  EXPECT_NE(msg.find("is not part of the model"), std::string::npos) << msg;
}

TEST(HfFamilies, ExportRefusesAModelItsFamilyCannotExpress) {
  ModelConfig cfg = hf_folder_config(kData + "qwen2_moe", "byte260");
  cfg.hf_family = "mixtral";
  std::string msg = error_of([&] { hf_config_json(cfg); });
  EXPECT_NE(msg.find("the mixtral family cannot express model.qkv_bias"), std::string::npos) << msg;
  ModelConfig dense = hf_folder_config(kData + "deepseek_dense", "byte260");
  dense.hf_family = "olmoe";
  msg = error_of([&] { hf_config_json(dense); });
  EXPECT_NE(msg.find("model.first_k_dense"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { check_hf_family("llama"); }).find("model.hf_family 'llama' is unknown"), std::string::npos);
}

}  // namespace
}  // namespace hf
