#include "data/json_fields.h"

#include "data/unicode_classes.h"
#include "util/check.h"

namespace hf {

namespace {

struct Parser {
  const std::string& s;
  const std::string& where;
  size_t i = 0;

  [[noreturn]] void bad(const std::string& what) const {
    fail(strf("%s: malformed JSON at byte %zu: %s", where.c_str(), i, what.c_str()),
         "give a file with one JSON object per file (or per line for .jsonl)");
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  }
  char peek() {
    ws();
    if (i >= s.size()) bad("unexpected end of text");
    return s[i];
  }
  void expect(char c) {
    if (peek() != c) bad(strf("expected '%c'", c));
    i++;
  }
  unsigned hex4() {
    if (i + 4 > s.size()) bad("short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else bad("bad hex digit in \\u escape");
    }
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (i >= s.size()) bad("unterminated string");
      char c = s[i++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) bad("unterminated escape");
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          // A high surrogate followed by \uDC00..\uDFFF encodes one code point above U+FFFF;
          // a lone surrogate becomes U+FFFD rather than invalid UTF-8.
          if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
            size_t save = i;
            i += 2;
            unsigned lo = hex4();
            if (lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              i = save;
              cp = 0xFFFD;
            }
          } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
          }
          append_utf8(out, cp);
          break;
        }
        default: bad(strf("unknown escape \\%c", e));
      }
    }
  }
  // A number or literal: its text as written.
  std::string scalar() {
    size_t start = i;
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\r' && s[i] != '\t')
      i++;
    std::string v = s.substr(start, i - start);
    if (v.empty()) bad("expected a value");
    return v == "null" ? std::string() : v;
  }
  // The elements of an array or object whose opening bracket was read, up to `close`:
  // each() reads one, then a ',' or the close follows.
  template <class Each>
  void elements(char close, Each each) {
    if (peek() == close) {
      i++;
      return;
    }
    for (;;) {
      each();
      char sep = peek();
      i++;
      if (sep == close) return;
      if (sep != ',') bad(strf("expected ',' or '%c'", close));
    }
  }
  JsonValue value() {
    JsonValue v;
    char c = peek();
    if (c == '"') {
      v.kind = JsonValue::kString;
      v.text = string();
    } else if (c == '[') {
      v.kind = JsonValue::kArray;
      i++;
      elements(']', [&] { v.items.push_back(value()); });
    } else if (c == '{') {
      v.kind = JsonValue::kObject;
      i++;
      elements('}', [&] {
        std::string key = string();
        expect(':');
        v.members.emplace_back(std::move(key), value());
      });
    } else {
      v.text = scalar();
      v.kind = v.text.empty() ? JsonValue::kNull : JsonValue::kScalar;
    }
    return v;
  }
  // Skips a nested object or array, minding strings so brackets inside them do not count.
  void skip_nested() {
    int depth = 0;
    do {
      char c = peek();
      if (c == '"') {
        string();
        continue;
      }
      if (c == '{' || c == '[') depth++;
      if (c == '}' || c == ']') depth--;
      i++;
    } while (depth > 0);
  }
};

}  // namespace

std::map<std::string, std::string> json_object_fields(const std::string& text, const std::string& where) {
  Parser p{text, where};
  std::map<std::string, std::string> fields;
  p.expect('{');
  p.elements('}', [&] {
    std::string key = p.string();
    p.expect(':');
    char c = p.peek();
    if (c == '"') fields[key] = p.string();
    else if (c == '{' || c == '[') p.skip_nested();
    else fields[key] = p.scalar();
  });
  p.ws();
  if (p.i != text.size()) p.bad("text after the object");
  return fields;
}

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

JsonValue json_parse(const std::string& text, const std::string& where) {
  Parser p{text, where};
  JsonValue v = p.value();
  p.ws();
  if (p.i != text.size()) p.bad("text after the value");
  return v;
}

std::string json_field_or(const std::map<std::string, std::string>& fields, const std::string& key,
                          const std::string& fallback) {
  auto it = fields.find(key);
  return it == fields.end() ? fallback : it->second;
}

}  // namespace hf
