#pragma once
// Options for one command: every option has a key ("fl.rounds"), a typed target, a default
// (the target's value when registered) and help. The same key works on the command line
// (--fl.rounds 20) and in an INI file given with --config ([fl] then rounds = 20); the
// command line wins. Unknown keys and unparsable values are usage errors naming the key.
// resolved_ini() writes every option's final value in a form --config reloads as is.
#include <boost/program_options.hpp>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "util/check.h"

namespace hf {

class Options {
 public:
  Options(std::string command, std::string summary);

  template <class T>
  Options& add(const std::string& key, T* target, const std::string& help) {
    desc_.add_options()(key.c_str(), boost::program_options::value<T>(target)->default_value(*target, to_text(*target)),
                        help.c_str());
    entries_.push_back({key, [target] { return to_text(*target); }, true});
    return *this;
  }
  // A switch for this invocation only (e.g. --fresh): not written to config.ini.
  Options& flag(const std::string& key, bool* target, const std::string& help);

  // Parses the command line (argv[0] is the command name) and the --config file.
  // Returns false when --help was asked for (the help is printed on rank 0).
  bool parse(int argc, char** argv, bool print_help);
  bool was_set(const std::string& key) const;  // given on the command line or in the file
  // A usage error names a value that would not reload as itself ('#', a line break, spaces
  // at either end).
  std::string resolved_ini() const;
  std::string help() const;
  const std::string& config_path() const { return config_path_; }

  static std::string to_text(const std::string& v) { return v; }
  static std::string to_text(bool v) { return v ? "true" : "false"; }
  static std::string to_text(int v) { return std::to_string(v); }
  static std::string to_text(int64_t v) { return std::to_string(v); }
  static std::string to_text(uint64_t v) { return std::to_string(v); }
  // The shortest text that reads back to the same value, so config.ini reloads exactly and
  // --help shows 1e-05, not 9.99999975e-06.
  static std::string to_text(float v) {
    for (int p = 6;; p++)
      if (std::string s = strf("%.*g", p, v); p >= 9 || std::strtof(s.c_str(), nullptr) == v) return s;
  }
  static std::string to_text(double v) {
    for (int p = 15;; p++)
      if (std::string s = strf("%.*g", p, v); p >= 17 || std::strtod(s.c_str(), nullptr) == v) return s;
  }

 private:
  struct Entry {
    std::string key;
    std::function<std::string()> value;
    bool in_ini;
  };
  std::string command_, summary_, config_path_;
  boost::program_options::options_description desc_;
  boost::program_options::variables_map vm_;
  std::vector<Entry> entries_;
};

// Range checks for validate() functions: one clear line naming key, value and range.
template <class T>
void check_range(const std::string& key, T value, T lo, T hi) {
  if (!(value >= lo && value <= hi))
    fail(key + "=" + Options::to_text(value) + " is out of range",
         "use a value in [" + Options::to_text(lo) + ", " + Options::to_text(hi) + "]");
}
void check_choice(const std::string& key, const std::string& value, const std::vector<std::string>& allowed);

}  // namespace hf
