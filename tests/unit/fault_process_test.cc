// Fault injection with ranks as forked processes (MC2_FAULT, core/fault.h): one rank exits, kills
// itself, stalls or sends a wrong argument digest at a chosen point of a collective or a fused
// operator. Every other rank must return an error naming that rank (within the communicator's
// shortened timeout, which the communicator itself enforces), release everything it held -- its
// descriptor count and its memfd mappings go back to what they were before the communicator was
// made -- and then join a new communicator with the other survivors in the same process and run an
// AllReduce on it. Afterwards no /dev/shm entry and no bootstrap socket of the job remains.
//
// Every action is tested at the collectives (exit, kill, stall; a digest belongs to operators
// only) and in each fused operator (ARN, LinearParallel, MoE: exit, kill, stall, digest). The MoE
// runs on a 2 x 2 grid of sub-communicators, where rank 1 shares its TP group with rank 0 and its
// EP group with rank 3 while rank 2 shares no group with it: there every survivor's error must
// name it by its global rank, and the ranks of its groups also by its rank in that group.
//
// Each child sets MC2_FAULT in its own environment and calls fault::ReloadFromEnv(), as a rank
// started with the variable set would read it; the parent never arms a fault.
#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "comm/process_transport.h"
#include "comm/root_info.h"
#include "core/fault.h"
#include "core/thread_pool.h"
#include "ops_arn_test_util.h"
#include "ops_linear_parallel_test_util.h"
#include "ops_moe_test_util.h"

namespace mc2 {
namespace {

constexpr int64_t kTimeoutMs = 1500;  // the communicators' timeout in these tests

// What a process holds that a communicator could leak.
struct Resources {
  int fds = 0;
  int memfd_maps = 0;  // mappings of our memfds ("mc2-comm")
};

Resources Snapshot() {
  Resources r;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++r.fds;
    }
    closedir(d);
    --r.fds;  // the directory's own descriptor
  }
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("memfd:mc2-comm") != std::string::npos) ++r.memfd_maps;
  }
  return r;
}

std::set<std::string> DevShm() {
  std::set<std::string> names;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
  }
  return names;
}

// Lines of /proc/net/unix naming the abstract socket of `info`.
int SocketsOf(const comm::RootInfo& info) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.find("@" + info.socket_name) != std::string::npos) ++n;
  }
  return n;
}

struct Report {
  int32_t done = 0;  // 1: reached the end
  int32_t code = 0;  // the workload's status code
  char error[1000] = {};
  char problem[400] = {};  // "" when every check in the child passed
};

comm::CommOptions Options(int64_t timeout_ms) {
  comm::CommOptions o;
  o.timeout_ms = timeout_ms;
  o.symmetric_bytes = 1 << 20;
  o.slot_bytes = 256 << 10;
  return o;
}

// The workload each rank runs on the first communicator; returns the first error.
using Workload = std::function<Status(comm::Communicator&)>;

Status AllReduceLoop(comm::Communicator& c) {
  std::vector<float> v(4096, 1.0f);
  for (int i = 0; i < 4; ++i) MC2_RETURN_IF_ERROR(c.AllReduce(v.data(), v.data(), v.size(), DType::kFloat32));
  return Status::Ok();
}

// Every collective, three rounds (after=N picks the round), then a barrier.
Status CollectiveLoop(comm::Communicator& c) {
  const size_t n = static_cast<size_t>(c.world_size());
  std::vector<float> src(1024 * n, 1.0f), dst(1024 * n, 0.0f);
  for (int i = 0; i < 3; ++i) {
    MC2_RETURN_IF_ERROR(c.AllReduce(src.data(), dst.data(), 1024, DType::kFloat32));
    MC2_RETURN_IF_ERROR(c.AllGather(src.data(), dst.data(), 1024, DType::kFloat32));
    MC2_RETURN_IF_ERROR(c.ReduceScatter(src.data(), dst.data(), 1024, DType::kFloat32));
    MC2_RETURN_IF_ERROR(c.AllToAll(src.data(), dst.data(), 1024, DType::kFloat32));
    MC2_RETURN_IF_ERROR(c.Broadcast(dst.data(), 1024, DType::kFloat32, 0));
  }
  return c.Barrier();  // a Broadcast's root need not wait for its readers; this waits for everyone
}

Status ArnWorkload(comm::Communicator& c) {
  reference::ArnShape shape;
  shape.world_size = c.world_size();
  shape.k = 128;
  shape.n = 64;
  const reference::ArnCase rc = reference::MakeArnCase(shape);
  ThreadPool pool(1);
  return ops::testing::RunArnRank(rc, &c, &pool, {}, /*inplace=*/false, /*repeats=*/2).status;
}

Status LpWorkload(comm::Communicator& c) {
  reference::LinearParallelShape shape;
  shape.world_size = c.world_size();
  const reference::LinearParallelCase lc = reference::MakeLinearParallelCase(shape);
  ThreadPool pool(1);
  return ops::testing::RunLpRank(lc, &c, &pool, {}, 2).status;
}

