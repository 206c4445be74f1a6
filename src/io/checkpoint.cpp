#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "io/crc32.h"
#include "io/fs.h"
#include "io/seal.h"
#include "util/check.h"
#include "util/log.h"
#include "version.h"

namespace hf {
namespace {

constexpr const char* kFormat = "hfedmoe-checkpoint";
// 2: the whole-file seal and the manifest replace version 1's crc32 attribute per dataset.
constexpr int64_t kFormatVersion = 2;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// ---- writing: a Writer records what it puts in the file for the manifest ------------------

struct Writer {
  h5::File f;
  std::map<std::string, uint32_t> crcs;  // dataset -> crc32 of exactly the bytes handed to HDF5
  std::vector<std::pair<std::string, std::string>> attrs;  // (object, name) written

  template <class T>
  void put(const std::string& name, const T* data, const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    f.write(name, data, shape);
    crcs[name] = crc32(data, n * sizeof(T));
  }
  template <class T>
  void put(const std::string& name, const std::vector<T>& v) {
    put(name, v.data(), {static_cast<int64_t>(v.size())});
  }
  void put_strings(const std::string& name, const std::vector<std::string>& v) {
    f.write_strings(name, v);
    crcs[name] = crc32_strings(v);
  }
  template <class T>
  void attr(const std::string& obj, const std::string& name, const T& value) {
    f.set_attr(obj, name, value);
    attrs.push_back({obj, name});
  }
  // The manifest of what was written, as libhdf5 reads it back, into /meta.
  void put_manifest() {
    Manifest m = structure_of(f, attrs);
    for (auto& [path, d] : m.datasets) d.crc32 = crcs.at(path);
    f.set_attr("meta", "manifest", m.text());
  }
};

// A name below /server, /clients or /metrics must be one HDF5 link, not a path.
void check_plain(const std::string& group, const std::string& name) {
  // No space either: the manifest is words separated by spaces.
  HF_CHECK(!name.empty() && name.find_first_of("/ \n") == std::string::npos, "%s name '%s' is not a plain name",
           group.c_str(), name.c_str());
}

// The metrics table column by column: int64 if every value is an integer, float64 if every
// value is a number, strings otherwise. /metrics attrs: rows, columns (names, one a line, in
// the order of the table).
void put_metrics(Writer& w, const std::vector<MetricsRow>& rows) {
  w.attr("metrics", "rows", static_cast<int64_t>(rows.size()));
  std::string columns;
  for (size_t c = 0; !rows.empty() && c < rows[0].size(); c++) {
    const std::string& name = rows[0][c].first;
    check_plain("metrics", name);
    std::vector<const MetricValue*> col;
    for (const auto& row : rows) {
      HF_CHECK(row.size() == rows[0].size() && row[c].first == name, "metrics rows have different columns (%s)",
               name.c_str());
      col.push_back(&row[c].second);
    }
    auto all = [&](auto pred) { return std::all_of(col.begin(), col.end(), pred); };
    std::string path = "metrics/" + name;
    if (all([](const MetricValue* v) { return std::holds_alternative<int64_t>(*v); })) {
      std::vector<int64_t> v;
      for (auto* x : col) v.push_back(std::get<int64_t>(*x));
      w.put(path, v);
    } else if (all([](const MetricValue* v) { return !std::holds_alternative<std::string>(*v); })) {
      std::vector<double> v;
      for (auto* x : col)
        v.push_back(std::holds_alternative<double>(*x) ? std::get<double>(*x) : static_cast<double>(std::get<int64_t>(*x)));
      w.put(path, v);
    } else {
      std::vector<std::string> v;
      for (auto* x : col) v.push_back(metric_text(*x));
      w.put_strings(path, v);
    }
    columns += (c ? "\n" : "") + name;
  }
  w.attr("metrics", "columns", columns);
}

// The checkpoints of this kind in dir, by the round in their name (<kind>_<round>.h5), newest first.
std::vector<std::pair<int64_t, std::string>> checkpoints_in(const std::string& dir, const std::string& kind) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::string prefix = kind + "_";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + 3 || name.compare(name.size() - 3, 3, ".h5") != 0)
      continue;
    std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - 3);
    if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.push_back({std::stoll(digits), entry.path().string()});
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

