#pragma once
// A thin RAII layer over the HDF5 C API: one File, datasets and attributes addressed by
// path ("layer_0/expert_3/w1"), intermediate groups created on write. Every failure is an
// hf::Error naming the file and the object, never HDF5's own error stack: a usage error when
// reading (the file is not what we expect), a runtime error naming the system's reason
// (e.g. "No space left on device") when writing.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hf::h5 {

// Quiets libhdf5's own error printing and its clean-up at exit (h5.cpp says why). Called by
// File; main() calls it first, as the clean-up can be turned off only before any HDF5 call.
void init();

template <class T> hid_t native_type();
template <> inline hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> inline hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> inline hid_t native_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> inline hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> inline hid_t native_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> inline hid_t native_type<uint64_t>() { return H5T_NATIVE_UINT64; }

class File {
 public:
  // Truncates an existing file. user_block: bytes libhdf5 leaves for the caller at the start
  // of the file (0, or a power of two >= 512; io/seal.h).
  static File create(const std::string& path, size_t user_block = 0);
  static File open_read(const std::string& path);  // a clear error if missing or not HDF5
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }
  hid_t id() const { return id_; }
  void flush();
  void close();

  bool exists(const std::string& obj) const;  // a dataset or group
  bool is_group(const std::string& obj) const;
  std::vector<std::string> list(const std::string& group) const;  // member names, sorted
  std::vector<int64_t> shape(const std::string& dataset) const;
  // "f32", "f64", "i32", "i64", "u8", "u64", "str", or "other": how a dataset is stored.
  std::string dtype(const std::string& dataset) const;
  // Every dataset below group ("/" for all), as paths relative to the root, sorted.
  std::vector<std::string> datasets(const std::string& group) const;

  template <class T>
  void write(const std::string& dataset, const T* data, const std::vector<int64_t>& shape) {
    write_raw(dataset, native_type<T>(), data, shape);
  }
  template <class T>
  void write(const std::string& dataset, const std::vector<T>& v) {
    write_raw(dataset, native_type<T>(), v.data(), {static_cast<int64_t>(v.size())});
  }
  // Reads a whole dataset into out[n]; a clear error if its element count is not n.
  template <class T>
  void read(const std::string& dataset, T* out, size_t n) const {
    read_raw(dataset, native_type<T>(), out, n);
  }
  template <class T>
  std::vector<T> read(const std::string& dataset) const {
    size_t n = 1;
    for (int64_t d : shape(dataset)) n *= static_cast<size_t>(d);
    std::vector<T> v(n);
    read_raw(dataset, native_type<T>(), v.data(), n);
    return v;
  }
  void write_strings(const std::string& dataset, const std::vector<std::string>& v);
  std::vector<std::string> read_strings(const std::string& dataset) const;

  // Attributes on a group or dataset ("/" for the root); groups are created if absent.
  void set_attr(const std::string& obj, const std::string& name, const std::string& value);
  void set_attr(const std::string& obj, const std::string& name, int64_t value);
  void set_attr(const std::string& obj, const std::string& name, double value);
  bool has_attr(const std::string& obj, const std::string& name) const;
  std::string attr_string(const std::string& obj, const std::string& name) const;
  int64_t attr_int(const std::string& obj, const std::string& name) const;
  double attr_double(const std::string& obj, const std::string& name) const;
  // A string or integer attribute's value as text (an integer in decimal).
  std::string attr_text(const std::string& obj, const std::string& name) const;

 private:
  File(hid_t id, std::string path) : id_(id), path_(std::move(path)) {}
  void write_raw(const std::string& dataset, hid_t type, const void* data, const std::vector<int64_t>& shape);
  void read_raw(const std::string& dataset, hid_t type, void* out, size_t n) const;
  hid_t ensure_object(const std::string& obj);  // opens (creating groups) for attributes
  hid_t open_object(const std::string& obj) const;
  void ensure_parent_groups(const std::string& obj);
  [[noreturn]] void fail_at(const std::string& obj, const std::string& what) const;
  [[noreturn]] void fail_write(const std::string& obj, const std::string& what) const;

  hid_t id_ = -1;
  std::string path_;
};

}  // namespace hf::h5