Status MoeWorkload(comm::Communicator& c) {  // 4 ranks: a 2 x 2 grid
  const ops::testing::GridPlace place = ops::testing::PlaceInGrid(ops::testing::GridLayout::kTpConsecutive, c.rank(), 2, 2);
  MC2_ASSIGN_OR_RETURN(auto ep, c.CreateSub(place.ep_group));
  MC2_ASSIGN_OR_RETURN(auto tp, c.CreateSub(place.tp_group));
  reference::MoeShape shape;
  const reference::MoeCase mc = reference::MakeMoeCase(shape);
  ThreadPool pool(1);
  return ops::testing::RunMoeRank(mc, place.p * 2 + place.t, ops::MoeContext{ep.get(), tp.get(), &pool}, {}, 2).status;
}

struct Scenario {
  const char* name;
  int n;
  const char* fault;  // MC2_FAULT of every rank (only rank 1 matches)
  Workload work;
  bool faulty_dies;
  int faulty_signal;  // 0: exits with code 86
  bool moe_grid = false;  // MoeWorkload: rank 1 is (EP 0, TP 1) of a 2 x 2 grid, named by global rank
};

// Child `rank`: everything up to the second communicator; fills `rep` and returns.
void RunChild(const Scenario& s, int rank, const comm::RootInfo& first, const comm::RootInfo& second, Report& rep) {
  setenv("MC2_FAULT", s.fault, 1);
  const Status armed = fault::ReloadFromEnv();
  std::string problem = armed.ok() ? "" : "MC2_FAULT: " + armed.ToString();
  const Resources before = Snapshot();
  {
    auto c = comm::InitRootInfo(s.n, first, rank, Options(kTimeoutMs));
    if (!c.ok()) {
      problem = "first communicator: " + c.status().ToString();
    } else {
      const Status st = s.work(**c);
      rep.code = st.code();
      std::snprintf(rep.error, sizeof(rep.error), "%s", st.ToString().c_str());
    }
  }
  const Resources after = Snapshot();
  if (problem.empty() && (after.fds != before.fds || after.memfd_maps != before.memfd_maps)) {
    problem = StrCat("leak after the failed communicator: fds ", before.fds, " -> ", after.fds, ", memfd maps ",
                     before.memfd_maps, " -> ", after.memfd_maps);
  }
  // The survivors (and a stalled rank, once it woke) make a new communicator among themselves.
  const int survivors = s.faulty_dies ? s.n - 1 : s.n;
  const int new_rank = s.faulty_dies && rank > 1 ? rank - 1 : rank;
  if (problem.empty()) {
    auto c = comm::InitRootInfo(survivors, second, new_rank, Options(30000));
    if (!c.ok()) {
      problem = "second communicator: " + c.status().ToString();
    } else {
      int64_t v = new_rank + 1;
      const Status st = (*c)->AllReduce(&v, &v, 1, DType::kInt64);
      if (!st.ok() || v != int64_t{survivors} * (survivors + 1) / 2) {
        problem = StrCat("AllReduce on the second communicator: ", st.ToString(), " sum ", v);
      }
    }
  }
  const Resources end = Snapshot();
  if (problem.empty() && (end.fds != before.fds || end.memfd_maps != before.memfd_maps)) {
    problem = StrCat("leak after the second communicator: fds ", before.fds, " -> ", end.fds, ", memfd maps ",
                     before.memfd_maps, " -> ", end.memfd_maps);
  }
  std::snprintf(rep.problem, sizeof(rep.problem), "%s", problem.c_str());
  rep.done = 1;
}

class FaultProcesses : public ::testing::TestWithParam<Scenario> {};

