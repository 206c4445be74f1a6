#include "io/metrics.h"

#include <cmath>
#include <fstream>

#include "util/check.h"

namespace hf {

std::string metric_text(const MetricValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return std::isfinite(*d) ? strf("%.17g", *d) : "null";
  return std::get<std::string>(v);
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

void MetricsLog::open(const std::string& run_dir, const std::vector<MetricsRow>& rows) {
  jsonl_ = run_dir + "/metrics.jsonl";
  csv_ = run_dir + "/metrics.csv";
  std::ofstream(jsonl_, std::ios::trunc);
  std::ofstream(csv_, std::ios::trunc);
  columns_.clear();
  rows_.clear();
  for (const auto& r : rows) append(r);
}

void MetricsLog::append(const MetricsRow& row) {
  if (columns_.empty()) {
    for (const auto& kv : row) columns_.push_back(kv.first);
    std::ofstream csv(csv_, std::ios::app);
    for (size_t i = 0; i < columns_.size(); i++) csv << (i ? "," : "") << columns_[i];
    csv << "\n";
  }
  HF_CHECK(row.size() == columns_.size(), "metrics row has %zu columns, the table %zu", row.size(), columns_.size());
  write_row(row);
  rows_.push_back(row);
}

void MetricsLog::write_row(const MetricsRow& row) {
  std::ofstream jsonl(jsonl_, std::ios::app), csv(csv_, std::ios::app);
  if (!jsonl || !csv) fail("cannot append to " + jsonl_, "check that the run directory is writable", kExitRuntime);
  jsonl << to_json(row) << "\n";
  for (size_t i = 0; i < row.size(); i++) csv << (i ? "," : "") << metric_text(row[i].second);
  csv << "\n";
}

}  // namespace hf
