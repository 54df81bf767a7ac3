// Running one function on every rank of a local job, whichever way the ranks are made:
//
//   threads     InitThreads(n) in this process, one std::thread per rank;
//   processes   this very command line re-executed n times through the comm layer's launcher
//               (RunLauncher sets MC2_ROOT_INFO / MC2_RANK / MC2_WORLD_SIZE), each child joining
//               with InitFromEnv;
//   launched    the command already runs as one rank of a job (under `mc2 launch` or mpirun):
//               InitFromEnv, and this process is that one rank.
// The subcommands (demo, run-op, bench --trace) write their per-rank work once, as a RankFn.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/thread_pool.h"

namespace mc2::cli {

// One rank's work; returns this rank's exit code (0 = success).
using RankFn = std::function<int(comm::Communicator& comm, ThreadPool& pool)>;

// True when this process is one rank of a launched job (MC2_ROOT_INFO or OMPI_COMM_WORLD_SIZE set).
bool InLaunchedJob();

// Saves argc/argv so that the processes mode can re-execute the same command line.
void RememberCommandLine(int argc, char** argv);

// Runs `fn` on `nranks` ranks (threads or processes; ignored in a launched job, where the job's
// size counts). Each rank gets a thread pool of ThreadPool::DefaultNumThreads() threads, the
// local world size being the number of ranks on this machine. Returns the first non-zero exit
// code of a rank, or 0. Processes re-execute the command line with `extra_args` appended (how a
// child learns which part of a multi-job command it is).
int RunRanks(int nranks, bool threads, const RankFn& fn, const std::vector<std::string>& extra_args = {});

}  // namespace mc2::cli
