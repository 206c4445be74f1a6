#pragma once
// SHA-256 (FIPS 180-4) for dataset provenance: the digest of the corpus files `prepare`
// read, so a dataset names exactly what it came from. Small and dependency-free.
#include <cstdint>
#include <string>

namespace hf {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex();  // finishes; call once

 private:
  void block(const uint8_t* p);  // one 64-byte block
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);

}  // namespace hf
