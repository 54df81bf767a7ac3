#include "comm/process_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "comm/bootstrap.h"
#include "comm/mpi_transport.h"
#include "comm/numa.h"
#include "comm/thread_transport.h"

namespace mc2::comm {
namespace {

class ProcessDomain final : public Domain {
 public:
  ProcessDomain(int rank, int size, int own_fd) : rank_(rank), size_(size), own_fd_(own_fd) {}
  ~ProcessDomain() override {
    for (int f : fds_) if (f >= 0) close(f);
    for (int f : pidfds_) if (f >= 0) close(f);
    if (own_fd_ >= 0) close(own_fd_);
    // Every communicator of this process that used the domain is gone, so nothing here reads our
    // segments any more; peers that still read them do so through their own mappings, which keep
    // the memory alive for them. Unmapping ours releases it in this process.
    for (const auto& [p, bytes] : own_maps_) munmap(p, bytes);
  }

  void SetPeers(std::vector<int> fds, std::vector<pid_t> pids) {
    fds_ = std::move(fds);
    pids_ = std::move(pids);
    pidfds_.assign(pids_.size(), -1);
    for (size_t p = 0; p < pids_.size(); ++p) {
      if (static_cast<int>(p) == rank_) continue;
      pidfds_[p] = static_cast<int>(syscall(SYS_pidfd_open, pids_[p], 0));
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* kind() const override { return "processes"; }

  StatusOr<Segment> Allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t offset = next_offset_;
    const size_t rounded = (bytes + 4095) & ~size_t{4095};
    if (ftruncate(own_fd_, static_cast<off_t>(offset + rounded)) != 0) {
      return HcclError(hccl::kEMemory, "processes: growing the memfd to ", offset + rounded,
                       " bytes failed: ", std::strerror(errno));
    }
    void* p = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_SHARED, own_fd_,
                   static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
      return HcclError(hccl::kEMemory, "processes: mmap of own memfd failed: ", std::strerror(errno));
    }
    // Advisory: on a single-node machine nothing is called; a failure only loses locality.
    (void)PreferNumaNode(p, rounded, LocalNumaNode());
    next_offset_ = offset + rounded;
    own_maps_.emplace_back(p, rounded);
    return Segment{static_cast<char*>(p), offset, rounded};
  }

  StatusOr<char*> Map(int peer, uint64_t handle, size_t bytes) override {
    if (peer < 0 || peer >= size_ || peer >= static_cast<int>(fds_.size())) {
      return HcclError(hccl::kEPara, "processes: no rank ", peer);
    }
    const int fd = fds_[static_cast<size_t>(peer)];
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      return HcclError(hccl::kEPara, "processes: rank ", peer, " did not send a memory file");
    }
    // Mapping more than the file holds would fault later; a shrinkable file could make an
    // existing mapping fault: both are refused.
    const int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
      return HcclError(hccl::kEPara, "processes: rank ", peer, "'s memory is not sealed against shrinking");
    }
    if (handle % 4096 != 0 || handle > static_cast<uint64_t>(st.st_size) ||
        bytes > static_cast<uint64_t>(st.st_size) - handle) {
      return HcclError(hccl::kEPara, "processes: rank ", peer, " published [", handle, ", +", bytes,
                       ") outside its ", st.st_size, "-byte memory");
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(handle));
    if (p == MAP_FAILED) {
      return HcclError(hccl::kEMemory, "processes: mmap of rank ", peer, "'s memory failed: ",
                       std::strerror(errno));
    }
    return static_cast<char*>(p);
  }

  void Unmap(int, char* ptr, size_t bytes) override { munmap(ptr, bytes); }

