// The control block at the start of every rank's segment (see communicator.h for the protocol).
#pragma once

#include <cstddef>

#include "comm/communicator.h"
#include "comm/wait.h"

namespace mc2::comm {

inline constexpr size_t kAbortReasonBytes = 1024;

struct Communicator::ControlBlock {
  SharedWord step;     // last step this rank published
  SharedWord waiters;  // peers sleeping on one of the words of this block
  SharedWord abort;    // nonzero once this rank's communicator failed
  SharedWord chunks;   // chunks this rank published inside a step (Broadcast's pipeline)
  SharedWord blocked_on;  // 0, or 1 + the domain rank this rank sleeps on in any of its communicators
  SharedWord signals[kMaxSignals];
  // Why this rank's communicator failed (NUL-terminated, truncated), written before `abort` is
  // raised, so that peers can say what happened beyond "it left" (communicator.h, Errors).
  char reason[kAbortReasonBytes];
};

// Bytes reserved for the control block; the slots follow, 4 KiB aligned.
inline constexpr size_t kControlBytes = 8192;
static_assert(sizeof(Communicator::ControlBlock) <= kControlBytes);

}  // namespace mc2::comm
