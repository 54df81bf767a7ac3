// HCCL communicator creation (hccl/hccl.h): HcclCommInitAll (ranks as threads of this process),
// HcclGetRootInfo / HcclCommInitRootInfo (ranks as processes of one machine), and
// HcclCommInitClusterInfo (an HCCL rank table file), plus the name / rank / size queries.
//
// HcclCommInitClusterInfo needs a way for the ranks to meet that the rank table itself does not
// give on a CPU. In order: under `mc2 launch` (MC2_ROOT_INFO) or mpirun the launched job's
// communicator is used (its rank and size must match the table's); a table of one rank needs no
// peer; otherwise every rank derives the same root info from the table file (its absolute path and
// contents, and the user id) and rank 0 hosts the bootstrap socket. That root info is only as secret
// as the file, which is why the bootstrap also admits only processes of the same user.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "api/hccl_comm.h"
#include "api/report.h"
#include "api/runtime.h"
#include "comm/process_transport.h"
#include "comm/rank_table.h"
#include "comm/root_info.h"
#include "comm/thread_transport.h"
#include "hccl/hccl.h"

namespace mc2::api {
namespace {

int DeviceForRank(int rank) {
  const int d = CurrentDevice();
  if (d >= 0) return d;
  return rank < Runtime::Get().DeviceCount() ? rank : 0;
}

uint64_t Fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

StatusOr<comm::RootInfo> RootInfoFromTable(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return HcclError(hccl::kEOpenFileFailure, "clusterInfo: cannot resolve '", path, "'");
  }
  std::ifstream in(resolved, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string key = StrCat(resolved, "\n", getuid(), "\n", text.str());
  comm::RootInfo info;
  for (size_t i = 0; i < comm::kSecretBytes; i += 8) {
    const uint64_t h = Fnv1a(key, i + 1);
    std::memcpy(info.secret.data() + i, &h, 8);
  }
  char name[40];
  std::snprintf(name, sizeof(name), "mc2-ct-%016llx", static_cast<unsigned long long>(Fnv1a(key, 0)));
  info.socket_name = name;
  info.uid = getuid();
  return info;
}

Status InitCluster(const char* cluster_info, uint32_t rank, HcclComm* out) {
  if (cluster_info == nullptr || out == nullptr) {
    return HcclError(hccl::kEPtr, "HcclCommInitClusterInfo: ", cluster_info == nullptr ? "clusterInfo" : "comm",
                     " is null");
  }
  MC2_ASSIGN_OR_RETURN(comm::RankTable table, comm::LoadRankTable(cluster_info));
  const int size = static_cast<int>(table.ranks.size());
  if (rank >= static_cast<uint32_t>(size)) {
    return HcclError(hccl::kEPara, "HcclCommInitClusterInfo: rank ", rank, " but the table has ", size, " ranks");
  }
  std::unique_ptr<comm::Communicator> c;
  if (!comm::EnvString("MC2_ROOT_INFO").empty() || !comm::EnvString("OMPI_COMM_WORLD_RANK").empty()) {
    MC2_ASSIGN_OR_RETURN(c, comm::InitFromEnv());
    if (c->rank() != static_cast<int>(rank) || c->world_size() != size) {
      return HcclError(hccl::kEPara, "HcclCommInitClusterInfo: the launched job is rank ", c->rank(), " of ",
                       c->world_size(), " but the call says rank ", rank, " of the table's ", size);
    }
  } else if (size == 1) {
    MC2_ASSIGN_OR_RETURN(auto comms, comm::InitThreads(1));
    c = std::move(comms[0]);
  } else {
    MC2_ASSIGN_OR_RETURN(comm::RootInfo info, RootInfoFromTable(cluster_info));
    MC2_ASSIGN_OR_RETURN(c, comm::InitRootInfo(size, info, static_cast<int>(rank)));
  }
  *out = RegisterComm(std::move(c), NextGroupId(), DeviceForRank(static_cast<int>(rank)));
  return Status::Ok();
}

}  // namespace
}  // namespace mc2::api

using mc2::HcclError;
using mc2::Status;
using mc2::api::HcclCode;
namespace hccl = mc2::hccl;

