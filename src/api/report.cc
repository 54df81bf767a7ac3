#include "api/report.h"

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
}  // namespace

void Report(const Status& status) {
  t_message = status.ToString();
  if (!Quiet()) std::fprintf(stderr, "mc2: %s\n", t_message.c_str());
}

const char* RecentErrorMessage() { return t_message.c_str(); }

}  // namespace mc2::api
