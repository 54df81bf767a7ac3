// The communicator a LinearParallelOperation runs on.
//
// hcclComm given: that HCCL communicator (looked up again before every use, so a destroyed one is
// an error, not a crash). hcclComm null: ATB makes its own from rank, rankSize, rankRoot and
// commDomain. On Ascend the root rank publishes HCCL root info in a shared-memory segment all
// ranks know by name; mc2 needs no published data at all: every rank derives the same root info
// (an abstract-namespace socket name and the bootstrap secret) from what they all know — the
// user id, commDomain, rankSize and rankRoot — and comm rank 0 hosts the bootstrap socket while
// the ranks join. Nothing is created on disk; only processes of the same user can join (the
// bootstrap checks SO_PEERCRED). Ranks may be processes or threads of one process. Concurrent jobs
// of one user must use different commDomain values, as they must use different shared-memory names
// on Ascend. With backend "hccl" and a rankTableFile, the table is used instead
// (HcclCommInitClusterInfo).
//
// Operations of one process with the same (commDomain, rankSize, rankRoot, rank) share one
// communicator, made by the first Setup that needs it and destroyed with the last operation.
#pragma once

#include <memory>
#include <string>

#include "atb/infer_op_params.h"
#include "comm/communicator.h"
#include "core/status_or.h"

namespace mc2::api {

class AtbComm {
 public:
  virtual ~AtbComm() = default;
  // The communicator, or an ERROR_COMM_EMPTY status when it is gone (HcclCommDestroy).
  virtual StatusOr<comm::Communicator*> Get() const = 0;
  // The device whose thread pool runs this rank's work.
  virtual int device() const = 0;
};

// The communicator for `param` (see above). `device` is used for a communicator made here.
StatusOr<std::shared_ptr<AtbComm>> AcquireAtbComm(const ::atb::infer::LinearParallelParam& param, int device);

}  // namespace mc2::api
