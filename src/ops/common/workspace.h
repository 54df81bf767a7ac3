// Workspace booking: at plan time an operator books the scratch regions it will need (by key,
// size and alignment); the total is what GetWorkspaceSize / Setup report. At run time the caller's
// workspace pointer is carved into the same regions, so execution allocates nothing. (The shape of
// oneDNN's memory_tracking registrar/grantor, reduced to what mc2 needs.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mc2::ops {

class WorkspaceBooking {
 public:
  static constexpr size_t kDefaultAlign = 64;

  // Books `bytes` under `key` (an operator-defined enum value); returns the key.
  int Book(int key, size_t bytes, size_t align = kDefaultAlign);
  size_t total_bytes() const { return total_; }
  bool empty() const { return total_ == 0; }

  // The region of `key` inside a workspace that starts at `base` (base must be aligned to the
  // largest alignment booked; 64 always suffices). Null if the key was not booked or has 0 bytes.
  void* Get(void* base, int key) const;
  size_t Bytes(int key) const;

 private:
  struct Entry {
    int key;
    size_t offset;
    size_t bytes;
  };
  std::vector<Entry> entries_;
  size_t total_ = 0;
};

}  // namespace mc2::ops
