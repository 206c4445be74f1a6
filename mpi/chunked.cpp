#include "mpi/chunked.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "mpi/runtime.h"
#include "util/check.h"

namespace hf {
namespace {

size_t g_limit = size_t{1} << 24;

size_t type_bytes(MPI_Datatype type) {
  int bytes = 0;
  mpi_ok(MPI_Type_size(type, &bytes), "Type_size");
  return static_cast<size_t>(bytes);
}

// call(offset, count) for the consecutive chunks of [0, n); count fits an int.
template <class Call>
void for_each_chunk(size_t n, Call call) {
  for (size_t at = 0; at < n; at += g_limit) call(at, static_cast<int>(std::min(g_limit, n - at)));
}

char* at_element(void* buf, size_t i, size_t bytes) { return static_cast<char*>(buf) + i * bytes; }

}  // namespace

size_t mpi_message_limit() { return g_limit; }

size_t set_mpi_message_limit(size_t n) {
  HF_CHECK(n >= 1 && n <= static_cast<size_t>(INT_MAX), "MPI message limit %zu outside [1, 2^31 - 1]", n);
  return std::exchange(g_limit, n);
}

void bcast_chunked(void* buf, size_t n, MPI_Datatype type, int root, MPI_Comm comm, const char* what) {
  const size_t bytes = type_bytes(type);
  for_each_chunk(n, [&](size_t at, int k) { mpi_ok(MPI_Bcast(at_element(buf, at, bytes), k, type, root, comm), what); });
}

void reduce_sum_chunked(int64_t* buf, size_t n, int root, MPI_Comm comm, const char* what) {
  int rank = 0;
  mpi_ok(MPI_Comm_rank(comm, &rank), "Comm_rank");
  for_each_chunk(n, [&](size_t at, int k) {
    const void* send = rank == root ? MPI_IN_PLACE : buf + at;
    mpi_ok(MPI_Reduce(send, buf + at, k, MPI_INT64_T, MPI_SUM, root, comm), what);
  });
}

void allreduce_bor_chunked(uint8_t* buf, size_t n, MPI_Comm comm, const char* what) {
  for_each_chunk(n, [&](size_t at, int k) {
    mpi_ok(MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_UNSIGNED_CHAR, MPI_BOR, comm), what);
  });
}

void send_chunked(const void* buf, size_t n, MPI_Datatype type, int dest, int tag, MPI_Comm comm, const char* what) {
  const size_t bytes = type_bytes(type);
  for_each_chunk(n, [&](size_t at, int k) {
    mpi_ok(MPI_Send(static_cast<const char*>(buf) + at * bytes, k, type, dest, tag, comm), what);
  });
}

void recv_chunked(void* buf, size_t n, MPI_Datatype type, int source, int tag, MPI_Comm comm, const char* what) {
  const size_t bytes = type_bytes(type);
  for_each_chunk(n, [&](size_t at, int k) {
    mpi_ok(MPI_Recv(at_element(buf, at, bytes), k, type, source, tag, comm, MPI_STATUS_IGNORE), what);
  });
}

}  // namespace hf
