#pragma once
// Numbers for people: durations and byte counts in progress lines and summaries.
#include <cmath>
#include <cstdint>
#include <string>

#include "util/strf.h"

namespace hf {

// 42s, 3m07s, 2h05m; "?" for a negative or non-finite estimate (an ETA before any timing).
inline std::string human_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long long t = static_cast<long long>(s + 0.5);
  if (t >= 3600) return strf("%lldh%02lldm", t / 3600, t % 3600 / 60);
  if (t >= 60) return strf("%lldm%02llds", t / 60, t % 60);
  return strf("%llds", t);
}

// 1 KB = 1000 bytes: 512B, 3.6MB, 1.4GB.
inline std::string human_bytes(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, u++;
  return strf("%.1f%s", b, unit[u]);
}

}  // namespace hf
