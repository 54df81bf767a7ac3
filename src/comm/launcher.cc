#include "comm/launcher.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "comm/bootstrap.h"
#include "comm/root_info.h"
#include "comm/wait.h"

namespace mc2::comm {
namespace {

[[noreturn]] void ExecRank(int rank, int nranks, const std::string& root_hex,
                           const std::vector<std::string>& argv, const sigset_t& old_mask,
                           pid_t launcher) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != launcher) _exit(127);  // the launcher died before prctl took effect
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  const std::string r = std::to_string(rank);
  setenv("MC2_RANK", r.c_str(), 1);
  setenv("MC2_LOCAL_RANK", r.c_str(), 1);
  setenv("MC2_WORLD_SIZE", std::to_string(nranks).c_str(), 1);
  setenv("MC2_ROOT_INFO", root_hex.c_str(), 1);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "mc2 launch: cannot run %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int RunLauncher(int nranks, const std::vector<std::string>& argv) {
  if (nranks < 1 || nranks > kMaxProcessRanks || argv.empty()) {
    std::fprintf(stderr, "mc2 launch: need 1..%d ranks and a program\n", kMaxProcessRanks);
    return 2;
  }
  auto info = GetRootInfo();
  if (!info.ok()) {
    std::fprintf(stderr, "mc2 launch: %s\n", info.status().ToString().c_str());
    return 1;
  }
  const std::string root_hex = RootInfoToHex(*info);
  // Signals are taken synchronously (sigtimedwait) so forwarding needs no async handler.
  sigset_t handled, old_mask;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGCHLD);
  sigprocmask(SIG_BLOCK, &handled, &old_mask);
  const pid_t self = getpid();
  std::vector<pid_t> pids(static_cast<size_t>(nranks), -1);
  int first_failure = 0;
  for (int r = 0; r < nranks; ++r) {
    const pid_t pid = fork();
    if (pid == 0) ExecRank(r, nranks, root_hex, argv, old_mask, self);
    if (pid < 0) {
      std::fprintf(stderr, "mc2 launch: fork failed: %s\n", std::strerror(errno));
      first_failure = 127;
      break;
    }
    pids[static_cast<size_t>(r)] = pid;
  }
  int alive = 0;
  for (pid_t p : pids) alive += p > 0 ? 1 : 0;
  int64_t kill_deadline = 0;  // when set: SIGKILL whatever is still running at this time
  auto signal_all = [&](int sig) {
    for (pid_t p : pids) if (p > 0) kill(p, sig);
  };
  if (first_failure != 0) {
    signal_all(SIGTERM);
    kill_deadline = NowNs() + 2000000000;
  }
  while (alive > 0) {
    timespec tick{0, 50 * 1000 * 1000};
    const int sig = sigtimedwait(&handled, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      signal_all(sig);
      if (first_failure == 0) first_failure = 128 + sig;
      if (kill_deadline == 0) kill_deadline = NowNs() + 2000000000;
    }
    for (size_t r = 0; r < pids.size(); ++r) {
      if (pids[r] <= 0) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      pids[r] = -1;
      --alive;
      const int code = ExitCode(status);
      if (code != 0 && first_failure == 0) {
        first_failure = code;
        std::fprintf(stderr, "mc2 launch: rank %zu failed with exit code %d; stopping the others\n",
                     r, code);
        signal_all(SIGTERM);
        kill_deadline = NowNs() + 2000000000;
      }
    }
    if (kill_deadline != 0 && NowNs() >= kill_deadline) signal_all(SIGKILL);
  }
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  return first_failure;
}

}  // namespace mc2::comm
