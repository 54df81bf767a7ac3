// AllGather, Broadcast and ReduceScatter: one step per round of at most one slot per rank.
//
// AllGather: each rank stages a window of its block in its slot, publishes, and copies every
//   peer's window into dst as soon as that peer has published (no global wait).
// Broadcast: the root stages a window of the buffer; the others copy it out once the root
//   published. Non-roots still publish each step (so the root knows when a slot is free again).
// ReduceScatter: each rank stages a window of all R blocks (R windows of slot/R bytes), waits for
//   everyone, and reduces block `rank` across the R slots in rank order into dst. Each rank reads
//   R windows of its own block only: N bytes in total instead of R*N for an allreduce.
// Copies go through CopyBytes (copy.h): a core copies 1 MiB out of the other core's cache in ~20 us.
#include <algorithm>
#include <cstring>

#include "comm/communicator.h"
#include "comm/copy.h"

namespace mc2::comm {

Status Communicator::AllGather(const void* src, void* dst, size_t send_count, DType dtype) {
  MC2_RETURN_IF_ERROR(Precheck("AllGather", dtype, false, ReduceOp::kSum));
  if (send_count == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) {
    return HcclError(hccl::kEPtr, "AllGather: ", src == nullptr ? "src" : "dst",
                     " is null with count ", send_count);
  }
  const size_t elem = CommElementBytes(dtype);
  const size_t block = send_count * elem;
  if (inter_) return inter_->AllGather(src, dst, block);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (size_ == 1) {
    if (s != d) std::memmove(d, s, block);
    return Status::Ok();
  }
  const size_t window = options_.slot_bytes / elem * elem;
  for (size_t offset = 0; offset < block; offset += window) {
    const size_t n = std::min(window, block - offset);
    MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("AllGather"));
    CopyBytes(slot, s + offset, n);
    PublishStep();
    char* own_out = d + static_cast<size_t>(rank_) * block + offset;
    if (own_out != s + offset) CopyBytes(own_out, s + offset, n);
    for (int i = 1; i < size_; ++i) {
      const int p = (rank_ + i) % size_;
      MC2_RETURN_IF_ERROR(WaitPeerStep(p, step_, "AllGather"));
      CopyBytes(d + static_cast<size_t>(p) * block + offset, Slot(p, step_), n);
    }
  }
  return Status::Ok();
}

Status Communicator::Broadcast(void* buf, size_t count, DType dtype, int root) {
  MC2_RETURN_IF_ERROR(Precheck("Broadcast", dtype, false, ReduceOp::kSum));
  if (root < 0 || root >= size_) {
    return HcclError(hccl::kEPara, "Broadcast: root is ", root, " (must be in [0, ", size_, "))");
  }
  if (count == 0) return Status::Ok();
  if (buf == nullptr) return HcclError(hccl::kEPtr, "Broadcast: buf is null with count ", count);
  if (size_ == 1) return Status::Ok();
  const size_t bytes = count * CommElementBytes(dtype);
  if (inter_) return inter_->Broadcast(buf, bytes, root);
  char* b = static_cast<char*>(buf);
  for (size_t offset = 0; offset < bytes; offset += options_.slot_bytes) {
    const size_t n = std::min(options_.slot_bytes, bytes - offset);
    MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("Broadcast"));
    if (rank_ == root) CopyBytes(slot, b + offset, n);
    PublishStep();
    if (rank_ != root) {
      MC2_RETURN_IF_ERROR(WaitPeerStep(root, step_, "Broadcast"));
      CopyBytes(b + offset, Slot(root, step_), n);
    }
  }
  return Status::Ok();
}

Status Communicator::ReduceScatter(const void* src, void* dst, size_t recv_count, DType dtype,
                                   ReduceOp op) {
  MC2_RETURN_IF_ERROR(Precheck("ReduceScatter", dtype, true, op));
  if (recv_count == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) {
    return HcclError(hccl::kEPtr, "ReduceScatter: ", src == nullptr ? "src" : "dst",
                     " is null with count ", recv_count);
  }
  if (inter_) return HierReduceScatter(src, dst, recv_count, dtype, op);
  const size_t elem = CommElementBytes(dtype);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (size_ == 1) {
    if (s != d) std::memmove(d, s, recv_count * elem);
    return Status::Ok();
  }
  const size_t window = std::max<size_t>(1, options_.slot_bytes / static_cast<size_t>(size_) / elem);
  const size_t stride = window * elem;  // bytes between the R windows in a slot
  const void* srcs[kMaxRanks];
  for (size_t offset = 0; offset < recv_count; offset += window) {
    const size_t n = std::min(window, recv_count - offset);
    MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("ReduceScatter"));
    for (int p = 0; p < size_; ++p) {
      CopyBytes(slot + static_cast<size_t>(p) * stride,
                  s + (static_cast<size_t>(p) * recv_count + offset) * elem, n * elem);
    }
    PublishStep();
    MC2_RETURN_IF_ERROR(WaitAllSteps(step_, "ReduceScatter"));
    for (int p = 0; p < size_; ++p) srcs[p] = Slot(p, step_) + static_cast<size_t>(rank_) * stride;
    MC2_RETURN_IF_ERROR(Reduce(op, dtype, d + offset * elem, srcs, size_, n));
  }
  return Status::Ok();
}

}  // namespace mc2::comm
