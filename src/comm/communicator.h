// Communicator: a group of ranks running collectives over shared memory.
//
// One concrete class serves every transport: what differs (threads, processes, MPI) is only how
// ranks find each other and map each other's memory (a Domain, see domain.h). Each rank owns one
// segment that all members map:
//
//   [ control block: step flag, waiter count, abort flag, user signal flags ]
//   [ slot 0 | slot 1 ]   staging buffers of the collectives (double-buffered, see below)
//   [ symmetric buffer ]  for fused operators (CommOptions::symmetric_bytes)
//
// Collectives are sequences of "steps". In step t a rank may write its slot[t % 2], then publishes
// t in its step flag; a reader waits until the writer's flag reached t before reading that slot.
// A rank writes slot[t % 2] only after it saw every peer reach t - 1, i.e. after every peer is
// done with the step t - 2 that used the same slot. There is no exit barrier: a fast rank runs at
// most one step ahead of the slowest. Every rank executes the same steps in the same order, so
// all calls of a communicator must be made in the same order on every rank (as with HCCL).
//
// Errors: a wait that exceeds CommOptions::timeout_ms returns HCCL_E_TIMEOUT; a peer that died or
// failed returns HCCL_E_REMOTE; both name the rank -- in a sub-communicator also by its global rank
// (its rank in the communicator the groups were split from). After an error the communicator is
// broken and every later call returns the first error at once; its peers learn of it through the
// abort flag, which carries the global rank to blame, and the reason text next to it, so a rank
// that fails because a peer failed repeats the original cause. AbortFrom carries a failure from
// one communicator to another of the same job (the EP and TP groups of a MoE grid), so that ranks
// that share only the other group with the failed rank stop waiting too and can name it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "comm/domain.h"
#include "comm/inter_node.h"
#include "comm/options.h"
#include "comm/reduce.h"
#include "comm/wait.h"
#include "core/dtype.h"
#include "core/status.h"
#include "core/status_or.h"

namespace mc2::comm {

inline constexpr int kMaxRanks = 1024;
inline constexpr int kMaxSignals = 64;  // user signal flags per rank

class Communicator {
 public:
  // Used by the transports: `members[i]` is the domain rank of communicator rank i and
  // `handles[i]` its segment (made with SegmentBytes(options)); `own` is this rank's segment.
  static StatusOr<std::unique_ptr<Communicator>> Create(std::shared_ptr<Domain> domain,
                                                        std::vector<int> members,
                                                        const std::vector<uint64_t>& handles,
                                                        Segment own, const CommOptions& options,
                                                        std::string name);
  static size_t SegmentBytes(const CommOptions& options);
  // A communicator over several machines: `local` is this machine's shared-memory communicator,
  // `inter` moves data between machines (hierarchical.cc).
  static std::unique_ptr<Communicator> CreateHierarchical(std::shared_ptr<InterNode> inter,
                                                          std::unique_ptr<Communicator> local,
                                                          const CommOptions& options,
                                                          std::string name);

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return size_; }
  const std::string& name() const { return name_; }
  const char* transport() const { return inter_ ? "mpi" : domain_->kind(); }
  const CommOptions& options() const { return options_; }
  // Ok while usable; the first error otherwise.
  const Status& health() const { return failed_; }
  // "rank r" for messages; in a sub-communicator "rank r (global rank g)".
  std::string RankName(int r) const;
  // Marks this communicator broken because `broken` is (no-op when `broken` is healthy or this one
  // failed already): later calls return the error, and this rank's peers stop waiting for it at
  // once, blaming the rank `broken` blames when both communicators share their ranks' domain.
  void AbortFrom(const Communicator& broken);

  // Collectives. Counts are in elements; src may equal dst (in place) for AllReduce, and for
  // AllGather / ReduceScatter when src is this rank's block of dst / dst is this rank's block of
  // src (HCCL's in-place forms).
  Status AllReduce(const void* src, void* dst, size_t count, DType dtype,
                   ReduceOp op = ReduceOp::kSum);
  // src holds world_size blocks of recv_count; dst receives the reduction of block rank().
  Status ReduceScatter(const void* src, void* dst, size_t recv_count, DType dtype,
                       ReduceOp op = ReduceOp::kSum);
  // dst receives world_size blocks of send_count, block p from rank p.
  Status AllGather(const void* src, void* dst, size_t send_count, DType dtype);
  // src block p (count elements) goes to rank p, which stores it as its block rank().
  Status AllToAll(const void* src, void* dst, size_t count, DType dtype);
  // Per-peer counts and displacements in elements (HcclAlltoAllV); recv_counts[p] must equal
  // rank p's send_counts[rank()] (checked).
  Status AllToAllV(const void* src, std::span<const int64_t> send_counts,
                   std::span<const int64_t> send_displs, void* dst,
                   std::span<const int64_t> recv_counts, std::span<const int64_t> recv_displs,
                   DType dtype);
  Status Broadcast(void* buf, size_t count, DType dtype, int root);
  Status Barrier();

