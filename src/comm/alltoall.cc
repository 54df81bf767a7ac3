// AllToAll and AllToAllV: one step per round.
//
// A round stages, for every destination p, a window of the block for p at position p of this
// rank's slot (R windows of slot/R bytes); after publishing, the rank copies its window out of
// each peer's slot as soon as that peer has published. Each byte crosses once (sender's copy into
// its slot, receiver's copy out), with one flag handoff per round and no global barrier.
// AllToAllV puts the sender's R counts in a small header in front of the windows so receivers
// check them against their recv_counts (peer input is never trusted for sizes); the number of
// rounds is agreed first with an int64 max-AllReduce (one extra small step) because a rank
// knows only the counts it sends and receives.
#include <algorithm>
#include <cstring>
#include <vector>

#include "comm/communicator.h"
#include "comm/copy.h"

namespace mc2::comm {
namespace {
size_t HeaderBytes(int size) { return (static_cast<size_t>(size) * 8 + 63) & ~size_t{63}; }
}  // namespace

Status Communicator::AllToAll(const void* src, void* dst, size_t count, DType dtype) {
  MC2_RETURN_IF_ERROR(Precheck("AllToAll", dtype, false, ReduceOp::kSum));
  if (count == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) {
    return HcclError(hccl::kEPtr, "AllToAll: ", src == nullptr ? "src" : "dst",
                     " is null with count ", count);
  }
  const size_t elem = CommElementBytes(dtype);
  const size_t block = count * elem;
  if (inter_) {
    const std::vector<int64_t> counts(static_cast<size_t>(size_), static_cast<int64_t>(count));
    std::vector<int64_t> displs(static_cast<size_t>(size_));
    for (int p = 0; p < size_; ++p) displs[static_cast<size_t>(p)] = static_cast<int64_t>(count) * p;
    return HierFail(inter_->AllToAllV(src, counts.data(), displs.data(), dst, counts.data(), displs.data(), elem));
  }
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  const size_t window = std::max<size_t>(1, options_.slot_bytes / static_cast<size_t>(size_) / elem) * elem;
  for (size_t offset = 0; offset < block; offset += window) {
    const size_t n = std::min(window, block - offset);
    if (size_ > 1) {
      MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("AllToAll"));
      for (int p = 0; p < size_; ++p) {
        if (p != rank_) CopyBytes(slot + static_cast<size_t>(p) * window, s + static_cast<size_t>(p) * block + offset, n);
      }
      PublishStep();
    }
    const size_t own = static_cast<size_t>(rank_) * block + offset;
    if (d + own != s + own) CopyBytes(d + own, s + own, n);
    for (int i = 1; i < size_; ++i) {
      const int p = (rank_ + i) % size_;
      MC2_RETURN_IF_ERROR(WaitPeerStep(p, step_, "AllToAll"));
      CopyBytes(d + static_cast<size_t>(p) * block + offset,
                  Slot(p, step_) + static_cast<size_t>(rank_) * window, n);
    }
  }
  return Status::Ok();
}