  Status CheckAlive(int peer) override {
    if (peer < 0 || peer >= static_cast<int>(pids_.size())) return Status::Ok();
    const int pidfd = pidfds_[static_cast<size_t>(peer)];
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) return HcclError(hccl::kERemote, "the process exited");
      return Status::Ok();
    }
    if (kill(pids_[static_cast<size_t>(peer)], 0) != 0 && errno == ESRCH) {
      return HcclError(hccl::kERemote, "the process exited");
    }
    return Status::Ok();
  }

  Status ReadPeer(int peer, const void* remote, void* local, size_t bytes) override {
    if (peer < 0 || peer >= static_cast<int>(pids_.size())) {
      return HcclError(hccl::kEPara, "processes: no rank ", peer);
    }
    char* to = static_cast<char*>(local);
    uintptr_t from = reinterpret_cast<uintptr_t>(remote);
    while (bytes > 0) {
      // One call moves at most ~2 GiB (MAX_RW_COUNT); partial reads continue where they stopped.
      struct iovec l{to, bytes}, r{reinterpret_cast<void*>(from), bytes};
      const ssize_t got = process_vm_readv(pids_[static_cast<size_t>(peer)], &l, 1, &r, 1, 0);
      if (got <= 0) {
        return HcclError(hccl::kESyscall, "processes: process_vm_readv from rank ", peer, " (",
                         Describe(peer), "): ", got == 0 ? "no progress" : std::strerror(errno));
      }
      to += got;
      from += static_cast<uintptr_t>(got);
      bytes -= static_cast<size_t>(got);
    }
    return Status::Ok();
  }
  std::string Describe(int peer) const override {
    if (peer < 0 || peer >= static_cast<int>(pids_.size())) return "unknown process";
    return StrCat("process ", pids_[static_cast<size_t>(peer)]);
  }

 private:
  int rank_;
  int size_;
  int own_fd_;
  std::mutex mu_;
  uint64_t next_offset_ = 0;
  std::vector<std::pair<void*, size_t>> own_maps_;  // unmapped with the domain
  std::vector<int> fds_;
  std::vector<pid_t> pids_;
  std::vector<int> pidfds_;
};

}  // namespace

StatusOr<std::unique_ptr<Communicator>> InitRootInfo(int nranks, const RootInfo& info, int rank,
                                                     const CommOptions& options) {
  if (nranks < 1 || nranks > kMaxProcessRanks) {
    return HcclError(hccl::kEPara, "InitRootInfo: nranks is ", nranks, " (must be in [1, ",
                     kMaxProcessRanks, "])");
  }
  if (rank < 0 || rank >= nranks) {
    return HcclError(hccl::kEPara, "InitRootInfo: rank is ", rank, " (must be in [0, ", nranks, "))");
  }
  if (info.uid != static_cast<uint32_t>(getuid())) {
    return HcclError(hccl::kEPara, "InitRootInfo: the root info belongs to uid ", info.uid);
  }
  if (nranks == 1) {
    MC2_ASSIGN_OR_RETURN(auto comms, InitThreads(1, options));
    return std::move(comms[0]);
  }
  const int memfd = static_cast<int>(syscall(SYS_memfd_create, "mc2-comm", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (memfd < 0) return HcclError(hccl::kESyscall, "InitRootInfo: memfd_create: ", std::strerror(errno));
  auto domain = std::make_shared<ProcessDomain>(rank, nranks, memfd);
  const size_t bytes = Communicator::SegmentBytes(options);
  MC2_ASSIGN_OR_RETURN(Segment own, domain->Allocate(bytes));
  if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    return HcclError(hccl::kESyscall, "InitRootInfo: sealing the memfd: ", std::strerror(errno));
  }
  StatusOr<JoinResult> joined =
      rank == 0 ? BootstrapRoot(info, nranks, memfd, bytes, options.timeout_ms)
                : BootstrapJoin(info, nranks, rank, memfd, bytes, options.timeout_ms);
  if (!joined.ok()) return joined.status();
  domain->SetPeers(std::move(joined->fds), std::move(joined->pids));
  std::vector<int> members(static_cast<size_t>(nranks));
  for (int r = 0; r < nranks; ++r) members[static_cast<size_t>(r)] = r;
  const std::vector<uint64_t> handles(static_cast<size_t>(nranks), 0);
  return Communicator::Create(domain, std::move(members), handles, own, options,
                              StrCat("processes-", info.socket_name.substr(4, 8)));
}

StatusOr<std::unique_ptr<Communicator>> InitFromEnv() {
  const CommOptions options = CommOptions::FromEnv();
  const std::string hex = EnvString("MC2_ROOT_INFO");
  if (!hex.empty()) {
    const int64_t rank = EnvInt("MC2_RANK", -1);
    const int64_t size = EnvInt("MC2_WORLD_SIZE", -1);
    if (rank < 0 || size < 1 || rank >= size || size > kMaxProcessRanks) {
      return HcclError(hccl::kEPara, "MC2_RANK=", EnvString("MC2_RANK"), " MC2_WORLD_SIZE=",
                       EnvString("MC2_WORLD_SIZE"), " are not a valid rank and size");
    }
    MC2_ASSIGN_OR_RETURN(RootInfo info, RootInfoFromHex(hex));
    return InitRootInfo(static_cast<int>(size), info, static_cast<int>(rank), options);
  }
  if (!EnvString("OMPI_COMM_WORLD_RANK").empty() && MpiTransportAvailable()) return InitMpi(options);
  MC2_ASSIGN_OR_RETURN(auto comms, InitThreads(1, options));
  return std::move(comms[0]);
}

}  // namespace mc2::comm
