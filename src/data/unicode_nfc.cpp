#include "data/unicode_nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "data/unicode_classes.h"

namespace hf {

namespace {

struct CodeTriple {
  uint32_t a, b, c;
};

#include "data/unicode_nfc_table.inc"

// Hangul syllables: S = SBase + (L * VCount + V) * TCount + T (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kSCount = kLCount * kVCount * kTCount;

uint32_t combining_class(uint32_t cp) {
  auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), cp,
                             [](uint32_t c, const CodeTriple& r) { return c < r.a; });
  if (it == std::begin(kCombiningClass)) return 0;
  --it;
  return cp <= it->b ? it->c : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / (kVCount * kTCount));
    out.push_back(kVBase + (s % (kVCount * kTCount)) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  auto it = std::lower_bound(std::begin(kDecomposition), std::end(kDecomposition), cp,
                             [](const CodeTriple& r, uint32_t c) { return r.a < c; });
  if (it == std::end(kDecomposition) || it->a != cp) {
    out.push_back(cp);
    return;
  }
  decompose(it->b, out);
  if (it->c) decompose(it->c, out);
}

// The primary composite of (first, second), or 0.
uint32_t compose(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  CodeTriple key{first, second, 0};
  auto it = std::lower_bound(std::begin(kComposition), std::end(kComposition), key, [](const CodeTriple& x, const CodeTriple& y) {
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
  return it != std::end(kComposition) && it->a == first && it->b == second ? it->c : 0;
}

// NFC of a stretch of code points, appended to out as UTF-8.
void normalize(const std::vector<uint32_t>& cps, std::string& out) {
  std::vector<uint32_t> d;  // the canonical decomposition
  for (uint32_t cp : cps) decompose(cp, d);
  // Canonical ordering: each run of non-starters sorted by combining class, stably.
  for (size_t i = 0; i < d.size();) {
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) j++;
    std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                     [](uint32_t x, uint32_t y) { return combining_class(x) < combining_class(y); });
    i = j == i ? i + 1 : j;
  }
  // Canonical composition: a mark joins the last starter unless a mark of the same or a
  // higher class, or a starter, stands between them (is "blocked").
  if (!d.empty()) {
    size_t starter = 0, kept = 1;
    uint32_t last_class = combining_class(d[0]) ? 256 : 0;
    for (size_t i = 1; i < d.size(); i++) {
      uint32_t cp = d[i], cls = combining_class(cp);
      uint32_t composite = compose(d[starter], cp);
      if (composite && (last_class < cls || last_class == 0)) {
        d[starter] = composite;
        continue;
      }
      if (cls == 0) starter = kept;
      last_class = cls;
      d[kept++] = cp;
    }
    d.resize(kept);
  }
  for (uint32_t cp : d) append_utf8(out, cp);
}

}  // namespace

std::string nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::vector<uint32_t> stretch;
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
    uint32_t cp = utf8_next(text, pos, &len);
    bool invalid = cp == 0xFFFD && text.compare(pos, len, "\xEF\xBF\xBD") != 0;
    if (!invalid) {
      stretch.push_back(cp);
      continue;
    }
    normalize(stretch, out);
    stretch.clear();
    out += text[pos];
  }
  normalize(stretch, out);
  return out;
}

}  // namespace hf
