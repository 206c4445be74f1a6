#include "commands/commands.h"
#include "util/check.h"

namespace hf {

int cmd_eval(int, char**) {
  throw Error("hfedmoe eval is not built yet", kExitUsage, true);
}

}  // namespace hf
