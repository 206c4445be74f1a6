#pragma once
// Graceful stop on SIGTERM and SIGUSR1, for Slurm time limits and preemption.
//
// Slurm sends SIGTERM at preemption or scancel, and with `sbatch --signal=B:USR1@120` (or
// `--signal=USR1@120`) it sends SIGUSR1 that many seconds before the time limit. The first
// signal only sets a flag: the training loops poll it at a safe point (pretrain: after each
// step; train: once per round, agreed by all ranks), write a checkpoint, and exit with
// kExitRequeue (75) so a job script can `scontrol requeue` or resubmit and resume.
// A second signal exits at once with kExitRequeue: safe, because every file hfedmoe writes
// is replaced atomically (io/fs.h), so a kill at any moment leaves the previous
// checkpoint and `latest` intact; the run just resumes from an earlier checkpoint.
//
// Under mpirun only some ranks may see the signal (Open MPI forwards SIGUSR1 to every rank
// but handles SIGTERM itself: it kills the ranks unless started by hfedmoe-launch, see
// src/launch_main.cpp; srun signals every task), hence stop_agreed().
namespace hf {

// Installs the handlers (idempotent). Call once per process, after MPI is started.
void install_stop_handlers();
// True once a stop signal arrived in this process (cheap: reads a flag).
bool stop_requested();
// Collective over MPI_COMM_WORLD (MPI_Allreduce max): true on every rank if any rank saw a
// stop signal. Call at the same point on every rank, e.g. once per round. Without MPI
// started, or with one rank, it is stop_requested().
bool stop_agreed();
// Forgets a received signal (for tests that raise one in-process).
void clear_stop_request();

}  // namespace hf
