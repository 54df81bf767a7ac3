// NUMA placement of a rank's shared memory.
//
// On a machine with several NUMA nodes a rank's segment (control block, slots, symmetric buffer)
// should live on the node of the CPUs the rank runs on: the owner writes its slots and polls its
// flags, peers read them once. Pages are placed by first touch anyway, but the first touch of a
// segment is not always its owner's (a peer may read a slot before the owner ever wrote it, and
// the symmetric buffer is written by peers), so the owner's mapping gets an explicit preferred
// policy (mbind MPOL_PREFERRED: falls back to other nodes instead of failing under memory
// pressure) before anything touches it.
//
// The decision is separate from the system call so it can be tested on any machine: the node
// holding most of the CPUs this process may run on, or none (-1) when the machine has a single
// node, when the CPUs are split evenly between nodes (a rank spread over the machine has no home),
// or when MC2_COMM_NUMA=0. With no node chosen nothing is called: a harmless no-op.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"

namespace mc2::comm {

// CPUs of each NUMA node, indexed by node id (empty lists for absent ids).
struct NumaTopology {
  std::vector<std::vector<int>> node_cpus;
  int num_nodes() const;  // nodes that have CPUs
};

// Parses a kernel CPU list ("0-3,8,10-11"); false on malformed text.
bool ParseCpuList(const std::string& text, std::vector<int>* cpus);

// /sys/devices/system/node/node*/cpulist; one node with every online CPU when that is absent.
NumaTopology ReadNumaTopology();

// The node to place this rank's memory on, given the CPUs it may run on; -1 for none.
int ChooseNumaNode(const NumaTopology& topology, const std::vector<int>& allowed_cpus);

// CPUs this process may run on (sched_getaffinity).
std::vector<int> AllowedCpus();

// The node chosen for this process (computed once; -1 for none; MC2_COMM_NUMA=0 disables).
int LocalNumaNode();

// Prefers `node` for the pages of [addr, addr + bytes) (page aligned); Ok without doing anything
// for node < 0. Errors of the system call are returned (callers treat them as advisory).
Status PreferNumaNode(void* addr, size_t bytes, int node);

}  // namespace mc2::comm
