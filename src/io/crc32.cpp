#include "io/crc32.h"

#include <array>

#include "util/check.h"

namespace hf {

static const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  const auto& t = crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = t[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
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
