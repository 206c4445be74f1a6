#pragma once
// One function per `hfedmoe <command>`; each parses its own options (argv[0] is the
// command name) and returns the process exit code (util/check.h ExitCode).
namespace hf {

int cmd_train(int argc, char** argv);
int cmd_pretrain(int argc, char** argv);
int cmd_prepare(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_export(int argc, char** argv);

struct CommandSpec {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};
extern const CommandSpec kCommands[];
extern const int kNumCommands;

}  // namespace hf
