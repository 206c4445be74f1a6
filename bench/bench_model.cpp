// Training-step throughput of the CPU reference model: forward + backward + AdamW.
//
//   bench_model [--preset tiny|small|all] [--threads N] [--steps N] [--batch B] [--seq T]
//               [--lora R] [--lora_targets LIST] [--base_dtype fp32|bf16|int8|nf4] [--profile] [--out FILE]
//
// --lora R trains rank-R adapters (alpha 16) on --lora_targets (default experts,attention) over
// a frozen base stored as --base_dtype (default fp32), as train.adapter=lora does; the model
// column then reads e.g. "small lora8 nf4". Run one configuration per process: peak RSS is the
// process's.
//
// Definitions of what is printed:
//   tokens/s  = B * T / (median wall time of one full step: forward + backward + AdamW);
//               the median, because a shared machine's other processes slow some steps
//   GFLOP/s   = Model::last_step_flops() (GEMM FLOPs actually executed forward and backward,
//               attention included, 2 per multiply-add) / (median forward + backward time)
//   load      = the 1-minute load average when the preset started: above the thread count,
//               other processes competed for the cores and the numbers are pessimistic
//   cpu/step  = process CPU time (user + system) per step, mean over the timed steps; with
//               OMP_WAIT_POLICY=passive it is the work itself (no spinning), so
//               tokens per CPU-second = B * T / cpu/step is the rate one fully available core
//               would give, whatever else the machine runs
//   peak RSS  = getrusage ru_maxrss of the process after all steps
// --profile wraps the backend in a timer per op (a decorator, so the model is unchanged) and
// prints where the time goes. --out appends one Markdown table row per preset.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "model/adamw.h"
#include "model/model.h"
#include "ops/cpu_ops.h"
#include "util/check.h"
#include "util/rng.h"
#include "bench_util.h"

namespace {

using namespace hf::bench;

double cpu_seconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Forwards every op to the CPU backend and accumulates its wall time by name.
class TimedOps final : public hf::Ops {
 public:
  explicit TimedOps(hf::CpuOps& inner) : in_(inner) {}
  std::map<std::string, double> seconds, flops;  // by op name
  const char* name() const override { return "cpu+timer"; }
  bool host_memory() const override { return true; }

#define HF_TIMED(op, call)              \
  auto t0_ = clk::now();                \
  call;                                 \
  seconds[op] += seconds_since(t0_)

