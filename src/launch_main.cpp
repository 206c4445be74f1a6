// hfedmoe-launch CMD [ARGS...]: runs CMD (the MPI launcher) with SIGTERM blocked.
//
// Why: on scancel, preemption or a time limit without warning, Slurm sends SIGTERM to every
// process of the job. The ranks then finish their round, checkpoint and exit 75
// (util/signals.h), but Open MPI's mpirun also gets it and kills the ranks about a second
// later, before they can. A blocked signal stays pending in mpirun, which never unblocks it,
// while the ranks it starts get a clean signal mask (Open MPI resets it in every child, and
// hfedmoe unblocks its stop signals itself), so the TERM reaches only the ranks. mpirun then
// returns the ranks' exit code as usual. SIGUSR1 is untouched: mpirun forwards it to every rank.
//
// A separate program, not a command of hfedmoe: hfedmoe starts MPI before it reads its
// arguments, and the launcher must not be an MPI process.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fprintf(argc < 2 ? stderr : stdout,
                 "usage: hfedmoe-launch CMD [ARGS...]\n"
                 "Runs CMD (mpirun ...) with SIGTERM blocked, so that Slurm's SIGTERM reaches only the\n"
                 "hfedmoe ranks, which checkpoint and exit 75, and not mpirun, which would kill them.\n");
    return argc < 2 ? 2 : 0;
  }
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &term, nullptr) != 0) {
    std::perror("hfedmoe-launch: sigprocmask");
    return 1;
  }
  execvp(argv[1], argv + 1);
  std::fprintf(stderr, "hfedmoe-launch: cannot run '%s': %s (is it on PATH?)\n", argv[1], std::strerror(errno));
  return 127;
}
