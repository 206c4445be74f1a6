#include "io/crc32.h"

#include <array>
#include <cstring>

#include "util/check.h"

namespace hf {

// Slicing-by-8: table k advances the crc over a byte followed by k zero bytes, so eight
// bytes fold in with eight lookups and no serial dependency between them (~8x the
// byte-at-a-time speed, which would otherwise dominate checkpoint I/O).
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

static const CrcTables& crc_tables() {
  static const CrcTables tables = [] {
    CrcTables t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
      for (int i = 0; i < 256; i++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
    return t;
  }();
  return tables;
}

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  const auto& t = crc_tables();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo, hi;  // little-endian words, as the byte-wise definition reads them
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
          t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; n--) crc = t[0][(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t crc32_strings(const std::vector<std::string>& v) {
  uint32_t crc = 0;
  for (const auto& s : v) crc = crc32(s.c_str(), s.size() + 1, crc);
  return crc;
}

uint32_t dataset_crc32(const h5::File& f, const std::string& dataset) {
  size_t n = 1;
  for (int64_t d : f.shape(dataset)) n *= static_cast<size_t>(d);
  hid_t d = H5Dopen2(f.id(), dataset.c_str(), H5P_DEFAULT);
  HF_CHECK(d >= 0, "cannot open %s", dataset.c_str());
  hid_t ftype = H5Dget_type(d);
  bool is_string = H5Tget_class(ftype) == H5T_STRING;
  hid_t mtype = is_string ? -1 : H5Tget_native_type(ftype, H5T_DIR_ASCEND);
  std::vector<unsigned char> bytes(is_string ? 0 : n * H5Tget_size(mtype));
  herr_t rc = is_string || n == 0 ? 0 : H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
  if (mtype >= 0) H5Tclose(mtype);
  H5Tclose(ftype);
  H5Dclose(d);
  if (is_string) return crc32_strings(f.read_strings(dataset));
  if (rc < 0) fail(f.path() + ": " + dataset + ": read failed (truncated or corrupted file?)",
                   "the file is damaged; use an earlier checkpoint or regenerate it");
  return crc32(bytes.data(), bytes.size());
}

}  // namespace hf
