// The server's checkpointed state (fl/server_state.h): a round trip restores every array, and a
// checkpoint that lacks one, holds one of the wrong size, or belongs to another run is one
// usage error naming the checkpoint, the array and the fix (not a raw map::at).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "fl/server_state.h"
#include "util/check.h"

namespace hf {
namespace {

ModelConfig cfg() {
  ModelConfig c = model_preset("tiny");
  c.d_model = 8, c.n_heads = 2, c.n_kv_heads = 2, c.n_layers = 2, c.n_experts = 4, c.top_k = 1, c.d_ff = 4;
  c.vocab_size = 16, c.n_classes = 2;
  return c;
}

ClientTable clients(int n) {
  ClientTable t;
  t.n_clients = n, t.L = 2, t.E = 4;
  t.usage.assign(n * 8, 0.0f), t.importance.assign(n * 8, 0.0f);
  t.rounds_done.assign(n, 0), t.last_round.assign(n, -1);
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ServerState, RoundTripRestoresEveryArray) {
  ParamTable table(cfg());
  FlOptions fl;
  fl.server_opt_v = ServerOpt::fedadam;
  ServerAggregator agg(table, fl, false), agg2(table, fl, false);
  agg.m[3] = 0.5f, agg.v[7] = 0.25f;
  ClientTable c = clients(3), c2 = clients(3);
  c.usage[5] = 0.125f, c.importance[9] = 0.75f, c.rounds_done[1] = 4, c.last_round[2] = 7;
  ServerState saved{12.5, agg, c}, loaded{0, agg2, c2};
  Checkpoint ck;
  ck.seed = 9, ck.method = "hfedmoe";
  saved.save_to(ck);
  loaded.load_from(ck, "x.h5", 9, "hfedmoe");
  EXPECT_EQ(loaded.virtual_time_s, 12.5);
  EXPECT_EQ(agg2.m, agg.m);
  EXPECT_EQ(agg2.v, agg.v);
  EXPECT_EQ(c2.usage, c.usage);
  EXPECT_EQ(c2.importance, c.importance);
  EXPECT_EQ(c2.rounds_done, c.rounds_done);
  EXPECT_EQ(c2.last_round, c.last_round);
}

TEST(ServerState, AMissingOrMisSizedArrayOrAnotherRunIsOneUsageError) {
  ParamTable table(cfg());
  FlOptions fl;
  ServerAggregator agg(table, fl, false);
  ClientTable c = clients(3);
  ServerState state{1.0, agg, c};
  Checkpoint good;
  good.seed = 9, good.method = "fedavg";
  state.save_to(good);

  Checkpoint missing = good;
  missing.clients_f32.erase("usage");
  std::string e = error_of([&] { state.load_from(missing, "runs/x/ckpt/train_4.h5", 9, "fedavg"); });
  EXPECT_NE(e.find("runs/x/ckpt/train_4.h5 has no /clients/usage"), std::string::npos) << e;
  EXPECT_NE(e.find("--fresh"), std::string::npos) << e;

  Checkpoint short_clock = good;
  short_clock.server_f64["virtual_time_s"].clear();
  e = error_of([&] { state.load_from(short_clock, "c.h5", 9, "fedavg"); });
  EXPECT_NE(e.find("/server/virtual_time_s holds 0 values, this run needs 1"), std::string::npos) << e;

  ClientTable more = clients(5);
  ServerState bigger{0, agg, more};
  e = error_of([&] { bigger.load_from(good, "c.h5", 9, "fedavg"); });
  EXPECT_NE(e.find("/clients/usage holds 24 values, this run needs 40"), std::string::npos) << e;

  e = error_of([&] { state.load_from(good, "c.h5", 10, "fedavg"); });
  EXPECT_NE(e.find("resume with the same fl.method and run.seed"), std::string::npos) << e;
  e = error_of([&] { state.load_from(good, "c.h5", 9, "hfedmoe"); });
  EXPECT_NE(e.find("of method fedavg"), std::string::npos) << e;
}

}  // namespace
}  // namespace hf
