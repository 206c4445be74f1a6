// hfedmoe <command> [options]: the command-line entry point.
// Starts MPI, dispatches to the command, and turns any error into one line and an exit code
// (every rank stops: see mpi/runtime.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "commands/commands.h"
#include "io/h5.h"
#include "mpi/runtime.h"
#include "util/check.h"
#include "util/log.h"
#include "version.h"

namespace hf {

const CommandSpec kCommands[] = {
    {"train", "federated fine-tuning: rank 0 serves, ranks 1..R execute virtual clients", cmd_train},
    {"pretrain", "causal-LM pretraining of the base MoE model on a dataset or text file", cmd_pretrain},
    {"prepare", "turn a text corpus into an HDF5 dataset with a per-client partition", cmd_prepare},
    {"eval", "evaluate a checkpoint on a dataset's test split", cmd_eval},
    {"inspect", "describe an HDF5 checkpoint or dataset (--verify re-reads every tensor)", cmd_inspect},
    {"export", "model weights to/from Hugging Face safetensors (Mixtral names)", cmd_export},
};
const int kNumCommands = sizeof(kCommands) / sizeof(kCommands[0]);

static void print_usage(FILE* out) {
  std::fprintf(out, "hfedmoe %s (%s): federated fine-tuning of Mixture-of-Experts models (HFedMoE)\n\n",
               HFEDMOE_VERSION, HFEDMOE_GIT_DESCRIBE);
  std::fprintf(out, "usage: [mpirun -np 1+R] hfedmoe <command> [--config FILE] [--key value ...]\n\ncommands:\n");
  for (int i = 0; i < kNumCommands; i++) std::fprintf(out, "  %-10s %s\n", kCommands[i].name, kCommands[i].summary);
  std::fprintf(out, "\n`hfedmoe <command> --help` lists the command's options with their defaults.\n");
}

static int dispatch(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    if (is_server()) print_usage(stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    if (is_server()) std::printf("hfedmoe %s (%s)\n", HFEDMOE_VERSION, HFEDMOE_GIT_DESCRIBE);
    return kExitOk;
  }
  for (int i = 0; i < kNumCommands; i++)
    if (!std::strcmp(argv[1], kCommands[i].name)) return kCommands[i].run(argc - 1, argv + 1);
  throw Error(std::string("unknown command '") + argv[1] + "'; run `hfedmoe --help` for the list", kExitUsage, true);
}

}  // namespace hf

int main(int argc, char** argv) {
  hf::h5::init();
  return hf::mpi_main(argc, argv, [](int argc_mpi, char** argv_mpi) {
    hf::log_init(hf::world_rank(), hf::LogLevel::info);
    return hf::dispatch(argc_mpi, argv_mpi);
  });
}
