// Collectives over several machines: the shared-memory communicator inside each machine, MPI
// between them.
//
// AllReduce: (1) AllReduce inside the machine over shared memory (one-shot / two-shot, as on one
// machine); (2) the machines' leaders exchange their partial results with an all-gather and each
// reduces them in machine order (so every rank gets the same bits, run after run, for any dtype
// including fp16/bf16, which MPI cannot reduce); (3) each leader broadcasts inside its machine.
// Only one copy of the message per machine crosses the network: between machines the exchange
// costs (nodes - 1) x N per leader, against 2 x N for a ring, which is the better trade for the
// few-machine, latency-bound messages of tensor parallel inference.
// ReduceScatter is the AllReduce plus a local copy of this rank's block. Data movement
// (AllGather, AllToAll(V), Broadcast, Barrier) goes straight to MPI, which uses shared memory
// itself between ranks of one machine.
//
// Results are bitwise deterministic for a given machine layout; the order of additions is
// "inside each machine in rank order, then machines in order", so they match the one-machine
// transports exactly when all ranks share one machine (then no InterNode is used at all).
#include <cstring>
#include <vector>

#include "comm/communicator.h"

namespace mc2::comm {

std::unique_ptr<Communicator> Communicator::CreateHierarchical(std::shared_ptr<InterNode> inter,
                                                               std::unique_ptr<Communicator> local,
                                                               const CommOptions& options,
                                                               std::string name) {
  std::unique_ptr<Communicator> comm(new Communicator());
  comm->rank_ = inter->rank();
  comm->size_ = inter->size();
  comm->inter_ = std::move(inter);
  comm->local_ = std::move(local);
  comm->options_ = options;
  comm->name_ = std::move(name);
  return comm;
}

Status Communicator::HierAllReduce(const void* src, void* dst, size_t count, DType dtype,
                                   ReduceOp op) {
  const size_t bytes = count * CommElementBytes(dtype);
  MC2_RETURN_IF_ERROR(local_->AllReduce(src, dst, count, dtype, op));
  if (inter_->num_nodes() > 1) {
    if (inter_->leader()) {
      std::vector<char> partials(bytes * static_cast<size_t>(inter_->num_nodes()));
      MC2_RETURN_IF_ERROR(inter_->LeaderAllGather(dst, partials.data(), bytes));
      std::vector<const void*> srcs;
      for (int n = 0; n < inter_->num_nodes(); ++n) srcs.push_back(partials.data() + bytes * static_cast<size_t>(n));
      MC2_RETURN_IF_ERROR(Reduce(op, dtype, dst, srcs.data(), inter_->num_nodes(), count));
    }
    MC2_RETURN_IF_ERROR(local_->Broadcast(dst, count, dtype, 0));
  }
  return Status::Ok();
}

Status Communicator::HierReduceScatter(const void* src, void* dst, size_t recv_count, DType dtype,
                                       ReduceOp op) {
  const size_t elem = CommElementBytes(dtype);
  std::vector<char> full(recv_count * elem * static_cast<size_t>(size_));
  MC2_RETURN_IF_ERROR(HierAllReduce(src, full.data(), recv_count * static_cast<size_t>(size_), dtype, op));
  std::memmove(dst, full.data() + static_cast<size_t>(rank_) * recv_count * elem, recv_count * elem);
  return Status::Ok();
}

}  // namespace mc2::comm
