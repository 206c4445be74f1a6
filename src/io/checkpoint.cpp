#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "io/crc32.h"
#include "io/fs.h"
#include "io/h5.h"
#include "util/check.h"
#include "util/log.h"
#include "version.h"

namespace hf {
namespace {

constexpr const char* kFormat = "hfedmoe-checkpoint";
constexpr int64_t kFormatVersion = 1;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// ---- writing: every dataset gets a crc32 of exactly the bytes handed to HDF5 ----------------

template <class T>
void put(h5::File& f, const std::string& name, const T* data, const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  f.write(name, data, shape);
  f.set_attr(name, "crc32", static_cast<int64_t>(crc32(data, n * sizeof(T))));
}

template <class T>
void put(h5::File& f, const std::string& name, const std::vector<T>& v) {
  put(f, name, v.data(), {static_cast<int64_t>(v.size())});
}

void put_strings(h5::File& f, const std::string& name, const std::vector<std::string>& v) {
  f.write_strings(name, v);
  f.set_attr(name, "crc32", static_cast<int64_t>(crc32_strings(v)));
}

// A name below /server, /clients or /metrics must be one HDF5 link, not a path.
void check_plain(const std::string& group, const std::string& name) {
  HF_CHECK(!name.empty() && name.find('/') == std::string::npos, "%s name '%s' is not a plain name",
           group.c_str(), name.c_str());
}

// The metrics table column by column: int64 if every value is an integer, float64 if every
// value is a number, strings otherwise. /metrics attrs: rows, columns (names, one a line, in
// the order of the table).
void put_metrics(h5::File& f, const std::vector<MetricsRow>& rows) {
  f.set_attr("/metrics", "rows", static_cast<int64_t>(rows.size()));
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
      put(f, path, v);
    } else if (all([](const MetricValue* v) { return !std::holds_alternative<std::string>(*v); })) {
      std::vector<double> v;
      for (auto* x : col)
        v.push_back(std::holds_alternative<double>(*x) ? std::get<double>(*x) : static_cast<double>(std::get<int64_t>(*x)));
      put(f, path, v);
    } else {
      std::vector<std::string> v;
      for (auto* x : col) v.push_back(metric_text(*x));
      put_strings(f, path, v);
    }
    columns += (c ? "\n" : "") + name;
  }
  f.set_attr("/metrics", "columns", columns);
}

// Deletes checkpoints of this kind older than the newest `keep` (the one just written counts),
// and temporary files a killed writer left. Checkpoints of later rounds than the one written
// (from a run that was resumed from an earlier point) are left alone: they are not older.
void prune(const std::string& dir, const std::string& kind, int64_t round, int keep) {
  namespace fs = std::filesystem;
  std::vector<std::pair<int64_t, fs::path>> older;
  std::string prefix = kind + "_";
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".h5.tmp") == 0) {
      fs::remove(entry.path());
      continue;
    }
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + 3 || name.compare(name.size() - 3, 3, ".h5") != 0)
      continue;
    std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - 3);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    int64_t r = std::stoll(digits);
    if (r < round) older.push_back({r, entry.path()});
  }
  std::sort(older.rbegin(), older.rend());
  for (size_t i = static_cast<size_t>(keep - 1); i < older.size(); i++) {
    fs::remove(older[i].second);
    LOG_DEBUG("removed old checkpoint %s", older[i].second.c_str());
  }
}

// ---- reading: every check fails with one line naming the file and what is wrong ---------------

[[noreturn]] void corrupt(const h5::File& f, const std::string& what) {
  fail(f.path() + ": " + what,
       "the file is damaged; resume from an earlier checkpoint (point <run>/ckpt/latest at it or pass --run.resume)");
}

void check_crc(const h5::File& f, const std::string& name, uint32_t got) {
  if (!f.has_attr(name, "crc32")) corrupt(f, "dataset /" + name + " has no crc32 attribute");
  uint32_t want = static_cast<uint32_t>(f.attr_int(name, "crc32"));
  if (want != got) corrupt(f, strf("dataset /%s fails its crc32 check (stored %08x, read %08x)", name.c_str(), want, got));
}

