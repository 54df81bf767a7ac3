#include "ops/common/symmetric_channel.h"

#include <atomic>

namespace mc2::ops {

size_t SymmetricChannel::HalfBytes(size_t symmetric_bytes) {
  if (symmetric_bytes <= kHeaderBytes) return 0;
  return (symmetric_bytes - kHeaderBytes) / 2 / 64 * 64;
}

bool SymmetricChannel::Usable() const {
  if (comm_ == nullptr || half_bytes() == 0) return false;
  for (int p = 0; p < comm_->world_size(); ++p) {
    if (comm_->SymmetricBuffer(p) == nullptr) return false;
  }
  return true;
}

Status SymmetricChannel::Begin(uint32_t* seq) {
  // The counter is only ever touched by its owner; atomic_ref keeps the access well defined in a
  // buffer that other ranks map.
  std::atomic_ref<uint32_t> counter(*reinterpret_cast<uint32_t*>(comm_->SymmetricBuffer(comm_->rank())));
  const uint32_t next = counter.load(std::memory_order_relaxed) + 1;
  counter.store(next, std::memory_order_relaxed);
  *seq = next;
  MC2_RETURN_IF_ERROR(comm_->Signal(kEnterSignal, next));
  for (int p = 0; p < comm_->world_size(); ++p) {
    if (p == comm_->rank()) continue;
    MC2_RETURN_IF_ERROR(comm_->WaitSignal(p, kEnterSignal, next - 1));
  }
  return Status::Ok();
}

char* SymmetricChannel::Half(int peer, uint32_t seq) const {
  return comm_->SymmetricBuffer(peer) + kHeaderBytes + (seq % 2) * half_bytes();
}

}  // namespace mc2::ops
