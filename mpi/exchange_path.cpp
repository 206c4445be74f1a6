#include "mpi/exchange_path.h"

#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "mpi/runtime.h"
#include "util/check.h"
#ifdef HFEDMOE_HAVE_CUDA
#include "cuda/device.h"
#endif

namespace hf {

std::vector<ExecutorGpu> gather_executor_gpus(int device) {
  if (world_size() == 1) return {};
  // Fixed-size records, so one MPI_Allgather of bytes carries them.
  struct Record {
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    char uuid[33];  // 16 bytes in hex
    int device;
  };
  Record mine;
  std::memset(&mine, 0, sizeof mine);
  int len = 0;
  mpi_ok(MPI_Get_processor_name(mine.host, &len), "Get_processor_name");
  mine.device = device;
#ifdef HFEDMOE_HAVE_CUDA
  if (device >= 0)
    for (const cuda::DeviceInfo& d : cuda::scan_devices().devices)
      if (d.index == device) std::strncpy(mine.uuid, d.uuid.c_str(), sizeof mine.uuid - 1);
#endif
  std::vector<Record> all(world_size());
  mpi_ok(MPI_Allgather(&mine, sizeof(Record), MPI_BYTE, all.data(), sizeof(Record), MPI_BYTE, MPI_COMM_WORLD),
         "Allgather(executor GPUs)");
  std::vector<ExecutorGpu> executors;
  for (int r = 1; r < world_size(); r++) executors.push_back({r, all[r].host, all[r].device, all[r].uuid});
  return executors;
}

namespace {

// Why NCCL cannot join these executors, and the remedy; an empty why: it can.
struct Obstacle {
  std::string why, fix;
};

Obstacle nccl_obstacle(bool have_nccl, const std::vector<ExecutorGpu>& executors) {
  const std::string own_gpu = "use fl.exchange=auto or mpi, or give each executor its own GPU";
  if (!have_nccl)
    return {"this build has no NCCL",
            "use fl.exchange=auto or mpi, or rebuild where CMake finds nccl.h and libnccl (it looks next to the "
            "CUDA toolkit and in /usr)"};
  auto on_cpu = [](const ExecutorGpu& x) { return x.device < 0; };
  if (std::all_of(executors.begin(), executors.end(), on_cpu)) return {"executors compute on the CPU", own_gpu};
  auto first_cpu = std::find_if(executors.begin(), executors.end(), on_cpu);
  if (first_cpu != executors.end())
    return {strf("executor %d computes on the CPU; NCCL needs a GPU on every executor", first_cpu->rank), own_gpu};
  // One physical GPU: the same UUID, or (UUID unknown) the same device number on the same node.
  std::map<std::string, const ExecutorGpu*> holder;
  for (const ExecutorGpu& x : executors) {
    std::string key = x.uuid.empty() ? strf("%s\n%d", x.host.c_str(), x.device) : x.uuid;
    auto [it, fresh] = holder.emplace(key, &x);
    if (!fresh)
      return {strf("executors %d and %d share GPU %d on node %s; NCCL allows one rank per GPU", it->second->rank,
                   x.rank, x.device, x.host.c_str()),
              own_gpu};
  }
  return {};
}

std::string count(size_t n, const char* noun) { return strf("%zu %s%s", n, noun, n == 1 ? "" : "s"); }

}  // namespace

ExchangeChoice choose_exchange(const std::string& mode, bool have_nccl, const std::vector<ExecutorGpu>& executors) {
  HF_CHECK(mode == "auto" || mode == "mpi" || mode == "nccl", "unvalidated fl.exchange=%s", mode.c_str());
  if (executors.empty()) return {ExchangePath::in_process, "exchange: in-process (one process, no executor ranks)"};
  if (mode == "mpi") return {ExchangePath::mpi, "exchange: MPI (fl.exchange=mpi)"};
  Obstacle no = nccl_obstacle(have_nccl, executors);
  if (!no.why.empty()) {
    if (mode == "nccl") fail("fl.exchange=nccl but " + no.why, no.fix);
    return {ExchangePath::mpi, "exchange: MPI (" + no.why + ")"};
  }
  if (mode == "auto" && executors.size() == 1)
    return {ExchangePath::mpi, "exchange: MPI (one executor: NCCL would have no GPU to reduce with; "
                               "fl.exchange=nccl uses it anyway)"};
  std::set<std::string> hosts;
  for (const ExecutorGpu& x : executors) hosts.insert(x.host);
  std::string why = "exchange: NCCL among " + count(executors.size(), "executor") + " on " +
                    count(executors.size(), "GPU");
  if (hosts.size() > 1) why += " of " + count(hosts.size(), "node");
  return {ExchangePath::nccl, why + "; executor " + std::to_string(executors[0].rank) +
                                  " relays to and from the server over MPI"};
}

}  // namespace hf
