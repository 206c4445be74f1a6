#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "io/fs.h"
#include "model/hf_families.h"
#include "util/check.h"

namespace hf {
namespace {

// ---- just enough JSON for a safetensors header: objects, arrays, strings, integers -------------

struct Json {
  enum Type { string, number, array, object } type = string;
  std::string str;
  int64_t num = 0;
  std::vector<Json> items;                           // array
  std::vector<std::pair<std::string, Json>> fields;  // object, in file order
  const Json* get(const std::string& key) const {
    for (const auto& [k, v] : fields)
      if (k == key) return &v;
    return nullptr;
  }
};

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}
  Json parse() {
    Json v = value();
    skip_ws();
    if (i_ != s_.size()) bad("text after the header object");
    return v;
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    fail(strf("%s: malformed safetensors header at byte %zu: %s", where_.c_str(), i_, what.c_str()),
         "give a complete .safetensors file");
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) i_++;
  }
  char peek() {
    skip_ws();
    if (i_ >= s_.size()) bad("unexpected end");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    i_++;
  }
  Json close(Json& v) {  // consumes the closing bracket
    i_++;
    return std::move(v);
  }
  Json value() {
    char c = peek();
    Json v;
    if (c == '{') {
      v.type = Json::object;
      i_++;
      if (peek() == '}') return close(v);
      for (;;) {
        std::string key = string_body();
        expect(':');
        v.fields.push_back({key, value()});
        if (peek() == '}') return close(v);
        expect(',');
      }
    }
    if (c == '[') {
      v.type = Json::array;
      i_++;
      if (peek() == ']') return close(v);
      for (;;) {
        v.items.push_back(value());
        if (peek() == ']') return close(v);
        expect(',');
      }
    }
    if (c == '"') {
      v.str = string_body();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.type = Json::number;
      size_t start = i_;
      if (s_[i_] == '-') i_++;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') i_++;
      if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) bad("a non-integer number");
      v.num = std::stoll(s_.substr(start, i_ - start));
      return v;
    }
    bad(std::string("unexpected '") + c + "'");
  }
  std::string string_body() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) bad("unterminated escape");
      char e = s_[i_++];
      const char* plain = e ? std::strchr("\"\\/bfnrt", e) : nullptr;
      if (plain) {
        out += "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
      } else if (e == 'u' && i_ + 4 <= s_.size()) {
        unsigned cp = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
        i_ += 4;
        // UTF-8 of a BMP code point (header names and our metadata are ASCII in practice).
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
      } else {
        bad("bad escape");
      }
    }
    if (i_ >= s_.size()) bad("unterminated string");
    i_++;
    return out;
  }

  const std::string& s_;
  std::string where_;
  size_t i_ = 0;
};

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The header of a file: its JSON and where the data starts.
struct Header {
  Json json;
  uint64_t data_start = 0, data_size = 0;
};

Header read_header(std::ifstream& in, const std::string& path) {
  if (!in) fail("cannot open " + path, "check the path");
  in.seekg(0, std::ios::end);
  uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len_bytes[8] = {};
  if (size < 8 || !in.read(reinterpret_cast<char*>(len_bytes), 8))
    fail(path + " is too short to be a safetensors file", "give a complete .safetensors file");
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | len_bytes[i];
  if (n < 2 || n > size - 8 || n > (100u << 20))
    fail(strf("%s: header length %llu does not fit the file (%llu bytes)", path.c_str(), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(size)),
         "give a complete .safetensors file (truncated, or not safetensors?)");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  Header h;
  h.json = JsonParser(text, path).parse();
  if (h.json.type != Json::object) fail(path + ": the safetensors header is not a JSON object", "give a .safetensors file");
  h.data_start = 8 + n;
  h.data_size = size - h.data_start;
  return h;
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// The name of p in a file: namer's, or its family's (model/hf_families.h) without one.
std::string name_of(const ParamInfo& p, const ParamTable& table, const TensorNamer& namer) {
  return namer ? namer(p) : hf_tensor_name(p, table.config().hf_family);
}

}  // namespace

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += strf("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void save_safetensors(const std::string& path, const ParamTable& table, const float* params,
                      const std::map<std::string, std::string>& metadata, const TensorNamer& namer) {
  std::string header = "{\"__metadata__\": {";
  bool first = true;
  for (const auto& [k, v] : metadata) {
    header += (first ? "" : ", ") + json_quote(k) + ": " + json_quote(v);
    first = false;
  }
  header += "}";
  uint64_t offset = 0;
  for (const auto& p : table.tensors()) {
    uint64_t bytes = p.numel() * sizeof(float);
    header += ", " + json_quote(name_of(p, table, namer)) + ": {\"dtype\": \"F32\", \"shape\": " + shape_text(p.shape) +
              strf(", \"data_offsets\": [%llu, %llu]}", static_cast<unsigned long long>(offset),
                   static_cast<unsigned long long>(offset + bytes));
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write " + tmp, "check that the folder exists and is writable", kExitRuntime);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out << header;
    // The arena is in table order, so the tensors are one contiguous write (little-endian host).
    out.write(reinterpret_cast<const char*>(params), static_cast<std::streamsize>(table.total() * sizeof(float)));
    if (!out.flush()) fail("cannot write " + tmp + " (disk full?)", "free space or choose another --export.out", kExitRuntime);
  }
  commit_file(tmp, path);
}

