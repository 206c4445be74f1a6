#pragma once
// Deterministic randomness. Every random draw in hfedmoe comes from a stream keyed by
// (seed, round, client, step, purpose), never from a global generator or from which rank
// ran what, so results do not depend on scheduling and a resumed run repeats exactly.
#include <cmath>
#include <cstdint>
#include <utility>

namespace hf {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// What a stream is for, so two uses with the same coordinates never share draws.
enum class Purpose : uint64_t {
  init = 1, sample_clients, client_data, dropout, random_moe, partition, profile, pretrain, eval, validation,
  memory_shrink, adapter_init,
};

// xoshiro256** seeded by hashing the key. Small, fast, and good enough for ML sampling.
class Rng {
 public:
  Rng(uint64_t seed, Purpose purpose, uint64_t round = 0, uint64_t client = 0, uint64_t step = 0) {
    uint64_t h = splitmix64(seed);
    h = splitmix64(h ^ static_cast<uint64_t>(purpose));
    h = splitmix64(h ^ round);
    h = splitmix64(h ^ client);
    h = splitmix64(h ^ step);
    for (auto& w : s_) w = h = splitmix64(h);
  }
  uint64_t next_u64() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return (next_u64() >> 11) * 0x1.0p-53; }              // [0, 1)
  uint64_t below(uint64_t n) { return static_cast<uint64_t>(uniform() * n); }  // [0, n)
  // Fisher-Yates over v[0..n), from the back: the one shuffle every seeded permutation uses.
  template <class T>
  void shuffle(T* v, size_t n) {
    for (size_t i = n; i > 1; i--) std::swap(v[i - 1], v[below(i)]);
  }
  double normal() {  // Box-Muller; one draw per call keeps the stream position simple
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
  }
  double gamma(double alpha);  // Marsaglia-Tsang; for Dirichlet partitions

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

inline double Rng::gamma(double alpha) {
  if (alpha < 1.0) return gamma(alpha + 1.0) * std::pow(uniform() + 1e-300, 1.0 / alpha);
  double d = alpha - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = normal(), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u + 1e-300) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

}  // namespace hf
