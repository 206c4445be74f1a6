#include "cli/options.h"

#include <cctype>
#include <map>
#include <sstream>

#include "io/fs.h"
#include "util/log.h"

namespace po = boost::program_options;

namespace hf {

Options::Options(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)), desc_("options", 100, 50) {
  desc_.add_options()("help,h", "print this help and exit")(
      "config", po::value<std::string>(&config_path_), "INI file of options ([section] key = value); the command line wins");
}

Options& Options::flag(const std::string& key, bool* target, const std::string& help) {
  desc_.add_options()(key.c_str(), po::bool_switch(target), help.c_str());
  entries_.push_back({key, [target] { return to_text(*target); }, false});
  return *this;
}

std::string Options::help() const {
  std::ostringstream os;
  os << "usage: hfedmoe " << command_ << " [--config FILE] [--key value ...]\n\n" << summary_ << "\n\n" << desc_;
  return os.str();
}

bool Options::parse(int argc, char** argv, bool print_help) {
  std::string where = "the command line";
  try {
    po::store(po::command_line_parser(argc, argv).options(desc_).run(), vm_);
    if (vm_.count("help")) {
      if (print_help) std::fputs(help().c_str(), stdout);
      return false;
    }
    if (vm_.count("config")) {
      std::string path = vm_["config"].as<std::string>();
      if (!path_exists(path)) fail("cannot read config file " + path, "check the --config path");
      std::istringstream in(read_text_file(path));
      where = path;
      po::store(po::parse_config_file(in, desc_, false), vm_);
    }
    po::notify(vm_);
  } catch (const po::error& e) {
    fail(std::string(e.what()) + " (in " + where + ")", "see `hfedmoe " + command_ + " --help` for the options and their ranges");
  }
  return true;
}

bool Options::was_set(const std::string& key) const {
  auto it = vm_.find(key);
  return it != vm_.end() && !it->second.defaulted();
}

std::string Options::resolved_ini() const {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  for (const auto& e : entries_) {
    if (!e.in_ini) continue;
    size_t dot = e.key.find('.');
    std::string section = dot == std::string::npos ? "" : e.key.substr(0, dot);
    std::string name = dot == std::string::npos ? e.key : e.key.substr(dot + 1);
    std::string value = e.value();
    // An INI line ends at a line break, '#' starts a comment and the spaces around a value
    // are dropped: such a value would reload (and compare on resume) as another one.
    if (value.find_first_of("#\n\r") != std::string::npos)
      fail(e.key + " holds a '#' or a line break, which config.ini cannot store", "choose a value without them");
    if (!value.empty() && (std::isspace(static_cast<unsigned char>(value.front())) ||
                           std::isspace(static_cast<unsigned char>(value.back()))))
      fail(e.key + "='" + value + "' begins or ends with a space, which config.ini cannot store", "drop the spaces");
    sections[section].push_back({name, value});
  }
  std::string out = "# hfedmoe " + command_ + ": the fully resolved configuration (reload with --config)\n";
  for (const auto& [section, keys] : sections) {
    if (!section.empty()) out += "\n[" + section + "]\n";
    for (const auto& [k, v] : keys) out += k + " = " + v + "\n";
  }
  return out;
}

void check_choice(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == value) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(key + "=" + value + " is not a valid choice", "use one of " + list);
}

}  // namespace hf
