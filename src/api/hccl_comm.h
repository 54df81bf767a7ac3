// HcclComm on mc2: a handle owning one rank's Communicator, its group name and its device.
//
// The group name (HcclGetCommName) is what aclnn operators take as `group`; a process-wide
// registry maps names back to handles. Names are unique per rank ("mc2-<pid>-<group>-r<rank>"),
// so in a process that holds every rank (HcclCommInitAll) each thread's name resolves to its own
// rank's communicator without looking at the thread's device.
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "core/status_or.h"

namespace mc2::api {

struct CommHandle {
  std::unique_ptr<comm::Communicator> comm;
  std::string name;
  int device = 0;  // whose thread pool runs this rank's operators
};

// A group id for a new set of communicators (one per HcclCommInitAll / InitRootInfo call).
uint64_t NextGroupId();
// Takes ownership, names it and registers it.
CommHandle* RegisterComm(std::unique_ptr<comm::Communicator> comm, uint64_t group, int device);
// The live handle, or null.
CommHandle* FindComm(const void* handle);
CommHandle* FindCommByName(const char* name);
// Unregisters and destroys; false if not live.
bool DestroyComm(const void* handle);

}  // namespace mc2::api
