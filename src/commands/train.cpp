#include "commands/commands.h"
#include "util/check.h"

namespace hf {

int cmd_train(int, char**) {
  throw Error("hfedmoe train is not built yet", kExitUsage, true);
}

}  // namespace hf
