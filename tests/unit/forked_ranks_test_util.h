// Runs a multi-rank test body as forked processes joined through a fresh root info (the process
// transport), collecting each rank's result in shared memory. Used by the operators' process tests.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "comm/process_transport.h"
#include "comm/root_info.h"

namespace mc2::testing {

struct ForkedRankReport {
  int32_t done = 0;  // 1: passed, 2: failed (message says why), 0: never reported
  int64_t outliers = 0;
  double max_abs = 0;
  char message[512] = {};
};

// fn(comm, report) returns "" on success or what went wrong. Returns "" when every rank reported,
// else why the run itself failed (no root info, fork failure, ranks not done within `timeout`).
inline std::string RunForkedRanks(int n,
                                  const std::function<std::string(comm::Communicator&, ForkedRankReport&)>& fn,
                                  std::vector<ForkedRankReport>* reports,
                                  std::chrono::seconds timeout = std::chrono::seconds(120)) {
  auto info = comm::GetRootInfo();
  if (!info.ok()) return "root info: " + info.status().ToString();
  auto* shared = static_cast<ForkedRankReport*>(
      mmap(nullptr, sizeof(ForkedRankReport) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared == MAP_FAILED) return "mmap of the report area failed";
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      comm::CommOptions o;
      o.symmetric_bytes = 1 << 20;
      o.slot_bytes = 256 << 10;
      o.timeout_ms = 60000;
      ForkedRankReport& rep = shared[r];
      auto c = comm::InitRootInfo(n, *info, r, o);
      std::string msg = c.ok() ? fn(**c, rep) : "init: " + c.status().ToString();
      if (msg.empty() && std::string((*c)->transport()) != "processes") msg = "wrong transport";
      std::snprintf(rep.message, sizeof(rep.message), "%s", msg.c_str());
      rep.done = msg.empty() ? 1 : 2;
      _exit(msg.empty() ? 0 : 1);
    }
    pids.push_back(pid);
  }
  std::string failure;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (pid_t pid : pids) {
    int st = 0;
    while (failure.empty() && waitpid(pid, &st, WNOHANG) != pid) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (pid_t p : pids) kill(p, SIGKILL);
        for (pid_t p : pids) waitpid(p, &st, 0);
        failure = "ranks did not finish within " + std::to_string(timeout.count()) + " s";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  reports->assign(shared, shared + n);
  munmap(shared, sizeof(ForkedRankReport) * n);
  return failure;
}

}  // namespace mc2::testing
