#pragma once
// A checkpoint's table of contents, stored in its /meta "manifest" attribute: every dataset
// (path, dtype, shape, crc32 of its elements) and every attribute the reader trusts (object,
// name, crc32 of its value as text). The whole-file seal (io/seal.h) says the bytes are the
// ones written; the manifest says that libhdf5 reads from them the objects that were written,
// so a file edited by another tool, or by a writer bug, is named instead of half-read. Text,
// one entry a line, sorted:
//   hfedmoe manifest 1
//   dataset model/tok_emb f32 260,64 1a2b3c4d
//   attr meta round 0a0b0c0d
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/h5.h"

namespace hf {

struct Manifest {
  struct Dataset {
    std::string dtype;  // h5::File::dtype
    std::vector<int64_t> shape;
    uint32_t crc32 = 0;
  };
  std::map<std::string, Dataset> datasets;                        // path -> entry
  std::map<std::pair<std::string, std::string>, uint32_t> attrs;  // (object, name) -> crc32

  std::string text() const;
  // A usage error naming `file` if the text is not a manifest.
  static Manifest parse(const std::string& text, const std::string& file);
};

// What libhdf5 reads from f: every dataset with its dtype and shape (crc32 left 0), and the
// crc32 of each attribute named in attrs.
Manifest structure_of(const h5::File& f, const std::vector<std::pair<std::string, std::string>>& attrs);
// A usage error naming the first difference between f's structure and m's (not the data:
// readers check each dataset's crc32 against m as they read it).
void check_manifest(const h5::File& f, const Manifest& m);

}  // namespace hf
