#include "io/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "util/check.h"

namespace hf {

std::string metric_text(const MetricValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return std::isfinite(*d) ? strf("%.17g", *d) : "null";
  return std::get<std::string>(v);
}

// Appends text to a file (creating it), or a runtime error naming the file and the system's
// reason: a full disk must stop the run with its cause, not lose rows silently.
static void append_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
  out.close();
  if (!out) fail("cannot write " + path + ": " + std::strerror(errno), "free space on the disk (or choose another --out) and rerun",
                 kExitRuntime);
}

static std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += strf("\\u%04x", c);
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string to_json(const MetricsRow& row) {
  std::string out = "{";
  for (size_t i = 0; i < row.size(); i++) {
    if (i) out += ", ";
    out += json_string(row[i].first) + ": ";
    const auto& v = row[i].second;
    out += std::holds_alternative<std::string>(v) ? json_string(std::get<std::string>(v)) : metric_text(v);
  }
  return out + "}";
}

// True when row has the columns in order and more after them.
static bool extends(const MetricsRow& row, const std::vector<std::string>& columns) {
  if (row.size() <= columns.size()) return false;
  for (size_t c = 0; c < columns.size(); c++)
    if (row[c].first != columns[c]) return false;
  return true;
}

void MetricsLog::open(const std::string& run_dir, const std::vector<MetricsRow>& rows) {
  run_dir_ = run_dir;
  jsonl_ = run_dir + "/metrics.jsonl";
  csv_ = run_dir + "/metrics.csv";
  for (const auto& path : {jsonl_, csv_})
    if (!std::ofstream(path, std::ios::trunc))
      fail("cannot write " + path + ": " + std::strerror(errno), "check that the run directory is writable", kExitRuntime);
  columns_.clear();
  rows_.clear();
  for (const auto& r : rows) append(r);
}

void MetricsLog::append(const MetricsRow& row) {
  if (columns_.empty()) {
    std::string header;
    for (const auto& kv : row) {
      header += (columns_.empty() ? "" : ",") + kv.first;
      columns_.push_back(kv.first);
    }
    append_text(csv_, header + "\n");
  }
  if (!rows_.empty() && extends(row, columns_)) {
    // A run resumed from a checkpoint of an older build, whose rows lack the newer columns
    // (appended at the end): those read NaN in the older rounds.
    std::vector<MetricsRow> older = rows_;
    for (MetricsRow& r : older)
      for (size_t c = r.size(); c < row.size(); c++) r.emplace_back(row[c].first, NAN);
    open(run_dir_, older);
  }
  HF_CHECK(row.size() == columns_.size(), "metrics row has %zu columns, the table %zu", row.size(), columns_.size());
  write_row(row);
  rows_.push_back(row);
}

void MetricsLog::write_row(const MetricsRow& row) {
  std::string line;
  for (size_t i = 0; i < row.size(); i++) line += (i ? "," : "") + metric_text(row[i].second);
  append_text(jsonl_, to_json(row) + "\n");
  append_text(csv_, line + "\n");
}

}  // namespace hf
