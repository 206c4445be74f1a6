#pragma once
// <run>/experts.csv: which experts each device class trained, one row per (round, class, layer,
// expert): round,class,layer,expert,clients = how many of the round's clients of that class
// (status ok) trained the expert in some local step. Summed over (class, layer, expert), a
// round's counts equal experts_trained_mean * clients_ok * L of its metrics row. Rank 0 only.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fl/profiles.h"
#include "fl/update.h"

namespace hf {

class ExpertsCsv {
 public:
  ~ExpertsCsv();
  // Opens path for appending, keeping the rows of rounds <= last_round (a resumed run; 0 = new).
  void open(const std::string& path, int64_t last_round);
  void append(int64_t round, const RoundUpdate& u, const std::vector<DeviceProfile>& classes);

 private:
  FILE* f_ = nullptr;
};

}  // namespace hf
