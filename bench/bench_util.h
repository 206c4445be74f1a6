// Helpers shared by the benchmarks in bench/ (header-only: every bench/*.cpp is its own
// executable, see the root CMakeLists.txt).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace hf::bench {

using clk = std::chrono::steady_clock;

// Wall seconds since t0 on the steady clock.
inline double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// The upper median (v[n / 2] after sorting): robust to the slow steps a shared machine causes.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The CPU's "model name" from /proc/cpuinfo, or `unknown` when there is none.
inline std::string cpu_model(const std::string& unknown = "unknown") {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return unknown;
}

// The 1-minute load average, 0 when it cannot be read.
inline double load_average_1min() {
  double load[1] = {0};
  if (getloadavg(load, 1) != 1) return 0;
  return load[0];
}

}  // namespace hf::bench
