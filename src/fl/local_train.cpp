#include "fl/local_train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "data/dataset.h"
#include "fl/fixed_point.h"
#include "fl/hfedmoe_math.h"
#include "model/model.h"
#include "ops/ops.h"
#include "util/rng.h"

namespace hf {

LocalTrainer::LocalTrainer(Model& model, Ops& ops, const Method& method, const FlOptions& fl, const TrainOptions& train,
                           const Dataset& data, const ClientTable& clients, uint64_t seed)
    : model_(model), ops_(ops), method_(method), fl_(fl), train_(train), data_(data), clients_(clients), seed_(seed),
      opt_(model.table(), ops, AdamWConfig{0.9, 0.999, 1e-8, train.weight_decay}), memory_(model.config(), data.task) {
  const ModelConfig& c = model.config();
  const ParamTable& t = model.table();
  L_ = c.moe_layers(), E_ = c.n_experts, K_ = c.top_k, T_ = data.seq_len;
  HF_CHECK(E_ <= 256, "E=%d > 256 experts", E_);
  for (int l = 0; l < L_; l++) {
    router_ranges_.push_back(t.router(l));
    for (int e = 0; e < E_; e++) expert_ranges_.push_back(t.expert_block(l, e));
  }
  dense_ranges_ = trained_dense_ranges(t, data.task);
  trained_.reserve(dense_ranges_.size() + router_ranges_.size() + expert_ranges_.size());
  int B = train.batch_size;
  tokens_.resize(static_cast<size_t>(B) * T_);
  targets_.resize(static_cast<size_t>(B) * T_);
  labels_.resize(B);
  rows_.resize(B);
  shuffle_.resize(static_cast<size_t>(clients.max_shard));
  size_t LE = static_cast<size_t>(L_) * E_;
  trainable_.resize(LE), routable_.resize(LE), trained_any_.resize(LE);
  usage_sum_.resize(LE), importance_sum_.resize(LE);
  usage_.resize(LE), importance_.resize(LE), gate_s_.resize(E_);
  score_.resize(LE), eligible_.resize(LE);
  expert_weight_.resize(LE);
  reported_.reserve(dense_ranges_.size() + router_ranges_.size() + expert_ranges_.size());
  if (!ops.host_memory()) global_dev_ = ops.alloc_f32(t.total());
}

LocalTrainer::~LocalTrainer() {
  if (global_dev_) ops_.free(global_dev_);
}

void LocalTrainer::begin_round(const float* global) {
  if (global_dev_) ops_.upload(global_dev_, global, model_.table().total() * sizeof(float));
}

// B distinct rows of the client's shard (all of them when it has fewer): the first B of a
// shuffle keyed by (seed, round, client, step).
void LocalTrainer::draw_rows(int64_t round, int client, uint64_t step, int B) {
  int64_t n = clients_.shard[client];
  const int64_t* mine = clients_.train_rows(client);
  std::copy(mine, mine + n, shuffle_.begin());
  Rng rng(seed_, Purpose::client_data, static_cast<uint64_t>(round), static_cast<uint64_t>(client), step);
  batch_rows_ = static_cast<int>(std::min<int64_t>(B, n));
  for (int i = 0; i < batch_rows_; i++) {
    int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    std::swap(shuffle_[i], shuffle_[j]);
    rows_[i] = shuffle_[i];
  }
}

void LocalTrainer::forward_batch(int64_t round, int client, uint64_t step, const ExpertControl& control) {
  draw_rows(round, client, step, train_.batch_size);
  fill_batch(data_.train, rows_.data(), batch_rows_, data_.task, tokens_.data(), targets_.data(), labels_.data());
  Batch b{tokens_.data(), targets_.data(), labels_.data(), batch_rows_, T_, data_.train.pad};
  last_ = model_.forward(b, control);
  fwd_flops_ = model_.last_step_flops() - bwd_flops_;  // the model keeps the last backward's count
  if (!std::isfinite(last_.loss))
    fail(strf("client %d's training loss is not finite in round %lld, step %llu", client, static_cast<long long>(round),
              static_cast<unsigned long long>(step)),
         "lower train.lr or set train.grad_clip (e.g. 1.0)", kExitRuntime);
}

void LocalTrainer::train_client(int64_t round, int p, const PlanSlot& slot, const float* global, RoundUpdate& update) {
  const size_t LE = static_cast<size_t>(L_) * E_;
  const int c = slot.client;
  float* params = model_.params();  // (P) backend memory
  float* grads = model_.grads();    // (P) backend memory
  if (global_dev_)
    ops_.copy(params, global_dev_, model_.table().total() * sizeof(float));
  else
    model_.load_params(global);
  const float* anchor = global_dev_ ? global_dev_ : global;  // (P) FedProx's w_global, in backend memory
  opt_.reset();
  std::fill(trained_any_.begin(), trained_any_.end(), 0);
  std::fill(usage_sum_.begin(), usage_sum_.end(), 0.0);
  std::fill(importance_sum_.begin(), importance_sum_.end(), 0.0);
  std::fill(routable_.begin(), routable_.end(), 1);
  std::fill(trainable_.begin(), trainable_.end(), 0);

  ClientRun run;
  run.round = round, run.client = c, run.budget = slot.budget, run.data_weight = clients_.weight(c);
  run.seed = seed_, run.L = L_, run.E = E_, run.K = K_;
  run.trainable = trainable_.data(), run.routable = routable_.data(), run.trained_any = trained_any_.data();
  run.usage = usage_.data(), run.importance = importance_.data();
  run.score = score_.data(), run.eligible = eligible_.data();
  run.use_routable = method_.traits.strict_routing;
  flops_ = 0;
  // Probe batches (FedMoE's choice): forward only among all experts, keyed after the steps'.
  run.probe_forward = [this, &slot, round](int i) {
    forward_batch(round, slot.client, static_cast<uint64_t>(slot.steps + i), ExpertControl{});
    flops_ += fwd_flops_;
  };

  int64_t usage_count = 0, steps = 0;
  double loss_sum = 0, peak_bytes = 0;
  const double memory_limit = clients_.profiles[clients_.profile[c]].memory_gb * kBytesPerGB;
  const bool enforce_memory = fl_.memory_check_v == MemoryCheck::enforce && method_.traits.memory_bound;
  const ExpertSelection& selection = *method_.selection;
  bool ok = true;
  auto wall0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < slot.steps; s++) {
    // choose A (before the forward, or from its routing) -> (strict: forward again routed among
    // A) -> the memory rule -> backward of A only
    run.step = s;
    const bool choose = selection.chooses_at(s);
    const bool routing_forward = choose && selection.chooses_from_routing();
    if (choose && !routing_forward) selection.choose(run, model_);
    const ExpertControl routed_among_a{nullptr, run.use_routable ? routable_.data() : nullptr};
    forward_batch(round, c, static_cast<uint64_t>(s), routing_forward ? ExpertControl{} : routed_among_a);
    if (routing_forward) {
      selection.choose(run, model_);
      if (run.use_routable) {
        flops_ += fwd_flops_;
        forward_batch(round, c, static_cast<uint64_t>(s), ExpertControl{trainable_.data(), routable_.data()});
      }
    }
    double bytes = step_bytes();
    if (enforce_memory && bytes > memory_limit) {
      if (!selection.fit_memory(run, model_, [this] { return step_bytes(); }, memory_limit)) {
        peak_bytes = std::max(peak_bytes, step_bytes());  // what it still needs: counted as over memory
        flops_ += fwd_flops_;  // the backward's allocations would not fit
        ok = false;
        break;
      }
      bytes = step_bytes();
    }
    peak_bytes = std::max(peak_bytes, bytes);
    model_.set_trainable(trainable_.data());
    model_.backward();
    bwd_flops_ = model_.last_step_flops() - fwd_flops_;
    flops_ += fwd_flops_ + bwd_flops_;
    loss_sum += last_.loss;

    // The ranges this step updates: dense, routers, and the experts in A.
    trained_.clear();
    trained_.insert(trained_.end(), dense_ranges_.begin(), dense_ranges_.end());
    for (int l = 0; l < L_; l++) {
      trained_.push_back(router_ranges_[l]);
      for (int e = 0; e < E_; e++)
        if (trainable_[l * E_ + e]) {
          trained_.push_back(expert_ranges_[l * E_ + e]);
          trained_any_[l * E_ + e] = 1;
        }
    }
    std::sort(trained_.begin(), trained_.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    selection.adjust_gradients(GradientStep{ops_, grads, params, anchor, trained_});
    opt_.clip_grad_norm(grads, trained_, train_.grad_clip);
    opt_.step(params, grads, trained_, train_.lr);

    // Eq. 16 usage and Eq. 3-5 importance of this step's routing.
    int N = model_.last_B() * model_.last_T();
    const uint8_t* valid = model_.token_valid();
    for (int l = 0; l < L_; l++) {
      int64_t counted = accumulate_usage(model_.gate_probs(l), valid, N, E_, usage_sum_.data() + l * E_);
      if (l == 0) usage_count += counted;  // the same valid tokens in every layer
      expert_importance(model_.gate_probs(l), valid, N, E_, fl_.lambda, gate_s_.data());
      for (int e = 0; e < E_; e++) importance_sum_[l * E_ + e] += gate_s_[e];
    }
    steps++;
    if (fl_.throttle_v == Throttle::sleep) {  // stretch the step to the device profile's duration
      double want = model_.last_step_flops() / (clients_.profiles[clients_.profile[c]].tflops * 1e12);
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
      if (want > took) std::this_thread::sleep_for(std::chrono::duration<double>(want - took));
      wall0 = std::chrono::steady_clock::now();
    }
  }

  for (size_t i = 0; i < LE; i++) {
    usage_[i] = usage_count > 0 ? static_cast<float>(usage_sum_[i] / usage_count) : 0.0f;
    importance_[i] = steps > 0 ? static_cast<float>(importance_sum_[i] / steps) : 0.0f;
  }
  SlotStats& st = update.stats[p];
  st.status = ok ? kSlotOk : kSlotFailed;
  st.steps = steps;
  st.loss_sum = loss_sum;
  st.flops = flops_;
  st.peak_bytes = static_cast<int64_t>(peak_bytes);
  if (ok) report(run, p, global, update);
}

double LocalTrainer::step_bytes() const {
  double routed_rows = 0;
  for (int l = 0; l < L_; l++) {
    const int32_t* rows = model_.expert_offsets(l);  // (E + 1)
    routed_rows += rows[E_] - rows[0];
  }
  int trained = 0, kept = 0;
  for (size_t i = 0; i < trainable_.size(); i++) {
    trained += trainable_[i];
    kept += trained_any_[i] && !trainable_[i];
  }
  return memory_.step_bytes(model_.last_B(), model_.last_T(), routed_rows, trained, kept);
}

// The aggregation policy's weights applied to the client's deltas (fixed point, fl/update.h).
void LocalTrainer::report(const ClientRun& run, int p, const float* global, RoundUpdate& update) {
  // The weights first, so that only what the client reports comes back from the device.
  reported_.assign(dense_ranges_.begin(), dense_ranges_.end());
  reported_.insert(reported_.end(), router_ranges_.begin(), router_ranges_.end());
  for (int l = 0; l < L_; l++)
    for (int e = 0; e < E_; e++) {
      const int i = l * E_ + e;
      expert_weight_[i] = method_.weights->expert_weight(run, l, e);
      if (expert_weight_[i] > 0) reported_.push_back(expert_ranges_[i]);
    }
  const float* params = model_.params_on_host(reported_);  // (P), valid on reported_
  bool in_range = true;
  int64_t experts = 0, reported = 0;
  int64_t* by_class = update.trained_by(clients_.profile[run.client]);
  const float tau = fl_.tau_for(E_);
  for (int l = 0; l < L_; l++) {
    for (int e = 0; e < E_; e++) {
      int i = l * E_ + e;
      experts += trained_any_[i];
      by_class[i] += trained_any_[i];
      if (usage_[i] >= tau) update.kept[i] = 1;
      double w = expert_weight_[i];
      if (w <= 0) continue;
      reported++;
      update.touched[i] = 1;
      update.expert_w[i] += to_fixed(w);
      in_range &= RoundUpdate::add_weighted_delta(update.expert(l, e), w, params, global, expert_ranges_[i]);
    }
    double wr = method_.weights->router_weight(run, l);
    update.router_w[l] += to_fixed(wr);
    in_range &= RoundUpdate::add_weighted_delta(update.router(l), wr, params, global, router_ranges_[l]);
  }
  double wd = run.data_weight;
  update.dense_w += to_fixed(wd);
  int64_t* sum = update.dense_sum.data();
  for (const Range& r : dense_ranges_) {
    in_range &= RoundUpdate::add_weighted_delta(sum, wd, params, global, r);
    sum += r.size();
  }
  if (!in_range)
    fail(strf("client %d's update in round %lld is not finite or exceeds the fixed-point range (|w*delta| < %g)",
              run.client, static_cast<long long>(run.round), kFixedMaxAbs),
         "lower train.lr or raise train.grad_clip's strictness (e.g. 1.0); the local training diverged",
         kExitRuntime);
  SlotStats& st = update.stats[p];
  st.experts_trained = experts;
  st.up_bytes = static_cast<int64_t>(4 * (update.PD + static_cast<size_t>(L_) * update.PR + reported * update.PE));  // fp32
  double* state = update.state(p);
  const size_t LE = static_cast<size_t>(L_) * E_;
  std::copy(usage_.begin(), usage_.end(), state);
  std::copy(importance_.begin(), importance_.end(), state + LE);
}

}  // namespace hf
