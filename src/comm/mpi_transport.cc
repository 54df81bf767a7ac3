#include "comm/mpi_transport.h"

#if defined(MC2_HAVE_MPI)
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>
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

Status FitsInt(size_t v, const char* what) {
  if (v > static_cast<size_t>(INT_MAX)) {
    return HcclError(hccl::kENotSupport, what, ": ", v, " bytes exceed MPI's int count");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Communicator>> InitMpiOver(MPI_Comm parent, const CommOptions& options);

class MpiInterNode final : public InterNode {
 public:
  ~MpiInterNode() override {
    if (!MpiAlive()) return;
    if (leaders_ != MPI_COMM_NULL) MPI_Comm_free(&leaders_);
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int node() const override { return node_; }
  int num_nodes() const override { return num_nodes_; }
  bool leader() const override { return leaders_ != MPI_COMM_NULL; }
  int LocalRankOf(int peer) const override {
    if (peer < 0 || peer >= size_ || node_of_[static_cast<size_t>(peer)] != node_) return -1;
    return local_rank_of_[static_cast<size_t>(peer)];
  }

  Status LeaderAllGather(const void* src, void* dst, size_t bytes) override {
    MC2_RETURN_IF_ERROR(FitsInt(bytes, "MPI_Allgather"));
    return MpiCheck(MPI_Allgather(src, static_cast<int>(bytes), MPI_BYTE, dst,
                                  static_cast<int>(bytes), MPI_BYTE, leaders_),
                    "MPI_Allgather between machines");
  }
  Status AllGather(const void* src, void* dst, size_t bytes) override {
    MC2_RETURN_IF_ERROR(FitsInt(bytes * static_cast<size_t>(size_), "MPI_Allgather"));
    const void* in = src == static_cast<char*>(dst) + bytes * static_cast<size_t>(rank_) ? MPI_IN_PLACE : src;
    return MpiCheck(MPI_Allgather(in, static_cast<int>(bytes), MPI_BYTE, dst,
                                  static_cast<int>(bytes), MPI_BYTE, comm_),
                    "MPI_Allgather");
  }
  Status AllToAllV(const void* src, const int64_t* sc, const int64_t* sd, void* dst,
                   const int64_t* rc, const int64_t* rd, size_t elem) override {
    std::vector<int> scount(static_cast<size_t>(size_)), sdisp(scount.size()), rcount(scount.size()),
        rdisp(scount.size());
    size_t send_end = 0;
    for (size_t p = 0; p < scount.size(); ++p) {
      const size_t values[4] = {static_cast<size_t>(sc[p]) * elem, static_cast<size_t>(sd[p]) * elem,
                                static_cast<size_t>(rc[p]) * elem, static_cast<size_t>(rd[p]) * elem};
      for (size_t v : values) MC2_RETURN_IF_ERROR(FitsInt(v, "MPI_Alltoallv"));
      scount[p] = static_cast<int>(values[0]);
      sdisp[p] = static_cast<int>(values[1]);
      rcount[p] = static_cast<int>(values[2]);
      rdisp[p] = static_cast<int>(values[3]);
      send_end = std::max(send_end, values[0] + values[1]);
    }
    std::vector<char> copy;
    if (src == dst && send_end > 0) {  // MPI forbids aliasing; stage the send side
      copy.assign(static_cast<const char*>(src), static_cast<const char*>(src) + send_end);
      src = copy.data();
    }
    return MpiCheck(MPI_Alltoallv(src, scount.data(), sdisp.data(), MPI_BYTE, dst, rcount.data(),
                                  rdisp.data(), MPI_BYTE, comm_),
                    "MPI_Alltoallv");
  }
  Status Broadcast(void* buf, size_t bytes, int root) override {
    MC2_RETURN_IF_ERROR(FitsInt(bytes, "MPI_Bcast"));
    return MpiCheck(MPI_Bcast(buf, static_cast<int>(bytes), MPI_BYTE, root, comm_), "MPI_Bcast");
  }
  Status Barrier() override { return MpiCheck(MPI_Barrier(comm_), "MPI_Barrier"); }

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
  MPI_Comm leaders_ = MPI_COMM_NULL;
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
  MPI_Comm_split(inter->comm_, local_rank == 0 ? 0 : MPI_UNDEFINED, inter->rank_, &inter->leaders_);
  int node_info[2] = {0, 0};
  if (inter->leaders_ != MPI_COMM_NULL) {
    MPI_Comm_rank(inter->leaders_, &node_info[0]);
    MPI_Comm_size(inter->leaders_, &node_info[1]);
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
