#include "io/manifest.h"

#include <sstream>

#include "io/crc32.h"
#include "util/check.h"

namespace hf {
namespace {

constexpr const char* kHeader = "hfedmoe manifest 1";

[[noreturn]] void mismatch(const std::string& file, const std::string& what) {
  fail(file + ": " + what,
       "the file is damaged; resume from an earlier checkpoint (point <run>/ckpt/latest at it or pass --run.resume)");
}

std::string dims_text(const std::vector<int64_t>& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); i++) out += (i ? "," : "") + std::to_string(shape[i]);
  return out.empty() ? "-" : out;  // a scalar: no dimensions, still one word
}

}  // namespace

std::string Manifest::text() const {
  std::string out = kHeader;
  for (const auto& [path, d] : datasets)
    out += strf("\ndataset %s %s %s %08x", path.c_str(), d.dtype.c_str(), dims_text(d.shape).c_str(), d.crc32);
  for (const auto& [key, crc] : attrs) out += strf("\nattr %s %s %08x", key.first.c_str(), key.second.c_str(), crc);
  return out;
}

Manifest Manifest::parse(const std::string& text, const std::string& file) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) mismatch(file, "its manifest has no '" + std::string(kHeader) + "' header");
  Manifest m;
  int n = 1;
  while (std::getline(in, line)) {
    n++;
    std::istringstream words(line);
    std::string kind, a, b, c, crc_hex, extra;
    bool ok = static_cast<bool>(words >> kind >> a >> b);
    if (kind == "dataset") ok = ok && static_cast<bool>(words >> c);
    ok = ok && static_cast<bool>(words >> crc_hex) && !(words >> extra) && crc_hex.size() == 8 &&
         crc_hex.find_first_not_of("0123456789abcdef") == std::string::npos;
    uint32_t crc = ok ? static_cast<uint32_t>(std::stoul(crc_hex, nullptr, 16)) : 0;
    if (ok && kind == "dataset") {
      Dataset d{b, {}, crc};
      for (size_t pos = 0; c != "-" && pos <= c.size() && ok;) {
        size_t end = std::min(c.find(',', pos), c.size());
        std::string dim = c.substr(pos, end - pos);
        ok = !dim.empty() && dim.size() < 19 && dim.find_first_not_of("0123456789") == std::string::npos;
        if (ok) d.shape.push_back(std::stoll(dim));
        pos = end + 1;
      }
      ok = ok && m.datasets.emplace(a, d).second;
    } else if (ok && kind == "attr") {
      ok = m.attrs.emplace(std::make_pair(a, b), crc).second;
    } else {
      ok = false;
    }
    if (!ok) mismatch(file, strf("line %d of its manifest is not an entry: '%s'", n, line.c_str()));
  }
  return m;
}

Manifest structure_of(const h5::File& f, const std::vector<std::pair<std::string, std::string>>& attrs) {
  Manifest m;
  for (const auto& path : f.datasets("/")) m.datasets[path] = {f.dtype(path), f.shape(path), 0};
  for (const auto& key : attrs) {
    std::string value = f.attr_text(key.first, key.second);
    m.attrs[key] = crc32(value.data(), value.size());
  }
  return m;
}

void check_manifest(const h5::File& f, const Manifest& m) {
  const std::string& file = f.path();
  std::vector<std::pair<std::string, std::string>> attrs;
  for (const auto& [key, crc] : m.attrs) {
    if (!f.has_attr(key.first, key.second)) mismatch(file, "attribute " + key.second + " of /" + key.first + " is missing");
    attrs.push_back(key);
  }
  Manifest got = structure_of(f, attrs);
  for (const auto& [path, d] : got.datasets)
    if (!m.datasets.count(path)) mismatch(file, "dataset /" + path + " is not in its manifest");
  for (const auto& [path, want] : m.datasets) {
    auto it = got.datasets.find(path);
    if (it == got.datasets.end()) mismatch(file, "dataset /" + path + " of its manifest is missing");
    const Manifest::Dataset& d = it->second;
    if (d.dtype != want.dtype || d.shape != want.shape)
      mismatch(file, strf("dataset /%s is %s [%s], its manifest says %s [%s]", path.c_str(), d.dtype.c_str(),
                          dims_text(d.shape).c_str(), want.dtype.c_str(), dims_text(want.shape).c_str()));
  }
  for (const auto& [key, crc] : m.attrs)
    if (got.attrs.at(key) != crc)
      mismatch(file, strf("attribute %s of /%s fails its crc32 check (manifest %08x, read %08x)", key.second.c_str(),
                          key.first.c_str(), crc, got.attrs.at(key)));
}

}  // namespace hf
