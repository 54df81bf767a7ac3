// RunLauncher: ranks as separate programs joined through the environment, the first failure
// stops the job, signals are forwarded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "comm/launcher.h"

namespace mc2::comm {
namespace {

const char* RankMain() { return MC2_COMM_RANK_MAIN; }

TEST(CommLauncher, RanksJoinAndPassEveryCollective) {
  for (int n : {1, 2, 3}) {
    EXPECT_EQ(RunLauncher(n, {RankMain(), "collectives"}), 0) << n << " ranks";
  }
}

TEST(CommLauncher, FirstFailureStopsTheOthers) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RunLauncher(3, {RankMain(), "fail"}), 3);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

TEST(CommLauncher, MissingProgramIs127) {
  EXPECT_EQ(RunLauncher(2, {"/nonexistent/mc2-no-such-program"}), 127);
}

TEST(CommLauncher, ForwardsSigterm) {
  const pid_t pid = fork();
  if (pid == 0) _exit(RunLauncher(2, {RankMain(), "sleep"}) & 0xff);
  usleep(300 * 1000);
  const auto start = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 128 + SIGTERM);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

}  // namespace
}  // namespace mc2::comm
