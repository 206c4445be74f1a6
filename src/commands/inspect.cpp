#include "commands/commands.h"
#include "util/check.h"

namespace hf {

int cmd_inspect(int, char**) {
  throw Error("hfedmoe inspect is not built yet", kExitUsage, true);
}

}  // namespace hf
