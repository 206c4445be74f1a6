#include "fl/server_state.h"

#include <map>

#include "util/check.h"

namespace hf {
namespace {

// The array `group/name` of a checkpoint, which must hold `n` values.
template <class T>
const std::vector<T>& need(const std::map<std::string, std::vector<T>>& arrays, const std::string& path,
                           const std::string& group, const std::string& name, size_t n) {
  auto it = arrays.find(name);
  if (it == arrays.end())
    fail("checkpoint " + path + " has no /" + group + "/" + name + " (not a train checkpoint of this version)",
         "resume from a checkpoint written by `hfedmoe train`, or pass --fresh to start over");
  if (it->second.size() != n)
    fail(strf("checkpoint %s: /%s/%s holds %zu values, this run needs %zu", path.c_str(), group.c_str(), name.c_str(),
              it->second.size(), n),
         "resume with the configuration the checkpoint was written with (its /meta config), or pass --fresh");
  return it->second;
}

}  // namespace

void ServerState::save_to(Checkpoint& ck) const {
  ck.server_f64["virtual_time_s"] = {virtual_time_s};
  if (!agg.m.empty()) ck.server_f32["adam_m"] = agg.m, ck.server_f32["adam_v"] = agg.v;
  ck.clients_f32["usage"] = clients.usage;
  ck.clients_f32["importance"] = clients.importance;
  ck.clients_i64["rounds_done"] = clients.rounds_done;
  ck.clients_i64["last_round"] = clients.last_round;
}

void ServerState::load_from(const Checkpoint& ck, const std::string& path, uint64_t seed, const std::string& method) {
  if (ck.kind != "train" || ck.seed != seed || ck.method != method)
    fail("checkpoint " + path + " is a " + ck.kind + " checkpoint of method " + ck.method + ", seed " + std::to_string(ck.seed) +
             "; this run is method " + method + ", seed " + std::to_string(seed),
         "resume with the same fl.method and run.seed, or pass --fresh");
  virtual_time_s = need(ck.server_f64, path, "server", "virtual_time_s", 1)[0];
  if (!agg.m.empty()) {
    agg.m = need(ck.server_f32, path, "server", "adam_m", agg.m.size());
    agg.v = need(ck.server_f32, path, "server", "adam_v", agg.v.size());
  }
  clients.usage = need(ck.clients_f32, path, "clients", "usage", clients.usage.size());
  clients.importance = need(ck.clients_f32, path, "clients", "importance", clients.importance.size());
  clients.rounds_done = need(ck.clients_i64, path, "clients", "rounds_done", clients.rounds_done.size());
  clients.last_round = need(ck.clients_i64, path, "clients", "last_round", clients.last_round.size());
}

}  // namespace hf
