#pragma once
// MPI start-up, roles and collective failure handling.
//
// Rank 0 is the federated server; ranks 1..R are executors. Without mpirun the binary is a
// singleton (size 1) and commands that need executors run them in-process.
//
// Errors: a failure that every rank reaches together (option parsing, config checks, file
// checks before the run) goes through collectively(): all ranks learn the first failing
// rank's message, rank 0 prints it once, and every rank exits cleanly with the same code.
// A failure on one rank alone prints its line and aborts the job (MPI_Abort), so no rank hangs.
#include <mpi.h>

#include <cstddef>
#include <functional>
#include <string>

namespace hf {

void mpi_start(int* argc, char*** argv);
void mpi_stop();
int world_rank();
int world_size();
bool is_server();  // rank 0

// Runs fn on every rank; if it throws on any rank, throws on every rank an hf::Error with
// the lowest failing rank's message and code, marked agreed (main prints it once).
void collectively(const std::function<void()>& fn);

// A failed MPI call (rc != MPI_SUCCESS) throws a runtime hf::Error naming it.
void mpi_ok(int rc, const char* what);

// Prints "error: [rank N] <msg>" and, in a job of several ranks, that the job is being torn
// down because this rank failed alone (the others then die by signal without checkpointing).
void print_failed_alone(const std::string& msg, int code);
// print_failed_alone, then stops every rank with code (MPI_Abort).
[[noreturn]] void abort_all(const std::string& msg, int code);

// The whole main() of an MPI program (hfedmoe, the MPI benchmarks): starts MPI, returns
// body(argc, argv)'s exit code, and turns an error into one line and its code: printed once by
// rank 0 when every rank holds it (collectively()), else through abort_all. Stops MPI.
int mpi_main(int argc, char** argv, const std::function<int(int, char**)>& body);

}  // namespace hf
