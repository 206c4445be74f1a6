#pragma once
// The whole-file seal of a checkpoint: its size and the crc32 of every byte after the first
// 512, written as text into HDF5's user block (the first 512 bytes, which libhdf5 skips and
// other HDF5 tools keep) once the file is closed. It is checked before libhdf5 parses a byte
// of the file, because libhdf5 trusts its own metadata: a flipped byte there can make it read
// the wrong object, allocate without bound or crash. CRC-32 catches every error burst of up
// to 32 bits, so any single flipped byte, and the size catches any truncation. The seal lives
// inside the file, so a checkpoint copied by hand keeps it.
#include <string>

namespace hf {

constexpr int kSealBytes = 512;  // the HDF5 user block: a power of two, at least 512

// Reads a file's first bytes, before libhdf5 sees it: true for a seal (check it with
// check_seal), false for an HDF5 signature at offset 0 (an HDF5 file without a seal: a
// dataset, another program's file, a checkpoint of format 1). Anything else is a usage
// error naming the file: not HDF5 at all, or a checkpoint whose seal is damaged.
bool is_sealed(const std::string& path);

// Writes the seal into the user block of a closed HDF5 file created with kSealBytes of it.
void write_seal(const std::string& path);
// Checks size and crc32 against the seal; a usage error naming the file if anything differs.
// Returns the file's size.
size_t check_seal(const std::string& path);

}  // namespace hf
