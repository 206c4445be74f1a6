// Fused (flash-style) against reference causal attention on the CUDA backend: one layer's
// attention forward and backward at a preset's shapes, the two kernel sets on the same inputs.
//
//   bench_cuda_attention [--preset small|base|all] [--device D] [--reps N] [--batch B] [--seq T]
//                        [--out FILE]
//
// Definitions of what is printed, per kernel set (CudaAttention::fused, ::reference):
//   fwd ms, bwd ms  median over reps of attention_forward / attention_backward, each synchronised.
//   TFLOP/s         causal attention FLOPs / (fwd + bwd): forward 4 * B * NH * HS * T (T + 1) / 2
//                   (Q K^T and P V over the causal half), backward 2.5x the forward (FlashAttention's
//                   convention), the same count for both sets whatever each computes.
//   kept MB         what the forward keeps for the backward besides q, k, v: the fused set the
//                   log-sum-exp (B, NH, T), the reference the probabilities (B, NH, T, T).
//   max|diff|       of the fused out, dq, dk, dv against the reference's, over max|reference|: the
//                   results are checked, not only timed.
// --out appends one Markdown table row per preset.
#include <cstdio>

#ifdef HFEDMOE_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cuda/cuda_ops.h"
#include "cuda/device.h"
#include "model/config.h"
#include "util/check.h"
#include "util/rng.h"

namespace {

using namespace hf::bench;

struct Options {
  std::string preset = "base", out;
  int device = 0, reps = 10, batch = 16, seq = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) hf::fail(a + " needs a value", "see the usage line at the top of bench/bench_cuda_attention.cpp");
      return argv[++i];
    };
    if (a == "--preset") o.preset = value();
    else if (a == "--device") o.device = std::stoi(value());
    else if (a == "--reps") o.reps = std::stoi(value());
    else if (a == "--batch") o.batch = std::stoi(value());
    else if (a == "--seq") o.seq = std::stoi(value());
    else if (a == "--out") o.out = value();
    else hf::fail("unknown option " + a, "use --preset, --device, --reps, --batch, --seq, --out");
  }
  if (o.reps < 1 || o.batch < 1) hf::fail("--reps and --batch must be at least 1", "pass e.g. --reps 10 --batch 16");
  return o;
}

// One layer's attention tensors on the device: inputs, outputs, gradients, and the T x T
// buffers the op interface passes (att, scratch).
struct Buffers {
  hf::CudaOps& ops;
  size_t nq, nk, na;
  float *q, *k, *v, *dout;  // (B, T, NH, HS), (B, T, NKV, HS) x 2, (B, T, NH, HS)
  float *out, *dq, *dk, *dv;
  float *att, *scratch;  // (B, NH, T, T)

  Buffers(hf::CudaOps& o, int B, int T, int NH, int NKV, int HS) : ops(o) {
    nq = size_t(B) * T * NH * HS;
    nk = size_t(B) * T * NKV * HS;
    na = size_t(B) * NH * T * T;
    q = random(nq, 1), k = random(nk, 2), v = random(nk, 3), dout = random(nq, 4);
    out = ops.alloc_f32(nq), dq = ops.alloc_f32(nq), dk = ops.alloc_f32(nk), dv = ops.alloc_f32(nk);
    att = ops.alloc_f32(na), scratch = ops.alloc_f32(na);
  }
  ~Buffers() {
    for (float* p : {q, k, v, dout, out, dq, dk, dv, att, scratch}) ops.free(p);
  }
  float* random(size_t n, uint64_t seed) {
    std::vector<float> h(n);
    hf::Rng rng(seed, hf::Purpose::eval);
    for (float& x : h) x = static_cast<float>(rng.normal());
    float* d = ops.alloc_f32(n);
    ops.upload(d, h.data(), n * sizeof(float));
    return d;
  }
  std::vector<float> host(const float* d, size_t n) {
    std::vector<float> h(n);
    ops.download(h.data(), d, n * sizeof(float));
    return h;
  }
};

struct Timing {
  double fwd_s, bwd_s;
  std::vector<float> out, dq, dk, dv;  // from one forward and one backward on zeroed gradients
};