  // Moves the bytes of a collective that another thread of this rank is running between machines
  // (e.g. a fused operator's progress thread), one non-blocking turn of the network's progress
  // engine; nothing to do (and free) when every peer shares this machine's memory. For compute
  // loops: call it between tiles while the other thread's collective is in flight.
  void PollNetwork() {
    if (inter_) inter_->Poll();
  }

  // A communicator over `ranks` (ranks of this communicator; position i becomes rank i of the
  // new one). Collective over this communicator: every rank calls it, each with the list of the
  // group it belongs to (ranks of one group pass the same list), or an empty list to join none
  // (then the result is null). An EP x TP grid calls it twice.
  StatusOr<std::unique_ptr<Communicator>> CreateSub(const std::vector<int>& ranks);

  // Symmetric memory: every rank's buffer of options().symmetric_bytes, readable and writable by
  // all members on the same machine (null for a peer on another machine), with per-segment ready
  // flags. Signal publishes `seq` on this rank's flag
  // `segment` (release); WaitSignal waits until `peer`'s flag reached `seq` (rolling compare).
  char* SymmetricBuffer(int peer) const;
  size_t symmetric_bytes() const { return options_.symmetric_bytes; }
  Status Signal(int segment, uint32_t seq);
  Status WaitSignal(int peer, int segment, uint32_t seq);

  // Shared state at the start of each segment (control_block.h).
  struct ControlBlock;

 private:
  Communicator() = default;

  // The step machinery (step.cc).
  StatusOr<char*> BeginStep(const char* op);  // waits all >= step_, returns own next slot
  void PublishStep();
  void PublishChunk();
  Status DecideSingleCopy();  // once per communicator, collectively (gather.cc)  // one more chunk of the current step is in this rank's slot
  Status WaitPeerChunk(int peer, uint32_t chunks, const char* op);
  Status WaitPeerStep(int peer, uint32_t step, const char* op);
  Status WaitAllSteps(uint32_t step, const char* op);
  char* Slot(int peer, uint32_t step) const;
  Status WaitWord(int peer, std::atomic<uint32_t>* word, uint32_t target, const char* op);
  Status CheckPeers(const char* op);
  // culprit: the domain rank (members_ value) to blame, or -1.
  Status Fail(Status status, int culprit);
  // RankName of a domain rank, which need not be a member ("global rank g, not in this group").
  std::string DomainRankName(int domain_rank) const;
  Status Precheck(const char* op, DType dtype, bool need_reduce, ReduceOp op_kind);
  void Wake(std::atomic<uint32_t>* word);

  // Algorithms (allreduce.cc, gather.cc, alltoall.cc).
  Status AllReduceOneShot(const char* src, char* dst, size_t count, DType dtype, ReduceOp op);
  Status AllReduceTwoShot(const char* src, char* dst, size_t count, DType dtype, ReduceOp op);
  // Over several machines (hierarchical.cc).
  Status HierAllReduce(const void* src, void* dst, size_t count, DType dtype, ReduceOp op);
  Status HierAllReduceChain(const char* src, char* dst, size_t count, DType dtype, ReduceOp op);
  Status HierAllReduceExchange(const char* src, char* dst, size_t count, DType dtype, ReduceOp op);
  Status HierFail(Status status);  // an error marks this and the local communicator broken
  Status HierReduceScatter(const void* src, void* dst, size_t recv_count, DType dtype, ReduceOp op);

  Status AllToAllVRound(const char* src, const int64_t* send_counts, const int64_t* send_displs,
                        char* dst, const int64_t* recv_counts, const int64_t* recv_displs,
                        size_t elem, size_t offset, size_t window);

  std::shared_ptr<Domain> domain_;
  std::shared_ptr<InterNode> inter_;     // set for communicators across machines
  std::unique_ptr<Communicator> local_;  // this machine's part, when inter_ is set
  std::vector<int> members_;
  int rank_ = 0;
  int size_ = 1;
  std::string name_;
  CommOptions options_;
  int64_t spin_ns_ = 0;
  int64_t spin_extra_ns_ = 0;  // added to spin_ns_ for a wait known to take long (see gather.cc)
  Segment own_;
  std::vector<char*> bases_;  // every member's segment in this process
  std::vector<ControlBlock*> controls_;
  uint32_t step_ = 0;
  // Chunks each member has published on its `chunks` word so far (every rank can count them:
  // all ranks run the same collectives in the same order).
  std::vector<uint32_t> chunks_seen_;
  // Whether every rank can read every peer's memory directly (Domain::ReadPeer): -1 not known
  // yet, decided by all ranks together at the first large Broadcast.
  int single_copy_ = -1;
  int64_t last_liveness_check_ns_ = 0;
  bool sub_ = false;   // members_ are not the domain's ranks 0..n-1 in order (CreateSub)
  int culprit_ = -1;   // the domain rank failed_ blames, or -1
  Status failed_;
};

// Bytes of one element of a dtype the collectives move (0 for unsupported ones).
size_t CommElementBytes(DType dtype);

}  // namespace mc2::comm
