// NUMA placement of rank segments: the CPU-list parser, the placement decision on made-up
// topologies, and on this machine (one node here) that placement is a harmless no-op, while an
// explicit node preference reaches the kernel (checked with get_mempolicy).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "comm/numa.h"

namespace mc2::comm {
namespace {

TEST(CommNuma, ParsesKernelCpuLists) {
  std::vector<int> cpus;
  ASSERT_TRUE(ParseCpuList("0-3,8,10-11\n", &cpus));
  EXPECT_EQ(cpus, (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  ASSERT_TRUE(ParseCpuList("5", &cpus));
  EXPECT_EQ(cpus, (std::vector<int>{5}));
  ASSERT_TRUE(ParseCpuList("", &cpus));  // a node without CPUs (memory only)
  EXPECT_TRUE(cpus.empty());
  for (const char* bad : {"3-1", "a", "1,", "1--2", "-1", "1-", "0,,1", "99999999"}) {
    EXPECT_FALSE(ParseCpuList(bad, &cpus)) << bad;
  }
}

NumaTopology TwoNodes() {
  NumaTopology t;
  t.node_cpus = {{0, 1, 2, 3}, {4, 5, 6, 7}};
  return t;
}

TEST(CommNuma, ChoosesTheNodeHoldingMostOfTheRanksCpus) {
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {5}), 1);           // pinned to one core
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {0, 1, 2, 3}), 0);  // bound to a node
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {2, 3, 4}), 0);     // mostly on node 0
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {0, 1, 2, 3, 4, 5, 6, 7}), -1);  // spread: no home
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {3, 4}), -1);       // even split
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {}), -1);
  EXPECT_EQ(ChooseNumaNode(TwoNodes(), {42}), -1);         // CPUs of no known node
  NumaTopology gaps;  // node ids need not be contiguous; memory-only nodes have no CPUs
  gaps.node_cpus = {{}, {0, 1}, {}, {2, 3}};
  EXPECT_EQ(gaps.num_nodes(), 2);
  EXPECT_EQ(ChooseNumaNode(gaps, {3}), 3);
  EXPECT_EQ(ChooseNumaNode(gaps, {0}), 1);
}

TEST(CommNuma, SingleNodeMeansNoPlacement) {
  NumaTopology one;
  one.node_cpus = {{0, 1, 2, 3}};
  EXPECT_EQ(ChooseNumaNode(one, {0}), -1);
  EXPECT_EQ(ChooseNumaNode(one, {0, 1, 2, 3}), -1);
}

// The policy mode of the mapping at addr and its node mask (get_mempolicy with MPOL_F_ADDR).
long PolicyOf(void* addr, unsigned long* mask) {
  int mode = -1;
  *mask = 0;
  constexpr unsigned long kMpolFAddr = 1ul << 1;
  if (syscall(SYS_get_mempolicy, &mode, mask, 8 * sizeof(*mask), addr, kMpolFAddr) != 0) return -1;
  return mode;
}

TEST(CommNuma, ThisMachine) {
  const NumaTopology t = ReadNumaTopology();
  ASSERT_GE(t.num_nodes(), 1);
  const int node = LocalNumaNode();
  if (t.num_nodes() == 1) {
    EXPECT_EQ(node, -1);
  }
  const size_t bytes = 1 << 20;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  // No node: nothing is called, the default policy stays, the memory works.
  ASSERT_TRUE(PreferNumaNode(p, bytes, -1).ok());
  unsigned long mask = 0;
  const long before = PolicyOf(p, &mask);
  if (before >= 0) {
    EXPECT_EQ(before, 0) << "MPOL_DEFAULT expected";
  }
  std::memset(p, 0x5a, bytes);
  EXPECT_EQ(static_cast<unsigned char*>(p)[bytes - 1], 0x5a);
  // An explicit preference for a node that exists reaches the kernel.
  int first = 0;
  while (t.node_cpus[static_cast<size_t>(first)].empty()) ++first;
  void* q = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(q, MAP_FAILED);
  const Status s = PreferNumaNode(q, bytes, first);
  if (!s.ok()) {
    // Some sandboxes forbid mbind (seccomp): the error must say so; placement is advisory.
    EXPECT_NE(s.message().find("mbind"), std::string::npos) << s.ToString();
  } else if (PolicyOf(q, &mask) >= 0) {
    EXPECT_EQ(PolicyOf(q, &mask), 1) << "MPOL_PREFERRED expected";
    EXPECT_EQ(mask, 1ul << first);
  }
  std::memset(q, 0x33, bytes);
  EXPECT_EQ(static_cast<unsigned char*>(q)[0], 0x33);
  munmap(p, bytes);
  munmap(q, bytes);
}

}  // namespace
}  // namespace mc2::comm
