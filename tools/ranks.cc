// RunRanks: threads, re-executed processes, or one rank of an already launched job.
#include "ranks.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "comm/launcher.h"
#include "comm/process_transport.h"
#include "comm/thread_transport.h"
#include "core/trace.h"

namespace mc2::cli {
namespace {

std::vector<std::string>& CommandLine() {
  static std::vector<std::string> args;
  return args;
}

StatusOr<std::unique_ptr<ThreadPool>> MakePool() {
  MC2_ASSIGN_OR_RETURN(int threads, ThreadPool::DefaultNumThreads());
  return std::make_unique<ThreadPool>(threads);
}

// Each rank's pool gets its share of the cores (ThreadPool::DefaultNumThreads reads it), unless the
// user set MC2_LOCAL_WORLD_SIZE before the first job of this command.
void ShareCores(int nranks) {
  static const bool user_set = std::getenv("MC2_LOCAL_WORLD_SIZE") != nullptr;
  if (!user_set) setenv("MC2_LOCAL_WORLD_SIZE", std::to_string(nranks).c_str(), 1);
}

int RunThreads(int nranks, const RankFn& fn) {
  ShareCores(nranks);
  auto comms = comm::InitThreads(nranks);
  if (!comms.ok()) {
    std::fprintf(stderr, "mc2: cannot create %d thread ranks: %s\n", nranks, comms.status().ToString().c_str());
    return 1;
  }
  std::vector<int> codes(static_cast<size_t>(nranks), 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < nranks; ++r) {
    threads.emplace_back([&, r] {
      trace::SetThreadRank(r);
      auto pool = MakePool();
      if (!pool.ok()) {
        std::fprintf(stderr, "mc2: rank %d: %s\n", r, pool.status().ToString().c_str());
        codes[static_cast<size_t>(r)] = 1;
        return;
      }
      codes[static_cast<size_t>(r)] = fn(*(*comms)[static_cast<size_t>(r)], **pool);
    });
  }
  for (auto& t : threads) t.join();
  for (int c : codes) {
    if (c != 0) return c;
  }
  return 0;
}

int RunAsLaunchedRank(const RankFn& fn) {
  auto c = comm::InitFromEnv();
  if (!c.ok()) {
    std::fprintf(stderr, "mc2: cannot join the job: %s\n", c.status().ToString().c_str());
    return 1;
  }
  trace::SetProcessRank((*c)->rank());
  auto pool = MakePool();
  if (!pool.ok()) {
    std::fprintf(stderr, "mc2: rank %d: %s\n", (*c)->rank(), pool.status().ToString().c_str());
    return 1;
  }
  return fn(**c, **pool);
}

}  // namespace

bool InLaunchedJob() {
  return std::getenv("MC2_ROOT_INFO") != nullptr || std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
}

void RememberCommandLine(int argc, char** argv) {
  CommandLine().assign(argv, argv + argc);
}

int RunRanks(int nranks, bool threads, const RankFn& fn, const std::vector<std::string>& extra_args) {
  if (InLaunchedJob()) return RunAsLaunchedRank(fn);
  if (threads) return RunThreads(nranks, fn);
  std::vector<std::string> args = CommandLine();
  if (args.empty()) {
    std::fprintf(stderr, "mc2: internal error: the command line was not recorded\n");
    return 1;
  }
  // Re-execute this binary itself, not whatever `mc2` PATH finds.
  std::string self(4096, '\0');
  const ssize_t len = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (len > 0) {
    self.resize(static_cast<size_t>(len));
    args[0] = self;
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  ShareCores(nranks);
  std::fflush(stdout);
  return comm::RunLauncher(nranks, args);
}

}  // namespace mc2::cli
