#pragma once
// MPI transfers of any length. An MPI count is an int, so one call carries at most 2^31 - 1
// elements; the exchange's buffers outgrow that at cluster scale (the int64 sums of a model with
// 2^31 expert parameters). Each function here moves n elements as a sequence of calls of at most
// mpi_message_limit() elements each, in order: every rank of a collective passes the same n, so
// the chunks pair up. Reductions are element-wise, so chunking changes no result bit.
// A failed call throws a runtime hf::Error naming `what` (mpi_ok).
#include <mpi.h>

#include <cstddef>
#include <cstdint>

namespace hf {

// Elements per MPI call: 2^24 by default, far below the int limit, which also bounds the
// temporary buffers an MPI library allocates per call (a tree reduce holds a receive buffer of
// the call's size on inner ranks) to 128 MiB of int64.
size_t mpi_message_limit();
// Test hook: forces small chunks over ordinary buffers (n >= 1); returns the previous limit.
size_t set_mpi_message_limit(size_t n);

// MPI_Bcast of buf (n elements of type) from root.
void bcast_chunked(void* buf, size_t n, MPI_Datatype type, int root, MPI_Comm comm, const char* what);
// MPI_Reduce(SUM) onto root: root's buf (n) becomes the sum of every rank's buf (root's included,
// in place); the others' bufs are unchanged.
void reduce_sum_chunked(int64_t* buf, size_t n, int root, MPI_Comm comm, const char* what);
// MPI_Allreduce(BOR) in place: every rank's buf (n) becomes the bitwise or of all.
void allreduce_bor_chunked(uint8_t* buf, size_t n, MPI_Comm comm, const char* what);
// MPI_Send / MPI_Recv of buf (n elements of type); the receiver passes the sender's n.
void send_chunked(const void* buf, size_t n, MPI_Datatype type, int dest, int tag, MPI_Comm comm, const char* what);
void recv_chunked(void* buf, size_t n, MPI_Datatype type, int source, int tag, MPI_Comm comm, const char* what);

}  // namespace hf
