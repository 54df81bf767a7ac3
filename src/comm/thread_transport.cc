#include "comm/thread_transport.h"

#include "comm/copy.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

namespace mc2::comm {
namespace {

// The allocations of one group of thread ranks.
class ThreadArena {
 public:
  explicit ThreadArena(int size) : size_(size) {}
  ~ThreadArena() {
    for (const auto& [ptr, bytes] : blocks_) munmap(reinterpret_cast<void*>(ptr), bytes);
  }
  int size() const { return size_; }

  StatusOr<Segment> Allocate(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return HcclError(hccl::kEMemory, "threads: mmap of ", bytes, " bytes failed: ",
                       std::strerror(errno));
    }
    std::lock_guard<std::mutex> lock(mu_);
    blocks_[reinterpret_cast<uintptr_t>(p)] = bytes;
    return Segment{static_cast<char*>(p), reinterpret_cast<uintptr_t>(p), bytes};
  }

  StatusOr<char*> Lookup(uint64_t handle, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = blocks_.find(static_cast<uintptr_t>(handle));
    if (it == blocks_.end() || it->second < bytes) {
      return HcclError(hccl::kEPara, "threads: handle ", handle, " is not an allocation of ",
                       bytes, " bytes");
    }
    return reinterpret_cast<char*>(it->first);
  }

 private:
  int size_;
  std::mutex mu_;
  std::map<uintptr_t, size_t> blocks_;
};

class ThreadDomain final : public Domain {
 public:
  ThreadDomain(std::shared_ptr<ThreadArena> arena, int rank)
      : arena_(std::move(arena)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return arena_->size(); }
  const char* kind() const override { return "threads"; }
  StatusOr<Segment> Allocate(size_t bytes) override { return arena_->Allocate(bytes); }
  StatusOr<char*> Map(int, uint64_t handle, size_t bytes) override {
    return arena_->Lookup(handle, bytes);
  }
  void Unmap(int, char*, size_t) override {}
  Status ReadPeer(int, const void* remote, void* local, size_t bytes) override {
    CopyBytes(local, remote, bytes);
    return Status::Ok();
  }
  Status CheckAlive(int) override { return Status::Ok(); }
  std::string Describe(int peer) const override { return StrCat("thread rank ", peer); }

 private:
  std::shared_ptr<ThreadArena> arena_;
  int rank_;
};

std::atomic<int> g_thread_groups{0};

}  // namespace

StatusOr<std::vector<std::unique_ptr<Communicator>>> InitThreads(int n,
                                                                 const CommOptions& options) {
  if (n < 1 || n > kMaxRanks) {
    return HcclError(hccl::kEPara, "InitThreads: n is ", n, " (must be in [1, ", kMaxRanks, "])");
  }
  auto arena = std::make_shared<ThreadArena>(n);
  const size_t bytes = Communicator::SegmentBytes(options);
  std::vector<Segment> segments;
  std::vector<uint64_t> handles;
  for (int r = 0; r < n; ++r) {
    MC2_ASSIGN_OR_RETURN(Segment s, arena->Allocate(bytes));
    segments.push_back(s);
    handles.push_back(s.handle);
  }
  std::vector<int> members(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) members[static_cast<size_t>(r)] = r;
  const std::string name = StrCat("threads", g_thread_groups.fetch_add(1));
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < n; ++r) {
    MC2_ASSIGN_OR_RETURN(auto comm,
                         Communicator::Create(std::make_shared<ThreadDomain>(arena, r), members,
                                              handles, segments[static_cast<size_t>(r)], options,
                                              name));
    comms.push_back(std::move(comm));
  }
  return comms;
}

}  // namespace mc2::comm
