#include "comm/mpi_transport.h"

#if defined(MC2_HAVE_MPI)
#include <mpi.h>

#include <time.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/process_transport.h"
#include "comm/rank_table.h"
#include "comm/thread_transport.h"

namespace mc2::comm {
namespace {

Status MpiCheck(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return Status::Ok();
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return HcclError(hccl::kERemote, what, " failed: ", text);
}

bool MpiAlive() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized == 0;
}

StatusOr<std::unique_ptr<Communicator>> InitMpiOver(MPI_Comm parent, const CommOptions& options);

// Every transfer between ranks is a nonblocking point-to-point request completed by a poll loop
// (Requests::Wait) bounded by the communicator's timeout: an MPI call cannot be interrupted, so
// nothing here blocks inside MPI. Collectives are built from those requests rather than from
// MPI's collectives so that a timeout can name the ranks whose transfers did not complete (an
// MPI_Ibcast could only say "somebody"). They are linear (each rank talks to each peer once):
// the number of machines is small and inside a machine MPI moves the bytes over shared memory.
// Messages larger than 1 GiB are cut into 1 GiB pieces (MPI counts are ints).
constexpr size_t kMpiPiece = size_t{1} << 30;

// Tags keep the kinds of traffic apart (MPI matches messages of one tag in order per peer).
// kTagPoll is never sent: MpiInterNode::Poll probes it only to run MPI's progress engine.
enum Tag : int { kTagP2p = 11, kTagAllGather, kTagAllToAll, kTagBroadcast, kTagBarrier, kTagPoll };

// MPI runs with MPI_THREAD_SERIALIZED: threads of a rank may call MPI one at a time. A collective
// runs on one thread (the caller's, or a fused operator's progress thread), and another thread may
// poll (InterNode::Poll) while it naps between its own polls; this mutex keeps their MPI calls
// apart. It is held only around the MPI calls of the transfers, never while napping.
std::mutex& MpiMutex() {
  static std::mutex* const mutex = new std::mutex();  // never destroyed: used until exit
  return *mutex;
}

class Requests {
 public:
  Requests(MPI_Comm comm, int64_t timeout_ms) : comm_(comm), timeout_ms_(timeout_ms) {}
  ~Requests() { Abandon(); }

  void Send(const void* buf, size_t bytes, int peer, int tag, std::shared_ptr<void> keep = nullptr) {
    if (keep) keep_.push_back(std::move(keep));
    std::lock_guard<std::mutex> lock(MpiMutex());
    const char* p = static_cast<const char*>(buf);
    do {
      const size_t n = std::min(bytes, kMpiPiece);
      Post(peer, true, MPI_Isend(p, static_cast<int>(n), MPI_BYTE, peer, tag, comm_, Next()));
      p += n;
      bytes -= n;
    } while (bytes > 0);
  }
  void Recv(void* buf, size_t bytes, int peer, int tag) {
    std::lock_guard<std::mutex> lock(MpiMutex());
    char* p = static_cast<char*>(buf);
    do {
      const size_t n = std::min(bytes, kMpiPiece);
      Post(peer, false, MPI_Irecv(p, static_cast<int>(n), MPI_BYTE, peer, tag, comm_, Next()));
      p += n;
      bytes -= n;
    } while (bytes > 0);
  }

