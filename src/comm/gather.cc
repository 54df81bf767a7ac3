// AllGather, Broadcast and ReduceScatter: one step per round of at most one slot per rank.
//
// AllGather: each rank stages a window of its block in its slot, publishes, and copies every
//   peer's window into dst as soon as that peer has published (no global wait).
// Broadcast, from MC2_COMM_SINGLE_COPY_MIN (16 KiB) up: single copy for the first half. The
//   root publishes its buffer's address; every reader copies the head straight from it
//   (Domain::ReadPeer: a plain copy between threads, process_vm_readv between processes, as Open
//   MPI's shared-memory transport does for the whole message) while the root stages the tail
//   (up to one slot) in its slot, chunk by chunk; the readers then copy the tail from the slot
//   and publish; the root returns once all readers have. process_vm_readv runs at ~8-10 GB/s
//   here, a copy out of the other core's cache several times faster, and both cores work at
//   once. Used only if every rank could read every peer at the first large Broadcast (probed
//   once, collectively); otherwise, and for small messages (where one handoff beats the
//   syscall plus the readers' completion handoff; 2-8 KiB: 0.5-0.9x of Open MPI's time):
//   staged and pipelined: the root writes a window of the buffer into its slot chunk by chunk,
//   bumping its `chunks` flag after each; the others copy each chunk out as soon as it is
//   flagged, then publish the step (so the root knows when the slot is free again). Root and
//   readers copy at the same time: ~one copy of the message plus one chunk when both run.
// ReduceScatter: each rank stages a window of all R blocks (R windows of slot/R bytes), waits for
//   everyone, and reduces block `rank` across the R slots in rank order into dst. Each rank reads
//   R windows of its own block only: N bytes in total instead of R*N for an allreduce.
// Copies go through CopyBytes (copy.h): a core copies 1 MiB out of the other core's cache in ~20 us.
#include <algorithm>
#include <cstring>

#include "comm/communicator.h"
#include "comm/copy.h"

