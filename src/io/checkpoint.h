#pragma once
// HDF5 checkpoints (docs/user-guide.md, "Checkpoints and resume"; docs/design.md section 10):
//   /meta     attrs: format="hfedmoe-checkpoint", format_version, kind ("train"|"pretrain"),
//             round, seed, method, config (the resolved INI text), build (git describe)
//   /model/<name>    every tensor of the ParamTable, by its HDF5 name, with shape
//   /server/<name>   named arrays of the server: sampler state, server optimizer moments,
//                    virtual clock, aggregation statistics that carry across rounds
//   /clients/<name>  named per-client arrays, first dimension = number of clients
//   /metrics/<column> the metrics table so far, one dataset per column
// Every dataset carries a "crc32" attribute that `inspect --verify` and load() check.
// Written by rank 0 to <ckpt_dir>/<kind>_<round>.h5.tmp, fsync'd, renamed, then <ckpt_dir>/latest
// (a one-line text file naming the newest complete checkpoint) is replaced atomically.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/metrics.h"
#include "model/params.h"

namespace hf {

struct Checkpoint {
  std::string kind = "train";
  int64_t round = 0;  // rounds (train) or steps (pretrain) completed
  uint64_t seed = 0;
  std::string method;
  std::string config_ini;
  std::vector<float> model;  // (table.total()) the parameter arena
  std::map<std::string, std::vector<float>> server_f32;
  std::map<std::string, std::vector<double>> server_f64;
  std::map<std::string, std::vector<int64_t>> server_i64;
  std::map<std::string, std::vector<float>> clients_f32;   // each (n_clients, ...) flattened
  std::map<std::string, std::vector<int64_t>> clients_i64;
  std::vector<MetricsRow> metrics;
};

// Writes <dir>/<kind>_<round>.h5 atomically, points <dir>/latest at it, and keeps the newest
// `keep` checkpoints. Returns the path written.
std::string save_checkpoint(const Checkpoint& ck, const ParamTable& table, const std::string& dir, int keep);
// The path named by <dir>/latest, or "" when there is none.
std::string latest_checkpoint(const std::string& dir);
// Reads a checkpoint; checks every tensor's presence and shape against the table (a usage
// error naming the tensor). Verifies the crc32 of every dataset.
Checkpoint load_checkpoint(const std::string& path, const ParamTable& table);
// Only /meta (kind, round, seed, method, config_ini), after the same checks of the header: the
// stored configuration, from which cli/checkpoint_config.h builds the model it describes.
Checkpoint load_checkpoint_meta(const std::string& path);
// Loads only /model into params (table.total() floats), for `train --train.init` and `eval`.
// Every tensor of the table must be in the file with its shape (a usage error naming the
// tensor otherwise), except that with keep_absent_head a file with no classification head
// (cls_head/w and cls_head/b both absent: an LM pretrain) loads the rest and leaves params'
// head as the caller set it. Returns false when it did so, true when every tensor was read.
bool load_model_weights(const std::string& path, const ParamTable& table, float* params,
                        bool keep_absent_head = false);

}  // namespace hf
