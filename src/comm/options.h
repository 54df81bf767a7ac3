// Tunables of the communication layer, read once from the environment (defaults in brackets):
//   MC2_COMM_TIMEOUT_MS      [300000] every blocking call gives up after this long (HCCL_E_TIMEOUT)
//   MC2_COMM_SPIN_US         [50, or 2 when ranks outnumber cores (RankCpus)] busy-wait before
//                            sleeping
//   MC2_COMM_SLOT_BYTES      [4 MiB]  staging buffer per rank (two of them, double-buffered)
//   MC2_COMM_ONESHOT_MAX     [1 MiB]  AllReduce goes one-shot while each rank reads at most this
//                            much from its peers (message x (ranks - 1)): 1 MiB at 2 ranks,
//                            146 KiB at 8; larger ones go two-shot
//   MC2_COMM_ROUND_BYTES     [512 KiB] part of a large AllReduce staged per round (kept small so
//                            a round's data is still in cache when the peers read it)
//   MC2_COMM_SINGLE_COPY_MIN [16 KiB] Broadcasts of at least this many bytes are read by the
//                            other ranks straight from the root's buffer (process_vm_readv for
//                            processes) when the system allows it; -1 never
//   MC2_COMM_SYMM_BYTES      [64 MiB] symmetric buffer per rank for fused operators (HCCL_BUFFSIZE,
//                            in MiB as HCCL reads it, is honoured too; MC2_COMM_SYMM_BYTES wins).
//                            Pages are touched only when used, so an unused buffer costs address space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mc2::comm {

struct CommOptions {
  int64_t timeout_ms = 300000;
  int64_t spin_us = -1;  // -1: chosen from the rank and core counts
  size_t slot_bytes = size_t{4} << 20;
  size_t oneshot_max_bytes = size_t{1} << 20;
  size_t round_bytes = size_t{512} << 10;
  size_t symmetric_bytes = size_t{64} << 20;
  // Measured: single copy beat the staged path from 16 KiB (0.7-0.9x vs 1.1-1.3x of Open MPI's
  // time at 16-48 KiB, same runs); below, one handoff and no syscall win.
  size_t single_copy_min_bytes = size_t{16} << 10;  // SIZE_MAX: never

  // The defaults above, overridden by the environment variables.
  static CommOptions FromEnv();
};

// An integer environment variable, or `fallback` when unset or malformed.
int64_t EnvInt(const char* name, int64_t fallback);
// A string environment variable, or "" when unset.
std::string EnvString(const char* name);

// CPUs this process may run on.
int OnlineCpus();
// CPUs the ranks of one machine can spread over, for deciding whether they outnumber the cores
// (then waits must sleep early). A process allowed on a single CPU was pinned by its launcher
// (mpirun binds each rank to its own core by default): then the machine's online CPUs count,
// not the one the rank is pinned to. Otherwise this process's CPUs (a cpuset or taskset given
// to the whole job).
int RankCpus();

}  // namespace mc2::comm
