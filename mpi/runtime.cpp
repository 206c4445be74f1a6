#include "mpi/runtime.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "util/check.h"

namespace hf {
namespace {
int g_rank = 0, g_size = 1;
bool g_started = false;
}  // namespace

void mpi_start(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  // Return codes instead of aborting inside MPI, so errors reach our one-line handler.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  g_started = true;
}

void mpi_stop() {
  if (g_started) MPI_Finalize();
  g_started = false;
}

int world_rank() { return g_rank; }
int world_size() { return g_size; }
bool is_server() { return g_rank == 0; }

void collectively(const std::function<void()>& fn) {
  std::string msg;
  int code = 0;
  try {
    fn();
  } catch (const Error& e) {
    msg = e.what();
    code = e.exit_code;
  } catch (const std::exception& e) {
    msg = e.what();
    code = kExitRuntime;
  }
  if (g_size == 1) {
    if (code) throw Error(msg, code, true);
    return;
  }
  int mine = code ? g_rank : g_size, first = g_size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == g_size) return;
  int len = static_cast<int>(msg.size());
  MPI_Bcast(&len, 1, MPI_INT, first, MPI_COMM_WORLD);
  msg.resize(static_cast<size_t>(len));
  MPI_Bcast(msg.data(), len, MPI_CHAR, first, MPI_COMM_WORLD);
  MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
  throw Error(msg, code, true);
}

void mpi_ok(int rc, const char* what) {
  if (rc != MPI_SUCCESS) fail(strf("MPI %s failed (code %d)", what, rc), "check the MPI launch and the network", kExitRuntime);
}

void print_failed_alone(const std::string& msg, int code) {
  if (g_size > 1)
    std::fprintf(stderr,
                 "error: [rank %d] %s\nhfedmoe: rank %d failed alone: the job is being torn down (exit %d); "
                 "the other ranks are stopped, not checkpointing; the last checkpoint resumes the run\n",
                 g_rank, msg.c_str(), g_rank, code);
  else
    std::fprintf(stderr, "error: %s\n", msg.c_str());
  std::fflush(stderr);
}

void abort_all(const std::string& msg, int code) {
  print_failed_alone(msg, code);
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  mpi_stop();
  std::exit(code);
}

int mpi_main(int argc, char** argv, const std::function<int(int, char**)>& body) {
  mpi_start(&argc, &argv);
  int code = kExitOk;
  try {
    code = body(argc, argv);
  } catch (const Error& e) {
    if (!e.agreed) abort_all(e.what(), e.exit_code);
    if (is_server()) std::fprintf(stderr, "error: %s\n", e.what());
    code = e.exit_code;
  } catch (const std::exception& e) {
    abort_all(e.what(), kExitRuntime);
  }
  mpi_stop();
  return code;
}

}  // namespace hf
