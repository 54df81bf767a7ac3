// AllReduce: one-shot for small messages, two-shot (reduce-scatter + all-gather) for large ones.
//
// One-shot while a rank reads at most MC2_COMM_ONESHOT_MAX (1 MiB) from its peers, i.e. up to
// 1 MiB at 2 ranks and 146 KiB at 8 (DeepSpeed switches at 1 MB too), one step:
//   copy src into own slot -> publish -> wait for every peer -> reduce all R slots (rank order,
//   own src in place of own slot) into dst.
// Every rank reads x N bytes of peers' slots, but there is a single flag handoff (~0.2 us
// here) and no exit barrier, which is what matters for decode-sized messages (8-64 KiB). On this
// machine a core reads a buffer the other core just wrote at 0.26 us per 8 KiB, 1.4 us per 64 KiB.
// At 2 ranks one-shot still beat two-shot at 1 MiB (392 vs 462-512 us, same noisy run), hence
// the threshold on bytes read rather than on message size.
//
// Two-shot (larger), rounds of MC2_COMM_ROUND_BYTES (512 KiB), two steps per round:
//   step 1: copy the chunks of the round's window that the peers reduce into own slot (a chunk
//           is 1/R of the window, 64-byte aligned) -> publish -> wait for all;
//           reduce chunk `rank` from own src and every peer's slot, write the result to dst and
//           into own other slot -> publish;
//   step 2: copy every peer's reduced chunk from its slot into dst as soon as that peer published.
// Each rank moves ~2N bytes instead of R*N; the reduction of round k starts as soon as its window
// is staged, before the rest of the message is written, and a round is small enough that the
// peers read it from the writer's cache (52 GB/s between the cores here, against ~20 GB/s from
// DRAM). The same element is always reduced in
// rank order 0..R-1, so one-shot and two-shot give bitwise identical results.
#include <algorithm>
#include <cstring>

#include "comm/communicator.h"
#include "comm/copy.h"

namespace mc2::comm {
namespace {

// [lo, hi) of chunk i when n elements are cut into parts chunks aligned to `align` elements.
void ChunkRange(size_t n, int parts, int i, size_t align, size_t* lo, size_t* hi) {
  size_t per = (n + static_cast<size_t>(parts) - 1) / static_cast<size_t>(parts);
  per = (per + align - 1) / align * align;
  *lo = std::min(n, per * static_cast<size_t>(i));
  *hi = std::min(n, *lo + per);
}

}  // namespace

Status Communicator::AllReduce(const void* src, void* dst, size_t count, DType dtype,
                               ReduceOp op) {
  MC2_RETURN_IF_ERROR(Precheck("AllReduce", dtype, true, op));
  if (count == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) {
    return HcclError(hccl::kEPtr, "AllReduce: ", src == nullptr ? "src" : "dst",
                     " is null with count ", count);
  }
  if (inter_) return HierAllReduce(src, dst, count, dtype, op);
  const size_t elem = CommElementBytes(dtype);
  if (size_ == 1) {
    if (src != dst) std::memmove(dst, src, count * elem);
    return Status::Ok();
  }
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  const size_t bytes = count * elem;
  if (bytes <= options_.slot_bytes &&
      bytes * static_cast<size_t>(size_ - 1) <= options_.oneshot_max_bytes) {
    return AllReduceOneShot(s, d, count, dtype, op);
  }
  return AllReduceTwoShot(s, d, count, dtype, op);
}

Status Communicator::AllReduceOneShot(const char* src, char* dst, size_t count, DType dtype,
                                      ReduceOp op) {
  const size_t bytes = count * CommElementBytes(dtype);
  MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("AllReduce"));
  CopyBytes(slot, src, bytes);
  PublishStep();
  MC2_RETURN_IF_ERROR(WaitAllSteps(step_, "AllReduce"));
  const void* srcs[kMaxRanks];
  for (int p = 0; p < size_; ++p) srcs[p] = p == rank_ ? src : Slot(p, step_);
  return Reduce(op, dtype, dst, srcs, size_, count);
}

Status Communicator::AllReduceTwoShot(const char* src, char* dst, size_t count, DType dtype,
                                      ReduceOp op) {
  const size_t elem = CommElementBytes(dtype);
  const size_t align = std::max<size_t>(1, 64 / elem);
  const size_t window = std::max<size_t>(1, std::min(options_.slot_bytes, options_.round_bytes) / elem);
  const void* srcs[kMaxRanks];
  for (size_t offset = 0; offset < count; offset += window) {
    const size_t n = std::min(window, count - offset);
    const char* in = src + offset * elem;
    // Stage the chunks the peers reduce; this rank's own chunk is read from src directly.
    MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("AllReduce"));
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      size_t plo, phi;
      ChunkRange(n, size_, p, align, &plo, &phi);
      CopyBytes(slot + plo * elem, in + plo * elem, (phi - plo) * elem);
    }
    PublishStep();
    MC2_RETURN_IF_ERROR(WaitAllSteps(step_, "AllReduce"));
    size_t lo, hi;
    ChunkRange(n, size_, rank_, align, &lo, &hi);
    for (int p = 0; p < size_; ++p) srcs[p] = p == rank_ ? in + lo * elem : Slot(p, step_) + lo * elem;
    // BeginStep returns at once here: every peer has just been seen at step_.
    MC2_ASSIGN_OR_RETURN(char* out, BeginStep("AllReduce"));
    MC2_RETURN_IF_ERROR(Reduce(op, dtype, out + lo * elem, srcs, size_, hi - lo));
    CopyBytes(dst + (offset + lo) * elem, out + lo * elem, (hi - lo) * elem);
    PublishStep();
    for (int i = 1; i < size_; ++i) {
      const int p = (rank_ + i) % size_;
      MC2_RETURN_IF_ERROR(WaitPeerStep(p, step_, "AllReduce"));
      size_t plo, phi;
      ChunkRange(n, size_, p, align, &plo, &phi);
      CopyBytes(dst + (offset + plo) * elem, Slot(p, step_) + plo * elem, (phi - plo) * elem);
    }
  }
  return Status::Ok();
}

}  // namespace mc2::comm
