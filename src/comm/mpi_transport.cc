#include "comm/mpi_transport.h"

namespace mc2::comm {

bool MpiTransportAvailable() { return false; }

StatusOr<std::unique_ptr<Communicator>> InitMpi(const CommOptions&) {
  return HcclError(hccl::kENotSupport, "the MPI transport is not implemented yet");
}

}  // namespace mc2::comm
