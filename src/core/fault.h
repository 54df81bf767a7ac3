// Fault injection for the reliability tests (issue 8): makes one chosen rank exit, die by
// SIGKILL, stall, or send a wrong argument digest at a chosen point of a chosen operator or
// collective, so that tests can prove what the other ranks do then (docs/reliability.md).
//
// Controlled by one environment variable, read once per process (ReloadFromEnv re-reads it):
//   MC2_FAULT="rank=R,point=P[|P2...],action=A[,after=N][,ms=T]"
//     rank    the rank, in the communicator the point runs on, that misbehaves
//     point   one or more of (case-insensitive): the collectives allreduce, reducescatter,
//             allgather, alltoall, alltoallv, broadcast (their entry); the operators' phases
//             arn.plan, arn.execute, lp.plan, lp.execute, moe.plan, moe.execute (entry of Create
//             and Execute); digest (the cross-rank argument check inside every operator's plan)
//     action  exit (_exit(86), no cleanup), kill (SIGKILL to itself), stall (sleep T ms, then go
//             on), digest (this rank's argument digest differs from its peers'; only at 'digest')
//     after   hits of the point(s) on that rank to let pass first [0]: the fault fires once, at
//             hit N + 1
//     ms      stall length [3600000]
// Unset (the normal case), every injection point costs one relaxed atomic load and a branch.
// A malformed value is reported on stderr once and ignored (no fault is injected).
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "core/status_or.h"

namespace mc2::fault {

enum class Action : int { kNone = 0, kExit, kKill, kStall, kDigest };

struct Spec {
  int rank = -1;
  std::vector<std::string> points;  // lower case
  Action action = Action::kNone;
  int64_t after = 0;
  int64_t stall_ms = 3600000;
};

// Parses an MC2_FAULT value; the error names the key and the rule.
StatusOr<Spec> ParseSpec(std::string_view text);

// Re-reads MC2_FAULT (a process that sets it after it started, e.g. a forked rank); resets the
// hit counters. Returns the parse error of a malformed value (then no fault is armed).
Status ReloadFromEnv();

namespace detail {
// -1: not read yet, 0: off, 1: armed.
extern std::atomic<int> g_state;
Action Fire(std::string_view point, int rank);
}  // namespace detail

// An injection point: `point` as listed above, `rank` the caller's rank in the communicator the
// point runs on. Exits, kills or stalls here when the armed fault says so; returns kDigest when
// the caller must corrupt its digest, kNone otherwise.
inline Action At(std::string_view point, int rank) {
  if (detail::g_state.load(std::memory_order_relaxed) == 0) return Action::kNone;
  return detail::Fire(point, rank);
}

}  // namespace mc2::fault
