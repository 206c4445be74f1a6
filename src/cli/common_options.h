#pragma once
// Option groups shared by several commands: [run] (output, seed, threads, logging,
// checkpoints) and [model] (a preset plus per-field overrides).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/options.h"
#include "model/config.h"

namespace hf {

class Ops;

struct RunOptions {
  std::string out;              // run directory; default runs/<job_name>
  std::string job_name = "default";
  uint64_t seed = 1;
  int threads = 0;              // OpenMP threads per rank; 0 = from the allocation (cli/threads.h)
  std::string log_level = "info";
  int ckpt_every = 0;           // rounds (or steps) between checkpoints; 0 = only at the end
  int ckpt_keep = 2;
  bool fresh = false;
  std::string resume;           // a checkpoint to resume from instead of <out>/ckpt/latest
  std::string backend = "cpu";  // cpu | cuda: where training computes
  std::string precision = "fp32";  // fp32 | tf32: GEMM inputs on the CUDA backend
  bool server_gpu = false;      // the server (evaluation) computes on a GPU too

  std::string run_dir() const { return out.empty() ? "runs/" + job_name : out; }
};
// Every [run] option, or only the keys listed in `only` (e.g. `eval`, which writes no run
// directory, takes run.threads, run.log_level, run.backend and run.precision): one help text
// and default per key, whichever command takes it. validate_run_options checks either.
void add_run_options(Options& o, RunOptions& r, const std::vector<std::string>& only = {});
void validate_run_options(const RunOptions& r);
// Applies log level and thread count for this rank (call after parsing; collective).
void apply_run_options(const RunOptions& r);

// This rank's compute backend: run.backend, on the GPU that mpi/gpu_pinning.h assigns it.
// The server rank of a multi-rank job keeps the CPU unless run.server_gpu. Collective; with run.backend=cuda, a rank
// without a device is a usage error on every rank. Logs the pinning.
struct Backend {
  std::unique_ptr<Ops> ops;
  int device = -1;  // CUDA device, -1 = CPU
};
Backend open_backend(const RunOptions& r);

// [model]: the preset is applied first; then every field given explicitly overrides it.
// After resolve(), the bound fields hold the final values, so resolved_ini() shows them.
class ModelOptions {
 public:
  void add(Options& o);
  ModelConfig resolve(const Options& o);  // validates; a usage error names the bad field
  // The [model] section of a config.ini that model_config_from_ini (commands/checkpoint_config.h)
  // reads back as c, every field written (for a model that came from elsewhere: an HF folder).
  static std::string ini_of(const ModelConfig& c);
  // Makes c the resolved model, so the Options' resolved_ini() records it (train.init_hf).
  void adopt(const ModelConfig& c) { cfg_ = c; }

 private:
  ModelConfig cfg_;
};

}  // namespace hf
