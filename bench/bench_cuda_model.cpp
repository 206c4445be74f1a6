// Training-step throughput of the model on the CUDA backend, and the grouped expert GEMMs
// against one dense GEMM of the same FLOPs.
//
//   bench_cuda_model [--preset small|base|all] [--device D] [--steps N] [--batch B] [--seq T]
//                    [--tf32] [--attention fused|reference] [--out FILE]
//
// --attention picks the attention kernels (CudaAttention, cuda/cuda_ops.h; fused by default).
//
// Definitions of what is printed:
//   tokens/s     = B * T / (median over timed steps of forward + backward, synchronised, plus
//                  the median time of gradient clipping and AdamW over all P parameters, on the
//                  model's own device arenas).
//   model FLOPs  = per token, 6 * N_active + 12 * L * T * NH * HS: N_active counts every matrix
//                  a token multiplies (attention, router, K of the E experts per layer, LM head;
//                  not the embedding lookup), the second term the attention scores and weighted
//                  values forward and backward over the full T x T (what the kernels compute).
//   MFU          = tokens/s * model FLOPs per token / 989 TFLOP/s, the H100 SXM dense BF16
//                  tensor-core peak. This backend computes in FP32 (SIMT peak 67 TFLOP/s) or,
//                  with --tf32, TF32 (dense peak 494 TFLOP/s), so its MFU against the BF16 peak
//                  is bounded by 6.8% (FP32) or 50% (TF32); the FP32-peak fraction is printed too.
//   exec TFLOP/s = Model::last_step_flops() (GEMM FLOPs actually executed, frozen experts and
//                  capacity drops accounted) / median forward + backward time.
//   grouped GEMM = the expert w1 GEMM of one MoE layer as the model runs it: M = B*T*K rows
//                  spread over E experts by uniformly random top-K routing, (M, C) x (C, F) as
//                  one cuBLAS call per expert; TFLOP/s = 2 M C F / median time (forward), and
//                  4 M C F / time (backward: dinp and dW). "dense" is one (M, C) x (C, F) GEMM.
// --out appends one Markdown table row per preset.
#include <cstdio>

#ifdef HFEDMOE_HAVE_CUDA
#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "cuda/cuda_ops.h"
#include "cuda/device.h"
#include "model/adamw.h"
#include "model/model.h"
#include "util/check.h"
#include "util/rng.h"
#include "bench_util.h"

namespace {

using namespace hf::bench;

constexpr double kPeakBf16 = 989e12;  // H100 SXM, dense BF16 tensor cores
constexpr double kPeakFp32 = 67e12;   // H100 SXM, FP32 SIMT

struct Options {
  std::string preset = "all", out;
  int device = 0, steps = 10, batch = 0, seq = 0;
  bool tf32 = false;
  hf::CudaAttention attention = hf::CudaAttention::fused;
};

hf::CudaAttention parse_attention(const std::string& kind) {
  if (kind == "fused") return hf::CudaAttention::fused;
  if (kind == "reference") return hf::CudaAttention::reference;
  hf::fail("--attention " + kind + " is unknown", "use fused or reference");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) hf::fail(a + " needs a value", "see the usage line at the top of bench/bench_cuda_model.cpp");
      return argv[++i];
    };
    if (a == "--preset") o.preset = value();
    else if (a == "--device") o.device = std::stoi(value());
    else if (a == "--steps") o.steps = std::stoi(value());
    else if (a == "--batch") o.batch = std::stoi(value());
    else if (a == "--seq") o.seq = std::stoi(value());
    else if (a == "--out") o.out = value();
    else if (a == "--tf32") o.tf32 = true;
    else if (a == "--attention") o.attention = parse_attention(value());
    else hf::fail("unknown option " + a, "use --preset, --device, --steps, --batch, --seq, --tf32, --attention, --out");
  }
  if (o.steps < 1) hf::fail("--steps must be at least 1", "pass e.g. --steps 10");
  return o;
}

// Matrix parameters a token multiplies: everything but the embedding lookup, and K/E of the experts.
double active_params(const hf::ModelConfig& cfg, const hf::ParamTable& table) {
  double n = 0;
  for (const hf::ParamInfo& p : table.tensors()) {
    if (p.kind == hf::ParamKind::tok_emb && !cfg.tie_embeddings) continue;
    n += p.is_expert() ? static_cast<double>(p.numel()) * cfg.top_k / cfg.n_experts : p.numel();
  }
  return n;
}

