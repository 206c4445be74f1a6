#pragma once
// The Unicode classes the pre-tokeniser regexes use, by code point; the table is generated
// by unicode_classes_gen.py (its Unicode version is in unicode_classes_table.inc).
#include <cstdint>
#include <string>
#include <string_view>

namespace hf {

enum UnicodeClass : uint8_t { kOtherClass = 0, kLetterClass = 1, kNumberClass = 2, kSpaceClass = 4 };

UnicodeClass unicode_class(uint32_t cp);

// The code point starting at text[pos] and its length in bytes. A byte that does not start
// valid UTF-8 is its own code point of length 1 (class other), so any bytes can be split.
uint32_t utf8_next(std::string_view text, size_t pos, size_t* len);

// Appends the UTF-8 of code point cp (below 0x110000).
void append_utf8(std::string& out, uint32_t cp);

}  // namespace hf
