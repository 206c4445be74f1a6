// Dense first layers (model.first_k_dense, DeepSeekMoE's first_k_dense_replace): the arena
// layout and the MoE-layer indexing the FL code relies on (model/params.h), and the options'
// one-line errors. Their maths is checked against PyTorch in test_model_parity.cpp
// (lm_deepseek_dense) and against the CPU in test_cuda_model.cpp.
#include <gtest/gtest.h>

#include "model/config.h"
#include "model/params.h"
#include "test_util.h"
#include "util/check.h"

namespace hf {
namespace {

ModelConfig dense_config() {
  ModelConfig c = model_preset("tiny");  // C 64, E 8, F 128
  c.n_layers = 3;
  c.first_k_dense = 1;
  c.dense_d_ff = 40;
  c.n_shared_experts = 1;
  return c;
}

TEST(DenseLayers, HoldOnlyAttentionNormsAndTheirMlp) {
  const ParamTable t(dense_config());
  for (const ParamInfo& p : t.tensors())
    if (p.layer == 0)
      EXPECT_TRUE(p.kind != ParamKind::router && p.kind != ParamKind::ws1 && !p.is_expert()) << p.name;
  EXPECT_EQ(t.get(ParamKind::wm1, 0).shape, (std::vector<int64_t>{40, 64}));
  EXPECT_EQ(t.get(ParamKind::wm2, 0).shape, (std::vector<int64_t>{64, 40}));
  EXPECT_EQ(t.get(ParamKind::wm1, 0).name, "layer_0/mlp/w1");
  EXPECT_EQ(t.find("layer_1/mlp/w1"), nullptr);
  // Every MoE layer has its router and shared experts at the routed experts' and shared d_ff.
  for (int l = 1; l < 3; l++) {
    EXPECT_EQ(t.get(ParamKind::router, l).shape, (std::vector<int64_t>{8, 64}));
    EXPECT_EQ(t.get(ParamKind::ws1, l).shape, (std::vector<int64_t>{128, 64}));
  }
}

TEST(DenseLayers, RoutingIndicesCountMoeLayersOnly) {
  const ModelConfig c = dense_config();
  const ParamTable t(c);
  EXPECT_EQ(c.moe_layers(), 2);
  for (int m = 0; m < c.moe_layers(); m++) {
    const ParamInfo& router = t.get(ParamKind::router, c.model_layer(m));
    EXPECT_EQ(t.router(m).begin, router.offset);
    for (int e = 0; e < c.n_experts; e++) {
      const Range b = t.expert_block(m, e);
      EXPECT_EQ(b.begin, t.get(ParamKind::w1, c.model_layer(m), e).offset);
      EXPECT_EQ(b.end, t.get(ParamKind::w2, c.model_layer(m), e).offset + t.get(ParamKind::w2, c.model_layer(m), e).numel());
      EXPECT_EQ(b.size(), t.expert_block_size());
    }
  }
  EXPECT_THROW(t.expert_block(2, 0), Error);
  // The dense MLP is a dense range: trained and aggregated like attention.
  const ParamInfo& mlp = t.get(ParamKind::wm3, 0);
  bool covered = false;
  for (const Range& r : t.dense_ranges()) covered |= r.begin <= mlp.offset && mlp.offset + mlp.numel() <= r.end;
  EXPECT_TRUE(covered);
  // Active parameters: everything but the (E - K) idle experts of the MoE layers.
  EXPECT_EQ(t.active_params_per_token(), t.total() - size_t(2) * (8 - 2) * t.expert_block_size());
}

TEST(DenseLayers, BadOptionsAreOneLineErrors) {
  auto message = [](const ModelConfig& c) { return test::error_of([&] { c.validate(); }); };
  ModelConfig c = dense_config();
  c.first_k_dense = 3;
  EXPECT_NE(message(c).find("model.first_k_dense=3 is outside [0, model.n_layers=3)"), std::string::npos) << message(c);
  c = dense_config();
  c.first_k_dense = 0;
  EXPECT_NE(message(c).find("model.dense_d_ff is set without dense layers"), std::string::npos) << message(c);
  c = dense_config();
  c.dense_d_ff = -1;
  EXPECT_NE(message(c).find("model.dense_d_ff=-1 is negative"), std::string::npos) << message(c);
  c = dense_config();
  c.lora.rank = 48;  // beyond the dense MLP's 40, within C 64 and F 128
  c.lora.targets = kLoraW2;
  EXPECT_NE(message(c).find("exceeds the smaller dimension (40) of the dense layers' w2"), std::string::npos)
      << message(c);
}

}  // namespace
}  // namespace hf
