// Domain: the ranks that can map each other's memory (threads of one process, or processes on
// one machine). It is the whole transport interface the collectives need:
//   - Allocate: zero-filled memory owned by this rank that its peers can map,
//   - Map: a peer's allocation, by the handle the peer published,
//   - CheckAlive: whether a peer can still make progress (its process exists).
// Handles travel between ranks as plain integers (a pointer for threads, an offset into the
// rank's memfd for processes); a Map of a handle received from a peer is bounds-checked.
// Allocations live as long as the domain: with no exit barrier a slow peer may still read a
// segment after its owner destroyed the communicator.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/status_or.h"

namespace mc2::comm {

struct Segment {
  char* ptr = nullptr;
  uint64_t handle = 0;
  size_t bytes = 0;
};

class Domain {
 public:
  virtual ~Domain() = default;

  // This rank and the number of ranks in the domain.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "threads" or "processes", for messages.
  virtual const char* kind() const = 0;

  virtual StatusOr<Segment> Allocate(size_t bytes) = 0;
  // Returns this rank's view of `peer`'s allocation (for peer == rank(): the local pointer).
  virtual StatusOr<char*> Map(int peer, uint64_t handle, size_t bytes) = 0;
  // Undoes Map (a no-op where mapping is free).
  virtual void Unmap(int peer, char* ptr, size_t bytes) = 0;

  // HCCL_E_REMOTE naming `peer` when it can no longer take part (its process is gone).
  virtual Status CheckAlive(int peer) = 0;
  // Copies `bytes` at address `remote` of `peer`'s address space (any memory of it, not only its
  // allocations) into `local`: a plain copy for threads, process_vm_readv (cross-memory attach)
  // for processes. HCCL_E_NOT_SUPPORT or the syscall's error when the system forbids it.
  virtual Status ReadPeer(int peer, const void* remote, void* local, size_t bytes) {
    (void)peer, (void)remote, (void)local, (void)bytes;
    return HcclError(hccl::kENotSupport, kind(), ": reading a peer's memory is not supported");
  }
  // A short description of `peer` for messages ("process 1234").
  virtual std::string Describe(int peer) const = 0;

  // What this rank is blocked on, published in every live communicator of it over this domain
  // (Communicator registers a word of its control block), so that a peer that times out waiting
  // for it in one communicator can see that it is itself waiting in another (step.cc).
  // 0: not blocked; 1 + r: sleeping until domain rank r arrives.
  void AddBlockedWord(std::atomic<uint32_t>* word);
  void RemoveBlockedWord(std::atomic<uint32_t>* word);
  void PublishBlocked(uint32_t value);

 private:
  std::mutex blocked_mu_;
  std::vector<std::atomic<uint32_t>*> blocked_words_;
};

inline void Domain::AddBlockedWord(std::atomic<uint32_t>* word) {
  std::lock_guard<std::mutex> lock(blocked_mu_);
  blocked_words_.push_back(word);
}

inline void Domain::RemoveBlockedWord(std::atomic<uint32_t>* word) {
  std::lock_guard<std::mutex> lock(blocked_mu_);
  std::erase(blocked_words_, word);
}

inline void Domain::PublishBlocked(uint32_t value) {
  std::lock_guard<std::mutex> lock(blocked_mu_);
  for (std::atomic<uint32_t>* w : blocked_words_) w->store(value, std::memory_order_release);
}

}  // namespace mc2::comm
