// Ranks as processes on one machine (HcclGetRootInfo / HcclCommInitRootInfo).
//
// Each rank's memory is a memfd (MFD_CLOEXEC, sealed against shrinking so a peer can never make
// our mappings fault), passed to the others over the bootstrap socket (bootstrap.h). Nothing is
// created in /dev/shm or on disk, so nothing is left behind when a rank is killed, even with
// SIGKILL: the memory goes away with the last process that maps it. A peer's liveness is watched
// through a pidfd (poll says readable once the process is gone).
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/options.h"
#include "comm/root_info.h"

namespace mc2::comm {

// Joins the job described by `info` as `rank` of `nranks`. Rank 0 must be one of the callers
// (it hosts the bootstrap socket until everyone has joined). Blocks until all ranks joined or the
// timeout (options.timeout_ms) passed.
StatusOr<std::unique_ptr<Communicator>> InitRootInfo(int nranks, const RootInfo& info, int rank,
                                                     const CommOptions& options);
inline StatusOr<std::unique_ptr<Communicator>> InitRootInfo(int nranks, const RootInfo& info,
                                                            int rank) {
  return InitRootInfo(nranks, info, rank, CommOptions::FromEnv());
}

// The communicator of a launched program, from the environment:
//   MC2_ROOT_INFO + MC2_RANK + MC2_WORLD_SIZE  (set by RunLauncher / `mc2 launch`): processes;
//   OMPI_COMM_WORLD_RANK / _SIZE (under mpirun, when built with MPI): the MPI transport;
//   neither: a single rank.
StatusOr<std::unique_ptr<Communicator>> InitFromEnv();

}  // namespace mc2::comm
