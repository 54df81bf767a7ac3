#include "api/report.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace mc2::api {

namespace {
thread_local std::string t_message;

bool Quiet() {
  static const bool quiet = [] {
    const char* v = std::getenv("MC2_API_QUIET");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return quiet;
}

std::atomic<int> g_atb_log_level{-1};

void Keep(const Status& status, bool print) {
  t_message = status.ToString();
  if (print) std::fprintf(stderr, "mc2: %s\n", t_message.c_str());
}
}  // namespace

void Report(const Status& status) { Keep(status, !Quiet()); }

void SetAtbLogLevel(int level) { g_atb_log_level.store(level, std::memory_order_relaxed); }

void ReportAtb(const Status& status) {
  const int level = g_atb_log_level.load(std::memory_order_relaxed);
  constexpr int kNone = 4;
  Keep(status, level < 0 ? !Quiet() : level < kNone);
}

const char* RecentErrorMessage() { return t_message.c_str(); }

}  // namespace mc2::api
