#pragma once
// HDF5 checkpoints (docs/user-guide.md, "Checkpoints and resume"; docs/design.md section 10):
//   bytes 0-511  the seal: size and crc32 of the rest of the file (io/seal.h), in HDF5's user
//                block, checked before libhdf5 parses anything
//   /meta     attrs: format="hfedmoe-checkpoint", format_version (2), kind ("train"|"pretrain"),
//             round, seed, method, config (the resolved INI text), build (git describe),
//             manifest (io/manifest.h: every dataset's dtype, shape and crc32, and the crc32 of
//             every other attribute listed here); a LoRA run's also base_path, base_sha256 and
//             base_dtype (BaseRef: the frozen base its adapters were trained over)
//   /model/<name>    every tensor of the ParamTable, by its HDF5 name, with shape
//   /server/<name>   named arrays of the server: sampler state, server optimizer moments,
//                    virtual clock, aggregation statistics that carry across rounds
//   /clients/<name>  named per-client arrays, first dimension = number of clients
//   /metrics/<column> the metrics table so far, one dataset per column
// Every reader checks seal, header and manifest before it reads a value, and each dataset's
// crc32 as it reads it. Written by rank 0 to <ckpt_dir>/<kind>_<round>.h5.tmp, sealed,
// fsync'd, renamed, then <ckpt_dir>/latest (a one-line text file holding the bare name of
// the newest complete checkpoint in the same folder) is replaced atomically.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/h5.h"
#include "io/manifest.h"
#include "io/metrics.h"
#include "model/params.h"

namespace hf {

// The frozen base a LoRA checkpoint's adapters were trained over (data/lora_base.h).
struct BaseRef {
  std::string path;    // train.init or train.init_hf as the run resolved it; "" = the base came from run.seed
  std::string sha256;  // hex digest of that file's bytes (a folder: of its config.json and safetensors); "" with none
  std::string dtype;   // train.base_dtype (fp32, bf16, int8, nf4)
};

struct Checkpoint {
  std::string kind = "train";
  int64_t round = 0;  // rounds (train) or steps (pretrain) completed
  uint64_t seed = 0;
  std::string method;
  std::string config_ini;
  BaseRef base;              // LoRA runs: the frozen base; base.dtype "" without adapters
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
// The checkpoint to resume: the one <dir>/latest names (a bare file name in dir; a usage
// error if it names anything else or a missing file); without latest, the newest
// <kind>_<round>.h5 in dir that open_checkpoint accepts, with a warning (a usage error if
// there are some and none is valid); "" when dir holds no checkpoint of this kind.
std::string latest_checkpoint(const std::string& dir, const std::string& kind);

// An open checkpoint whose seal, header (format, version, kind) and manifest were checked;
// every failure is one usage error naming the file.
struct CheckpointFile {
  h5::File file;
  Manifest manifest;
};
CheckpointFile open_checkpoint(const std::string& path);
// Reads a checkpoint; checks every tensor's presence and shape against the table (a usage
// error naming the tensor). Verifies the crc32 of every dataset.
Checkpoint load_checkpoint(const std::string& path, const ParamTable& table);
// Only /meta (kind, round, seed, method, config_ini), after the same checks of the file: the
// stored configuration, from which commands/checkpoint_config.h builds the model it describes.
Checkpoint load_checkpoint_meta(const std::string& path);
// Loads only /model into params (table.total() floats), for `train --train.init` and `eval`.
// Every tensor of the table must be in the file with its shape (a usage error naming the
// tensor otherwise), except that with keep_absent_head a file with no classification head
// (cls_head/w and cls_head/b both absent: an LM pretrain) loads the rest and leaves params'
// head as the caller set it. Returns false when it did so, true when every tensor was read.
bool load_model_weights(const std::string& path, const ParamTable& table, float* params,
                        bool keep_absent_head = false);

}  // namespace hf