template <class T>
std::vector<T> get(const h5::File& f, const std::string& name) {
  std::vector<T> v = f.read<T>(name);
  check_crc(f, name, crc32(v.data(), v.size() * sizeof(T)));
  return v;
}

std::vector<std::string> get_strings(const h5::File& f, const std::string& name) {
  std::vector<std::string> v = f.read_strings(name);
  check_crc(f, name, crc32_strings(v));
  return v;
}

// "f32", "f64", "i64" or "other": how a dataset is stored decides which map it loads into.
std::string dtype(const h5::File& f, const std::string& name) {
  hid_t d = H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT);
  if (d < 0) corrupt(f, "/" + name + " is not a dataset");
  hid_t t = H5Dget_type(d);
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  H5Tclose(t);
  H5Dclose(d);
  if (cls == H5T_FLOAT) return size == 4 ? "f32" : size == 8 ? "f64" : "other";
  if (cls == H5T_INTEGER && size == 8) return "i64";
  if (cls == H5T_STRING) return "string";
  return "other";
}

// Every dataset below a group, as paths relative to the file root, sorted.
void walk(const h5::File& f, const std::string& group, std::vector<std::string>& out) {
  for (const auto& name : f.list(group)) {
    std::string path = group + "/" + name;
    if (f.is_group(path))
      walk(f, path, out);
    else
      out.push_back(path);
  }
}

// Format, version and kind of /meta; every error names the file.
void check_header(const h5::File& f) {
  if (!f.has_attr("meta", "format")) {
    bool dataset = f.has_attr("/", "format") && f.attr_string("/", "format") == "hfedmoe-dataset";
    fail(f.path() + (dataset ? " is an hfedmoe dataset, not a checkpoint" : " is not an hfedmoe checkpoint (no /meta format)"),
         "give a checkpoint written by hfedmoe (<run>/ckpt/*.h5)");
  }
  std::string format = f.attr_string("meta", "format");
  if (format != kFormat) fail(f.path() + " is a '" + format + "' file, not a checkpoint", "give a checkpoint written by hfedmoe");
  int64_t version = f.attr_int("meta", "format_version");
  if (version < 1 || version > kFormatVersion)
    fail(strf("%s has checkpoint format version %lld; this build reads version %lld", f.path().c_str(),
              static_cast<long long>(version), static_cast<long long>(kFormatVersion)),
         "use the hfedmoe version that wrote it");
  std::string kind = f.attr_string("meta", "kind");
  if (kind != "train" && kind != "pretrain")
    fail(f.path() + " has checkpoint kind '" + kind + "'", "give a train or pretrain checkpoint");
}

// The header checked, then /meta's fields (not the model or the state).
Checkpoint read_meta(const h5::File& f) {
  check_header(f);
  Checkpoint ck;
  ck.kind = f.attr_string("meta", "kind");
  ck.round = f.attr_int("meta", "round");
  ck.seed = static_cast<uint64_t>(f.attr_int("meta", "seed"));
  ck.method = f.attr_string("meta", "method");
  ck.config_ini = f.attr_string("meta", "config");
  return ck;
}

// Checks that /model holds exactly the table's tensors with its shapes, then reads them into
// params (table.total() floats), verifying each tensor's crc32. With keep_absent_head, a file
// without cls_head/w and cls_head/b (an LM checkpoint) leaves those of params unchanged;
// returns whether the file had them (true when the table has no head).
bool read_model(const h5::File& f, const ParamTable& table, float* params, bool keep_absent_head = false) {
  const ParamInfo& emb = table.get(ParamKind::tok_emb);
  if (!f.exists("model/" + emb.name)) corrupt(f, "tensor " + emb.name + " is missing from /model");
  std::vector<int64_t> emb_shape = f.shape("model/" + emb.name);
  if (emb_shape.size() == 2 && emb_shape[0] != emb.shape[0])
    fail(strf("%s has vocabulary size %lld; the model has %lld", f.path().c_str(), static_cast<long long>(emb_shape[0]),
              static_cast<long long>(emb.shape[0])),
         "use the tokenizer and --model.vocab_size the checkpoint was trained with");
  std::vector<std::string> stored;
  walk(f, "model", stored);
  for (const auto& path : stored)
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
  }
  for (const auto& p : table.tensors()) {
    if (skipped(p)) continue;
    std::string path = "model/" + p.name;
    float* dst = params + p.offset;
    f.read(path, dst, p.numel());
    check_crc(f, path, crc32(dst, p.numel() * sizeof(float)));
  }
  return !skip_head;
}