// Deletes checkpoints of this kind older than the newest `keep` (the one just written counts),
// and temporary files a killed writer left. Checkpoints of later rounds than the one written
// (from a run that was resumed from an earlier point) are left alone: they are not older.
void prune(const std::string& dir, const std::string& kind, int64_t round, int keep) {
  namespace fs = std::filesystem;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".h5.tmp") == 0) fs::remove(entry.path());
  }
  int kept = 1;
  for (const auto& [r, path] : checkpoints_in(dir, kind)) {
    if (r >= round || kept++ < keep) continue;
    fs::remove(path);
    LOG_DEBUG("removed old checkpoint %s", path.c_str());
  }
}

// ---- reading: every check fails with one line naming the file and what is wrong ---------------

[[noreturn]] void corrupt(const h5::File& f, const std::string& what) {
  fail(f.path() + ": " + what,
       "the file is damaged; resume from an earlier checkpoint (point <run>/ckpt/latest at it or pass --run.resume)");
}

uint32_t want_crc(const CheckpointFile& c, const std::string& name) {
  auto it = c.manifest.datasets.find(name);
  if (it == c.manifest.datasets.end()) corrupt(c.file, "dataset /" + name + " is not in its manifest");
  return it->second.crc32;
}

void check_crc(const CheckpointFile& c, const std::string& name, uint32_t got) {
  uint32_t want = want_crc(c, name);
  if (want != got)
    corrupt(c.file, strf("dataset /%s fails its crc32 check (manifest %08x, read %08x)", name.c_str(), want, got));
}

template <class T>
std::vector<T> get(const CheckpointFile& c, const std::string& name) {
  std::vector<T> v = c.file.read<T>(name);
  check_crc(c, name, crc32(v.data(), v.size() * sizeof(T)));
  return v;
}

std::vector<std::string> get_strings(const CheckpointFile& c, const std::string& name) {
  std::vector<std::string> v = c.file.read_strings(name);
  check_crc(c, name, crc32_strings(v));
  return v;
}

// Format, version and kind of /meta; every error names the file. sealed: whether the file
// passed its seal (an unsealed one is read only to say what it is).
void check_header(const h5::File& f, bool sealed) {
  if (!f.has_attr("meta", "format")) {
    bool dataset = f.has_attr("/", "format") && f.attr_string("/", "format") == "hfedmoe-dataset";
    fail(f.path() + (dataset ? " is an hfedmoe dataset, not a checkpoint" : " is not an hfedmoe checkpoint (no /meta format)"),
         "give a checkpoint written by hfedmoe (<run>/ckpt/*.h5)");
  }
  std::string format = f.attr_string("meta", "format");
  if (format != kFormat) fail(f.path() + " is a '" + format + "' file, not a checkpoint", "give a checkpoint written by hfedmoe");
  int64_t version = f.attr_int("meta", "format_version");
  if (version != kFormatVersion)
    fail(strf("%s has checkpoint format version %lld; this build reads version %lld (sealed, with a manifest)",
              f.path().c_str(), static_cast<long long>(version), static_cast<long long>(kFormatVersion)),
         "use the hfedmoe version that wrote it, or start over with --fresh");
  if (!sealed)
    fail(f.path() + " is a checkpoint without its seal (its first 512 bytes were rewritten by another tool?)",
         "use the file as hfedmoe wrote it");
  std::string kind = f.attr_string("meta", "kind");
  if (kind != "train" && kind != "pretrain")
    fail(f.path() + " has checkpoint kind '" + kind + "'", "give a train or pretrain checkpoint");
}

