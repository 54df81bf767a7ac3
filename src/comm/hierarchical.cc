// Collectives over several machines: the shared-memory communicator inside each machine, MPI
// between them (every MPI transfer bounded by the timeout, see mpi_transport.cc).
//
// AllReduce keeps the one-machine order of operations exactly: rank 0 + rank 1 + ... + rank R-1
// in the accumulator type (float32 for float16/bfloat16), rounded once at the end. So the result
// is bitwise the one of threads or processes on one machine with the same rank count, whatever
// the machine layout. The ranks are cut into runs of consecutive ranks on one machine (one run
// per machine when machines hold contiguous ranks, as mpirun and rank tables usually place them);
// the partial result travels along the runs in rank order:
//   every rank stages its window in its shared-memory slot;
//   the first rank of run j receives run j-1's partial (accumulator type) over MPI, folds in the
//   windows of its run's ranks in rank order (read from their slots), and sends the partial to
//   run j+1's first rank; the last run rounds it into dst;
//   once every window is done, the last run's first rank sends dst to one rank of every other
//   machine, and each machine broadcasts it inside over shared memory.
// Windows of MC2_COMM_ROUND_BYTES (512 KiB) pipeline the chain: run j reduces window k while run
// j+1 reduces window k-1. Between machines each partial crosses the network once per run plus
// one copy of the result per machine. Reducing inside machines first and then across them would
// be shorter but adds in a different order (e.g. (x0+x1)+(x2+x3) instead of ((x0+x1)+x2)+x3),
// which is what made multi-machine sums differ from single-machine ones before.
// When every rank is alone on its machine there is nothing to reduce inside machines and the
// chain only serialises the links: the ranks then exchange their raw inputs instead, slice p of
// every rank going to rank p (an all-to-all), rank p sums its slice over all ranks in rank order
// with one Reduce — the same bits as the chain, since the chain's partials are exact widenings
// carried in the accumulator type and rounded once — and the slices are all-gathered. Every link
// then carries data in both directions at once, in the element type: 2 (R-1)/R x N elements per
// rank against the chain's accumulator-width hop per machine plus the result's way back (for 2
// machines and float16, 2 x N x 2 bytes each way at once instead of N x 4 then N x 2 in turn).
// ReduceScatter is the AllReduce plus a local copy of this rank's block. Data movement
// (AllGather, AllToAll(V), Broadcast, Barrier) goes to the inter-node layer directly.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/communicator.h"
#include "comm/copy.h"

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

Status Communicator::HierFail(Status status) {
  if (status.ok()) return status;
  if (failed_.ok()) {
    if (!local_->failed_.ok() && local_->size_ > 1) {
      // The error comes from this machine's communicator, whose ranks are numbered locally.
      std::string map;
      for (int r = 0; r < size_; ++r) {
        const int local = inter_->LocalRankOf(r);
        if (local >= 0) map += StrCat(map.empty() ? "" : ", ", local, " is rank ", r);
      }
      status = Status(status.space(), status.code(),
                      StrCat(status.message(), " [ranks of this machine's communicator: ", map, "]"));
    }
    failed_ = status;
    // This machine's peers learn of it through the local communicator's abort flag.
    if (local_->failed_.ok()) (void)local_->Fail(status, -1);
  }
  return failed_;
}

Status Communicator::HierAllReduce(const void* src, void* dst, size_t count, DType dtype,
                                   ReduceOp op) {
  if (inter_->num_nodes() == size_ && count >= static_cast<size_t>(size_)) {
    return HierFail(HierAllReduceExchange(static_cast<const char*>(src), static_cast<char*>(dst), count,
                                          dtype, op));
  }
  return HierFail(HierAllReduceChain(static_cast<const char*>(src), static_cast<char*>(dst), count,
                                     dtype, op));
}

