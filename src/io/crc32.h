#pragma once
// CRC-32 (IEEE 802.3, the zlib polynomial) of HDF5 datasets, so a flipped byte in a
// checkpoint is caught on load and by `inspect --verify` instead of silently training on it.
// What is hashed: the dataset's elements in their native in-memory layout (little-endian on
// every machine we run on), or for string datasets each string's bytes followed by a NUL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"

namespace hf {

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);  // chainable: pass the previous crc
uint32_t crc32_strings(const std::vector<std::string>& v);
// Re-reads a dataset as stored (any numeric type or strings) and hashes it.
uint32_t dataset_crc32(const h5::File& f, const std::string& dataset);

}  // namespace hf
