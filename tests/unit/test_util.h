#pragma once
// Small helpers shared by the unit tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "util/check.h"

namespace hf::test {

// The message of the hf::Error that fn throws, or "(no error)" when it throws none.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// An empty folder under gtest's temporary directory, emptied again if an earlier run left it.
inline std::string fresh_temp_dir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "hf_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace hf::test
