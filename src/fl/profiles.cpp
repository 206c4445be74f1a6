#include "fl/profiles.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <numeric>
#include <sstream>

#include "io/fs.h"
#include "util/check.h"
#include "util/rng.h"

namespace hf {
namespace {

const char* const kColumns[] = {"name", "tflops", "memory_gb", "uplink_mbps", "downlink_mbps", "availability", "share"};
constexpr int kNumColumns = 7;
const char* const kHeader = "name,tflops,memory_gb,uplink_mbps,downlink_mbps,availability,share";

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) fields.push_back(trim(f));
  if (!line.empty() && line.back() == ',') fields.push_back("");  // getline drops a trailing empty field
  return fields;
}

// One data row being parsed: knows where it is, so every error names file, line and column.
struct RowParser {
  const std::string& path;
  int line;
  const std::vector<std::string>& fields;

  std::string where(int col) const { return strf("%s line %d column %d (%s)", path.c_str(), line, col + 1, kColumns[col]); }

  // from_chars, not strtod: it ignores the locale, so "0,5" never half-parses as 0.
  double number(int col, double lo_exclusive, double hi_inclusive) const {
    const std::string& s = fields[col];
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
      fail(where(col) + ": '" + s + "' is not a number", "write a plain decimal such as 8 or 0.25");
    if (!(v > lo_exclusive && v <= hi_inclusive)) {
      if (hi_inclusive == HUGE_VAL) fail(where(col) + strf(": %g must be positive", v), "use a value above 0");
      fail(where(col) + strf(": %g is outside (%g, %g]", v, lo_exclusive, hi_inclusive),
           strf("use a value above %g and at most %g", lo_exclusive, hi_inclusive));
    }
    return v;
  }

  std::string name() const {
    const std::string& s = fields[0];
    bool ok = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    // Names land in logs and metrics columns, so keep them to one plain token.
    if (!ok) fail(where(0) + ": name '" + s + "' is empty or has characters other than letters, digits, _ - .",
                  "use a short identifier such as edge or jetson_orin");
    return s;
  }
};

}  // namespace

std::vector<DeviceProfile> load_profiles(const std::string& path) {
  if (!path_exists(path))
    fail("device profiles file " + path + " does not exist", "give a CSV such as jobs/profiles/default.csv");
  std::stringstream in(read_text_file(path));
  std::vector<DeviceProfile> out;
  std::vector<int> line_of;  // file line of each profile, for the duplicate-name error
  bool header_seen = false;
  std::string raw;
  for (int line = 1; std::getline(in, raw); line++) {
    std::string text = trim(raw);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> fields = split_commas(text);
    if (!header_seen) {
      std::string header;
      for (size_t i = 0; i < fields.size(); i++) header += (i ? "," : "") + fields[i];
      if (header != kHeader)
        fail(strf("%s line %d: header is '%s'", path.c_str(), line, text.c_str()),
             std::string("the first row must be exactly ") + kHeader);
      header_seen = true;
      continue;
    }
    if (static_cast<int>(fields.size()) != kNumColumns)
      fail(strf("%s line %d: %zu columns, expected %d", path.c_str(), line, fields.size(), kNumColumns),
           std::string("write one value per column: ") + kHeader);
    RowParser row{path, line, fields};
    DeviceProfile p;
    p.name = row.name();
    p.tflops = row.number(1, 0, HUGE_VAL);
    p.memory_gb = row.number(2, 0, HUGE_VAL);
    p.uplink_mbps = row.number(3, 0, HUGE_VAL);
    p.downlink_mbps = row.number(4, 0, HUGE_VAL);
    p.availability = row.number(5, 0, 1);
    p.share = row.number(6, 0, 1);
    for (size_t j = 0; j < out.size(); j++)
      if (out[j].name == p.name)
        fail(strf("%s line %d: profile name '%s' is already used on line %d", path.c_str(), line, p.name.c_str(),
                  line_of[j]),
             "give each device class a unique name");
    out.push_back(p);
    line_of.push_back(line);
  }
  if (out.empty())
    fail("device profiles " + path + " hold no profile rows",
         std::string("write the header ") + kHeader + " and at least one row");
  double total = 0;
  for (const auto& p : out) total += p.share;
  if (std::fabs(total - 1.0) > 1e-6)
    fail(strf("%s: the share column sums to %.9g, not 1", path.c_str(), total),
         "shares are the fractions of clients in each class; make them sum to 1");
  return out;
}

std::vector<int> assign_profiles(const std::vector<DeviceProfile>& profiles, int n_clients, uint64_t seed) {
  if (profiles.empty()) fail("no device profiles to assign clients to", "give a profiles file with at least one row");
  if (n_clients < 0) fail(strf("n_clients=%d is negative", n_clients), "use 0 or more clients");
  const size_t n_profiles = profiles.size();
  // Quotas from shares normalised by their sum, so a sum off by the allowed 1e-6 cannot
  // leave more seats than classes for the remainder pass.
  double total = 0;
  for (const auto& p : profiles) total += p.share;
  std::vector<int> count(n_profiles);
  std::vector<double> remainder(n_profiles);
  int assigned = 0;
  for (size_t j = 0; j < n_profiles; j++) {
    double quota = profiles[j].share / total * n_clients;
    count[j] = static_cast<int>(std::floor(quota));
    remainder[j] = quota - count[j];
    assigned += count[j];
  }
  // Largest remainders first; equal remainders go to the earlier class, so counts are exact.
  std::vector<size_t> order(n_profiles);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t r = 0; assigned < n_clients; r++, assigned++) count[order[r % n_profiles]]++;

  std::vector<int> of_client;  // (n_clients) profile index
  of_client.reserve(n_clients);
  for (size_t j = 0; j < n_profiles; j++) of_client.insert(of_client.end(), count[j], static_cast<int>(j));
  Rng rng(seed, Purpose::profile);
  rng.shuffle(of_client.data(), of_client.size());
  return of_client;
}

}  // namespace hf
