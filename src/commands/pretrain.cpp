#include "commands/commands.h"
#include "util/check.h"

namespace hf {

int cmd_pretrain(int, char**) {
  throw Error("hfedmoe pretrain is not built yet", kExitUsage, true);
}

}  // namespace hf