// /meta's fields (not the model or the state).
Checkpoint read_meta(const h5::File& f) {
  Checkpoint ck;
  ck.kind = f.attr_string("meta", "kind");
  ck.round = f.attr_int("meta", "round");
  ck.seed = static_cast<uint64_t>(f.attr_int("meta", "seed"));
  ck.method = f.attr_string("meta", "method");
  ck.config_ini = f.attr_string("meta", "config");
  if (f.has_attr("meta", "base_dtype"))
    ck.base = {f.attr_string("meta", "base_path"), f.attr_string("meta", "base_sha256"), f.attr_string("meta", "base_dtype")};
  return ck;
}

// Checks that /model holds exactly the table's tensors with its shapes, then reads them into
// params (table.total() floats), verifying each tensor's crc32. With keep_absent_head, a file
// without cls_head/w and cls_head/b (an LM checkpoint) leaves those of params unchanged;
// returns whether the file had them (true when the table has no head).
bool read_model(const CheckpointFile& c, const ParamTable& table, float* params, bool keep_absent_head = false) {
  const h5::File& f = c.file;
  const ParamInfo& emb = table.get(ParamKind::tok_emb);
  if (!f.exists("model/" + emb.name)) corrupt(f, "tensor " + emb.name + " is missing from /model");
  std::vector<int64_t> emb_shape = f.shape("model/" + emb.name);
  if (emb_shape.size() == 2 && emb_shape[0] != emb.shape[0])
    fail(strf("%s has vocabulary size %lld; the model has %lld", f.path().c_str(), static_cast<long long>(emb_shape[0]),
              static_cast<long long>(emb.shape[0])),
         "use the tokenizer and --model.vocab_size the checkpoint was trained with");
  for (const auto& path : f.datasets("model"))
    if (!table.find(path.substr(6)))
      fail(f.path() + ": tensor " + path.substr(6) + " is in the checkpoint but not in the model",
           "use the --model options the checkpoint was written with (see `hfedmoe inspect " + f.path() + "`)");
  const bool skip_head = keep_absent_head && table.config().n_classes > 0 && !f.exists("model/cls_head/w") &&
                         !f.exists("model/cls_head/b");
  auto skipped = [&](const ParamInfo& p) {
    return skip_head && (p.kind == ParamKind::cls_w || p.kind == ParamKind::cls_b);
  };
  for (const auto& p : table.tensors()) {
    std::string path = "model/" + p.name;
    if (skipped(p)) continue;
    if (!f.exists(path))
      fail(f.path() + ": tensor " + p.name + " " + shape_text(p.shape) + " is missing from the checkpoint",
           "use the --model options the checkpoint was written with (see `hfedmoe inspect " + f.path() + "`)");
    std::vector<int64_t> s = f.shape(path);
    if (s != p.shape)
      fail(f.path() + ": tensor " + p.name + " has shape " + shape_text(s) + " in the checkpoint, the model expects " +
               shape_text(p.shape),
           "use the --model options the checkpoint was written with (see `hfedmoe inspect " + f.path() + "`)");
    if (f.dtype(path) != "f32") corrupt(f, "tensor " + p.name + " is stored as " + f.dtype(path) + ", not f32");
  }
  for (const auto& p : table.tensors()) {
    if (skipped(p)) continue;
    std::string path = "model/" + p.name;
    float* dst = params + p.offset;
    f.read(path, dst, p.numel());
    check_crc(c, path, crc32(dst, p.numel() * sizeof(float)));
  }
  return !skip_head;
}

