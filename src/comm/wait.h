// Waiting on a 32-bit word in memory shared by threads or processes.
//
// Flags are rolling 32-bit sequence numbers: "reached" is a signed comparison of the difference,
// so they may wrap. A waiter spins for a short budget (a flag handoff between cores costs ~0.1-0.2
// us here; a peer that is a little behind arrives within microseconds), then sleeps in the kernel
// on the word itself (FUTEX_WAIT without FUTEX_PRIVATE_FLAG, so it works across processes on
// MAP_SHARED memory) with a bounded sleep so the caller can re-check liveness and its deadline.
// Writers bump a flag and call FUTEX_WAKE only when the owner's waiter counter says someone sleeps.
#pragma once

#include <atomic>
#include <cstdint>

namespace mc2::comm {

inline bool SeqReached(uint32_t value, uint32_t target) {
  return static_cast<int32_t>(value - target) >= 0;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Sleeps while *word == expected, at most timeout_ns (spurious returns are allowed).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns);
// Wakes every sleeper on `word`.
void FutexWakeAll(std::atomic<uint32_t>* word);

// Monotonic clock in nanoseconds.
int64_t NowNs();

// One word of shared control state on its own cache line.
struct alignas(64) SharedWord {
  std::atomic<uint32_t> value{0};
};
static_assert(sizeof(SharedWord) == 64);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

}  // namespace mc2::comm
