// InterNode: what a communicator spanning several machines needs from the layer between them
// (implemented over MPI in mpi_transport.cc). Inside a machine the shared-memory communicator
// carries the data; this interface only moves bytes between ranks on different machines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/options.h"
#include "core/status.h"
#include "core/status_or.h"

namespace mc2::comm {

class Communicator;

class InterNode {
 public:
  virtual ~InterNode() = default;
  virtual int rank() const = 0;       // in the whole communicator
  virtual int size() const = 0;
  virtual int node() const = 0;       // index of this rank's machine, in order of first rank
  virtual int num_nodes() const = 0;
  // Rank `peer`'s rank in this node's shared-memory communicator, or -1 on another machine.
  virtual int LocalRankOf(int peer) const = 0;

  // Every call below is bounded by the communicator's timeout (MC2_COMM_TIMEOUT_MS) and returns
  // HCCL_E_TIMEOUT naming the rank(s) it still waited for; ranks are ranks of the whole
  // communicator.
  // Point to point (the partial sums of an AllReduce travel along the ranks in rank order).
  // After a timeout MPI may still read a send's buffer (a send cannot be cancelled): `keep` owns
  // it and is then kept alive until the process exits. Buffers of the caller's (collectives' src
  // and dst) must likewise stay valid after a timeout until MPI is finalized.
  virtual Status Send(const void* src, size_t bytes, int peer, const char* op,
                      std::shared_ptr<void> keep = nullptr) = 0;
  virtual Status Recv(void* dst, size_t bytes, int peer, const char* op) = 0;
  // Among all ranks (in rank order).
  // `keep` owns src when it is the caller's own scratch (see Send).
  virtual Status AllGather(const void* src, void* dst, size_t bytes, std::shared_ptr<void> keep = nullptr) = 0;
  virtual Status AllToAllV(const void* src, const int64_t* send_counts, const int64_t* send_displs,
                           void* dst, const int64_t* recv_counts, const int64_t* recv_displs,
                           size_t elem) = 0;
  virtual Status Broadcast(void* buf, size_t bytes, int root) = 0;
  virtual Status Barrier() = 0;
  // Drives transfers another thread of this rank has outstanding (one turn of the network's
  // progress engine), without blocking: a no-op when that thread is inside the network layer
  // itself. May be called from any thread of the rank at any time; allocates nothing.
  virtual void Poll() {}
  // Machine of rank `peer` (index in order of first rank).
  virtual int NodeOf(int peer) const = 0;
  // Collective: see Communicator::CreateSub.
  virtual StatusOr<std::unique_ptr<Communicator>> CreateSub(const std::vector<int>& ranks,
                                                            const CommOptions& options) = 0;
};

}  // namespace mc2::comm
