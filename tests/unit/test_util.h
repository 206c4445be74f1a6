#pragma once
// Small helpers shared by the unit tests.
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

}  // namespace hf::test
