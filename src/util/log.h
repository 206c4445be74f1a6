#pragma once
// Rank-prefixed logging with levels. Every rank writes to stderr; rank 0 also appends to the
// run directory's log.txt once log_to_file() names it, starting with the lines logged before.
// Lines look like "[r0 12.3s] message".
#include <string>
#include "util/strf.h"

namespace hf {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

void log_init(int rank, LogLevel level);
void log_to_file(const std::string& path);  // rank 0 only; appends
LogLevel parse_log_level(const std::string& s);  // fails with a usage error on a bad name
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const std::string& msg);
double log_elapsed_s();  // seconds since log_init

}  // namespace hf

#define HF_LOG(level, ...)                                                           \
  do {                                                                               \
    if (::hf::log_enabled(level)) ::hf::log_line(level, ::hf::strf(__VA_ARGS__));    \
  } while (0)
#define LOG_ERROR(...) HF_LOG(::hf::LogLevel::error, __VA_ARGS__)
#define LOG_WARN(...) HF_LOG(::hf::LogLevel::warn, __VA_ARGS__)
#define LOG_INFO(...) HF_LOG(::hf::LogLevel::info, __VA_ARGS__)
#define LOG_DEBUG(...) HF_LOG(::hf::LogLevel::debug, __VA_ARGS__)