Status Communicator::HierAllReduceChain(const char* src, char* dst, size_t count, DType dtype,
                                        ReduceOp op) {
  const char* kOp = "AllReduce";
  const size_t elem = CommElementBytes(dtype);
  const DType acc_dtype = AccumulatorDType(dtype);
  const bool widen = acc_dtype != dtype;
  const size_t acc_elem = CommElementBytes(acc_dtype);
  // Runs of consecutive ranks on one machine: [first, last].
  struct Run { int first, last; };
  std::vector<Run> runs;
  for (int r = 0; r < size_; ++r) {
    if (runs.empty() || inter_->NodeOf(r) != inter_->NodeOf(runs.back().first)) {
      runs.push_back({r, r});
    } else {
      runs.back().last = r;
    }
  }
  int my_run = -1;
  for (size_t j = 0; j < runs.size(); ++j) {
    if (runs[j].first == rank_) my_run = static_cast<int>(j);
  }
  const int last_reducer = runs.back().first;
  const size_t window = std::max<size_t>(1, std::min(options_.slot_bytes, options_.round_bytes) / elem);
  // The partial goes to MPI from a shared buffer: after a timeout MPI may still read it.
  auto acc_owner = std::make_shared<std::vector<char>>();
  std::vector<char>& acc = *acc_owner;
  std::vector<char> wide;
  if (my_run >= 0) {
    acc.resize(std::min(window, count) * acc_elem);
    if (widen) wide.resize(std::min(window, count) * acc_elem * static_cast<size_t>(runs[static_cast<size_t>(my_run)].last - rank_ + 1));
  }
  std::vector<const void*> srcs;
  for (size_t offset = 0; offset < count; offset += window) {
    const size_t n = std::min(window, count - offset);
    // Stage this rank's window for the first rank of its run (which reads its own from src).
    MC2_ASSIGN_OR_RETURN(char* slot, local_->BeginStep(kOp));
    if (my_run < 0) CopyBytes(slot, src + offset * elem, n * elem);
    local_->PublishStep();
    if (my_run < 0) continue;
    const Run run = runs[static_cast<size_t>(my_run)];
    srcs.clear();
    if (my_run > 0) {
      MC2_RETURN_IF_ERROR(inter_->Recv(acc.data(), n * acc_elem, runs[static_cast<size_t>(my_run) - 1].first, kOp));
      srcs.push_back(acc.data());
    }
    for (int r = run.first; r <= run.last; ++r) {
      const char* in = src + offset * elem;
      if (r != rank_) {
        const int local = inter_->LocalRankOf(r);
        MC2_RETURN_IF_ERROR(local_->WaitPeerStep(local, local_->step_, kOp));
        in = local_->Slot(local, local_->step_);
      }
      if (widen) {
        float* w = reinterpret_cast<float*>(wide.data()) + n * static_cast<size_t>(r - run.first);
        MC2_RETURN_IF_ERROR(WidenToFloat32(dtype, w, in, n));
        in = reinterpret_cast<const char*>(w);
      }
      srcs.push_back(in);
    }
    const bool last = run.first == last_reducer;
    if (last && !widen) {
      MC2_RETURN_IF_ERROR(Reduce(op, dtype, dst + offset * elem, srcs.data(), static_cast<int>(srcs.size()), n));
      continue;
    }
    MC2_RETURN_IF_ERROR(Reduce(op, acc_dtype, acc.data(), srcs.data(), static_cast<int>(srcs.size()), n));
    if (last) {
      MC2_RETURN_IF_ERROR(NarrowFromFloat32(dtype, dst + offset * elem, reinterpret_cast<const float*>(acc.data()), n));
    } else {
      MC2_RETURN_IF_ERROR(inter_->Send(acc.data(), n * acc_elem, runs[static_cast<size_t>(my_run) + 1].first, kOp, acc_owner));
    }
  }
  // The result goes from the last reducer to one rank per other machine, then inside machines.
  const int root_node = inter_->NodeOf(last_reducer);
  const size_t bytes = count * elem;
  if (rank_ == last_reducer) {
    for (int node = 0; node < inter_->num_nodes(); ++node) {
      if (node == root_node) continue;
      for (int r = 0; r < size_; ++r) {
        if (inter_->NodeOf(r) == node) {  // the machine's first rank
          MC2_RETURN_IF_ERROR(inter_->Send(dst, bytes, r, kOp));
          break;
        }
      }
    }
  }
  int receiver = -1;
  for (int r = 0; r < size_ && receiver < 0; ++r) {
    if (inter_->NodeOf(r) == inter_->node()) receiver = r;
  }
  if (inter_->node() != root_node && rank_ == receiver) {
    MC2_RETURN_IF_ERROR(inter_->Recv(dst, bytes, last_reducer, kOp));
  }
  const int local_root = inter_->LocalRankOf(inter_->node() == root_node ? last_reducer : receiver);
  return local_->Broadcast(dst, count, dtype, local_root);
}

