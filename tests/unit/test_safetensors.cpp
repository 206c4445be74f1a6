// safetensors export/import: bit-exact round trip with Mixtral names, half-precision input,
// and one clear error naming the tensor for missing, extra, misshapen or truncated data.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/fs.h"
#include "io/safetensors.h"
#include "util/check.h"
#include "util/rng.h"
#include "test_util.h"

namespace hf {
namespace {

using test::error_of;

std::string temp(const std::string& name) { return ::testing::TempDir() + "st_" + name; }

std::vector<float> random_params(const ParamTable& table, uint64_t seed) {
  std::vector<float> p(table.total());
  Rng rng(seed, Purpose::init);
  for (auto& x : p) x = static_cast<float>(rng.normal());
  return p;
}

// A safetensors file from raw parts, to test what save_safetensors never writes.
struct RawTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};
void write_raw(const std::string& path, const std::vector<RawTensor>& tensors, size_t keep_data = SIZE_MAX) {
  std::string header = "{", data;
  for (const auto& t : tensors) {
    std::string shape;
    for (int64_t d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += (header.size() > 1 ? "," : "") + strf("\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                                                    t.name.c_str(), t.dtype.c_str(), shape.c_str(), data.size(),
                                                    data.size() + t.bytes.size());
    data += t.bytes;
  }
  header += "}";
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data.substr(0, std::min(keep_data, data.size()));
}

TEST(Safetensors, MixtralNames) {
  ParamTable table(model_preset("tiny"));
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::tok_emb), "mixtral"), "model.embed_tokens.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::attn_norm, 1), "mixtral"), "model.layers.1.input_layernorm.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::wk, 0), "mixtral"), "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::ffn_norm, 0), "mixtral"), "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::router, 1), "mixtral"), "model.layers.1.block_sparse_moe.gate.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::w2, 1, 7), "mixtral"), "model.layers.1.block_sparse_moe.experts.7.w2.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::final_norm), "mixtral"), "model.norm.weight");
  EXPECT_EQ(hf_tensor_name(table.get(ParamKind::lm_head), "mixtral"), "lm_head.weight");
}

TEST(Safetensors, RoundTripIsBitExact) {
  ParamTable table(model_preset("tiny"));
  std::vector<float> params = random_params(table, 3);
  std::string path = temp("roundtrip.safetensors");
  save_safetensors(path, table, params.data(), {{"format", "pt"}, {"hfedmoe_config", "[model]\npreset = \"tiny\"\n"}});
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::vector<float> back(table.total(), 0.0f);
  load_safetensors(path, table, back.data());
  EXPECT_EQ(std::memcmp(back.data(), params.data(), params.size() * sizeof(float)), 0);
  auto meta = safetensors_metadata(path);
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["hfedmoe_config"], "[model]\npreset = \"tiny\"\n");
  // The data starts 8-byte aligned, as the format recommends.
  std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + table.total() * sizeof(float));
}

TEST(Safetensors, MissingExtraAndMisshapenTensorsAreNamed) {
  ModelConfig base = model_preset("tiny");
  ParamTable table(base);
  std::vector<float> w(table.total());

  ModelConfig tied = base;
  tied.tie_embeddings = true;
  ParamTable no_head(tied);
  std::string path = temp("tied.safetensors");
  save_safetensors(path, no_head, random_params(no_head, 1).data(), {});
  std::string msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("tensor lm_head.weight [260, 64] is missing"), std::string::npos) << msg;

  ModelConfig narrow = base;
  narrow.d_ff = 96;
  ParamTable small(narrow);
  path = temp("narrow.safetensors");
  save_safetensors(path, small, random_params(small, 1).data(), {});
  msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("tensor model.layers.0.block_sparse_moe.experts.0.w1.weight has shape [96, 64], the model expects [128, 64]"),
            std::string::npos)
      << msg;

  ModelConfig cls = base;
  cls.n_classes = 3;
  ParamTable with_cls(cls);
  path = temp("cls.safetensors");
  save_safetensors(path, with_cls, random_params(with_cls, 1).data(), {});
  msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("tensor score.weight is not part of the model"), std::string::npos) << msg;
}

TEST(Safetensors, HalfPrecisionInputIsWidened) {
  ModelConfig c = model_preset("tiny");
  c.n_layers = 1;
  c.n_experts = 2;
  c.top_k = 1;
  ParamTable table(c);
  // Every tensor as BF16 holding 1.5, except the first as F16 holding -2.0 and 2^-20 (subnormal).
  std::vector<RawTensor> raw;
  for (const auto& p : table.tensors()) {
    RawTensor t{hf_tensor_name(p, "mixtral"), raw.empty() ? "F16" : "BF16", p.shape, {}};
    for (size_t i = 0; i < p.numel(); i++) {
      uint16_t h = raw.empty() ? (i == 1 ? 0x0010 : 0xC000) : 0x3FC0;
      t.bytes.append(reinterpret_cast<const char*>(&h), 2);
    }
    raw.push_back(t);
  }
  std::string path = temp("half.safetensors");
  write_raw(path, raw);
  std::vector<float> w(table.total());
  load_safetensors(path, table, w.data());
  EXPECT_EQ(w[0], -2.0f);
  EXPECT_EQ(w[1], std::ldexp(1.0f, -20));
  EXPECT_EQ(w[table.total() - 1], 1.5f);

  write_raw(path, raw, 1000);  // data cut short
  std::string msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("the file is truncated or corrupt"), std::string::npos) << msg;

  raw[1].dtype = "I8";
  write_raw(path, raw);
  msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("has dtype I8"), std::string::npos) << msg;
}

TEST(Safetensors, MalformedFiles) {
  ParamTable table(model_preset("tiny"));
  std::vector<float> w(table.total());
  std::string path = temp("short.safetensors");
  std::ofstream(path) << "abc";
  EXPECT_NE(error_of([&] { load_safetensors(path, table, w.data()); }).find("too short"), std::string::npos);
  std::ofstream(path, std::ios::binary) << std::string("\x10\0\0\0\0\0\0\0{\"a\": [1, 2}    ", 24);
  std::string msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("malformed safetensors header"), std::string::npos) << msg;
  std::ofstream(path, std::ios::binary) << std::string("\xff\xff\xff\0\0\0\0\0{}", 10);
  msg = error_of([&] { load_safetensors(path, table, w.data()); });
  EXPECT_NE(msg.find("does not fit the file"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { safetensors_metadata(temp("absent.safetensors")); }).find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace hf
