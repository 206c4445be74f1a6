#pragma once
// What the CUDA runtime sees on this node. Compiled only in CUDA builds (HFEDMOE_HAVE_CUDA);
// without a driver or device, count is 0 and error says why, so callers fall back to the CPU.
#include <string>
#include <vector>

namespace hf::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  double memory_gb = 0;
  int multiprocessors = 0;
  // The UUID in hex: one physical GPU has the same one in every process, whatever
  // CUDA_VISIBLE_DEVICES renumbered, so the exchange can tell ranks sharing a GPU. Empty when
  // unknown (the initializer also keeps positional initializations of the fields above valid).
  std::string uuid = "";
};

struct DeviceScan {
  std::vector<DeviceInfo> devices;
  std::string error;  // non-empty when the runtime could not be queried (no driver, no device)
};

DeviceScan scan_devices();
// Makes `device` current for this thread; an hf::Error naming the device on failure.
void use_device(int device);

}  // namespace hf::cuda
