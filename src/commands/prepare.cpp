#include "commands/commands.h"
#include "util/check.h"

namespace hf {

int cmd_prepare(int, char**) {
  throw Error("hfedmoe prepare is not built yet", kExitUsage, true);
}

}  // namespace hf
