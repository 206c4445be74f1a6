#include "io/seal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "io/crc32.h"
#include "util/check.h"

namespace hf {
namespace {

constexpr char kMagic[] = "hfedmoe checkpoint seal\n";
constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";

// The user block exactly as written for a file of `size` bytes whose tail has this crc: the
// text, then zeros. A reader re-renders it from the values it parsed and compares all 512
// bytes, so a flip anywhere in the block (the padding too) is caught.
std::vector<char> render(size_t size, uint32_t crc) {
  std::vector<char> block(kSealBytes, '\0');
  std::snprintf(block.data(), block.size(), "%sbytes %zu\ncrc32 %08x\n", kMagic, size, crc);
  return block;
}

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  fail(path + ": " + what,
       "the file is damaged; resume from an earlier checkpoint (point <run>/ckpt/latest at it or pass --run.resume)");
}

struct Fd {  // closes on scope exit
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// crc32 of bytes [from, end) of an open file.
uint32_t crc_from(int fd, size_t from, const std::string& path) {
  std::vector<unsigned char> buf(1 << 20);
  uint32_t crc = 0;
  for (off_t at = static_cast<off_t>(from);;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
    if (n < 0) fail("cannot read " + path + ": " + std::strerror(errno), "check the file and the disk", kExitRuntime);
    if (n == 0) return crc;
    crc = crc32(buf.data(), static_cast<size_t>(n), crc);
    at += n;
  }
}

}  // namespace

bool is_sealed(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY)};
  if (f.fd < 0) fail("cannot open " + path, "check the path (it does not exist or is not readable)");
  char head[sizeof(kMagic) - 1] = {}, after[8] = {};
  ssize_t n = ::pread(f.fd, head, sizeof(head), 0);
  if (n == static_cast<ssize_t>(sizeof(head)) && std::memcmp(head, kMagic, sizeof(head)) == 0) return true;
  if (n >= 8 && std::memcmp(head, kHdf5Signature, 8) == 0) return false;
  // HDF5 after a user block: a sealed file whose first bytes were changed.
  if (::pread(f.fd, after, 8, kSealBytes) == 8 && std::memcmp(after, kHdf5Signature, 8) == 0)
    damaged(path, "its seal (the first 512 bytes) is damaged");
  fail(path + " is not an HDF5 file (truncated or corrupted?)", "give a file written by hfedmoe");
}

void write_seal(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDWR)};
  if (f.fd < 0) fail("cannot open " + path + ": " + std::strerror(errno), "check the folder's permissions", kExitRuntime);
  struct stat st;
  HF_CHECK(::fstat(f.fd, &st) == 0 && st.st_size > kSealBytes, "%s is too short to seal", path.c_str());
  std::vector<char> block = render(static_cast<size_t>(st.st_size), crc_from(f.fd, kSealBytes, path));
  // The user block is allocated already (libhdf5 wrote zeros there): overwriting it needs no space.
  if (::pwrite(f.fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()))
    fail("cannot write " + path + ": " + std::strerror(errno), "free space or choose another --out", kExitRuntime);
}

size_t check_seal(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY)};
  if (f.fd < 0) fail("cannot open " + path, "check the path (it does not exist or is not readable)");
  struct stat st;
  HF_CHECK(::fstat(f.fd, &st) == 0, "cannot stat %s", path.c_str());
  std::vector<char> block(kSealBytes + 1, '\0');  // a NUL after the block ends the text for sscanf
  if (::pread(f.fd, block.data(), kSealBytes, 0) != kSealBytes)
    damaged(path, strf("is %lld bytes, shorter than its seal (truncated?)", static_cast<long long>(st.st_size)));
  size_t size = 0;
  unsigned crc = 0;
  int used = 0;
  if (std::sscanf(block.data() + sizeof(kMagic) - 1, "bytes %zu\ncrc32 %8x\n%n", &size, &crc, &used) != 2 || used == 0 ||
      render(size, crc) != std::vector<char>(block.begin(), block.end() - 1))
    damaged(path, "its seal (the first 512 bytes) is damaged");
  if (static_cast<size_t>(st.st_size) != size)
    damaged(path, strf("is %lld bytes, its seal says %zu (truncated or extended?)", static_cast<long long>(st.st_size), size));
  uint32_t got = crc_from(f.fd, kSealBytes, path);
  if (got != crc) damaged(path, strf("fails its whole-file crc32 check (sealed %08x, read %08x)", crc, got));
  return size;
}

}  // namespace hf
