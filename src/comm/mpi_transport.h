// Ranks started by mpirun (OpenMPI), possibly on several machines.
//
// Ranks are grouped by machine (MPI_COMM_TYPE_SHARED), or by the HCCL rank table named in
// MC2_RANK_TABLE_FILE / RANK_TABLE_FILE (ranks with the same server_id), or artificially:
// MC2_MPI_RANKS_PER_NODE=k puts world ranks [i*k, (i+1)*k) together and MC2_MPI_FORCE_INTERNODE=1
// is k = 1, so the between-machine path can run on one machine. Each machine's ranks form a
// shared-memory communicator (bootstrapped over MPI, then the process transport); when all ranks
// share one machine that communicator is returned as is, otherwise a hierarchical one
// (hierarchical.cc) combines it with MPI between machines.
// MPI calls cannot be interrupted: the timeout and dead-peer detection cover the shared-memory
// parts only; a rank lost between machines is left to mpirun (which aborts the job).
#pragma once

#include <memory>

#include "comm/communicator.h"
#include "comm/options.h"

namespace mc2::comm {

// True when mc2 was built with MPI (MC2_HAVE_MPI).
bool MpiTransportAvailable();

// The communicator of MPI_COMM_WORLD (calls MPI_Init_thread if MPI is not initialised yet, and
// then MPI_Finalize at exit).
StatusOr<std::unique_ptr<Communicator>> InitMpi(const CommOptions& options);

}  // namespace mc2::comm