Timing time_attention(hf::CudaOps& ops, int reps, int B, int T, int NH, int NKV, int HS) {
  Buffers b(ops, B, T, NH, NKV, HS);
  auto forward = [&] { ops.attention_forward(b.out, b.att, b.q, b.k, b.v, B, T, NH, NKV, HS); };
  auto backward = [&] {
    ops.attention_backward(b.dq, b.dk, b.dv, b.scratch, b.dout, b.q, b.k, b.v, b.att, B, T, NH, NKV, HS);
  };
  std::vector<double> fwd, bwd;
  for (int r = 0; r < reps + 1; r++) {  // the first is a warm-up (cuBLAS picks its kernels)
    auto t0 = clk::now();
    forward();
    ops.synchronize();
    const double f = seconds_since(t0);
    t0 = clk::now();
    backward();
    ops.synchronize();
    if (r > 0) {
      fwd.push_back(f);
      bwd.push_back(seconds_since(t0));
    }
  }
  ops.zero(b.dq, b.nq * sizeof(float));
  ops.zero(b.dk, b.nk * sizeof(float));
  ops.zero(b.dv, b.nk * sizeof(float));
  forward();
  backward();
  return {median(fwd), median(bwd), b.host(b.out, b.nq), b.host(b.dq, b.nq), b.host(b.dk, b.nk),
          b.host(b.dv, b.nk)};
}

// max |got - want| / max |want| over all four tensors.
double relative_diff(const Timing& got, const Timing& want) {
  double diff = 0, scale = 0;
  const std::vector<float>* pairs[][2] = {
      {&got.out, &want.out}, {&got.dq, &want.dq}, {&got.dk, &want.dk}, {&got.dv, &want.dv}};
  for (auto& p : pairs)
    for (size_t i = 0; i < p[1]->size(); i++) {
      diff = std::max(diff, std::fabs(double((*p[0])[i]) - (*p[1])[i]));
      scale = std::max(scale, std::fabs(double((*p[1])[i])));
    }
  return diff / std::max(scale, 1e-30);
}

void run(const std::string& preset, const Options& opt, int device, const std::string& gpu) {
  const hf::ModelConfig cfg = hf::model_preset(preset);
  const int B = opt.batch, T = opt.seq > 0 ? opt.seq : cfg.seq_len;
  const int NH = cfg.n_heads, NKV = cfg.n_kv_heads, HS = cfg.head_size();
  hf::CudaOps fused(device, false, hf::CudaAttention::fused), reference(device, false, hf::CudaAttention::reference);
  if (!fused.fused_attention(HS)) hf::fail(hf::strf("head size %d has no fused kernel", HS), "use a preset with HS <= 128");
  const Timing f = time_attention(fused, opt.reps, B, T, NH, NKV, HS);
  const Timing r = time_attention(reference, opt.reps, B, T, NH, NKV, HS);
  const double flops = 3.5 * 4.0 * B * NH * HS * T * (T + 1.0) / 2;  // forward + 2.5x backward
  const double kept_fused = 4.0 * B * NH * T / 1e6, kept_ref = 4.0 * B * NH * T * T / 1e6;
  const double diff = relative_diff(f, r);
  std::printf("%-5s B=%d T=%d NH=%d NKV=%d HS=%d: fused fwd %.3f ms bwd %.3f ms (%.2f TFLOP/s, kept %.1f MB); "
              "reference fwd %.3f ms bwd %.3f ms (%.2f TFLOP/s, kept %.1f MB); speedup %.2fx; max|diff| %.1e\n",
              preset.c_str(), B, T, NH, NKV, HS, f.fwd_s * 1e3, f.bwd_s * 1e3, flops / (f.fwd_s + f.bwd_s) / 1e12,
              kept_fused, r.fwd_s * 1e3, r.bwd_s * 1e3, flops / (r.fwd_s + r.bwd_s) / 1e12, kept_ref,
              (r.fwd_s + r.bwd_s) / (f.fwd_s + f.bwd_s), diff);
  if (!opt.out.empty()) {
    std::ofstream out(opt.out, std::ios::app);
    out << hf::strf("| %s | %d | %d | %d/%d/%d | %.3f | %.3f | %.3f | %.3f | %.2f | %.1e | %s |\n", preset.c_str(), B,
                    T, NH, NKV, HS, f.fwd_s * 1e3, f.bwd_s * 1e3, r.fwd_s * 1e3, r.bwd_s * 1e3,
                    (r.fwd_s + r.bwd_s) / (f.fwd_s + f.bwd_s), diff, gpu.c_str());
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
    std::printf("device %d: %s, sm_%d%d; attention in FP32, fused vs reference\n", d.index, d.name.c_str(), d.sm_major,
                d.sm_minor);
    std::vector<std::string> presets =
        opt.preset == "all" ? std::vector<std::string>{"small", "base"} : std::vector<std::string>{opt.preset};
    for (const auto& p : presets) run(p, opt, opt.device, d.name);
  } catch (const hf::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code;
  }
  return 0;
}

#else
int main() {
  std::printf("bench_cuda_attention: this build has no CUDA backend; configure with "
              "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc to build it\n");
  return 0;
}
#endif
