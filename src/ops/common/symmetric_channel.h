// SymmetricChannel: how a fused operator uses its communicator's symmetric buffers and signal
// flags, so that every fused operator on one communicator can run back to back with no exit
// barrier and without knowing what the previous call was.
//
// Every rank's symmetric buffer (comm/communicator.h) is cut the same way:
//
//   [ header 4 KiB: this rank's call counter ][ half 0 ][ half 1 ]
//
// A fused call ("pass") takes the next value `seq` of the rank's call counter (the counter lives
// in the rank's own header, so it is shared by every operator and plan on the communicator and
// starts at 0 with the buffer), publishes `seq` on signal 0 ("I entered call seq"), writes only
// its own half[seq % 2], and reads peers' half[seq % 2] after they signalled the data ready on
// another segment with the same `seq`. Before writing, it waits until every peer published
// seq - 1 on signal 0: a peer that entered call seq - 1 has finished call seq - 2, the last one
// that read half[seq % 2]. So a fast rank runs at most one call ahead of the slowest and a call
// ends without a barrier (DeepSpeed's and vLLM's double-buffered one-shot scheme, spec peers.md
// 1.1, 1.2). In steady state that wait finds the flag already set: it costs one cache-line read
// per peer (~0.1 us here).
//
// Because every call takes a new, larger `seq`, every data flag a call waits for was last set to
// a smaller value by whatever operator used the segment before, so operators may use signal
// segments [kFirstDataSignal, kMaxSignals) freely. All ranks must make the same calls in the same
// order, as with every collective.
#pragma once

#include <cstddef>
#include <cstdint>

#include "comm/communicator.h"
#include "core/status.h"

namespace mc2::ops {

class SymmetricChannel {
 public:
  static constexpr size_t kHeaderBytes = 4096;
  static constexpr int kEnterSignal = 0;
  static constexpr int kFirstDataSignal = 1;
  static constexpr int kDataSignals = comm::kMaxSignals - kFirstDataSignal;

  // Bytes of one half of a buffer of `symmetric_bytes` (0 if the buffer is too small).
  static size_t HalfBytes(size_t symmetric_bytes);

  explicit SymmetricChannel(comm::Communicator* comm) : comm_(comm) {}

  // Whether every peer's buffer is mapped in this process (false across machines, or when the
  // communicator has no symmetric buffer): the fused paths need that.
  bool Usable() const;
  size_t half_bytes() const { return HalfBytes(comm_->symmetric_bytes()); }

  // Starts a call: takes the next sequence number, publishes it on kEnterSignal and waits until
  // every peer entered the previous call. After it returns, this rank's Half(rank, seq) is free.
  Status Begin(uint32_t* seq);

  // `peer`'s half used by call `seq`.
  char* Half(int peer, uint32_t seq) const;

  // Data flags: segment in [0, kDataSignals), offset by kFirstDataSignal.
  Status Signal(int segment, uint32_t seq) { return comm_->Signal(kFirstDataSignal + segment, seq); }
  Status Wait(int peer, int segment, uint32_t seq) {
    return comm_->WaitSignal(peer, kFirstDataSignal + segment, seq);
  }

 private:
  comm::Communicator* comm_;
};

}  // namespace mc2::ops