  void* alloc(size_t bytes) override { return in_.alloc(bytes); }
  void free(void* p) override { in_.free(p); }
  void upload(void* d, const void* s, size_t n) override { HF_TIMED("copy", in_.upload(d, s, n)); }
  void download(void* d, const void* s, size_t n) override { HF_TIMED("copy", in_.download(d, s, n)); }
  void copy(void* d, const void* s, size_t n) override { HF_TIMED("copy", in_.copy(d, s, n)); }
  void zero(void* p, size_t n) override { HF_TIMED("zero", in_.zero(p, n)); }
  void matmul_forward(float* o, const float* i, const float* w, const float* b, int N, int IC, int OC,
                      bool acc) override {
    HF_TIMED("matmul_fwd", in_.matmul_forward(o, i, w, b, N, IC, OC, acc));
    flops["matmul_fwd"] += 2.0 * N * IC * OC;
  }
  void matmul_backward(float* di, float* dw, float* db, const float* d, const float* i, const float* w, int N,
                       int IC, int OC) override {
    HF_TIMED("matmul_bwd", in_.matmul_backward(di, dw, db, d, i, w, N, IC, OC));
    flops["matmul_bwd"] += 2.0 * N * IC * OC * ((di != nullptr) + (dw != nullptr));
  }
  void embedding_forward(float* o, const int32_t* t, const float* tab, int N, int C) override {
    HF_TIMED("embedding", in_.embedding_forward(o, t, tab, N, C));
  }
  void embedding_backward(float* dt, const float* d, const int32_t* t, int N, int V, int C) override {
    HF_TIMED("embedding", in_.embedding_backward(dt, d, t, N, V, C));
  }
  void rmsnorm_forward(float* o, float* r, const float* i, const float* w, int N, int C, float eps) override {
    HF_TIMED("rmsnorm", in_.rmsnorm_forward(o, r, i, w, N, C, eps));
  }
  void rmsnorm_backward(float* di, float* dw, const float* d, const float* i, const float* w, const float* r, int N,
                        int C) override {
    HF_TIMED("rmsnorm", in_.rmsnorm_backward(di, dw, d, i, w, r, N, C));
  }
  void rope_forward(float* x, int B, int T, int H, int HS, float th) override {
    HF_TIMED("rope", in_.rope_forward(x, B, T, H, HS, th));
  }
  void rope_backward(float* x, int B, int T, int H, int HS, float th) override {
    HF_TIMED("rope", in_.rope_backward(x, B, T, H, HS, th));
  }
  void attention_forward(float* o, float* a, const float* q, const float* k, const float* v, int B, int T, int NH,
                         int NKV, int HS) override {
    HF_TIMED("attention_fwd", in_.attention_forward(o, a, q, k, v, B, T, NH, NKV, HS));
    flops["attention_fwd"] += 4.0 * B * NH * T * T * HS;
  }
  void attention_backward(float* dq, float* dk, float* dv, float* s, const float* d, const float* q, const float* k,
                          const float* v, const float* a, int B, int T, int NH, int NKV, int HS) override {
    HF_TIMED("attention_bwd", in_.attention_backward(dq, dk, dv, s, d, q, k, v, a, B, T, NH, NKV, HS));
    flops["attention_bwd"] += 8.0 * B * NH * T * T * HS;
  }
  void router_forward(float* p, int32_t* ix, float* w, const float* z, const uint8_t* r, int N, int E, int K,
                      bool rn) override {
    HF_TIMED("router", in_.router_forward(p, ix, w, z, r, N, E, K, rn));
  }
  void router_backward(float* dz, const float* dw, const float* p, const int32_t* ix, const float* w,
                       const uint8_t* v, const float* a, int N, int E, int K, bool rn) override {
    HF_TIMED("router", in_.router_backward(dz, dw, p, ix, w, v, a, N, E, K, rn));
  }
  void router_stats(float* f, float* P, const float* p, const int32_t* ix, const uint8_t* v, int N, int E,
                    int K) override {
    HF_TIMED("router", in_.router_stats(f, P, p, ix, v, N, E, K));
  }
  void moe_dispatch(int32_t* off, int32_t* perm, int32_t* pos, const int32_t* ix, int N, int K, int E,
                    int cap) override {
    HF_TIMED("moe_permute", in_.moe_dispatch(off, perm, pos, ix, N, K, E, cap));
  }
  void moe_gather(float* xs, const float* x, const int32_t* perm, int M, int K, int C) override {
    HF_TIMED("moe_permute", in_.moe_gather(xs, x, perm, M, K, C));
  }
  void moe_gather_backward(float* dx, const float* dxs, const int32_t* pos, int N, int K, int C) override {
    HF_TIMED("moe_permute", in_.moe_gather_backward(dx, dxs, pos, N, K, C));
  }
  void moe_scatter(float* o, const float* y, const float* w, const int32_t* pos, int N, int K, int C) override {
    HF_TIMED("moe_permute", in_.moe_scatter(o, y, w, pos, N, K, C));
  }
  void moe_scatter_backward(float* dy, float* dw, const float* d, const float* y, const float* w, const int32_t* pos,
                            int N, int K, int C) override {
    HF_TIMED("moe_permute", in_.moe_scatter_backward(dy, dw, d, y, w, pos, N, K, C));
  }
  void grouped_matmul_forward(float* o, const float* i, const float* w, size_t s, const int32_t* off, int E, int IC,
                              int OC) override {
    HF_TIMED("expert_gemm_fwd", in_.grouped_matmul_forward(o, i, w, s, off, E, IC, OC));
    flops["expert_gemm_fwd"] += 2.0 * off[E] * IC * OC;
  }
  void grouped_matmul_backward(float* di, float* dw, const float* d, const float* i, const float* w, size_t s,
                               const int32_t* off, const uint8_t* tr, int E, int IC, int OC) override {
    HF_TIMED("expert_gemm_bwd", in_.grouped_matmul_backward(di, dw, d, i, w, s, off, tr, E, IC, OC));
    for (int e = 0; e < E; e++)
      flops["expert_gemm_bwd"] += 2.0 * (off[e + 1] - off[e]) * IC * OC * ((di != nullptr) + (dw && (!tr || tr[e])));
  }
  void swiglu_forward(float* o, const float* a, const float* b, int M, int F) override {
    HF_TIMED("swiglu", in_.swiglu_forward(o, a, b, M, F));
  }
  void swiglu_backward(float* da, float* db, const float* d, const float* a, const float* b, int M, int F) override {
    HF_TIMED("swiglu", in_.swiglu_backward(da, db, d, a, b, M, F));
  }
  void sigmoid_gate_forward(float* o, const float* y, const float* g, int N, int C) override {
    HF_TIMED("shared_gate", in_.sigmoid_gate_forward(o, y, g, N, C));
  }
  void sigmoid_gate_backward(float* dy, float* dg, const float* d, const float* y, const float* g, int N,
                             int C) override {
    HF_TIMED("shared_gate", in_.sigmoid_gate_backward(dy, dg, d, y, g, N, C));
  }
  void frozen_dequantize(float* o, const hf::FrozenWeight& w, int row0, int rows) override {
    HF_TIMED("frozen_dequant", in_.frozen_dequantize(o, w, row0, rows));
  }
  void frozen_matmul_forward(float* o, const float* i, const hf::FrozenWeight& w, float* s, int N, bool acc) override {
    HF_TIMED("frozen_gemm_fwd", in_.frozen_matmul_forward(o, i, w, s, N, acc));
    flops["frozen_gemm_fwd"] += 2.0 * N * w.IC * w.OC;
  }
  void frozen_matmul_backward(float* di, const float* d, const hf::FrozenWeight& w, float* s, int N) override {
    HF_TIMED("frozen_gemm_bwd", in_.frozen_matmul_backward(di, d, w, s, N));
    flops["frozen_gemm_bwd"] += 2.0 * N * w.IC * w.OC;
  }
  void lora_forward(float* o, float* ax, const float* i, const float* a, const float* b, int N, int IC, int OC, int r,
                    float sc) override {
    HF_TIMED("lora_fwd", in_.lora_forward(o, ax, i, a, b, N, IC, OC, r, sc));
    flops["lora_fwd"] += 2.0 * N * r * (IC + OC);
  }
  void lora_backward(float* di, float* da, float* db, float* dax, const float* d, const float* i, const float* ax,
                     const float* a, const float* b, int N, int IC, int OC, int r, float sc) override {
    HF_TIMED("lora_bwd", in_.lora_backward(di, da, db, dax, d, i, ax, a, b, N, IC, OC, r, sc));
    flops["lora_bwd"] += 2.0 * N * r * (OC + (db != nullptr) * OC + (da != nullptr) * IC + (di != nullptr) * IC);
  }
  void crossentropy_forward(float* l, int32_t* c, const float* z, const int32_t* t, int N, int V) override {
    HF_TIMED("crossentropy", in_.crossentropy_forward(l, c, z, t, N, V));
  }
  void crossentropy_backward(float* dz, const float* z, const int32_t* t, float dl, int N, int V) override {
    HF_TIMED("crossentropy", in_.crossentropy_backward(dz, z, t, dl, N, V));
  }
  void mean_pool_forward(float* o, const float* x, const uint8_t* v, int B, int T, int C) override {
    HF_TIMED("mean_pool", in_.mean_pool_forward(o, x, v, B, T, C));
  }
  void mean_pool_backward(float* dx, const float* d, const uint8_t* v, int B, int T, int C) override {
    HF_TIMED("mean_pool", in_.mean_pool_backward(dx, d, v, B, T, C));
  }
  double sum_squares(const float* x, size_t n) override {
    HF_TIMED("optimizer", double r = in_.sum_squares(x, n));
    return r;
  }
  void scale(float* x, size_t n, float s) override { HF_TIMED("optimizer", in_.scale(x, n, s)); }
  void proximal_grad(float* g, const float* p, const float* a, size_t n, float mu) override {
    HF_TIMED("optimizer", in_.proximal_grad(g, p, a, n, mu));
  }
  void adamw_update(float* p, const float* g, float* m, float* v, size_t n, double lr, double b1, double b2,
                    double eps, double wd, double bc1, double bc2) override {
    HF_TIMED("optimizer", in_.adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2));
  }
#undef HF_TIMED