// Median seconds of fn() over reps calls, each synchronised.
template <typename Fn>
double time_op(hf::CudaOps& ops, int reps, Fn fn) {
  fn();  // warm-up (cuBLAS picks its kernels on first use)
  ops.synchronize();
  std::vector<double> t;
  for (int r = 0; r < reps; r++) {
    auto t0 = clk::now();
    fn();
    ops.synchronize();
    t.push_back(seconds_since(t0));
  }
  return median(t);
}

struct GemmResult {
  double grouped_fwd, dense_fwd, grouped_bwd, dense_bwd;  // TFLOP/s
};

GemmResult bench_grouped(hf::CudaOps& ops, const hf::ModelConfig& cfg, int N) {
  const int C = cfg.d_model, F = cfg.d_ff, E = cfg.n_experts, K = cfg.top_k, M = N * K;
  std::vector<int32_t> topk(static_cast<size_t>(M));
  hf::Rng rng(3, hf::Purpose::eval);
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++) {
      int e;
      bool taken;
      do {
        e = static_cast<int>(rng.below(E));
        taken = false;
        for (int j = 0; j < k; j++) taken |= topk[n * K + j] == e;
      } while (taken);
      topk[n * K + k] = e;
    }
  std::vector<int32_t> offsets(E + 1);
  int32_t *d_topk = ops.alloc_i32(M), *perm = ops.alloc_i32(M), *pos = ops.alloc_i32(M);
  ops.upload(d_topk, topk.data(), topk.size() * sizeof(int32_t));
  ops.moe_dispatch(offsets.data(), perm, pos, d_topk, N, K, E, 0);
  const size_t stride = 3ull * F * C;  // the arena's expert block
  float* w = ops.alloc_f32(stride * E);
  float *x = ops.alloc_f32(size_t(M) * C), *h = ops.alloc_f32(size_t(M) * F);
  float *dx = ops.alloc_f32(size_t(M) * C), *dh = ops.alloc_f32(size_t(M) * F), *dw = ops.alloc_f32(stride * E);
  const int reps = 20;
  const double f = 2.0 * M * C * F;
  GemmResult r;
  r.grouped_fwd =
      f / time_op(ops, reps, [&] { ops.grouped_matmul_forward(h, x, w, stride, offsets.data(), E, C, F); }) / 1e12;
  r.dense_fwd = f / time_op(ops, reps, [&] { ops.matmul_forward(h, x, w, nullptr, M, C, F, false); }) / 1e12;
  r.grouped_bwd = 2 * f / time_op(ops, reps, [&] {
    ops.grouped_matmul_backward(dx, dw, dh, x, w, stride, offsets.data(), nullptr, E, C, F);
  }) / 1e12;
  r.dense_bwd = 2 * f / time_op(ops, reps, [&] { ops.matmul_backward(dx, dw, nullptr, dh, x, w, M, C, F); }) / 1e12;
  for (void* p : {static_cast<void*>(d_topk), static_cast<void*>(perm), static_cast<void*>(pos), static_cast<void*>(w),
                  static_cast<void*>(x), static_cast<void*>(h), static_cast<void*>(dx), static_cast<void*>(dh),
                  static_cast<void*>(dw)})
    ops.free(p);
  return r;
}

