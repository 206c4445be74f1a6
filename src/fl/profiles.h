#pragma once
// Device profiles (jobs/profiles/*.csv); the budgets that follow from them are
// fl/memory_model.h. CSV columns, header required:
//   name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share
// share: fraction of the client population in this class (the shares sum to 1, within 1e-6).
// availability: probability in (0, 1] that a sampled client of this class is online.
#include <cstdint>
#include <string>
#include <vector>

namespace hf {

inline constexpr double kBytesPerGB = 1e9;  // memory_gb is decimal gigabytes, as device sheets quote them

struct DeviceProfile {
  std::string name;
  double tflops = 1;        // sustained fp32 TFLOP/s of the emulated device
  double memory_gb = 8;
  double uplink_mbps = 100;
  double downlink_mbps = 100;
  double availability = 1;
  double share = 1;
};

// Parses a profile CSV; a bad row is a usage error naming the file, line and column.
std::vector<DeviceProfile> load_profiles(const std::string& path);

// Client -> profile index, deterministic from (seed, Purpose::profile): exact class counts
// round(share * n_clients) (largest remainders), then a seeded shuffle.
std::vector<int> assign_profiles(const std::vector<DeviceProfile>& profiles, int n_clients, uint64_t seed);

}  // namespace hf
