// Ranks as forked processes joined through a root info: every collective against the reference,
// sub-communicators, determinism against the thread transport, a rank SIGKILLed in the middle of
// collectives, a joiner with a wrong secret, and no trace left in /dev/shm or /tmp.
#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "comm/process_transport.h"
#include "comm/thread_transport.h"
#include "comm_test_util.h"

namespace mc2::comm {
namespace {

using testing::Bytes;

constexpr size_t kBlobBytes = 512 << 10;

struct RankReport {
  int32_t code;
  int64_t error_ns;
  char message[1024];
  uint8_t blob[kBlobBytes];
};

// Shared, zero-filled reports that forked children write into.
class Reports {
 public:
  explicit Reports(int n) : n_(n) {
    mem_ = mmap(nullptr, sizeof(RankReport) * static_cast<size_t>(n), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  }
  ~Reports() { munmap(mem_, sizeof(RankReport) * static_cast<size_t>(n_)); }
  RankReport& operator[](int r) { return static_cast<RankReport*>(mem_)[r]; }

 private:
  int n_;
  void* mem_;
};

void SetMessage(RankReport& rep, const std::string& msg) {
  std::snprintf(rep.message, sizeof(rep.message), "%s", msg.c_str());
}

CommOptions TestOptions() {
  CommOptions o;
  o.slot_bytes = 64 << 10;
  o.oneshot_max_bytes = 16 << 10;
  o.symmetric_bytes = 64 << 10;
  o.timeout_ms = 60000;
  return o;
}

using RankFn = std::function<std::string(Communicator&, RankReport&)>;

// Forks n ranks; each joins and runs fn. `during` runs in the parent while they run.
// Returns the wait statuses.
std::vector<int> RunForked(int n, const CommOptions& o, Reports& reports, const RankFn& fn,
                           const std::function<void(const std::vector<pid_t>&)>& during = {}) {
  auto info = GetRootInfo();
  EXPECT_TRUE(info.ok());
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      RankReport& rep = reports[r];
      auto comm = InitRootInfo(n, *info, r, o);
      if (!comm.ok()) {
        rep.code = comm.status().code();
        SetMessage(rep, "init: " + comm.status().ToString());
        _exit(1);
      }
      const std::string msg = fn(**comm, rep);
      if (!msg.empty()) SetMessage(rep, msg);
      _exit(msg.empty() ? 0 : 1);
    }
    pids.push_back(pid);
  }
  if (during) during(pids);
  std::vector<int> statuses(static_cast<size_t>(n), -1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int left = n;
  while (left > 0) {
    for (int r = 0; r < n; ++r) {
      if (statuses[static_cast<size_t>(r)] != -1) continue;
      int st = 0;
      if (waitpid(pids[static_cast<size_t>(r)], &st, WNOHANG) == pids[static_cast<size_t>(r)]) {
        statuses[static_cast<size_t>(r)] = st;
        --left;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (pid_t p : pids) kill(p, SIGKILL);
      ADD_FAILURE() << "ranks did not finish within 120 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return statuses;
}

void ExpectAllSucceeded(int n, Reports& reports, const std::vector<int>& statuses) {
  for (int r = 0; r < n; ++r) {
    EXPECT_TRUE(WIFEXITED(statuses[static_cast<size_t>(r)]) && WEXITSTATUS(statuses[static_cast<size_t>(r)]) == 0)
        << "rank " << r << ": " << reports[r].message;
  }
}

std::set<std::string> ListDir(const char* dir) {
  std::set<std::string> names;
  if (DIR* d = opendir(dir)) {
    while (dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
  }
  return names;
}

class CommProcesses : public ::testing::TestWithParam<int> {};

TEST_P(CommProcesses, EveryCollectiveMatchesReference) {
  const int n = GetParam();
  Reports reports(n);
  const auto statuses = RunForked(n, TestOptions(), reports, [n](Communicator& c, RankReport&) {
    if (std::string(c.transport()) != "processes") return std::string("wrong transport");
    MC2_CHECK_EMPTY(testing::CheckEverything(c, n > 4));
    return testing::CheckGrid(c, 2);
  });
  ExpectAllSucceeded(n, reports, statuses);
}

INSTANTIATE_TEST_SUITE_P(Ranks, CommProcesses, ::testing::Values(2, 3, 4, 8));

// Broadcast read straight from the root (single copy, process_vm_readv) for every size, and
// staged through the root's slot for every size.
TEST(CommProcessesBroadcast, SingleCopyAndStaged) {
  for (size_t single_copy_min : {size_t{0}, SIZE_MAX}) {
    for (int n : {2, 3}) {
      CommOptions o = TestOptions();
      o.single_copy_min_bytes = single_copy_min;
      Reports reports(n);
      const auto statuses = RunForked(n, o, reports, [](Communicator& c, RankReport&) {
        return testing::CheckBroadcasts(c, 900);
      });
      ExpectAllSucceeded(n, reports, statuses);
    }
  }
}

TEST(CommProcessesDeterminism, SameBitsAsThreads) {
  const size_t count = 100003;
  for (int n : {3, 4}) {
    Reports reports(n);
    CommOptions o;  // default algorithm choice: two-shot at this size
    const auto statuses = RunForked(n, o, reports, [count](Communicator& c, RankReport& rep) {
      Bytes out;
      MC2_CHECK_EMPTY(testing::FingerprintAllReduce(c, count, &out));
      std::memcpy(rep.blob, out.data(), out.size());
      return std::string();
    });
    ExpectAllSucceeded(n, reports, statuses);
    auto comms = InitThreads(n, TestOptions());
    ASSERT_TRUE(comms.ok());
    std::vector<Bytes> thread_out(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    for (int r = 0; r < n; ++r) {
      threads.emplace_back([&, r] {
        (void)testing::FingerprintAllReduce(*(*comms)[static_cast<size_t>(r)], count,
                                            &thread_out[static_cast<size_t>(r)]);
      });
    }
    for (auto& t : threads) t.join();
    for (int r = 0; r < n; ++r) {
      ASSERT_EQ(std::memcmp(reports[r].blob, thread_out[0].data(), count * 4), 0) << "rank " << r;
    }
  }
}

TEST(CommProcessesFaults, KilledRankIsReportedBySurvivors) {
  const std::set<std::string> shm_before = ListDir("/dev/shm");
  const std::set<std::string> tmp_before = ListDir("/tmp");
  const int n = 4;
  const int victim = 2;
  Reports reports(n);
  CommOptions o;
  o.timeout_ms = 30000;
  int64_t kill_ns = 0;
  const auto statuses = RunForked(
      n, o, reports,
      [](Communicator& c, RankReport& rep) -> std::string {
        std::vector<float> buf(1 << 18, 1.0f);  // 1 MiB: the two-shot path
        for (int i = 0; i < 1000000; ++i) {
          const Status s = i % 2 ? c.AllReduce(buf.data(), buf.data(), buf.size(), DType::kFloat32)
                                 : c.AllReduce(buf.data(), buf.data(), 7, DType::kFloat32);
          if (!s.ok()) {
            rep.error_ns = NowNs();
            rep.code = s.code();
            SetMessage(rep, s.message());
            const Status again = c.Barrier();  // fails fast, with the same error
            return again.ok() ? std::string("a call after the failure succeeded") : std::string();
          }
          std::fill(buf.begin(), buf.end(), 1.0f);
        }
        return std::string("no error although a rank was killed");
      },
      [&](const std::vector<pid_t>& pids) {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        kill_ns = NowNs();
        kill(pids[victim], SIGKILL);
      });
  for (int r = 0; r < n; ++r) {
    if (r == victim) {
      EXPECT_TRUE(WIFSIGNALED(statuses[static_cast<size_t>(r)]));
      continue;
    }
    EXPECT_TRUE(WIFEXITED(statuses[static_cast<size_t>(r)]) && WEXITSTATUS(statuses[static_cast<size_t>(r)]) == 0)
        << "rank " << r << " status " << statuses[static_cast<size_t>(r)];
    EXPECT_EQ(reports[r].code, hccl::kERemote) << reports[r].message;
    EXPECT_NE(std::string(reports[r].message).find("rank 2"), std::string::npos) << reports[r].message;
    const double secs = static_cast<double>(reports[r].error_ns - kill_ns) / 1e9;
    EXPECT_LT(secs, 2.0) << "rank " << r << " noticed after " << secs << " s";
  }
  // Nothing of mc2's is left behind. Only names of mc2's count: ctest runs other tests beside this
  // one, and their processes (an MPI launcher, say) may create and remove files here meanwhile
  // (an exact comparison of /dev/shm failed once that way under ctest -j 2).
  for (const char* dir : {"/dev/shm", "/tmp"}) {
    const std::set<std::string>& before = dir[1] == 'd' ? shm_before : tmp_before;
    for (const std::string& name : ListDir(dir)) {
      if (before.count(name) == 0) {
        EXPECT_EQ(name.find("mc2"), std::string::npos) << dir << "/" << name;
      }
    }
  }
}

TEST(CommProcessesSecurity, WrongSecretIsRefused) {
  auto info = GetRootInfo();
  ASSERT_TRUE(info.ok());
  CommOptions o = TestOptions();
  o.timeout_ms = 20000;
  Reports reports(3);
  auto spawn = [&](int slot, const std::function<std::string()>& fn) {
    const pid_t pid = fork();
    if (pid == 0) {
      const std::string msg = fn();
      SetMessage(reports[slot], msg);
      _exit(msg.empty() ? 0 : 1);
    }
    return pid;
  };
  auto check = [&](const RootInfo& use, int rank) -> std::string {
    auto comm = InitRootInfo(2, use, rank, o);
    if (!comm.ok()) return "init: " + comm.status().ToString();
    return testing::CheckAllReduce(**comm, DType::kFloat32, ReduceOp::kSum, 999, 3, false);
  };
  std::vector<pid_t> pids;
  pids.push_back(spawn(0, [&] { return check(*info, 0); }));
  pids.push_back(spawn(1, [&]() -> std::string {
    RootInfo bad = *info;
    bad.secret[5] ^= 1;
    auto comm = InitRootInfo(2, bad, 1, o);
    if (comm.ok()) return "joined with a wrong secret";
    if (comm.status().message().find("secret") == std::string::npos) return "unexpected error: " + comm.status().ToString();
    return "";
  }));
  int st = 0;
  waitpid(pids[1], &st, 0);  // the intruder is refused before the real rank 1 joins
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << reports[1].message;
  pids.push_back(spawn(2, [&] { return check(*info, 1); }));
  for (int i : {0, 2}) {
    waitpid(pids[static_cast<size_t>(i)], &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << reports[i].message;
  }
}

TEST(CommProcessesBootstrap, MissingRankTimesOut) {
  CommOptions o = TestOptions();
  o.timeout_ms = 500;
  Reports reports(2);
  auto info = GetRootInfo();
  ASSERT_TRUE(info.ok());
  const pid_t pid = fork();
  if (pid == 0) {
    auto comm = InitRootInfo(3, *info, 0, o);  // ranks 1 and 2 never come
    _exit(!comm.ok() && comm.status().code() == hccl::kETimeout &&
                  comm.status().message().find("1, 2") != std::string::npos
              ? 0
              : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

}  // namespace
}  // namespace mc2::comm
