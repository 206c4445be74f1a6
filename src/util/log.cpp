#include "util/log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include "util/check.h"

namespace hf {
namespace {
int g_rank = 0;
LogLevel g_level = LogLevel::info;
FILE* g_file = nullptr;
// Rank 0's lines before log_to_file: the input checks run before the run directory exists
// (a refused command writes nothing), and log.txt still starts with what they logged.
std::string g_early;
std::mutex g_mutex;
auto g_start = std::chrono::steady_clock::now();
const char* kTags[] = {"error: ", "warning: ", "", "debug: "};
}  // namespace

void log_init(int rank, LogLevel level) {
  g_rank = rank;
  g_level = level;
  g_start = std::chrono::steady_clock::now();
}

void log_to_file(const std::string& path) {
  if (g_rank != 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_file) std::fclose(g_file);
  g_file = std::fopen(path.c_str(), "a");
  if (!g_file) fail("cannot open log file " + path, "check that the run directory is writable");
  std::fputs(g_early.c_str(), g_file);
  g_early.clear();
}

LogLevel parse_log_level(const std::string& s) {
  if (s == "error") return LogLevel::error;
  if (s == "warn") return LogLevel::warn;
  if (s == "info") return LogLevel::info;
  if (s == "debug") return LogLevel::debug;
  fail("log_level '" + s + "' is not a level", "use one of error, warn, info, debug");
}

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level); }

double log_elapsed_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
}

void log_line(LogLevel level, const std::string& msg) {
  std::string line = strf("[r%d %7.1fs] %s%s\n", g_rank, log_elapsed_s(), kTags[static_cast<int>(level)], msg.c_str());
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fputs(line.c_str(), stderr);
  if (g_file) {
    std::fputs(line.c_str(), g_file);
    std::fflush(g_file);
  } else if (g_rank == 0) {
    g_early += line;
  }
}

}  // namespace hf
