#include "util/signals.h"

#include <mpi.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>

#include "util/check.h"

namespace hf {
namespace {

volatile std::sig_atomic_t g_stop = 0;

void write_stderr(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  ssize_t ignored = ::write(2, s, n);
  (void)ignored;
}

// Only async-signal-safe calls here: write(2) and _exit(2). The first signal says nothing:
// the loop that honours it logs the stop when it checkpoints, and a job that mpirun tears down
// because another rank failed (SIGTERM, then SIGKILL) must not print a graceful stop it will
// never make; the failing rank's own line says what happened (mpi/runtime.h abort_all).
void on_stop_signal(int) {
  if (g_stop) {
    write_stderr("hfedmoe: second stop signal: exiting now (code 75); resume from the last checkpoint\n");
    ::_exit(kExitRequeue);
  }
  g_stop = 1;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking I/O and MPI calls carry on; the loop polls the flag
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  // A launcher may hand its mask down: hfedmoe-launch blocks SIGTERM for mpirun's sake, and a
  // rank that inherited that would never see the stop (src/launch_main.cpp).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
}

bool stop_requested() { return g_stop != 0; }

bool stop_agreed() {
  int started = 0, finalized = 0, size = 1;
  MPI_Initialized(&started);
  MPI_Finalized(&finalized);
  if (!started || finalized) return stop_requested();
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) return stop_requested();
  int mine = stop_requested() ? 1 : 0, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any) g_stop = 1;  // a later signal on this rank then counts as the second one
  return any != 0;
}

void clear_stop_request() { g_stop = 0; }

}  // namespace hf