extern "C" {

HcclResult HcclGetRootInfo(HcclRootInfo* rootInfo) {
  if (rootInfo == nullptr) return static_cast<HcclResult>(HcclCode(HcclError(hccl::kEPtr, "HcclGetRootInfo: rootInfo is null")));
  auto info = mc2::comm::GetRootInfo();
  if (!info.ok()) return static_cast<HcclResult>(HcclCode(info.status()));
  std::memset(rootInfo->internal, 0, sizeof(rootInfo->internal));
  mc2::comm::EncodeRootInfo(*info, reinterpret_cast<uint8_t*>(rootInfo->internal));
  return HCCL_SUCCESS;
}

HcclResult HcclCommInitRootInfo(uint32_t nRanks, const HcclRootInfo* rootInfo, uint32_t rank, HcclComm* comm) {
  auto run = [&]() -> Status {
    if (rootInfo == nullptr || comm == nullptr) {
      return HcclError(hccl::kEPtr, "HcclCommInitRootInfo: ", rootInfo == nullptr ? "rootInfo" : "comm", " is null");
    }
    if (nRanks < 1 || rank >= nRanks) {
      return HcclError(hccl::kEPara, "HcclCommInitRootInfo: rank ", rank, " of nRanks ", nRanks, " (need rank < nRanks)");
    }
    MC2_ASSIGN_OR_RETURN(mc2::comm::RootInfo info,
                         mc2::comm::DecodeRootInfo(reinterpret_cast<const uint8_t*>(rootInfo->internal),
                                                   mc2::comm::kRootInfoWireBytes));
    MC2_ASSIGN_OR_RETURN(auto c, mc2::comm::InitRootInfo(static_cast<int>(nRanks), info, static_cast<int>(rank)));
    *comm = mc2::api::RegisterComm(std::move(c), mc2::api::NextGroupId(), mc2::api::DeviceForRank(static_cast<int>(rank)));
    return Status::Ok();
  };
  return static_cast<HcclResult>(HcclCode(run()));
}

HcclResult HcclCommInitAll(uint32_t ndev, int32_t* devices, HcclComm* comms) {
  auto run = [&]() -> Status {
    if (devices == nullptr || comms == nullptr) {
      return HcclError(hccl::kEPtr, "HcclCommInitAll: ", devices == nullptr ? "devices" : "comms", " is null");
    }
    if (ndev < 1 || ndev > static_cast<uint32_t>(mc2::api::Runtime::Get().DeviceCount())) {
      return HcclError(hccl::kEPara, "HcclCommInitAll: ndev ", ndev, " is outside [1, ",
                       mc2::api::Runtime::Get().DeviceCount(), "]");
    }
    std::vector<bool> seen(mc2::api::Runtime::Get().DeviceCount(), false);
    for (uint32_t i = 0; i < ndev; ++i) {
      if (!mc2::api::Runtime::Get().CheckDevice(devices[i]).ok() || seen[devices[i]]) {
        return HcclError(hccl::kEPara, "HcclCommInitAll: devices[", i, "] = ", devices[i],
                         " is not a device id or is listed twice");
      }
      seen[devices[i]] = true;
    }
    MC2_ASSIGN_OR_RETURN(auto made, mc2::comm::InitThreads(static_cast<int>(ndev)));
    const uint64_t group = mc2::api::NextGroupId();
    for (uint32_t i = 0; i < ndev; ++i) comms[i] = mc2::api::RegisterComm(std::move(made[i]), group, devices[i]);
    return Status::Ok();
  };
  return static_cast<HcclResult>(HcclCode(run()));
}

HcclResult HcclCommInitClusterInfo(const char* clusterInfo, uint32_t rank, HcclComm* comm) {
  return static_cast<HcclResult>(HcclCode(mc2::api::InitCluster(clusterInfo, rank, comm)));
}

HcclResult HcclGetCommName(HcclComm comm, char* commName) {
  mc2::api::CommHandle* h = mc2::api::FindComm(comm);
  if (h == nullptr || commName == nullptr) {
    return static_cast<HcclResult>(HcclCode(HcclError(hccl::kEPtr, "HcclGetCommName: comm or commName is null or stale")));
  }
  std::snprintf(commName, COMM_NAME_MAX_LENGTH, "%s", h->name.c_str());
  return HCCL_SUCCESS;
}

HcclResult HcclGetRankSize(HcclComm comm, uint32_t* rankSize) {
  mc2::api::CommHandle* h = mc2::api::FindComm(comm);
  if (h == nullptr || rankSize == nullptr) {
    return static_cast<HcclResult>(HcclCode(HcclError(hccl::kEPtr, "HcclGetRankSize: comm or rankSize is null or stale")));
  }
  *rankSize = static_cast<uint32_t>(h->comm->world_size());
  return HCCL_SUCCESS;
}

HcclResult HcclGetRankId(HcclComm comm, uint32_t* rank) {
  mc2::api::CommHandle* h = mc2::api::FindComm(comm);
  if (h == nullptr || rank == nullptr) {
    return static_cast<HcclResult>(HcclCode(HcclError(hccl::kEPtr, "HcclGetRankId: comm or rank is null or stale")));
  }
  *rank = static_cast<uint32_t>(h->comm->rank());
  return HCCL_SUCCESS;
}

HcclResult HcclCommDestroy(HcclComm comm) {
  if (!mc2::api::DestroyComm(comm)) {
    return static_cast<HcclResult>(HcclCode(HcclError(hccl::kEPtr, "HcclCommDestroy: comm is null or stale")));
  }
  return HCCL_SUCCESS;
}

}  // extern "C"