void run(const std::string& preset, const Options& opt, hf::CudaOps& ops, const std::string& gpu) {
  hf::ModelConfig cfg = hf::model_preset(preset);
  const int B = opt.batch > 0 ? opt.batch : (preset == "base" ? 8 : 16);
  const int T = opt.seq > 0 ? opt.seq : cfg.seq_len;
  hf::Model model(cfg, hf::Task::lm, ops, B, T);
  model.init_weights(1);
  const size_t P = model.table().total();

  std::vector<int32_t> tokens(size_t(B) * T), targets(size_t(B) * T);
  hf::Rng rng(1, hf::Purpose::eval);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(256));
  for (int i = 0; i < B * T; i++) targets[i] = (i + 1) % T == 0 ? -1 : tokens[i + 1];
  hf::Batch batch{tokens.data(), targets.data(), nullptr, B, T};

  hf::AdamW adamw(model.table(), ops, {});
  const std::vector<hf::Range> all = {{0, P}};
  std::vector<double> t_fb, t_opt;
  double exec_flops = 0;
  float loss = 0;
  const int warm = 2;
  for (int s = 0; s < warm + opt.steps; s++) {
    auto t0 = clk::now();
    loss = model.forward(batch).loss;
    model.backward();
    ops.synchronize();
    auto t1 = clk::now();
    adamw.clip_grad_norm(model.grads(), all, 1.0f);
    adamw.step(model.params(), model.grads(), all, 1e-3f);
    ops.synchronize();
    if (s >= warm) {
      t_fb.push_back(std::chrono::duration<double>(t1 - t0).count());
      t_opt.push_back(seconds_since(t1));
      exec_flops = model.last_step_flops();
    }
  }

  const double fb_s = median(t_fb), opt_s = median(t_opt), step_s = fb_s + opt_s, tok_s = B * T / step_s;
  const double n_active = active_params(cfg, model.table());
  const double flops_tok = 6 * n_active + 12.0 * cfg.n_layers * T * cfg.n_heads * cfg.head_size();
  const double achieved = tok_s * flops_tok;
  GemmResult g = bench_grouped(ops, cfg, B * T);
  std::printf("%-5s B=%d T=%d params=%.1fM active=%.1fM: %.0f tokens/s, step %.2f ms (fwd+bwd %.2f, adamw %.2f), "
              "%.2f model TFLOP/s = MFU %.2f%% of BF16 peak (%.1f%% of FP32 peak), exec %.2f TFLOP/s, loss %.4f\n",
              preset.c_str(), B, T, P / 1e6, n_active / 1e6, tok_s, step_s * 1e3, fb_s * 1e3, opt_s * 1e3,
              achieved / 1e12, 100 * achieved / kPeakBf16, 100 * achieved / kPeakFp32, exec_flops / fb_s / 1e12,
              loss);
  std::printf("      expert GEMM (M=%d, C=%d, F=%d, E=%d): grouped fwd %.2f TFLOP/s vs dense %.2f; "
              "grouped bwd %.2f vs dense %.2f\n",
              B * T * cfg.top_k, cfg.d_model, cfg.d_ff, cfg.n_experts, g.grouped_fwd, g.dense_fwd, g.grouped_bwd,
              g.dense_bwd);
  if (!opt.out.empty()) {
    // The precision column names the attention kernels when they are not the default.
    const std::string precision = std::string(opt.tf32 ? "tf32" : "fp32") +
                                  (opt.attention == hf::CudaAttention::fused ? "" : ", reference attention");
    std::ofstream f(opt.out, std::ios::app);
    f << hf::strf("| %s | %d | %d | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n",
                  preset.c_str(), B, T, precision.c_str(), tok_s, 100 * achieved / kPeakBf16, fb_s * 1e3,
                  opt_s * 1e3, g.grouped_fwd, g.dense_fwd, g.grouped_bwd, g.dense_bwd, gpu.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt = parse(argc, argv);
    hf::cuda::DeviceScan scan = hf::cuda::scan_devices();
    if (opt.device < 0 || opt.device >= static_cast<int>(scan.devices.size()))
      hf::fail(hf::strf("no CUDA device %d: %s", opt.device,
                        scan.error.empty() ? "not on this node" : scan.error.c_str()),
               "run on the GPU machine (cuda/README.md)");
    const hf::cuda::DeviceInfo& d = scan.devices[opt.device];
    std::printf("device %d: %s, sm_%d%d, %d SMs, %.0f GB; GEMMs in %s; %s attention\n", d.index, d.name.c_str(),
                d.sm_major, d.sm_minor, d.multiprocessors, d.memory_gb, opt.tf32 ? "TF32 tensor cores" : "FP32",
                opt.attention == hf::CudaAttention::fused ? "fused" : "reference");
    hf::CudaOps ops(opt.device, opt.tf32, opt.attention);
    std::vector<std::string> presets =
        opt.preset == "all" ? std::vector<std::string>{"small", "base"} : std::vector<std::string>{opt.preset};
    for (const auto& p : presets) run(p, opt, ops, d.name);
  } catch (const hf::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code;
  }
  return 0;
}

#else
int main() {
  std::printf("bench_cuda_model: this build has no CUDA backend; configure with "
              "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc to build it\n");
  return 0;
}
#endif