std::vector<MetricsRow> get_metrics(const CheckpointFile& c) {
  const h5::File& f = c.file;
  if (!f.exists("metrics")) return {};
  size_t n = static_cast<size_t>(f.attr_int("metrics", "rows"));
  std::vector<MetricsRow> rows(n);
  std::string columns = f.attr_string("metrics", "columns");
  size_t pos = 0;
  while (n > 0 && pos <= columns.size()) {
    size_t end = columns.find('\n', pos);
    if (end == std::string::npos) end = columns.size();
    std::string name = columns.substr(pos, end - pos), path = "metrics/" + name;
    pos = end + 1;
    if (!f.exists(path)) corrupt(f, "metrics column " + name + " is missing");
    std::string t = f.dtype(path);
    std::vector<MetricValue> col;
    if (t == "i64")
      for (int64_t v : get<int64_t>(c, path)) col.emplace_back(v);
    else if (t == "f64")
      for (double v : get<double>(c, path)) col.emplace_back(v);
    else if (t == "str")
      for (auto& v : get_strings(c, path)) col.emplace_back(std::move(v));
    else
      corrupt(f, "metrics column " + name + " is stored as " + t);
    if (col.size() != n) corrupt(f, strf("metrics column %s has %zu rows, expected %zu", name.c_str(), col.size(), n));
    for (size_t r = 0; r < n; r++) rows[r].push_back({name, std::move(col[r])});
  }
  return rows;
}

}  // namespace

std::string save_checkpoint(const Checkpoint& ck, const ParamTable& table, const std::string& dir, int keep) {
  HF_CHECK(ck.model.size() == table.total(), "checkpoint model has %zu floats, the table %zu", ck.model.size(),
           table.total());
  HF_CHECK(keep >= 1, "keep=%d", keep);
  HF_CHECK(ck.kind == "train" || ck.kind == "pretrain", "checkpoint kind '%s'", ck.kind.c_str());
  make_dirs(dir);
  std::string name = strf("%s_%lld.h5", ck.kind.c_str(), static_cast<long long>(ck.round));
  std::string path = dir + "/" + name, tmp = path + ".tmp";
  try {
    {
      Writer w{h5::File::create(tmp, kSealBytes), {}, {}};
      w.attr("meta", "format", std::string(kFormat));
      w.attr("meta", "format_version", kFormatVersion);
      w.attr("meta", "kind", ck.kind);
      w.attr("meta", "round", ck.round);
      w.attr("meta", "seed", static_cast<int64_t>(ck.seed));  // the bits of the uint64
      w.attr("meta", "method", ck.method);
      w.attr("meta", "config", ck.config_ini);
      if (!ck.base.dtype.empty()) {
        w.attr("meta", "base_path", ck.base.path);
        w.attr("meta", "base_sha256", ck.base.sha256);
        w.attr("meta", "base_dtype", ck.base.dtype);
      }
      w.attr("meta", "build", std::string(HFEDMOE_VERSION " (" HFEDMOE_GIT_DESCRIBE ")"));
      w.attr("model", "n_params", static_cast<int64_t>(table.total()));
      for (const auto& p : table.tensors()) w.put("model/" + p.name, ck.model.data() + p.offset, p.shape);
      auto put_map = [&](const std::string& group, const auto& map) {
        for (const auto& [k, v] : map) {
          check_plain(group, k);
          HF_CHECK(!w.f.exists(group + "/" + k), "%s/%s is given twice (two types)", group.c_str(), k.c_str());
          w.put(group + "/" + k, v);
        }
      };
      put_map("server", ck.server_f32);
      put_map("server", ck.server_f64);
      put_map("server", ck.server_i64);
      put_map("clients", ck.clients_f32);
      put_map("clients", ck.clients_i64);
      put_metrics(w, ck.metrics);
      w.put_manifest();
      w.f.flush();
      w.f.close();
    }
    write_seal(tmp);
    commit_file(tmp, path);  // fsync, rename, fsync the folder: the checkpoint is complete
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  // Only now does latest move: a crash before this line leaves the previous checkpoint current.
  write_file_atomic(dir + "/latest", name + "\n");
  prune(dir, ck.kind, ck.round, keep);
  return path;
}

CheckpointFile open_checkpoint(const std::string& path) {
  bool sealed = is_sealed(path);
  if (sealed) check_seal(path);
  CheckpointFile c{h5::File::open_read(path), {}};
  check_header(c.file, sealed);
  if (!c.file.has_attr("meta", "manifest")) corrupt(c.file, "it has no manifest (/meta manifest)");
  c.manifest = Manifest::parse(c.file.attr_string("meta", "manifest"), path);
  check_manifest(c.file, c.manifest);
  return c;
}

std::string latest_checkpoint(const std::string& dir, const std::string& kind) {
  std::string latest = dir + "/latest";
  if (path_exists(latest)) {
    std::string name = read_file(latest);
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' ')) name.pop_back();
    if (name.empty() || name.find('\n') != std::string::npos)
      fail(latest + " does not name a checkpoint", "delete it to resume from the newest valid checkpoint, or pass --run.resume FILE");
    // A bare name in the same folder, so that a run directory can be moved or copied and never
    // continues another run's checkpoint.
    if (name.find('/') != std::string::npos || name == "." || name == "..")
      fail(latest + " names " + name + ", outside its folder " + dir,
           "write the bare file name of a checkpoint in " + dir + " into it, or pass --run.resume FILE");
    std::string path = dir + "/" + name;
    if (!path_exists(path))
      fail(latest + " names " + path + ", which does not exist", "restore the file, or pass --run.resume with another checkpoint");
    return path;
  }
  if (!path_exists(dir)) return "";
  // No latest (deleted by hand, or lost): the newest checkpoint that passes every check, never
  // a silent start over that would prune and rewrite what the run had done.
  auto found = checkpoints_in(dir, kind);
  if (found.empty()) return "";
  std::string skipped;
  for (const auto& [round, path] : found) {
    try {
      open_checkpoint(path);
    } catch (const Error& e) {
      LOG_WARN("%s/latest is missing and %s is not valid: %s", dir.c_str(), path.c_str(), e.what());
      skipped += (skipped.empty() ? "" : ", ") + std::filesystem::path(path).filename().string();
      continue;
    }
    LOG_WARN("%s/latest is missing: resuming from the newest valid checkpoint, %s%s", dir.c_str(), path.c_str(),
             skipped.empty() ? "" : (" (not valid: " + skipped + ")").c_str());
    return path;
  }
  fail(strf("%s has %zu %s checkpoints but no latest, and none is valid", dir.c_str(), found.size(), kind.c_str()),
       "pass --run.resume FILE with a good checkpoint, or --fresh to start over");
}

