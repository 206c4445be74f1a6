#pragma once
// Errors. Two kinds, one exception type:
//  - user errors (bad option, file, budget): fail("what", "how to fix") -> "error: what; how to fix"
//  - broken invariants (a bug): HF_CHECK(cond, ...) names the source file:line.
// main() catches Error, prints its one line, and stops every rank (mpi/runtime.h).
#include <stdexcept>
#include <string>
#include "util/strf.h"

namespace hf {

// Process exit codes, documented in README.md ("Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,  // a failure while running (I/O, non-finite loss, a bug)
  kExitUsage = 2,    // a bad option, config value, file or budget: nothing was run
  kExitRequeue = 75, // stopped by a signal after writing a checkpoint: requeue to continue
};

struct Error : std::runtime_error {
  int exit_code;
  bool agreed;  // every rank holds this same error (mpi/runtime.h collectively())
  Error(const std::string& msg, int code, bool agreed_by_all = false)
      : std::runtime_error(msg), exit_code(code), agreed(agreed_by_all) {}
};

// A bad input from the user. `what` names the problem (option, value, file), `fix` the remedy.
[[noreturn]] inline void fail(const std::string& what, const std::string& fix, int code = kExitUsage) {
  throw Error(what + "; " + fix, code);
}

}  // namespace hf

#define HF_CHECK(cond, ...)                                                                     \
  do {                                                                                          \
    if (!(cond))                                                                                \
      throw ::hf::Error(::hf::strf("%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond) +    \
                            ::hf::strf(__VA_ARGS__),                                            \
                        ::hf::kExitRuntime);                                                    \
  } while (0)
