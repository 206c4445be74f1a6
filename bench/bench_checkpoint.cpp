// Checkpoint write and read throughput against a plain file of the same size on the same disk.
//
//   bench_checkpoint [--preset small|base|all] [--reps N] [--dir DIR] [--moments] [--out FILE]
//
// What is timed (median of --reps runs, MB = 10^6 bytes of the checkpoint file):
//   ckpt write  save_checkpoint: crc32 of every dataset, HDF5 write, fsync, rename, folder
//               fsync, `latest` replaced atomically (fsync'd too), pruning
//   ckpt read   load_checkpoint with the table: every shape checked, every crc32 verified
//   plain write one write(2) of the same number of bytes to a new file, then fsync
//   plain read  read(2) of that file into memory
//   crc32       the checksum alone over the model arena, in memory (the floor of both paths)
// Reads are from the page cache: the file was just written and nothing is dropped (dropping
// caches needs root and disturbs other users), so read numbers are memory-bound, not disk-bound.
// --moments adds two arena-sized /server arrays (AdamW m and v, as pretrain writes), tripling
// the size; without it the checkpoint is the model alone, as `train` writes it.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/crc32.h"
#include "util/check.h"
#include "util/rng.h"
#include "bench_util.h"

namespace {

using namespace hf::bench;

// The device and file system holding dir, from /proc/mounts (longest matching mount point).
std::string disk_of(const std::string& dir) {
  std::string abs = std::filesystem::absolute(dir).string(), best, desc = "unknown";
  std::ifstream f("/proc/mounts");
  std::string dev, mnt, type, rest;
  while (f >> dev >> mnt >> type && std::getline(f, rest))
    if (abs.rfind(mnt, 0) == 0 && mnt.size() > best.size()) {
      best = mnt;
      desc = dev + " (" + type + ", mounted on " + mnt + ")";
    }
  return desc;
}

void plain_write(const std::string& path, const void* data, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  HF_CHECK(fd >= 0, "cannot create %s", path.c_str());
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < n;) {
    ssize_t w = ::write(fd, p + done, n - done);
    HF_CHECK(w > 0, "write failed");
    done += static_cast<size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
}

void plain_read(const std::string& path, void* data, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY);
  HF_CHECK(fd >= 0, "cannot open %s", path.c_str());
  char* p = static_cast<char*>(data);
  for (size_t done = 0; done < n;) {
    ssize_t r = ::read(fd, p + done, n - done);
    HF_CHECK(r > 0, "read failed");
    done += static_cast<size_t>(r);
  }
  ::close(fd);
}

struct Row {
  std::string preset;
  size_t params = 0, bytes = 0;
  double ckpt_write = 0, ckpt_read = 0, plain_write = 0, plain_read = 0, crc = 0;  // seconds
};

Row bench(const std::string& preset, int reps, const std::string& dir, bool moments) {
  hf::ParamTable table(hf::model_preset(preset));
  hf::Checkpoint ck;
  ck.kind = "train";
  ck.config_ini = "[model]\npreset = " + preset + "\n";
  ck.model.resize(table.total());
  hf::Rng rng(1, hf::Purpose::init);
  for (auto& x : ck.model) x = static_cast<float>(rng.normal() * 0.02);  // random bits: nothing compresses
  if (moments) {
    ck.server_f32["adam_m"] = ck.model;
    ck.server_f32["adam_v"] = ck.model;
  }
  Row row{preset, table.total()};
  std::string ckdir = dir + "/ckpt_" + preset;
  std::filesystem::remove_all(ckdir);
  std::vector<double> w, r, pw, pr, c;
  for (int i = 0; i < reps; i++) {
    ck.round = i + 1;  // a new file each time, as a run writes them
    auto t0 = clk::now();
    std::string path = hf::save_checkpoint(ck, table, ckdir, 2);
    w.push_back(seconds_since(t0));
    row.bytes = std::filesystem::file_size(path);

    t0 = clk::now();
    hf::Checkpoint back = hf::load_checkpoint(path, table);
    r.push_back(seconds_since(t0));
    HF_CHECK(std::memcmp(back.model.data(), ck.model.data(), table.total() * sizeof(float)) == 0, "read back differs");

    std::vector<char> buf(row.bytes);
    std::memcpy(buf.data(), ck.model.data(), std::min(buf.size(), table.total() * sizeof(float)));
    std::string plain = dir + "/plain_" + preset + ".bin";
    t0 = clk::now();
    plain_write(plain, buf.data(), buf.size());
    pw.push_back(seconds_since(t0));
    t0 = clk::now();
    plain_read(plain, buf.data(), buf.size());
    pr.push_back(seconds_since(t0));
    std::filesystem::remove(plain);

    t0 = clk::now();
    volatile uint32_t sum = hf::crc32(ck.model.data(), table.total() * sizeof(float));
    (void)sum;
    c.push_back(seconds_since(t0));
  }
  std::filesystem::remove_all(ckdir);
  row.ckpt_write = median(w);
  row.ckpt_read = median(r);
  row.plain_write = median(pw);
  row.plain_read = median(pr);
  row.crc = median(c);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "small", dir = ".", out;
  int reps = 5;
  bool moments = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (a == "--preset") preset = next();
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--dir") dir = next();
    else if (a == "--out") out = next();
    else if (a == "--moments") moments = true;
    else {
      std::fprintf(stderr, "usage: bench_checkpoint [--preset small|base|all] [--reps N] [--dir DIR] [--moments] [--out FILE]\n");
      return 2;
    }
  }
  std::vector<std::string> presets = preset == "all" ? std::vector<std::string>{"small", "base"} : std::vector<std::string>{preset};
  std::string machine = cpu_model() + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                        " cores, " + std::to_string(sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGE_SIZE) >> 30) + " GiB RAM";
  std::printf("machine: %s\ndisk:    %s\nload:    %.2f (1-min average at start)\n", machine.c_str(), disk_of(dir).c_str(), load_average_1min());
  std::printf("checkpoint: %s; median of %d; reads from the page cache (nothing dropped)\n\n",
              moments ? "model + AdamW m, v" : "model only", reps);
  std::string header = "| preset | params | file MB | ckpt write MB/s | plain write+fsync MB/s | ckpt read MB/s | plain read MB/s | crc32 MB/s |";
  std::printf("%s\n|---|---|---|---|---|---|---|---|\n", header.c_str());
  std::string rows;
  for (const auto& p : presets) {
    Row r = bench(p, reps, dir, moments);
    double mb = r.bytes / 1e6;
    std::string line = hf::strf("| %s%s | %.1fM | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f |", r.preset.c_str(),
                                moments ? " +moments" : "", r.params / 1e6, mb, mb / r.ckpt_write, mb / r.plain_write,
                                mb / r.ckpt_read, mb / r.plain_read, r.params * 4 / 1e6 / r.crc);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    rows += line + "\n";
  }
  if (!out.empty()) std::ofstream(out, std::ios::app) << rows;
  return 0;
}
