// MC2_FAULT parsing and the slow path of the injection points (fault.h). Only reached when a
// fault is armed or the variable was not read yet; the counters are then guarded by a mutex, which
// is fine for a test tool (the fast path never takes it).
#include "core/fault.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "core/status.h"

namespace mc2::fault {

namespace detail {
std::atomic<int> g_state{-1};
}  // namespace detail

namespace {

constexpr int kExitCode = 86;

const char* const kPoints[] = {"allreduce", "reducescatter", "allgather", "alltoall",    "alltoallv",
                               "broadcast", "arn.plan",      "arn.execute", "lp.plan",   "lp.execute",
                               "moe.plan",  "moe.execute",   "digest"};

struct Armed {
  std::mutex mu;
  Spec spec;
  std::map<int, int64_t> hits;  // by rank (thread ranks share the process)
  bool fired = false;
};

Armed& State() {
  static auto* s = new Armed();
  return *s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Status Bad(const std::string& what) { return HcclError(hccl::kEPara, "MC2_FAULT: ", what); }

StatusOr<int64_t> ParseInt(std::string_view key, std::string_view value, int64_t min) {
  if (value.empty() || value.size() > 12) return Bad(StrCat(key, " is '", value, "' (must be an integer >= ", min, ")"));
  int64_t v = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return Bad(StrCat(key, " is '", value, "' (must be an integer >= ", min, ")"));
    v = v * 10 + (c - '0');
  }
  if (v < min) return Bad(StrCat(key, " is ", v, " (must be >= ", min, ")"));
  return v;
}

bool Matches(const Spec& spec, std::string_view point) {
  const std::string p = Lower(point);
  for (const std::string& s : spec.points) {
    if (s == p) return true;
  }
  return false;
}

void Say(const Spec& spec, std::string_view point, int rank, const char* what) {
  std::fprintf(stderr, "mc2: MC2_FAULT: rank %d %s at %.*s (hit %lld)\n", rank, what, static_cast<int>(point.size()),
               point.data(), static_cast<long long>(spec.after + 1));
  std::fflush(stderr);
}

}  // namespace

StatusOr<Spec> ParseSpec(std::string_view text) {
  Spec spec;
  bool have_rank = false, have_point = false, have_action = false;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(at, end - at);
    at = end + 1;
    if (item.empty()) {
      if (end == text.size()) break;
      return Bad("empty item (items are key=value, separated by ',')");
    }
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Bad(StrCat("item '", item, "' has no '=' (items are key=value)"));
    const std::string key = Lower(item.substr(0, eq));
    const std::string_view value = item.substr(eq + 1);
    if (key == "rank") {
      MC2_ASSIGN_OR_RETURN(const int64_t r, ParseInt("rank", value, 0));
      if (r > 1 << 20) return Bad(StrCat("rank is ", r, " (must be < 2^20)"));
      spec.rank = static_cast<int>(r);
      have_rank = true;
    } else if (key == "point") {
      size_t p = 0;
      while (p <= value.size()) {
        size_t bar = value.find('|', p);
        if (bar == std::string_view::npos) bar = value.size();
        const std::string name = Lower(value.substr(p, bar - p));
        bool known = false;
        for (const char* k : kPoints) known = known || name == k;
        if (!known) {
          return Bad(StrCat("point '", name,
                            "' is not one of allreduce, reducescatter, allgather, alltoall, alltoallv, broadcast, "
                            "arn.plan, arn.execute, lp.plan, lp.execute, moe.plan, moe.execute, digest"));
        }
        spec.points.push_back(name);
        p = bar + 1;
      }
      have_point = true;
    } else if (key == "action") {
      const std::string a = Lower(value);
      if (a == "exit") {
        spec.action = Action::kExit;
      } else if (a == "kill") {
        spec.action = Action::kKill;
      } else if (a == "stall") {
        spec.action = Action::kStall;
      } else if (a == "digest") {
        spec.action = Action::kDigest;
      } else {
        return Bad(StrCat("action '", value, "' is not one of exit, kill, stall, digest"));
      }
      have_action = true;
    } else if (key == "after") {
      MC2_ASSIGN_OR_RETURN(spec.after, ParseInt("after", value, 0));
    } else if (key == "ms") {
      MC2_ASSIGN_OR_RETURN(spec.stall_ms, ParseInt("ms", value, 0));
    } else {
      return Bad(StrCat("unknown key '", key, "' (keys: rank, point, action, after, ms)"));
    }
  }
  if (!have_rank || !have_point || !have_action) {
    return Bad(StrCat("'", text, "' lacks ", !have_rank ? "rank" : !have_point ? "point" : "action",
                      " (rank, point and action are required)"));
  }
  if (spec.action == Action::kDigest) {
    for (const std::string& p : spec.points) {
      if (p != "digest") return Bad(StrCat("action digest works at point digest only, not at '", p, "'"));
    }
  }
  return spec;
}

Status ReloadFromEnv() {
  Armed& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  s.hits.clear();
  s.fired = false;
  const char* text = std::getenv("MC2_FAULT");
  if (text == nullptr || *text == '\0') {
    detail::g_state.store(0, std::memory_order_relaxed);
    return Status::Ok();
  }
  StatusOr<Spec> spec = ParseSpec(text);
  if (!spec.ok()) {
    detail::g_state.store(0, std::memory_order_relaxed);
    return spec.status();
  }
  s.spec = *spec;
  detail::g_state.store(1, std::memory_order_relaxed);
  return Status::Ok();
}

namespace detail {

Action Fire(std::string_view point, int rank) {
  if (g_state.load(std::memory_order_acquire) < 0) {
    static std::once_flag once;
    std::call_once(once, [] {
      if (g_state.load() >= 0) return;  // ReloadFromEnv ran meanwhile
      const Status s = ReloadFromEnv();
      if (!s.ok()) std::fprintf(stderr, "mc2: %s; no fault is injected\n", s.message().c_str());
    });
    if (g_state.load(std::memory_order_acquire) == 0) return Action::kNone;
  }
  Armed& s = State();
  Spec spec;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.fired || rank != s.spec.rank || !Matches(s.spec, point)) return Action::kNone;
    if (s.hits[rank]++ != s.spec.after) return Action::kNone;
    s.fired = true;
    spec = s.spec;
  }
  switch (spec.action) {
    case Action::kExit:
      Say(spec, point, rank, "exits");
      _exit(kExitCode);
    case Action::kKill:
      Say(spec, point, rank, "kills itself");
      raise(SIGKILL);
      _exit(kExitCode);  // not reached
    case Action::kStall:
      Say(spec, point, rank, "stalls");
      std::this_thread::sleep_for(std::chrono::milliseconds(spec.stall_ms));
      return Action::kNone;
    case Action::kDigest:
      Say(spec, point, rank, "sends a wrong argument digest");
      return Action::kDigest;
    case Action::kNone:
      break;
  }
  return Action::kNone;
}

}  // namespace detail
}  // namespace mc2::fault