Status Communicator::HierAllReduceExchange(const char* src, char* dst, size_t count, DType dtype,
                                           ReduceOp op) {
  const size_t elem = CommElementBytes(dtype);
  const size_t ranks = static_cast<size_t>(size_);
  const size_t per = (count + ranks - 1) / ranks;  // slice p: [p * per, min(count, (p + 1) * per))
  auto lo = [&](size_t p) { return std::min(count, p * per); };
  auto len = [&](size_t p) { return std::min(count, (p + 1) * per) - lo(p); };
  const size_t me = static_cast<size_t>(rank_);
  const size_t mine = len(me);
  std::vector<int64_t> sc(ranks), sd(ranks), rc(ranks), rd(ranks);
  for (size_t p = 0; p < ranks; ++p) {
    sc[p] = static_cast<int64_t>(len(p));
    sd[p] = static_cast<int64_t>(lo(p));
    rc[p] = static_cast<int64_t>(mine);
    rd[p] = static_cast<int64_t>(p * mine);
  }
  // MPI works on buffers of this call's own: a copy of src to send from, the slices to receive
  // into and (when the slices are uneven) the padded gather. After a failed exchange MPI may still
  // read or write them (a send cannot be cancelled, nor a receive already matched), so then they
  // are kept until the process exits, a deliberate leak after an error only; the caller may free
  // src and dst as soon as the call returns.
  const bool even = per * ranks == count;
  auto scratch = std::make_shared<std::vector<char>>((count + ranks * mine + (even ? 0 : ranks * per)) * elem);
  char* sent = scratch->data();
  char* slices = sent + count * elem;
  char* out = even ? dst : slices + ranks * mine * elem;
  CopyBytes(sent, src, count * elem);
  auto keep_on_error = [&](Status s) {
    if (!s.ok()) {
      static std::mutex kept_mutex;
      static auto* const kept = new std::vector<std::shared_ptr<std::vector<char>>>();
      std::lock_guard<std::mutex> lock(kept_mutex);
      kept->push_back(scratch);
    }
    return s;
  };
  MC2_RETURN_IF_ERROR(keep_on_error(inter_->AllToAllV(sent, sc.data(), sd.data(), slices, rc.data(), rd.data(), elem)));
  if (mine > 0) {
    std::vector<const void*> srcs(ranks);
    for (size_t p = 0; p < ranks; ++p) srcs[p] = slices + p * mine * elem;
    MC2_RETURN_IF_ERROR(Reduce(op, dtype, out + me * per * elem, srcs.data(), size_, mine));
  }
  // Even slices gather straight into dst: the rule for the caller's dst is the chain's (it sends
  // the result from dst too).
  MC2_RETURN_IF_ERROR(keep_on_error(inter_->AllGather(out + me * per * elem, out, per * elem, scratch)));
  if (!even) CopyBytes(dst, out, count * elem);
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