TEST_P(FaultProcesses, SurvivorsNameTheRankFreeEverythingAndStartOver) {
  const Scenario& s = GetParam();
  const std::set<std::string> shm_before = DevShm();
  auto first = comm::GetRootInfo();
  auto second = comm::GetRootInfo();
  ASSERT_TRUE(first.ok() && second.ok());
  auto* reports = static_cast<Report*>(
      mmap(nullptr, sizeof(Report) * s.n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(reports, MAP_FAILED);
  for (int r = 0; r < s.n; ++r) new (&reports[r]) Report();
  std::vector<pid_t> pids;
  for (int r = 0; r < s.n; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      RunChild(s, r, *first, *second, reports[r]);
      _exit(0);
    }
    pids.push_back(pid);
  }
  std::vector<int> statuses(s.n, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (int r = 0; r < s.n; ++r) {
    while (waitpid(pids[r], &statuses[r], WNOHANG) != pids[r]) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (pid_t p : pids) kill(p, SIGKILL);
        for (pid_t p : pids) waitpid(p, nullptr, 0);
        munmap(reports, sizeof(Report) * s.n);
        FAIL() << "ranks did not finish within 90 s";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  for (int r = 0; r < s.n; ++r) {
    const Report& rep = reports[r];
    SCOPED_TRACE(StrCat("rank ", r));
    if (r == 1 && s.faulty_dies) {
      if (s.faulty_signal != 0) {
        EXPECT_TRUE(WIFSIGNALED(statuses[r]) && WTERMSIG(statuses[r]) == s.faulty_signal) << statuses[r];
      } else {
        EXPECT_TRUE(WIFEXITED(statuses[r]) && WEXITSTATUS(statuses[r]) == 86) << statuses[r];
      }
      EXPECT_EQ(rep.done, 0);
      continue;
    }
    EXPECT_TRUE(WIFEXITED(statuses[r]) && WEXITSTATUS(statuses[r]) == 0) << statuses[r];
    ASSERT_EQ(rep.done, 1);
    EXPECT_STREQ(rep.problem, "");
    // A stalled rank that wakes may still finish: its peers published their part before they
    // gave up (CommThreadsFaults.MissingRankTimesOutNamingIt); the others must fail.
    if (r != 1) {
      EXPECT_NE(rep.code, 0) << "the workload succeeded despite the fault";
    }
    // The error names rank 1. On the MoE grid by its global rank on every survivor, and on the
    // members of its groups also by its rank there: TP group {0, 1} (rank 1), EP group {1, 3}
    // (rank 0); rank 2 shares no group with it and learns of it through ranks 0 and 3.
    const std::string error = rep.error;
    if (r != 1 && !s.moe_grid) {
      EXPECT_NE(error.find("rank 1"), std::string::npos) << error;
    }
    if (r != 1 && s.moe_grid) {
      EXPECT_NE(error.find("global rank 1"), std::string::npos) << error;
      const char* in_group = r == 0 ? "rank 1 (global rank 1" : r == 3 ? "rank 0 (global rank 1" : "global rank 1";
      EXPECT_NE(error.find(in_group), std::string::npos) << error;
    }
    std::printf("[fault %s] rank %d: %s\n", s.name, r, rep.error);
  }
  munmap(reports, sizeof(Report) * s.n);
  // Nothing new in /dev/shm. Other jobs on the machine may add or remove entries meanwhile (Open
  // MPI's shared-memory transport names its files vader_segment.*; these tests never run MPI).
  for (const std::string& name : DevShm()) {
    if (shm_before.count(name) == 0 && name.rfind("vader_segment.", 0) != 0) ADD_FAILURE() << "/dev/shm/" << name;
  }
  EXPECT_EQ(SocketsOf(*first), 0);
  EXPECT_EQ(SocketsOf(*second), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Actions, FaultProcesses,
    ::testing::Values(
        // The collectives: every point, every action but digest.
        Scenario{"exit_allreduce", 3, "rank=1,point=allreduce,action=exit,after=1", AllReduceLoop, true, 0, false},
        Scenario{"kill_allgather", 3, "rank=1,point=allgather,action=kill,after=1", CollectiveLoop, true, SIGKILL, false},
        Scenario{"stall_reducescatter", 3, "rank=1,point=reducescatter,action=stall,ms=4000,after=1", CollectiveLoop,
                 false, 0, false},
        Scenario{"exit_alltoall", 3, "rank=1,point=alltoall,action=exit", CollectiveLoop, true, 0, false},
        Scenario{"kill_broadcast", 3, "rank=1,point=broadcast,action=kill,after=2", CollectiveLoop, true, SIGKILL, false},
        // WeightQuantMatmulAllReduceAddRmsNorm.
        Scenario{"exit_arn_plan", 4, "rank=1,point=arn.plan,action=exit", ArnWorkload, true, 0, false},
        Scenario{"kill_arn_execute", 2, "rank=1,point=arn.execute,action=kill,after=1", ArnWorkload, true, SIGKILL, false},
        Scenario{"stall_arn_execute", 4, "rank=1,point=arn.execute,action=stall,ms=4000,after=1", ArnWorkload, false,
                 0, false},
        Scenario{"digest_arn_plan", 4, "rank=1,point=digest,action=digest", ArnWorkload, false, 0, false},
        // LinearParallel.
        Scenario{"kill_lp_plan", 3, "rank=1,point=lp.plan,action=kill", LpWorkload, true, SIGKILL, false},
        Scenario{"exit_lp_execute", 3, "rank=1,point=lp.execute,action=exit,after=1", LpWorkload, true, 0, false},
        Scenario{"stall_lp_plan", 3, "rank=1,point=lp.plan,action=stall,ms=4000", LpWorkload, false, 0, false},
        Scenario{"digest_lp_plan", 3, "rank=1,point=digest,action=digest", LpWorkload, false, 0, false},
        // AlltoAllAllGatherBatchMatMul on the 2 x 2 grid (rank = the grid rank, here the global one).
        Scenario{"exit_moe_plan", 4, "rank=1,point=moe.plan,action=exit", MoeWorkload, true, 0, true},
        Scenario{"kill_moe_execute", 4, "rank=1,point=moe.execute,action=kill,after=1", MoeWorkload, true, SIGKILL,
                 true},
        Scenario{"stall_moe_plan", 4, "rank=1,point=moe.plan,action=stall,ms=4000", MoeWorkload, false, 0, true},
        Scenario{"digest_moe_plan", 4, "rank=1,point=digest,action=digest", MoeWorkload, false, 0, true}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mc2
