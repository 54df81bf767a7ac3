#include "ops/common/workspace.h"

namespace mc2::ops {

int WorkspaceBooking::Book(int key, size_t bytes, size_t align) {
  if (align == 0) align = 1;
  const size_t offset = (total_ + align - 1) / align * align;
  entries_.push_back({key, offset, bytes});
  total_ = offset + bytes;
  return key;
}

void* WorkspaceBooking::Get(void* base, int key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return e.bytes == 0 || base == nullptr ? nullptr : static_cast<char*>(base) + e.offset;
  }
  return nullptr;
}

size_t WorkspaceBooking::Bytes(int key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return e.bytes;
  }
  return 0;
}

}  // namespace mc2::ops
