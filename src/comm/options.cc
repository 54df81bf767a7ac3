#include "comm/options.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace mc2::comm {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0') return fallback;
  return x;
}

std::string EnvString(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

int OnlineCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return 1;
}

int RankCpus() {
  const int mine = OnlineCpus();
  if (mine > 1) return mine;
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 1 ? static_cast<int>(online) : 1;
}

CommOptions CommOptions::FromEnv() {
  CommOptions o;
  o.timeout_ms = EnvInt("MC2_COMM_TIMEOUT_MS", o.timeout_ms);
  if (o.timeout_ms <= 0) o.timeout_ms = 300000;
  o.spin_us = EnvInt("MC2_COMM_SPIN_US", o.spin_us);
  const int64_t slot = EnvInt("MC2_COMM_SLOT_BYTES", static_cast<int64_t>(o.slot_bytes));
  if (slot >= 65536 && slot <= (int64_t{1} << 30)) o.slot_bytes = static_cast<size_t>(slot) & ~size_t{63};
  const int64_t round = EnvInt("MC2_COMM_ROUND_BYTES", static_cast<int64_t>(o.round_bytes));
  if (round >= 4096) o.round_bytes = static_cast<size_t>(round);
  const int64_t oneshot = EnvInt("MC2_COMM_ONESHOT_MAX", static_cast<int64_t>(o.oneshot_max_bytes));
  if (oneshot >= 0) o.oneshot_max_bytes = static_cast<size_t>(oneshot);
  const int64_t single = EnvInt("MC2_COMM_SINGLE_COPY_MIN", static_cast<int64_t>(o.single_copy_min_bytes));
  o.single_copy_min_bytes = single < 0 ? SIZE_MAX : static_cast<size_t>(single);
  // HCCL sizes its communication buffer with HCCL_BUFFSIZE (MiB); honour it, then our own variable.
  const int64_t hccl_mib = EnvInt("HCCL_BUFFSIZE", 0);
  if (hccl_mib > 0 && hccl_mib <= (int64_t{1} << 14)) o.symmetric_bytes = static_cast<size_t>(hccl_mib) << 20;
  const int64_t symm = EnvInt("MC2_COMM_SYMM_BYTES", -1);
  if (symm >= 0 && symm <= (int64_t{1} << 34)) o.symmetric_bytes = static_cast<size_t>(symm) & ~size_t{63};
  return o;
}

}  // namespace mc2::comm