std::vector<MetricsRow> get_metrics(const h5::File& f) {
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
    std::string t = dtype(f, path);
    std::vector<MetricValue> col;
    if (t == "i64")
      for (int64_t v : get<int64_t>(f, path)) col.emplace_back(v);
    else if (t == "f64")
      for (double v : get<double>(f, path)) col.emplace_back(v);
    else
      for (auto& v : get_strings(f, path)) col.emplace_back(std::move(v));
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
    auto f = h5::File::create(tmp);
    f.set_attr("/meta", "format", std::string(kFormat));
    f.set_attr("/meta", "format_version", kFormatVersion);
    f.set_attr("/meta", "kind", ck.kind);
    f.set_attr("/meta", "round", ck.round);
    f.set_attr("/meta", "seed", static_cast<int64_t>(ck.seed));  // the bits of the uint64
    f.set_attr("/meta", "method", ck.method);
    f.set_attr("/meta", "config", ck.config_ini);
    f.set_attr("/meta", "build", std::string(HFEDMOE_VERSION " (" HFEDMOE_GIT_DESCRIBE ")"));
    f.set_attr("/model", "n_params", static_cast<int64_t>(table.total()));
    for (const auto& p : table.tensors()) put(f, "model/" + p.name, ck.model.data() + p.offset, p.shape);
    auto put_map = [&](const std::string& group, const auto& map) {
      for (const auto& [k, v] : map) {
        check_plain(group, k);
        HF_CHECK(!f.exists(group + "/" + k), "%s/%s is given twice (two types)", group.c_str(), k.c_str());
        put(f, group + "/" + k, v);
      }
    };
    put_map("server", ck.server_f32);
    put_map("server", ck.server_f64);
    put_map("server", ck.server_i64);
    put_map("clients", ck.clients_f32);
    put_map("clients", ck.clients_i64);
    put_metrics(f, ck.metrics);
    f.flush();
    f.close();
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

std::string latest_checkpoint(const std::string& dir) {
  std::string latest = dir + "/latest";
  if (!path_exists(latest)) return "";
  std::string name = read_file(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (name.empty() || name.find('\n') != std::string::npos)
    fail(latest + " does not name a checkpoint", "delete it to start over, or pass --run.resume FILE");
  // A bare name is relative to dir, so a run directory can be moved or copied.
  std::string path = name[0] == '/' ? name : dir + "/" + name;
  if (!path_exists(path))
    fail(latest + " names " + path + ", which does not exist", "restore the file, or pass --run.resume with another checkpoint");
  return path;
}

Checkpoint load_checkpoint_meta(const std::string& path) { return read_meta(h5::File::open_read(path)); }

Checkpoint load_checkpoint(const std::string& path, const ParamTable& table) {
  auto f = h5::File::open_read(path);
  Checkpoint ck = read_meta(f);
  ck.model.resize(table.total());
  read_model(f, table, ck.model.data());
  for (const char* group : {"server", "clients"}) {
    std::vector<std::string> names;
    if (f.exists(group)) walk(f, group, names);
    for (const auto& path_in : names) {
      std::string key = path_in.substr(path_in.find('/') + 1), t = dtype(f, path_in);
      bool server = group[0] == 's';
      if (t == "f32")
        (server ? ck.server_f32 : ck.clients_f32)[key] = get<float>(f, path_in);
      else if (t == "f64" && server)
        ck.server_f64[key] = get<double>(f, path_in);
      else if (t == "i64")
        (server ? ck.server_i64 : ck.clients_i64)[key] = get<int64_t>(f, path_in);
      else
        corrupt(f, "/" + path_in + " has a type hfedmoe does not write here");
    }
  }
  ck.metrics = get_metrics(f);
  return ck;
}

bool load_model_weights(const std::string& path, const ParamTable& table, float* params, bool keep_absent_head) {
  auto f = h5::File::open_read(path);
  check_header(f);
  return read_model(f, table, params, keep_absent_head);
}

}  // namespace hf
