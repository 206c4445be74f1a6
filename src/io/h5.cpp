#include "io/h5.h"

#include <algorithm>
#include <cstring>

#include "util/check.h"

namespace hf::h5 {

// HDF5 prints its error stack on every failed call unless told not to; our errors say it once.
// Nor may it clean up at exit: a file whose writes failed (a full disk) cannot be closed, as
// the close flushes again and fails, and libhdf5's clean-up at exit crashes on it (exit 139
// instead of our error's code). Every file we open is closed by File's destructor anyway.
void init() {
  static bool done = false;
  if (!done) {
    H5dont_atexit();  // only before the first call that initialises the library
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

namespace {

// The operating system's reason for the failure HDF5 just reported ("No space left on
// device"), found in its error stack, or "" when the stack holds none.
std::string system_reason() {
  std::string reason;
  auto visit = [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
    const char* key = e->desc ? std::strstr(e->desc, "error message = '") : nullptr;
    auto* s = static_cast<std::string*>(out);
    if (key && s->empty()) {
      key += std::strlen("error message = '");
      const char* end = std::strchr(key, '\'');
      *s = end ? std::string(key, end) : std::string(key);
    }
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, visit, &reason);
  return reason;
}

struct Handle {  // closes an HDF5 id with the matching close function
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

}  // namespace

File File::create(const std::string& path, size_t user_block) {
  init();
  Handle fcpl{H5Pcreate(H5P_FILE_CREATE), H5Pclose};
  if (user_block) H5Pset_userblock(fcpl.id, user_block);
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT);
  if (id < 0) fail("cannot create HDF5 file " + path, "check that its folder exists and is writable", kExitRuntime);
  return File(id, path);
}

File File::open_read(const std::string& path) {
  init();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot open " + path, "check the path (it does not exist or is not readable)");
  std::fclose(f);
  if (H5Fis_hdf5(path.c_str()) <= 0)
    fail(path + " is not an HDF5 file (truncated or corrupted?)", "give a file written by hfedmoe");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail("cannot open HDF5 file " + path + " (truncated or corrupted?)", "give a complete file written by hfedmoe");
  return File(id, path);
}

File::File(File&& o) noexcept : id_(o.id_), path_(std::move(o.path_)) { o.id_ = -1; }

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    close();
    id_ = o.id_;
    path_ = std::move(o.path_);
    o.id_ = -1;
  }
  return *this;
}

File::~File() { close(); }

void File::close() {
  if (id_ >= 0) H5Fclose(id_);
  id_ = -1;
}

void File::flush() {
  if (H5Fflush(id_, H5F_SCOPE_GLOBAL) < 0) fail_write("/", "flush failed");
}

void File::fail_at(const std::string& obj, const std::string& what) const {
  fail(path_ + ": " + obj + ": " + what, "the file is not what hfedmoe expects; regenerate it or give the right file");
}

void File::fail_write(const std::string& obj, const std::string& what) const {
  std::string reason = system_reason();
  fail("cannot write " + path_ + ": " + obj + ": " + what + (reason.empty() ? "" : " (" + reason + ")"),
       "free space on the disk (or choose another --out) and rerun; the previous checkpoint is intact", kExitRuntime);
}

bool File::exists(const std::string& obj) const {
  if (obj == "/" || obj.empty()) return true;
  // H5Lexists needs every parent to exist: walk the path.
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = obj.find('/', pos + 1);
    partial = obj.substr(0, next);
    if (!partial.empty() && partial != "/" && H5Lexists(id_, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    pos = next;
  }
  return H5Oexists_by_name(id_, obj.c_str(), H5P_DEFAULT) > 0;
}

bool File::is_group(const std::string& obj) const {
  if (!exists(obj)) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name(id_, obj.c_str(), &info, H5P_DEFAULT) < 0) return false;
  return info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> File::list(const std::string& group) const {
  if (!is_group(group)) fail_at(group, "group is missing");
  Handle g{H5Gopen2(id_, group.c_str(), H5P_DEFAULT), H5Gclose};
  H5G_info_t info;
  H5Gget_info(g.id, &info);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; i++) {
    ssize_t n = H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string s(static_cast<size_t>(n), '\0');
    H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), n + 1, H5P_DEFAULT);
    names.push_back(s);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<int64_t> File::shape(const std::string& dataset) const {
  if (!exists(dataset)) fail_at(dataset, "dataset is missing");
  Handle d{H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose};
  if (d.id < 0) fail_at(dataset, "is not a dataset");
  Handle s{H5Dget_space(d.id), H5Sclose};
  int rank = H5Sget_simple_extent_ndims(s.id);
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(s.id, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

std::string File::dtype(const std::string& dataset) const {
  if (!exists(dataset)) fail_at(dataset, "dataset is missing");
  Handle d{H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose};
  if (d.id < 0) fail_at(dataset, "is not a dataset");
  Handle t{H5Dget_type(d.id), H5Tclose};
  H5T_class_t cls = H5Tget_class(t.id);
  size_t size = H5Tget_size(t.id);
  if (cls == H5T_STRING) return "str";
  if (cls == H5T_FLOAT && (size == 4 || size == 8)) return strf("f%zu", 8 * size);
  if (cls == H5T_INTEGER && (size == 1 || size == 4 || size == 8))
    return strf("%s%zu", H5Tget_sign(t.id) == H5T_SGN_NONE ? "u" : "i", 8 * size);
  return "other";
}

std::vector<std::string> File::datasets(const std::string& group) const {
  std::vector<std::string> out;
  for (const auto& name : list(group)) {
    std::string path = group == "/" ? name : group + "/" + name;
    if (is_group(path)) {
      for (auto& p : datasets(path)) out.push_back(std::move(p));
    } else {
      out.push_back(path);
    }
  }
  return out;
}

void File::ensure_parent_groups(const std::string& obj) {
  size_t pos = 0;
  while ((pos = obj.find('/', pos + 1)) != std::string::npos) {
    std::string g = obj.substr(0, pos);
    if (g.empty() || g == "/") continue;
    if (!exists(g)) {
      Handle h{H5Gcreate2(id_, g.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose};
      if (h.id < 0) fail_write(g, "cannot create group");
    }
  }
}

void File::write_raw(const std::string& dataset, hid_t type, const void* data, const std::vector<int64_t>& shape) {
  ensure_parent_groups(dataset);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose};
  Handle d{H5Dcreate2(id_, dataset.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  if (d.id < 0) fail_write(dataset, "cannot create dataset");
  size_t n = 1;
  for (auto x : dims) n *= x;
  if (n > 0 && H5Dwrite(d.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) fail_write(dataset, "write failed");
}

void File::read_raw(const std::string& dataset, hid_t type, void* out, size_t n) const {
  std::vector<int64_t> dims = shape(dataset);
  size_t have = 1;
  for (int64_t d : dims) have *= static_cast<size_t>(d);
  if (have != n) fail_at(dataset, strf("has %zu elements, expected %zu", have, n));
  Handle d{H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose};
  if (n > 0 && H5Dread(d.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    fail_at(dataset, "read failed (truncated or corrupted file?)");
}

void File::write_strings(const std::string& dataset, const std::vector<std::string>& v) {
  ensure_parent_groups(dataset);
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, H5T_VARIABLE);
  H5Tset_cset(type.id, H5T_CSET_UTF8);
  hsize_t dim = v.size();
  Handle space{H5Screate_simple(1, &dim, nullptr), H5Sclose};
  Handle d{H5Dcreate2(id_, dataset.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  if (d.id < 0) fail_write(dataset, "cannot create dataset");
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  if (!v.empty() && H5Dwrite(d.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) fail_write(dataset, "write failed");
}

std::vector<std::string> File::read_strings(const std::string& dataset) const {
  std::vector<int64_t> dims = shape(dataset);
  size_t n = dims.empty() ? 0 : static_cast<size_t>(dims[0]);
  Handle d{H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose};
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, H5T_VARIABLE);
  H5Tset_cset(type.id, H5T_CSET_UTF8);
  std::vector<char*> ptrs(n, nullptr);
  if (n > 0 && H5Dread(d.id, type.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) fail_at(dataset, "read failed");
  std::vector<std::string> out;
  for (char* p : ptrs) {
    out.emplace_back(p ? p : "");
    std::free(p);
  }
  return out;
}

hid_t File::open_object(const std::string& obj) const {
  if (!exists(obj)) fail_at(obj, "object is missing");
  hid_t o = H5Oopen(id_, obj.c_str(), H5P_DEFAULT);
  if (o < 0) fail_at(obj, "cannot open object");
  return o;
}

hid_t File::ensure_object(const std::string& obj) {
  if (!exists(obj)) {
    ensure_parent_groups(obj + "/x");
  }
  return open_object(obj);
}

namespace {
void replace_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
}
}  // namespace

void File::set_attr(const std::string& obj, const std::string& name, const std::string& value) {
  Handle o{ensure_object(obj), H5Oclose};
  replace_attr(o.id, name);
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, H5T_VARIABLE);
  H5Tset_cset(type.id, H5T_CSET_UTF8);
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle a{H5Acreate2(o.id, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  const char* p = value.c_str();
  if (a.id < 0 || H5Awrite(a.id, type.id, &p) < 0) fail_write(obj, "cannot write attribute " + name);
}

// Whether the attribute was written.
template <class T>
static bool set_scalar_attr(hid_t obj, const std::string& name, T value, hid_t type) {
  replace_attr(obj, name);
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle a{H5Acreate2(obj, name.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  return a.id >= 0 && H5Awrite(a.id, type, &value) >= 0;
}

void File::set_attr(const std::string& obj, const std::string& name, int64_t value) {
  Handle o{ensure_object(obj), H5Oclose};
  if (!set_scalar_attr(o.id, name, value, H5T_NATIVE_INT64)) fail_write(obj, "cannot write attribute " + name);
}

void File::set_attr(const std::string& obj, const std::string& name, double value) {
  Handle o{ensure_object(obj), H5Oclose};
  if (!set_scalar_attr(o.id, name, value, H5T_NATIVE_DOUBLE)) fail_write(obj, "cannot write attribute " + name);
}

bool File::has_attr(const std::string& obj, const std::string& name) const {
  if (!exists(obj)) return false;
  Handle o{open_object(obj), H5Oclose};
  return H5Aexists(o.id, name.c_str()) > 0;
}

std::string File::attr_string(const std::string& obj, const std::string& name) const {
  if (!has_attr(obj, name)) fail_at(obj, "attribute " + name + " is missing");
  Handle o{open_object(obj), H5Oclose};
  Handle a{H5Aopen(o.id, name.c_str(), H5P_DEFAULT), H5Aclose};
  Handle ftype{H5Aget_type(a.id), H5Tclose};
  if (H5Tget_class(ftype.id) != H5T_STRING) fail_at(obj, "attribute " + name + " is not a string");
  if (H5Tis_variable_str(ftype.id) > 0) {
    Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(type.id, H5T_VARIABLE);
    H5Tset_cset(type.id, H5Tget_cset(ftype.id));
    char* p = nullptr;
    if (H5Aread(a.id, type.id, &p) < 0) fail_at(obj, "cannot read attribute " + name);
    std::string s = p ? p : "";
    std::free(p);
    return s;
  }
  size_t n = H5Tget_size(ftype.id);
  std::string s(n, '\0');
  if (H5Aread(a.id, ftype.id, s.data()) < 0) fail_at(obj, "cannot read attribute " + name);
  s.resize(std::strlen(s.c_str()));
  return s;
}

int64_t File::attr_int(const std::string& obj, const std::string& name) const {
  if (!has_attr(obj, name)) fail_at(obj, "attribute " + name + " is missing");
  Handle o{open_object(obj), H5Oclose};
  Handle a{H5Aopen(o.id, name.c_str(), H5P_DEFAULT), H5Aclose};
  int64_t v = 0;
  if (H5Aread(a.id, H5T_NATIVE_INT64, &v) < 0) fail_at(obj, "cannot read attribute " + name);
  return v;
}

double File::attr_double(const std::string& obj, const std::string& name) const {
  if (!has_attr(obj, name)) fail_at(obj, "attribute " + name + " is missing");
  Handle o{open_object(obj), H5Oclose};
  Handle a{H5Aopen(o.id, name.c_str(), H5P_DEFAULT), H5Aclose};
  double v = 0;
  if (H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) < 0) fail_at(obj, "cannot read attribute " + name);
  return v;
}

std::string File::attr_text(const std::string& obj, const std::string& name) const {
  if (!has_attr(obj, name)) fail_at(obj, "attribute " + name + " is missing");
  Handle o{open_object(obj), H5Oclose};
  Handle a{H5Aopen(o.id, name.c_str(), H5P_DEFAULT), H5Aclose};
  Handle t{H5Aget_type(a.id), H5Tclose};
  if (H5Tget_class(t.id) == H5T_STRING) return attr_string(obj, name);
  if (H5Tget_class(t.id) == H5T_INTEGER) return std::to_string(attr_int(obj, name));
  fail_at(obj, "attribute " + name + " is neither a string nor an integer");
}

}  // namespace hf::h5