Checkpoint load_checkpoint_meta(const std::string& path) { return read_meta(open_checkpoint(path).file); }

Checkpoint load_checkpoint(const std::string& path, const ParamTable& table) {
  CheckpointFile c = open_checkpoint(path);
  const h5::File& f = c.file;
  Checkpoint ck = read_meta(f);
  ck.model.resize(table.total());
  read_model(c, table, ck.model.data());
  for (const char* group : {"server", "clients"}) {
    std::vector<std::string> names;
    if (f.exists(group)) names = f.datasets(group);
    for (const auto& path_in : names) {
      std::string key = path_in.substr(path_in.find('/') + 1), t = f.dtype(path_in);
      bool server = group[0] == 's';
      if (t == "f32")
        (server ? ck.server_f32 : ck.clients_f32)[key] = get<float>(c, path_in);
      else if (t == "f64" && server)
        ck.server_f64[key] = get<double>(c, path_in);
      else if (t == "i64")
        (server ? ck.server_i64 : ck.clients_i64)[key] = get<int64_t>(c, path_in);
      else
        corrupt(f, "/" + path_in + " has a type hfedmoe does not write here");
    }
  }
  ck.metrics = get_metrics(c);
  return ck;
}

bool load_model_weights(const std::string& path, const ParamTable& table, float* params, bool keep_absent_head) {
  return read_model(open_checkpoint(path), table, params, keep_absent_head);
}

}  // namespace hf