std::map<std::string, std::string> safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Header h = read_header(in, path);
  std::map<std::string, std::string> out;
  if (const Json* m = h.json.get("__metadata__"))
    for (const auto& [k, v] : m->fields) out[k] = v.str;
  return out;
}

std::map<std::string, std::vector<int64_t>> safetensors_shapes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Header h = read_header(in, path);
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [name, t] : h.json.fields) {
    if (name == "__metadata__") continue;
    std::vector<int64_t>& s = out[name];
    if (const Json* shape = t.get("shape"))
      for (const auto& d : shape->items) s.push_back(d.num);
  }
  return out;
}

void load_safetensors(const std::string& path, const ParamTable& table, float* params, const TensorNamer& namer,
                      const MayLack& may_lack) {
  load_safetensors_shards({path}, table, params, namer, may_lack);
}

void load_safetensors_shards(const std::vector<std::string>& paths, const ParamTable& table, float* params,
                             const TensorNamer& namer, const MayLack& may_lack) {
  const std::string fix = "export the file from a model with the same --model options (see its __metadata__ "
                          "hfedmoe_config), or pass those options";
  // Each shard's header is parsed from a stream; its tensors are read from a read-only mapping of
  // the file, one at a time, so a model larger than memory pages through (fp32 tensors are one
  // copy from the page cache into the arena).
  struct Shard {
    std::string path;
    Header h;
    const unsigned char* map = nullptr;  // (file size) bytes
    size_t map_size = 0;
    ~Shard() {
      if (map) munmap(const_cast<unsigned char*>(map), map_size);
    }
  };
  std::vector<Shard> shards(paths.size());
  std::set<std::string> known;
  for (const auto& p : table.tensors()) known.insert(name_of(p, table, namer));
  std::map<std::string, size_t> shard_of;  // tensor name -> its shard
  for (size_t i = 0; i < paths.size(); i++) {
    Shard& sh = shards[i];
    sh.path = paths[i];
    std::ifstream in(sh.path, std::ios::binary);
    sh.h = read_header(in, sh.path);
    sh.map_size = static_cast<size_t>(sh.h.data_start + sh.h.data_size);
    const int fd = open(sh.path.c_str(), O_RDONLY);
    void* m = fd >= 0 ? mmap(nullptr, sh.map_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (fd >= 0) close(fd);
    if (m == MAP_FAILED) fail("cannot map " + sh.path + " into memory", "check that it is a readable regular file", kExitRuntime);
    sh.map = static_cast<const unsigned char*>(m);
    for (const auto& [name, v] : sh.h.json.fields) {
      if (name == "__metadata__" || name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // HF buffers
      if (!known.count(name)) fail(sh.path + ": tensor " + name + " is not part of the model", fix);
      if (shard_of.count(name))
        fail(sh.path + ": tensor " + name + " is also in " + paths[shard_of[name]], "keep one copy of each tensor");
      shard_of[name] = i;
    }
  }
  for (const auto& p : table.tensors()) {
    std::string name = name_of(p, table, namer);
    if (!shard_of.count(name) && may_lack && may_lack(p)) continue;
    if (!shard_of.count(name))
      fail((paths.size() == 1 ? paths[0] : "the safetensors files") + ": tensor " + name + " " + shape_text(p.shape) +
               " is missing",
           fix);
    Shard& sh = shards[shard_of[name]];
    const std::string& path = sh.path;
    const Header& h = sh.h;
    const Json* t = h.json.get(name);
    const Json *dtype = t->get("dtype"), *shape = t->get("shape"), *offsets = t->get("data_offsets");
    if (!dtype || !shape || !offsets || shape->type != Json::array || offsets->items.size() != 2)
      fail(path + ": tensor " + name + " lacks dtype, shape or data_offsets", "give a valid .safetensors file");
    std::vector<int64_t> s;
    for (const auto& d : shape->items) s.push_back(d.num);
    if (s != p.shape) fail(path + ": tensor " + name + " has shape " + shape_text(s) + ", the model expects " + shape_text(p.shape), fix);
    size_t width = dtype->str == "F32" ? 4 : dtype->str == "BF16" || dtype->str == "F16" ? 2 : 0;
    if (!width) fail(path + ": tensor " + name + " has dtype " + dtype->str, "convert it to F32, BF16 or F16");
    uint64_t begin = static_cast<uint64_t>(offsets->items[0].num), end = static_cast<uint64_t>(offsets->items[1].num);
    if (end < begin || end > h.data_size || end - begin != p.numel() * width)
      fail(strf("%s: tensor %s has data_offsets [%llu, %llu] for %zu values of %zu bytes in %llu data bytes", path.c_str(),
                name.c_str(), static_cast<unsigned long long>(begin), static_cast<unsigned long long>(end), p.numel(), width,
                static_cast<unsigned long long>(h.data_size)),
           "the file is truncated or corrupt; export it again");
    float* dst = params + p.offset;
    const unsigned char* src = sh.map + h.data_start + begin;  // little-endian, as the host
    if (width == 4) {
      std::memcpy(dst, src, end - begin);
      continue;
    }
    for (size_t i = 0; i < p.numel(); i++) {
      uint16_t half;
      std::memcpy(&half, src + 2 * i, 2);
      if (dtype->str == "F16") {
        dst[i] = half_to_float(half);
      } else {
        uint32_t bits = static_cast<uint32_t>(half) << 16;  // bfloat16 is the top half of a float
        std::memcpy(dst + i, &bits, 4);
      }
    }
  }
}

}  // namespace hf