  // Polls until every request completed: spins ~20 us (a peer on this machine answers within
  // microseconds), then sleeps 50 us growing to 200 us between polls so oversubscribed ranks let
  // their peers run. Not longer: OpenMPI's TCP transport moves bytes only inside a poll, so the
  // nap bounds how fast a transfer between machines drains the socket buffers. Measured with
  // scripts/netns-bench (2 ranks, tc-throttled veth), all-reduce of 256 x 4096 fp16 at 10 Gbit/s:
  // 7.1 ms with naps up to 1 ms, 3.2 ms at 200 us; 1024 x 4096 at 1 Gbit/s: 107 -> 69 ms (the
  // wire needs 64). A poll costs a few microseconds: ~2% of a core at the cap.
  // HCCL_E_TIMEOUT after timeout_ms, naming the peers still pending.
  Status Wait(const char* op) {
    if (!post_error_.ok()) return post_error_;
    const int64_t start = NowNs();
    const int64_t deadline = start + timeout_ms_ * 1000000;
    int64_t nap_ns = 50000;
    for (;;) {
      int done = 0;
      int rc = MPI_SUCCESS;
      {
        std::lock_guard<std::mutex> lock(MpiMutex());
        rc = MPI_Testall(static_cast<int>(reqs_.size()), reqs_.data(), &done, MPI_STATUSES_IGNORE);
      }
      if (rc != MPI_SUCCESS) {
        Status s = MpiCheck(rc, op);
        Abandon();
        return s;
      }
      if (done) {
        reqs_.clear();
        peers_.clear();
        return Status::Ok();
      }
      const int64_t now = NowNs();
      if (now >= deadline) break;
      if (now - start > 20000) {
        struct timespec ts = {0, static_cast<long>(std::min(nap_ns, deadline - now))};
        nanosleep(&ts, nullptr);
        nap_ns = std::min<int64_t>(nap_ns * 2, 200000);
      }
    }
    std::vector<int> pending;
    for (size_t i = 0; i < reqs_.size(); ++i) {
      // MPI_Testall leaves every request as it was unless all completed: test each one, so only
      // the peers whose transfers are really unfinished are named.
      if (reqs_[i] != MPI_REQUEST_NULL) {
        int flag = 0;
        std::lock_guard<std::mutex> lock(MpiMutex());
        if (MPI_Test(&reqs_[i], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) reqs_[i] = MPI_REQUEST_NULL;
      }
      if (reqs_[i] == MPI_REQUEST_NULL) continue;
      if (std::find(pending.begin(), pending.end(), peers_[i]) == pending.end()) pending.push_back(peers_[i]);
    }
    std::sort(pending.begin(), pending.end());
    std::string names;
    for (int p : pending) names += StrCat(names.empty() ? "" : ", ", p);
    Abandon();
    return HcclError(hccl::kETimeout, op, " between machines: rank", pending.size() > 1 ? "s " : " ",
                     names, " did not complete the exchange within ", timeout_ms_,
                     " ms (MC2_COMM_TIMEOUT_MS); the rank stalled or its machine is gone");
  }

 private:
  MPI_Request* Next() {
    reqs_.push_back(MPI_REQUEST_NULL);
    return &reqs_.back();
  }
  void Post(int peer, bool send, int rc) {
    peers_.push_back(peer);
    sends_.push_back(send);
    if (rc != MPI_SUCCESS && post_error_.ok()) post_error_ = MpiCheck(rc, send ? "MPI_Isend" : "MPI_Irecv");
  }
  // Gives up on the pending requests: receives are cancelled; sends cannot be (reliably), so they
  // are released and MPI completes them later if the peer ever arrives, reading their buffers
  // then: the buffers this layer owns are kept until exit (a deliberate leak, after an error only).
  void Abandon() {
    std::lock_guard<std::mutex> lock(MpiMutex());
    if (!MpiAlive()) return;
    bool sends_pending = false;
    for (size_t i = 0; i < reqs_.size(); ++i) {
      if (reqs_[i] == MPI_REQUEST_NULL) continue;
      if (!sends_[i]) MPI_Cancel(&reqs_[i]);
      sends_pending = sends_pending || sends_[i];
      MPI_Request_free(&reqs_[i]);
    }
    if (sends_pending && !keep_.empty()) {
      static auto* const kept = new std::vector<std::shared_ptr<void>>();
      static std::mutex kept_mutex;
      std::lock_guard<std::mutex> lock(kept_mutex);
      for (auto& k : keep_) kept->push_back(std::move(k));
    }
    keep_.clear();
    reqs_.clear();
    peers_.clear();
    sends_.clear();
  }

  MPI_Comm comm_;
  int64_t timeout_ms_;
  std::vector<MPI_Request> reqs_;
  std::vector<int> peers_;
  std::vector<bool> sends_;
  std::vector<std::shared_ptr<void>> keep_;
  Status post_error_;
};

class MpiInterNode final : public InterNode {
 public:
  ~MpiInterNode() override {
    if (!MpiAlive()) return;
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int node() const override { return node_; }
  int num_nodes() const override { return num_nodes_; }
  int NodeOf(int peer) const override { return node_of_[static_cast<size_t>(peer)]; }
  int LocalRankOf(int peer) const override {
    if (peer < 0 || peer >= size_ || node_of_[static_cast<size_t>(peer)] != node_) return -1;
    return local_rank_of_[static_cast<size_t>(peer)];
  }

  // One turn of MPI's progress engine (an MPI_Iprobe of a tag nobody sends runs it): moves the
  // bytes of the requests another thread of this rank has outstanding. Skipped while that thread
  // is inside MPI itself; no allocation.
  void Poll() override {
    std::unique_lock<std::mutex> lock(MpiMutex(), std::try_to_lock);
    if (!lock.owns_lock()) return;
    int flag = 0;
    (void)MPI_Iprobe(MPI_ANY_SOURCE, kTagPoll, comm_, &flag, MPI_STATUS_IGNORE);
  }

  Status Send(const void* src, size_t bytes, int peer, const char* op,
              std::shared_ptr<void> keep) override {
    Requests reqs(comm_, timeout_ms_);
    reqs.Send(src, bytes, peer, kTagP2p, std::move(keep));
    return reqs.Wait(op);
  }
  Status Recv(void* dst, size_t bytes, int peer, const char* op) override {
    Requests reqs(comm_, timeout_ms_);
    reqs.Recv(dst, bytes, peer, kTagP2p);
    return reqs.Wait(op);
  }
  Status AllGather(const void* src, void* dst, size_t bytes, std::shared_ptr<void> keep) override {
    char* out = static_cast<char*>(dst);
    char* own = out + bytes * static_cast<size_t>(rank_);
    if (src != own) std::memmove(own, src, bytes);
    Requests reqs(comm_, timeout_ms_);
    for (int i = 1; i < size_; ++i) {
      const int from = (rank_ + size_ - i) % size_;
      reqs.Recv(out + bytes * static_cast<size_t>(from), bytes, from, kTagAllGather);
    }
    for (int i = 1; i < size_; ++i) reqs.Send(own, bytes, (rank_ + i) % size_, kTagAllGather, keep);
    return reqs.Wait("AllGather");
  }
  Status AllToAllV(const void* src, const int64_t* sc, const int64_t* sd, void* dst,
                   const int64_t* rc, const int64_t* rd, size_t elem) override {
    const char* in = static_cast<const char*>(src);
    char* out = static_cast<char*>(dst);
    size_t send_end = 0;
    for (int p = 0; p < size_; ++p) {
      send_end = std::max(send_end, static_cast<size_t>(sc[p] + sd[p]) * elem);
    }
    std::vector<char> copy;
    if (src == dst && send_end > 0) {  // receives would overwrite what is still to be sent
      copy.assign(in, in + send_end);
      in = copy.data();
    }
    Requests reqs(comm_, timeout_ms_);
    for (int i = 1; i < size_; ++i) {
      const int from = (rank_ + size_ - i) % size_;
      reqs.Recv(out + static_cast<size_t>(rd[from]) * elem, static_cast<size_t>(rc[from]) * elem, from,
                kTagAllToAll);
    }
    for (int i = 1; i < size_; ++i) {
      const int to = (rank_ + i) % size_;
      reqs.Send(in + static_cast<size_t>(sd[to]) * elem, static_cast<size_t>(sc[to]) * elem, to,
                kTagAllToAll);
    }
    std::memmove(out + static_cast<size_t>(rd[rank_]) * elem, in + static_cast<size_t>(sd[rank_]) * elem,
                 static_cast<size_t>(rc[rank_]) * elem);
    return reqs.Wait("AllToAllV");
  }
  Status Broadcast(void* buf, size_t bytes, int root) override {
    Requests reqs(comm_, timeout_ms_);
    if (rank_ == root) {
      for (int i = 1; i < size_; ++i) reqs.Send(buf, bytes, (rank_ + i) % size_, kTagBroadcast);
    } else {
      reqs.Recv(buf, bytes, root, kTagBroadcast);
    }
    return reqs.Wait("Broadcast");
  }
  Status Barrier() override {
    // Everyone tells everyone it arrived: a timeout names exactly the ranks that did not.
    Requests reqs(comm_, timeout_ms_);
    char none = 0;
    std::vector<char> sink(static_cast<size_t>(size_));
    for (int p = 0; p < size_; ++p) {
      if (p != rank_) reqs.Recv(&sink[static_cast<size_t>(p)], 0, p, kTagBarrier);
    }
    for (int p = 0; p < size_; ++p) {
      if (p != rank_) reqs.Send(&none, 0, p, kTagBarrier);
    }
    return reqs.Wait("Barrier");
  }

  StatusOr<std::unique_ptr<Communicator>> CreateSub(const std::vector<int>& ranks,
                                                    const CommOptions& options) override {
    int pos = -1;
    for (size_t i = 0; i < ranks.size(); ++i) {
      if (ranks[i] == rank_) pos = static_cast<int>(i);
    }
    int valid = ranks.empty() || pos >= 0 ? 1 : 0;
    for (int r : ranks) valid &= (r >= 0 && r < size_) ? 1 : 0;
    MC2_RETURN_IF_ERROR(MpiCheck(MPI_Allreduce(MPI_IN_PLACE, &valid, 1, MPI_INT, MPI_MIN, comm_), "MPI_Allreduce"));
    if (!valid) return HcclError(hccl::kEPara, "CreateSub: a rank passed an invalid rank list");
    MPI_Comm sub = MPI_COMM_NULL;
    const int color = ranks.empty() ? MPI_UNDEFINED : ranks[0];
    MC2_RETURN_IF_ERROR(MpiCheck(MPI_Comm_split(comm_, color, pos, &sub), "MPI_Comm_split"));
    if (sub == MPI_COMM_NULL) return std::unique_ptr<Communicator>();
    int sub_size = 0;
    MPI_Comm_size(sub, &sub_size);
    // Members must have passed the same list: compare a hash of it.
    uint64_t h = 1469598103934665603ull;
    for (int r : ranks) h = (h ^ static_cast<uint64_t>(r)) * 1099511628211ull;
    uint64_t lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, sub);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, sub);
    if (lo != hi || sub_size != static_cast<int>(ranks.size())) {
      MPI_Comm_free(&sub);
      return HcclError(hccl::kEPara, "CreateSub: members of a group passed different rank lists");
    }
    auto result = InitMpiOver(sub, options);
    MPI_Comm_free(&sub);
    return result;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int64_t timeout_ms_ = 300000;
  int rank_ = 0, size_ = 1, node_ = 0, num_nodes_ = 1;
  std::vector<int> node_of_, local_rank_of_;
};

// The machine a rank belongs to, as a split color.
StatusOr<int> NodeColor(MPI_Comm comm, int world_rank, MPI_Comm* node) {
  int64_t per_node = EnvInt("MC2_MPI_RANKS_PER_NODE", 0);
  if (EnvInt("MC2_MPI_FORCE_INTERNODE", 0) != 0) per_node = 1;
  if (per_node > 0) {
    MC2_RETURN_IF_ERROR(MpiCheck(MPI_Comm_split(comm, static_cast<int>(world_rank / per_node), world_rank, node), "MPI_Comm_split"));
    return 0;
  }
  std::string table_path = EnvString("MC2_RANK_TABLE_FILE");
  if (table_path.empty()) table_path = EnvString("RANK_TABLE_FILE");
  if (!table_path.empty()) {
    MC2_ASSIGN_OR_RETURN(RankTable table, LoadRankTable(table_path));
    int world_size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (static_cast<int>(table.ranks.size()) != world_size) {
      return HcclError(hccl::kEPara, "rank table ", table_path, " lists ", table.ranks.size(),
                       " ranks but mpirun started ", world_size);
    }
    const int color = table.ranks[static_cast<size_t>(world_rank)].server;
    MC2_RETURN_IF_ERROR(MpiCheck(MPI_Comm_split(comm, color, world_rank, node), "MPI_Comm_split"));
    return 0;
  }
  MC2_RETURN_IF_ERROR(MpiCheck(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, node),
                               "MPI_Comm_split_type"));
  return 0;
}

StatusOr<std::unique_ptr<Communicator>> InitMpiOver(MPI_Comm parent, const CommOptions& options) {
  auto inter = std::make_shared<MpiInterNode>();
  MC2_RETURN_IF_ERROR(MpiCheck(MPI_Comm_dup(parent, &inter->comm_), "MPI_Comm_dup"));
  MPI_Comm_set_errhandler(inter->comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(inter->comm_, &inter->rank_);
  MPI_Comm_size(inter->comm_, &inter->size_);
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm node = MPI_COMM_NULL;
  auto color = NodeColor(inter->comm_, world_rank, &node);
  // Every rank must learn whether the grouping worked, or some would wait in the next call.
  int ok = color.ok() ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, inter->comm_);
  if (!color.ok()) return color.status();
  if (!ok) return HcclError(hccl::kEPara, "InitMpi: another rank could not determine its machine");
  int local_rank = 0, local_size = 1;
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_size);
  inter->timeout_ms_ = options.timeout_ms;
  MPI_Comm leaders = MPI_COMM_NULL;
  MPI_Comm_split(inter->comm_, local_rank == 0 ? 0 : MPI_UNDEFINED, inter->rank_, &leaders);
  int node_info[2] = {0, 0};
  if (leaders != MPI_COMM_NULL) {
    MPI_Comm_rank(leaders, &node_info[0]);
    MPI_Comm_size(leaders, &node_info[1]);
    MPI_Comm_free(&leaders);
  }
  MPI_Bcast(node_info, 2, MPI_INT, 0, node);
  inter->node_ = node_info[0];
  inter->num_nodes_ = node_info[1];
  // This machine's shared-memory communicator: node rank 0 makes the root info.
  std::string hex(2 * kRootInfoWireBytes, '0');
  int made = 1;
  if (local_rank == 0 && local_size > 1) {
    auto info = GetRootInfo();
    made = info.ok() ? 1 : 0;
    if (info.ok()) hex = RootInfoToHex(*info);
  }
  MPI_Bcast(&made, 1, MPI_INT, 0, node);
  MPI_Bcast(hex.data(), static_cast<int>(hex.size()), MPI_CHAR, 0, node);
  MPI_Comm_free(&node);
  if (!made) return HcclError(hccl::kESyscall, "InitMpi: the node leader could not make a root info");
  std::unique_ptr<Communicator> local;
  if (local_size == 1) {
    MC2_ASSIGN_OR_RETURN(auto single, InitThreads(1, options));
    local = std::move(single[0]);
  } else {
    MC2_ASSIGN_OR_RETURN(RootInfo info, RootInfoFromHex(hex));
    MC2_ASSIGN_OR_RETURN(local, InitRootInfo(local_size, info, local_rank, options));
  }
  if (inter->num_nodes_ == 1) return local;  // one machine: shared memory only
  std::vector<int> pairs(2 * static_cast<size_t>(inter->size_));
  int mine[2] = {inter->node_, local_rank};
  MC2_RETURN_IF_ERROR(MpiCheck(MPI_Allgather(mine, 2, MPI_INT, pairs.data(), 2, MPI_INT, inter->comm_), "MPI_Allgather"));
  for (int r = 0; r < inter->size_; ++r) {
    inter->node_of_.push_back(pairs[2 * static_cast<size_t>(r)]);
    inter->local_rank_of_.push_back(pairs[2 * static_cast<size_t>(r) + 1]);
  }
  const std::string name = StrCat("mpi-", inter->num_nodes_, "x", local_size, "-r", world_rank);
  return Communicator::CreateHierarchical(inter, std::move(local), options, name);
}

void FinalizeMpi() {
  if (MpiAlive()) MPI_Finalize();
}

}  // namespace

bool MpiTransportAvailable() { return true; }

StatusOr<std::unique_ptr<Communicator>> InitMpi(const CommOptions& options) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    MC2_RETURN_IF_ERROR(MpiCheck(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread"));
    std::atexit(FinalizeMpi);
  }
  return InitMpiOver(MPI_COMM_WORLD, options);
}

}  // namespace mc2::comm

#else  // !MC2_HAVE_MPI

namespace mc2::comm {

bool MpiTransportAvailable() { return false; }

StatusOr<std::unique_ptr<Communicator>> InitMpi(const CommOptions&) {
  return HcclError(hccl::kENotSupport, "mc2 was built without MPI (MC2_WITH_MPI=OFF)");
}

}  // namespace mc2::comm
#endif
