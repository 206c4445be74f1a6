#include "data/unicode_classes.h"

#include <algorithm>

namespace hf {

namespace {

struct CodeRange {
  uint32_t first, last;
  uint8_t classes;
};

constexpr CodeRange kRanges[] = {
#include "data/unicode_classes_table.inc"
};

}  // namespace

uint8_t unicode_classes(uint32_t cp) {
  auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), cp,
                             [](uint32_t c, const CodeRange& r) { return c < r.first; });
  if (it == std::begin(kRanges)) return static_cast<uint8_t>(kOtherBit);
  --it;
  return cp <= it->last ? it->classes : static_cast<uint8_t>(kOtherBit);
}

uint32_t utf8_next(std::string_view text, size_t pos, size_t* len) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[pos + k]); };
  unsigned char b0 = byte(0);
  size_t n = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  bool ok = n > 0 && pos + n <= text.size();
  for (size_t k = 1; ok && k < n; k++) ok = (byte(k) & 0xC0) == 0x80;
  if (!ok) {
    *len = 1;
    return 0xFFFD;
  }
  *len = n;
  if (n == 1) return b0;
  uint32_t cp = b0 & (0x7F >> n);
  for (size_t k = 1; k < n; k++) cp = (cp << 6) | (byte(k) & 0x3F);
  return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace hf
