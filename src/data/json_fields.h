#pragma once
// Just enough JSON for the corpora and for tokenizer.json files.
//   json_object_fields  the top-level fields of one object, each as text; nested objects
//                       and arrays are skipped (kept as absent): no corpus field is structured
//   json_parse          the whole tree (a tokenizer.json: vocab, merges, added tokens)
// Strings are unescaped (\uXXXX, surrogate pairs included, become UTF-8); numbers, true,
// false keep their literal text; null becomes "". Not a general JSON library: no number
// arithmetic, and objects keep their members in file order (duplicates included).
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hf {

struct JsonValue {
  enum Kind { kNull, kScalar, kString, kArray, kObject };
  Kind kind = kNull;
  std::string text;                                         // kScalar, kString
  std::vector<JsonValue> items;                             // kArray
  std::vector<std::pair<std::string, JsonValue>> members;   // kObject, in file order

  // The member named key, or nullptr (also when this is not an object).
  const JsonValue* find(const std::string& key) const;
  bool is_null() const { return kind == kNull; }
};

// Parses text holding one JSON value; `where` names the source for the usage error.
JsonValue json_parse(const std::string& text, const std::string& where);

// Parses text holding one JSON object. `where` names the source (a file, "file:line") for
// the usage error a malformed object raises.
std::map<std::string, std::string> json_object_fields(const std::string& text, const std::string& where);

// fields[key], or fallback when the object has no such (string or scalar) field.
std::string json_field_or(const std::map<std::string, std::string>& fields, const std::string& key,
                          const std::string& fallback = "");

}  // namespace hf