 private:
  hf::CpuOps& in_;
};

struct Options {
  std::string preset = "all", out;
  int threads = 2, steps = 10, batch = 8, seq = 0, lora = 0;
  std::string lora_targets = "experts,attention", base_dtype = "fp32";
  bool profile = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) hf::fail(a + " needs a value", "see the usage line at the top of bench/bench_model.cpp");
      return argv[++i];
    };
    if (a == "--preset") o.preset = value();
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--steps") o.steps = std::stoi(value());
    else if (a == "--batch") o.batch = std::stoi(value());
    else if (a == "--seq") o.seq = std::stoi(value());
    else if (a == "--out") o.out = value();
    else if (a == "--lora") o.lora = std::stoi(value());
    else if (a == "--lora_targets") o.lora_targets = value();
    else if (a == "--base_dtype") o.base_dtype = value();
    else if (a == "--profile") o.profile = true;
    else hf::fail("unknown option " + a, "use --preset, --threads, --steps, --batch, --seq, --lora, --lora_targets, --base_dtype, --profile, --out");
  }
  return o;
}

void run(const std::string& preset, const Options& opt, hf::CpuOps& cpu) {
  hf::ModelConfig cfg = hf::model_preset(preset);
  std::string label = preset;
  if (opt.lora > 0) {
    const std::pair<std::string, hf::BaseDtype> dtypes[] = {{"fp32", hf::BaseDtype::fp32}, {"bf16", hf::BaseDtype::bf16},
                                                            {"int8", hf::BaseDtype::int8}, {"nf4", hf::BaseDtype::nf4}};
    auto d = std::find_if(std::begin(dtypes), std::end(dtypes), [&](const auto& x) { return x.first == opt.base_dtype; });
    if (d == std::end(dtypes)) hf::fail("--base_dtype " + opt.base_dtype + " is unknown", "use fp32, bf16, int8 or nf4");
    cfg.lora = {opt.lora, 16.0f, hf::parse_lora_targets(opt.lora_targets), d->second};
    cfg.validate();
    label += hf::strf(" lora%d %s", opt.lora, opt.base_dtype.c_str());
  }
  const int B = opt.batch, T = opt.seq > 0 ? opt.seq : (preset == "tiny" ? 128 : cfg.seq_len);
  TimedOps timed(cpu);
  hf::Ops& ops = opt.profile ? static_cast<hf::Ops&>(timed) : static_cast<hf::Ops&>(cpu);
  hf::Model model(cfg, hf::Task::lm, ops, B, T);
  model.init_weights(1);
  hf::AdamW adamw(model.table(), ops, {});
  const std::vector<hf::Range> all = {{0, model.table().total()}};

  // Random byte text, no padding: every position is a target.
  std::vector<int32_t> tokens(B * T), targets(B * T);
  hf::Rng rng(1, hf::Purpose::eval);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(256));
  for (int i = 0; i < B * T; i++) targets[i] = (i + 1) % T == 0 ? -1 : tokens[i + 1];
  hf::Batch batch{tokens.data(), targets.data(), nullptr, B, T};

  const double load = load_average_1min();
  std::vector<double> t_fwd, t_bwd, t_opt;
  double flops = 0;
  float loss = 0;
  const int warm = 2;
  double cpu0 = 0;
  for (int s = 0; s < warm + opt.steps; s++) {
    if (s == warm) {
      cpu0 = cpu_seconds();
      timed.seconds.clear();
      timed.flops.clear();
    }
    auto t0 = clk::now();
    loss = model.forward(batch).loss;
    double f = seconds_since(t0);
    t0 = clk::now();
    model.backward();
    double b = seconds_since(t0);
    t0 = clk::now();
    adamw.clip_grad_norm(model.grads(), all, 1.0f);
    adamw.step(model.params(), model.grads(), all, 1e-3f);
    double o = seconds_since(t0);
    if (s >= warm) {
      t_fwd.push_back(f);
      t_bwd.push_back(b);
      t_opt.push_back(o);
      flops = model.last_step_flops();
    }
  }
  const int n = opt.steps;
  const double cpu_step = (cpu_seconds() - cpu0) / n;
  std::vector<double> step, fb;
  for (int i = 0; i < n; i++) {
    step.push_back(t_fwd[i] + t_bwd[i] + t_opt[i]);
    fb.push_back(t_fwd[i] + t_bwd[i]);
  }
  double step_s = median(step), fwd_s = median(t_fwd), bwd_s = median(t_bwd), opt_s = median(t_opt);
  double tok_s = B * T / step_s, gflops = flops / median(fb) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss_mb = ru.ru_maxrss / 1024.0;
  std::printf("%-6s B=%d T=%d trained params=%.2fM: %.0f tokens/s, %.1f GFLOP/s, step %.1f ms (fwd %.1f, bwd %.1f, adamw %.1f),"
              " peak RSS %.0f MB (backend holds %.0f MB + %.0f MB AdamW moments), loss %.4f, load %.1f, cpu %.1f ms/step"
              " = %.0f tokens per CPU-second\n",
              label.c_str(), B, T, model.table().total() / 1e6, tok_s, gflops, step_s * 1e3, fwd_s * 1e3,
              bwd_s * 1e3, opt_s * 1e3, rss_mb, model.backend_bytes() / 1e6, 8.0 * model.table().total() / 1e6, loss, load,
              cpu_step * 1e3, B * T / cpu_step);
  if (opt.profile) {
    double total = 0;
    for (auto& kv : timed.seconds) total += kv.second;
    std::vector<std::pair<double, std::string>> rows;
    for (auto& kv : timed.seconds) rows.push_back({kv.second, kv.first});
    std::sort(rows.rbegin(), rows.rend());
    for (auto& r : rows) {
      std::printf("    %-16s %8.2f ms/step  %5.1f%%", r.second.c_str(), r.first / n * 1e3, 100 * r.first / total);
      if (timed.flops.count(r.second)) std::printf("  %6.1f GFLOP/s", timed.flops[r.second] / r.first / 1e9);
      std::printf("\n");
    }
  }
  if (!opt.out.empty()) {
    std::ofstream f(opt.out, std::ios::app);
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    f << hf::strf("| %s | %d | %d | %d | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f | %s |\n",
                  label.c_str(), B, T, opt.threads, wait ? wait : "default", tok_s, gflops, fwd_s * 1e3,
                  bwd_s * 1e3, opt_s * 1e3, B * T / cpu_step, rss_mb, load, cpu_model("unknown CPU").c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt = parse(argc, argv);
    if (opt.steps < 1) hf::fail("--steps must be at least 1", "pass e.g. --steps 10");
    hf::CpuOps cpu(opt.threads);
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    std::printf("machine: %s, %u hardware threads; %d OpenMP threads (OpenBLAS single-threaded inside them),"
                " OMP_WAIT_POLICY=%s\n",
                cpu_model("unknown CPU").c_str(), std::thread::hardware_concurrency(), opt.threads, wait ? wait : "(unset)");
    std::vector<std::string> presets = opt.preset == "all" ? std::vector<std::string>{"tiny", "small"}
                                                          : std::vector<std::string>{opt.preset};
    for (const auto& p : presets) run(p, opt, cpu);
    return 0;
  } catch (const hf::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code;
  }
}
