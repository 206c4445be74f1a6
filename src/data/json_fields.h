#pragma once
// Just enough JSON for the corpora: the top-level fields of one object, each as text.
// Strings are unescaped (\uXXXX, surrogate pairs included, become UTF-8); numbers, true,
// false keep their literal text; null becomes ""; nested objects and arrays are skipped
// (kept as absent), since no corpus field we read is structured. Not a general JSON library.
#include <map>
#include <string>

namespace hf {

// Parses text holding one JSON object. `where` names the source (a file, "file:line") for
// the usage error a malformed object raises.
std::map<std::string, std::string> json_object_fields(const std::string& text, const std::string& where);

// fields[key], or fallback when the object has no such (string or scalar) field.
std::string json_field_or(const std::map<std::string, std::string>& fields, const std::string& key,
                          const std::string& fallback = "");

}  // namespace hf
