// The control block at the start of every rank's segment (see communicator.h for the protocol).
#pragma once

#include <cstddef>

#include "comm/communicator.h"
#include "comm/wait.h"

namespace mc2::comm {

struct Communicator::ControlBlock {
  SharedWord step;     // last step this rank published
  SharedWord waiters;  // peers sleeping on one of the words of this block
  SharedWord abort;    // nonzero once this rank's communicator failed
  SharedWord chunks;   // chunks this rank published inside a step (Broadcast's pipeline)
  SharedWord signals[kMaxSignals];
};

// Bytes reserved for the control block; the slots follow, 4 KiB aligned.
inline constexpr size_t kControlBytes = 8192;
static_assert(sizeof(Communicator::ControlBlock) <= kControlBytes);

}  // namespace mc2::comm
