#include "comm/numa.h"

#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "comm/options.h"

namespace mc2::comm {
namespace {
constexpr int kMpolPreferred = 1;  // MPOL_PREFERRED from <linux/mempolicy.h>
}  // namespace

int NumaTopology::num_nodes() const {
  int n = 0;
  for (const auto& cpus : node_cpus) n += cpus.empty() ? 0 : 1;
  return n;
}

bool ParseCpuList(const std::string& text, std::vector<int>* cpus) {
  cpus->clear();
  size_t i = 0;
  auto number = [&](long* out) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return false;
    long v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i++] - '0');
      if (v > 1 << 20) return false;
    }
    *out = v;
    return true;
  };
  while (i < text.size() && text[i] != '\n') {
    long lo = 0, hi = 0;
    if (!number(&lo)) return false;
    hi = lo;
    if (i < text.size() && text[i] == '-') {
      ++i;
      if (!number(&hi) || hi < lo) return false;
    }
    for (long c = lo; c <= hi; ++c) cpus->push_back(static_cast<int>(c));
    if (i < text.size() && text[i] == ',') {
      ++i;
      if (i >= text.size() || text[i] == '\n') return false;
    } else if (i < text.size() && text[i] != '\n') {
      return false;
    }
  }
  return true;
}

NumaTopology ReadNumaTopology() {
  NumaTopology t;
  if (DIR* d = opendir("/sys/devices/system/node")) {
    while (dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, "node", 4) != 0) continue;
      char* end = nullptr;
      const long id = std::strtol(e->d_name + 4, &end, 10);
      if (end == e->d_name + 4 || *end != '\0' || id < 0 || id > 4096) continue;
      std::ifstream in(std::string("/sys/devices/system/node/") + e->d_name + "/cpulist");
      std::string text;
      std::getline(in, text);
      std::vector<int> cpus;
      if (!ParseCpuList(text, &cpus)) continue;
      if (t.node_cpus.size() <= static_cast<size_t>(id)) t.node_cpus.resize(static_cast<size_t>(id) + 1);
      t.node_cpus[static_cast<size_t>(id)] = std::move(cpus);
    }
    closedir(d);
  }
  if (t.num_nodes() == 0) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    t.node_cpus.assign(1, {});
    for (long c = 0; c < std::max(online, 1L); ++c) t.node_cpus[0].push_back(static_cast<int>(c));
  }
  return t;
}

int ChooseNumaNode(const NumaTopology& topology, const std::vector<int>& allowed_cpus) {
  if (topology.num_nodes() <= 1) return -1;
  int best = -1;
  size_t best_count = 0;
  bool tie = false;
  for (size_t node = 0; node < topology.node_cpus.size(); ++node) {
    size_t count = 0;
    for (int c : topology.node_cpus[node]) {
      for (int a : allowed_cpus) count += a == c ? 1 : 0;
    }
    if (count == 0) continue;
    if (count > best_count) {
      best = static_cast<int>(node);
      best_count = count;
      tie = false;
    } else if (count == best_count) {
      tie = true;
    }
  }
  return tie ? -1 : best;
}

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  return cpus;
}

int LocalNumaNode() {
  static const int node = [] {
    if (EnvInt("MC2_COMM_NUMA", 1) == 0) return -1;
    return ChooseNumaNode(ReadNumaTopology(), AllowedCpus());
  }();
  return node;
}

Status PreferNumaNode(void* addr, size_t bytes, int node) {
  if (node < 0 || bytes == 0) return Status::Ok();
  constexpr int kBits = 8 * static_cast<int>(sizeof(unsigned long));
  std::vector<unsigned long> mask(static_cast<size_t>(node / kBits + 1), 0);
  mask[static_cast<size_t>(node / kBits)] |= 1ul << (node % kBits);
  // maxnode counts bits and the kernel reads one less than given.
  const unsigned long maxnode = static_cast<unsigned long>(mask.size() * kBits) + 1;
  if (syscall(SYS_mbind, addr, bytes, kMpolPreferred, mask.data(), maxnode, 0) != 0) {
    return HcclError(hccl::kESyscall, "mbind of ", bytes, " bytes to NUMA node ", node, ": ",
                     std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace mc2::comm
