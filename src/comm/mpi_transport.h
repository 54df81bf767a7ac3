// Ranks started by mpirun (OpenMPI), possibly on several machines.
#pragma once

#include <memory>

#include "comm/communicator.h"
#include "comm/options.h"

namespace mc2::comm {

// True when mc2 was built with MPI (MC2_HAVE_MPI).
bool MpiTransportAvailable();

// The communicator of MPI_COMM_WORLD (initialises MPI if needed).
StatusOr<std::unique_ptr<Communicator>> InitMpi(const CommOptions& options);

}  // namespace mc2::comm