namespace mc2::comm {
namespace {

// Broadcast pipelines chunks through the root's slot: the readers copy chunk i while the root
// writes chunk i + 1, so a message costs about one copy plus one chunk instead of two copies.
// Chunks of 1/8 of the message, 16-256 KiB: below 16 KiB the per-chunk flag handoff (~0.2-1 us)
// costs more than the overlap saves.
constexpr size_t kHeaderBytes = 64;  // the root's buffer address and size, before the staged tail

size_t BroadcastChunkBytes(size_t bytes) {
  const size_t chunk = std::clamp<size_t>(bytes / 8, size_t{16} << 10, size_t{256} << 10);
  return (chunk + 63) & ~size_t{63};
}

}  // namespace

Status Communicator::AllGather(const void* src, void* dst, size_t send_count, DType dtype) {
  MC2_RETURN_IF_ERROR(Precheck("AllGather", dtype, false, ReduceOp::kSum));
  if (send_count == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) {
    return HcclError(hccl::kEPtr, "AllGather: ", src == nullptr ? "src" : "dst",
                     " is null with count ", send_count);
  }
  const size_t elem = CommElementBytes(dtype);
  const size_t block = send_count * elem;
  if (inter_) return HierFail(inter_->AllGather(src, dst, block));
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

// Single copy needs every rank to read every peer's memory (threads always can; processes when
// process_vm_readv is allowed: same user, and no ptrace restriction or seccomp filter forbids
// it). Two steps, once: every rank publishes the address of a probe word, tries to read every
// peer's, and publishes whether all reads worked; single copy is used only if all say yes.
Status Communicator::DecideSingleCopy() {
  static const uint64_t kProbe = 0x6d63322d70726f62ull;  // "mc2-prob"
  MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("Broadcast"));
  const uint64_t where = reinterpret_cast<uintptr_t>(&kProbe);
  std::memcpy(slot, &where, sizeof(where));
  PublishStep();
  MC2_RETURN_IF_ERROR(WaitAllSteps(step_, "Broadcast"));
  uint64_t ok = 1;
  for (int p = 0; p < size_ && ok; ++p) {
    if (p == rank_) continue;
    uint64_t remote = 0, seen = 0;
    std::memcpy(&remote, Slot(p, step_), sizeof(remote));
    ok = domain_->ReadPeer(members_[static_cast<size_t>(p)],
                           reinterpret_cast<const void*>(static_cast<uintptr_t>(remote)), &seen,
                           sizeof(seen)).ok() && seen == kProbe;
  }
  MC2_ASSIGN_OR_RETURN(slot, BeginStep("Broadcast"));
  std::memcpy(slot, &ok, sizeof(ok));
  PublishStep();
  MC2_RETURN_IF_ERROR(WaitAllSteps(step_, "Broadcast"));
  for (int p = 0; p < size_; ++p) {
    uint64_t peer_ok = 0;
    std::memcpy(&peer_ok, Slot(p, step_), sizeof(peer_ok));
    ok = ok && peer_ok;
  }
  single_copy_ = ok ? 1 : 0;
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
  if (inter_) return HierFail(inter_->Broadcast(buf, bytes, root));
  char* b = static_cast<char*>(buf);
  if (bytes >= options_.single_copy_min_bytes) {
    if (single_copy_ < 0) MC2_RETURN_IF_ERROR(DecideSingleCopy());
    if (single_copy_ > 0) {
      // The root publishes where its buffer is, then stages the tail of the buffer in its slot
      // chunk by chunk while the readers copy the head straight from its buffer; the readers
      // then copy the staged tail (by then in cache) and publish; the root returns once all
      // readers have. Both cores copy at once, and the slower cross-process copy moves half.
      const size_t tail = std::min(bytes / 2 / 64 * 64, options_.slot_bytes - kHeaderBytes);
      const size_t head = bytes - tail;
      const size_t chunk = BroadcastChunkBytes(tail);
      const uint32_t nchunks = static_cast<uint32_t>((tail + chunk - 1) / chunk);
      MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("Broadcast"));
      uint32_t& root_chunks = chunks_seen_[static_cast<size_t>(root)];
      const uint32_t base = root_chunks;
      if (rank_ == root) {
        const uint64_t where[2] = {reinterpret_cast<uintptr_t>(b), bytes};
        std::memcpy(slot, where, sizeof(where));
        PublishStep();
        for (uint32_t i = 0; i < nchunks; ++i) {
          const size_t at = static_cast<size_t>(i) * chunk;
          CopyBytes(slot + kHeaderBytes + at, b + head + at, std::min(chunk, tail - at));
          PublishChunk();
        }
        // The readers need ~head / (5-8 GB/s): when ranks have cores of their own, spin for
        // that long rather than sleep, or the futex wake-up lands on every call's critical path.
        spin_extra_ns_ = spin_ns_ >= 50000 ? std::min<int64_t>(static_cast<int64_t>(head / 2), 5000000) : 0;
        Status done = WaitAllSteps(step_, "Broadcast");
        spin_extra_ns_ = 0;
        return done;
      }
      MC2_RETURN_IF_ERROR(WaitPeerStep(root, step_ + 1, "Broadcast"));
      const char* from = Slot(root, step_ + 1);
      uint64_t where[2];
      std::memcpy(where, from, sizeof(where));
      if (where[1] != bytes) {
        return Fail(HcclError(hccl::kEPara, "Broadcast on ", name_, ": root ", root, " sends ",
                              where[1], " bytes but this rank expects ", bytes,
                              " (count and dtype must match on every rank)"),
                    -1);
      }
      Status read = domain_->ReadPeer(members_[static_cast<size_t>(root)],
                                      reinterpret_cast<const void*>(static_cast<uintptr_t>(where[0])), b, head);
      if (!read.ok()) return Fail(std::move(read), -1);
      for (uint32_t i = 0; i < nchunks; ++i) {
        MC2_RETURN_IF_ERROR(WaitPeerChunk(root, base + i + 1, "Broadcast"));
        const size_t at = static_cast<size_t>(i) * chunk;
        CopyBytes(b + head + at, from + kHeaderBytes + at, std::min(chunk, tail - at));
      }
      root_chunks = base + nchunks;
      PublishStep();
      return Status::Ok();
    }
  }
  const size_t chunk = BroadcastChunkBytes(bytes);
  for (size_t offset = 0; offset < bytes; offset += options_.slot_bytes) {
    const size_t n = std::min(options_.slot_bytes, bytes - offset);
    const uint32_t nchunks = static_cast<uint32_t>((n + chunk - 1) / chunk);
    MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("Broadcast"));
    uint32_t& root_chunks = chunks_seen_[static_cast<size_t>(root)];
    const uint32_t base = root_chunks;
    if (rank_ == root) {
      for (uint32_t i = 0; i < nchunks; ++i) {
        const size_t at = static_cast<size_t>(i) * chunk;
        CopyBytes(slot + at, b + offset + at, std::min(chunk, n - at));
        PublishChunk();
      }
    } else {
      const char* from = Slot(root, step_ + 1);
      for (uint32_t i = 0; i < nchunks; ++i) {
        MC2_RETURN_IF_ERROR(WaitPeerChunk(root, base + i + 1, "Broadcast"));
        const size_t at = static_cast<size_t>(i) * chunk;
        CopyBytes(b + offset + at, from + at, std::min(chunk, n - at));
      }
      root_chunks = base + nchunks;
    }
    // Readers publish once they copied everything, so the root reuses this slot two steps later
    // only after they are done with it.
    PublishStep();
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
