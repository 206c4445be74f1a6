#include "cli/common_options.h"

#include <omp.h>

#include <algorithm>

#include "cli/backend.h"
#include "cli/threads.h"
#include "mpi/gpu_pinning.h"
#include "mpi/runtime.h"
#include "util/log.h"

namespace hf {

void add_run_options(Options& o, RunOptions& r, const std::vector<std::string>& only) {
  size_t taken = 0;
  auto take = [&](const char* key) {
    bool wanted = only.empty() || std::find(only.begin(), only.end(), key) != only.end();
    taken += wanted;
    return wanted;
  };
  auto add = [&](const char* key, auto* target, const char* help) {
    if (take(key)) o.add(key, target, help);
  };
  add("out", &r.out, "run directory (default: runs/<run.job_name>); an existing one is resumed");
  add("run.job_name", &r.job_name, "name of the job (the default run directory's name)");
  add("run.seed", &r.seed, "seed of every random draw (streams keyed by seed, round, client, step)");
  add("run.threads", &r.threads, "OpenMP threads per rank; 0 = from OMP_NUM_THREADS, SLURM_CPUS_PER_TASK or the affinity mask");
  add("run.log_level", &r.log_level, "error, warn, info or debug");
  add("run.ckpt_every", &r.ckpt_every, "checkpoint every N rounds (0 = only at the end)");
  add("run.ckpt_keep", &r.ckpt_keep, "how many checkpoints to keep in <out>/ckpt");
  add("run.resume", &r.resume, "resume from this checkpoint file instead of <out>/ckpt/latest");
  add("run.backend", &r.backend, "cpu or cuda: where the model computes (training executors take GPUs by local rank)");
  add("run.precision", &r.precision, "fp32 or tf32: GEMM input precision on the CUDA backend");
  add("run.server_gpu", &r.server_gpu,
      "with run.backend=cuda, the server evaluates on GPU 0 of its node too (else on the CPU)");
  if (take("fresh")) o.flag("fresh", &r.fresh, "start over: delete the run directory's previous results first");
  HF_CHECK(only.empty() || taken == only.size(), "add_run_options: a key of `only` is not a run option");
}

void validate_run_options(const RunOptions& r) {
  check_range("run.threads", r.threads, 0, 1024);
  check_choice("run.log_level", r.log_level, {"error", "warn", "info", "debug"});
  check_range("run.ckpt_every", r.ckpt_every, 0, 1 << 30);
  check_range("run.ckpt_keep", r.ckpt_keep, 1, 1000);
  check_choice("run.backend", r.backend, {"cpu", "cuda"});
  check_choice("run.precision", r.precision, {"fp32", "tf32"});
  if (r.server_gpu && r.backend != "cuda")
    fail("run.server_gpu needs run.backend=cuda", "set run.backend=cuda or drop run.server_gpu");
  if (r.precision != "fp32" && r.backend != "cuda")
    fail("run.precision=" + r.precision + " applies to the CUDA backend only", "set run.backend=cuda or run.precision=fp32");
  if (r.job_name.empty() || r.job_name.find('/') != std::string::npos)
    fail("run.job_name='" + r.job_name + "' is not a plain name", "use letters, digits, '-' or '_'");
}

void apply_run_options(const RunOptions& r) {
  log_init(world_rank(), parse_log_level(r.log_level));
  ThreadChoice choice = choose_threads(r.threads);
  omp_set_num_threads(choice.threads);
  LOG_INFO("rank %d: %d OpenMP thread(s), from %s", world_rank(), choice.threads, choice.why.c_str());
}

Backend open_backend(const RunOptions& r) {
  Backend b;
  int devices = r.backend == "cuda" ? cuda_device_count() : 0;
  GpuAssignment gpu = pin_this_rank(devices, r.server_gpu);
  collectively([&] {  // make_backend names the obstacle (no CUDA in this build, no device) and the fix
    const bool server = world_size() > 1 && is_server();
    const bool wants_gpu = r.backend == "cuda" && (!server || r.server_gpu);
    b.device = wants_gpu ? gpu.device : -1;
    b.ops = make_backend(wants_gpu ? "cuda" : "cpu", b.device, r.threads, r.precision == "tf32");
  });
  if (r.backend == "cuda") LOG_INFO("rank %d: %s", world_rank(), gpu.reason.c_str());
  return b;
}

void ModelOptions::add(Options& o) {
  cfg_ = model_preset("tiny");
  o.add("model.preset", &cfg_.preset, "tiny (tests), small (CPU demo) or base (one GPU); fields below override it")
      .add("model.tokenizer", &cfg_.tokenizer, "byte260 (built in) or sha256:<hex> of a model folder's tokenizer file")
      .add("model.vocab_size", &cfg_.vocab_size, "V; 260 for the built-in byte-level tokenizer")
      .add("model.d_model", &cfg_.d_model, "C, the hidden size")
      .add("model.n_layers", &cfg_.n_layers, "L, transformer blocks")
      .add("model.n_heads", &cfg_.n_heads, "NH, query heads")
      .add("model.n_kv_heads", &cfg_.n_kv_heads, "NKV, key/value heads (grouped-query attention when < NH)")
      .add("model.n_experts", &cfg_.n_experts, "E, experts per MoE layer")
      .add("model.top_k", &cfg_.top_k, "K, experts per token")
      .add("model.d_ff", &cfg_.d_ff, "F, hidden size of each SwiGLU expert")
      .add("model.seq_len", &cfg_.seq_len, "T, the maximum sequence length")
      .add("model.rms_eps", &cfg_.rms_eps, "RMSNorm epsilon")
      .add("model.rope_theta", &cfg_.rope_theta, "rotary embedding base")
      .add("model.tie_embeddings", &cfg_.tie_embeddings, "share the LM head with the token embedding")
      .add("model.n_classes", &cfg_.n_classes, "NC; > 0 adds a sequence-classification head")
      .add("model.aux_loss_coef", &cfg_.aux_loss_coef, "load-balancing loss weight (0 for fine-tuning)")
      .add("model.capacity_factor", &cfg_.capacity_factor, "0 = dropless; else each expert takes <= cf*N*K/E tokens")
      .add("model.norm_topk_prob", &cfg_.norm_topk_prob, "renormalise the top-k gates to sum to 1 (Mixtral); false for Qwen2-MoE, OLMoE")
      .add("model.qkv_bias", &cfg_.qkv_bias, "biases on the q, k, v projections (Qwen2)")
      .add("model.qk_norm", &cfg_.qk_norm, "RMSNorm on the q and k projections before RoPE (OLMoE)")
      .add("model.n_shared_experts", &cfg_.n_shared_experts, "experts every token passes through (DeepSeekMoE, Qwen2-MoE)")
      .add("model.shared_d_ff", &cfg_.shared_d_ff, "hidden size of each shared expert; 0 = model.d_ff")
      .add("model.shared_gate", &cfg_.shared_gate, "scale the shared experts' output by sigmoid(gate x) (Qwen2-MoE)")
      .add("model.first_k_dense", &cfg_.first_k_dense, "layers [0, k) have a dense SwiGLU MLP instead of experts (DeepSeekMoE's first_k_dense_replace)")
      .add("model.dense_d_ff", &cfg_.dense_d_ff, "hidden size of the dense layers' MLP; 0 = model.d_ff")
      .add("model.hf_family", &cfg_.hf_family, "Hugging Face family export names tensors for: mixtral, qwen2_moe, olmoe or deepseek");
}

std::string ModelOptions::ini_of(const ModelConfig& c) {
  Options o("import", "a model's configuration");
  ModelOptions m;
  m.add(o);
  m.cfg_ = c;  // the options read their values through pointers into cfg_
  return o.resolved_ini();
}

ModelConfig ModelOptions::resolve(const Options& o) {
  ModelConfig given = cfg_;
  ModelConfig c = model_preset(given.preset);
  auto take = [&](const char* key, auto& field, const auto& value) {
    if (o.was_set(std::string("model.") + key)) field = value;
  };
  take("tokenizer", c.tokenizer, given.tokenizer);
  take("vocab_size", c.vocab_size, given.vocab_size);
  take("d_model", c.d_model, given.d_model);
  take("n_layers", c.n_layers, given.n_layers);
  take("n_heads", c.n_heads, given.n_heads);
  take("n_kv_heads", c.n_kv_heads, given.n_kv_heads);
  take("n_experts", c.n_experts, given.n_experts);
  take("top_k", c.top_k, given.top_k);
  take("d_ff", c.d_ff, given.d_ff);
  take("seq_len", c.seq_len, given.seq_len);
  take("rms_eps", c.rms_eps, given.rms_eps);
  take("rope_theta", c.rope_theta, given.rope_theta);
  take("tie_embeddings", c.tie_embeddings, given.tie_embeddings);
  take("n_classes", c.n_classes, given.n_classes);
  take("aux_loss_coef", c.aux_loss_coef, given.aux_loss_coef);
  take("capacity_factor", c.capacity_factor, given.capacity_factor);
  take("norm_topk_prob", c.norm_topk_prob, given.norm_topk_prob);
  take("qkv_bias", c.qkv_bias, given.qkv_bias);
  take("qk_norm", c.qk_norm, given.qk_norm);
  take("n_shared_experts", c.n_shared_experts, given.n_shared_experts);
  take("shared_d_ff", c.shared_d_ff, given.shared_d_ff);
  take("shared_gate", c.shared_gate, given.shared_gate);
  take("first_k_dense", c.first_k_dense, given.first_k_dense);
  take("dense_d_ff", c.dense_d_ff, given.dense_d_ff);
  take("hf_family", c.hf_family, given.hf_family);
  c.validate();
  cfg_ = c;
  return c;
}

}  // namespace hf