Status Communicator::AllToAllV(const void* src, std::span<const int64_t> send_counts,
                               std::span<const int64_t> send_displs, void* dst,
                               std::span<const int64_t> recv_counts,
                               std::span<const int64_t> recv_displs, DType dtype) {
  MC2_RETURN_IF_ERROR(Precheck("AllToAllV", dtype, false, ReduceOp::kSum));
  const size_t r = static_cast<size_t>(size_);
  if (send_counts.size() != r || send_displs.size() != r || recv_counts.size() != r ||
      recv_displs.size() != r) {
    return HcclError(hccl::kEPara, "AllToAllV: counts/displacements have ", send_counts.size(),
                     "/", send_displs.size(), "/", recv_counts.size(), "/", recv_displs.size(),
                     " entries (need world_size = ", size_, " each)");
  }
  int64_t longest = 0;
  for (size_t p = 0; p < r; ++p) {
    if (send_counts[p] < 0 || send_displs[p] < 0 || recv_counts[p] < 0 || recv_displs[p] < 0) {
      return HcclError(hccl::kEPara, "AllToAllV: entry ", p, " has a negative count or displacement");
    }
    longest = std::max({longest, send_counts[p], recv_counts[p]});
  }
  const size_t elem = CommElementBytes(dtype);
  if (longest > 0 && (src == nullptr || dst == nullptr)) {
    return HcclError(hccl::kEPtr, "AllToAllV: ", src == nullptr ? "src" : "dst", " is null");
  }
  if (inter_) {
    return HierFail(inter_->AllToAllV(src, send_counts.data(), send_displs.data(), dst,
                                      recv_counts.data(), recv_displs.data(), elem));
  }
  if (size_ == 1) {
    if (send_counts[0] != recv_counts[0]) {
      return HcclError(hccl::kEPara, "AllToAllV: send_counts[0] is ", send_counts[0],
                       " but recv_counts[0] is ", recv_counts[0]);
    }
    std::memmove(static_cast<char*>(dst) + static_cast<size_t>(recv_displs[0]) * elem,
                 static_cast<const char*>(src) + static_cast<size_t>(send_displs[0]) * elem,
                 static_cast<size_t>(send_counts[0]) * elem);
    return Status::Ok();
  }
  const size_t window = std::max<size_t>(1, (options_.slot_bytes - HeaderBytes(size_)) / r / elem);
  const int64_t mine = (longest + static_cast<int64_t>(window) - 1) / static_cast<int64_t>(window);
  int64_t rounds = 0;
  MC2_RETURN_IF_ERROR(AllReduce(&mine, &rounds, 1, DType::kInt64, ReduceOp::kMax));
  for (int64_t k = 0; k < rounds; ++k) {
    MC2_RETURN_IF_ERROR(AllToAllVRound(static_cast<const char*>(src), send_counts.data(),
                                       send_displs.data(), static_cast<char*>(dst),
                                       recv_counts.data(), recv_displs.data(), elem,
                                       static_cast<size_t>(k) * window, window));
  }
  return Status::Ok();
}

Status Communicator::AllToAllVRound(const char* src, const int64_t* send_counts,
                                    const int64_t* send_displs, char* dst,
                                    const int64_t* recv_counts, const int64_t* recv_displs,
                                    size_t elem, size_t offset, size_t window) {
  auto part = [offset, window](int64_t count) -> size_t {
    const size_t c = static_cast<size_t>(count);
    return c <= offset ? 0 : std::min(window, c - offset);
  };
  const size_t header = HeaderBytes(size_);
  const size_t stride = window * elem;
  MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("AllToAllV"));
  std::memcpy(slot, send_counts, static_cast<size_t>(size_) * 8);
  for (int p = 0; p < size_; ++p) {
    const size_t n = part(send_counts[p]);
    if (n != 0) {
      CopyBytes(slot + header + static_cast<size_t>(p) * stride,
                  src + (static_cast<size_t>(send_displs[p]) + offset) * elem, n * elem);
    }
  }
  PublishStep();
  for (int i = 0; i < size_; ++i) {
    const int p = (rank_ + i) % size_;
    if (p != rank_) MC2_RETURN_IF_ERROR(WaitPeerStep(p, step_, "AllToAllV"));
    const char* peer_slot = Slot(p, step_);
    int64_t sent;
    std::memcpy(&sent, peer_slot + static_cast<size_t>(rank_) * 8, 8);
    if (sent != recv_counts[p]) {
      return Fail(HcclError(hccl::kEPara, "AllToAllV on ", name_, ": rank ", p, " sends ", sent,
                            " elements to rank ", rank_, " but recv_counts[", p, "] is ",
                            recv_counts[p]),
                  members_[static_cast<size_t>(p)]);
    }
    const size_t n = part(recv_counts[p]);
    if (n != 0) {
      CopyBytes(dst + (static_cast<size_t>(recv_displs[p]) + offset) * elem,
                  peer_slot + header + static_cast<size_t>(rank_) * stride, n * elem);
    }
  }
  return Status::Ok();
}

}  // namespace mc2::comm
