// train.init from an LM checkpoint into a classifier (load_model_weights with
// keep_absent_head): every tensor but the classification head comes from the file, the head
// keeps the caller's (fresh) values; any other missing or reshaped tensor is one usage error
// naming it.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/checkpoint.h"
#include "test_util.h"
#include "util/rng.h"

namespace hf {
namespace {

using test::error_of;

ModelConfig config(int n_classes, int d_ff = 64) {
  ModelConfig c = model_preset("tiny");
  c.n_experts = 16;
  c.d_ff = d_ff;
  c.n_classes = n_classes;
  return c;
}

// An LM checkpoint (no cls_head) of config(0, d_ff) with distinct values, in a fresh folder.
std::string lm_checkpoint(const std::string& name, int d_ff, std::vector<float>* model) {
  std::string dir = ::testing::TempDir() + "ckpt_init_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ParamTable table(config(0, d_ff));
  Checkpoint ck;
  ck.kind = "pretrain";
  ck.round = 10;
  ck.config_ini = "[model]\npreset = tiny\n";
  ck.model.resize(table.total());
  Rng rng(11, Purpose::init);
  for (auto& x : ck.model) x = static_cast<float>(rng.normal());
  if (model) *model = ck.model;
  return save_checkpoint(ck, table, dir, 1);
}

TEST(CheckpointInit, LmCheckpointIntoAClassifierKeepsTheFreshHead) {
  std::vector<float> lm;
  std::string path = lm_checkpoint("lm", 64, &lm);
  ParamTable lm_table(config(0)), cls_table(config(2));
  std::vector<float> params(cls_table.total(), 7.0f);  // the caller's fresh values
  EXPECT_FALSE(load_model_weights(path, cls_table, params.data(), /*keep_absent_head=*/true));
  for (const ParamInfo& p : cls_table.tensors()) {
    const float* got = params.data() + p.offset;
    if (p.kind == ParamKind::cls_w || p.kind == ParamKind::cls_b) {
      for (size_t i = 0; i < p.numel(); i++) ASSERT_EQ(got[i], 7.0f) << p.name;
    } else {
      const ParamInfo* q = lm_table.find(p.name);
      ASSERT_NE(q, nullptr) << p.name;
      EXPECT_EQ(std::memcmp(got, lm.data() + q->offset, p.numel() * sizeof(float)), 0) << p.name;
    }
  }
  // Without keep_absent_head (eval), the missing head is the error it always was.
  EXPECT_NE(error_of([&] { load_model_weights(path, cls_table, params.data()); }).find("tensor cls_head/w [2, 64] is missing"),
            std::string::npos);
}

TEST(CheckpointInit, AClassifierCheckpointLoadsWhole) {
  std::string dir = ::testing::TempDir() + "ckpt_init_cls";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ParamTable table(config(2));
  Checkpoint ck;
  ck.config_ini = "[model]\npreset = tiny\n";
  ck.model.assign(table.total(), 0.25f);
  std::string path = save_checkpoint(ck, table, dir, 1);
  std::vector<float> params(table.total(), 7.0f);
  EXPECT_TRUE(load_model_weights(path, table, params.data(), true));
  EXPECT_EQ(params, ck.model);
  // An LM model loading it: the head is in the checkpoint but not in the model.
  ParamTable lm(config(0));
  std::vector<float> lm_params(lm.total());
  EXPECT_NE(error_of([&] { load_model_weights(path, lm, lm_params.data(), true); })
                .find("tensor cls_head/b is in the checkpoint but not in the model"),
            std::string::npos);
}

TEST(CheckpointInit, AnyOtherMismatchNamesTheTensorAndTheFix) {
  std::string path = lm_checkpoint("narrow", 32, nullptr);
  ParamTable cls_table(config(2, 64));
  std::vector<float> params(cls_table.total());
  std::string err = error_of([&] { load_model_weights(path, cls_table, params.data(), true); });
  EXPECT_NE(err.find("tensor layer_0/expert_0/w1 has shape [32, 64] in the checkpoint, the model expects [64, 64]"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("use the --model options the checkpoint was written with"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
}

}  // namespace
}  // namespace hf
