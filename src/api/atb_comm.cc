#include "api/atb_comm.h"

#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>

#include "api/hccl_comm.h"
#include "comm/process_transport.h"
#include "comm/root_info.h"
#include "comm/thread_transport.h"
#include "hccl/hccl.h"

namespace mc2::api {
namespace {

// An HCCL communicator the caller owns.
class Borrowed : public AtbComm {
 public:
  explicit Borrowed(HcclComm handle) : handle_(handle) {}
  StatusOr<comm::Communicator*> Get() const override {
    CommHandle* h = FindComm(handle_);
    if (h == nullptr) {
      return AtbError(atb::kCommEmpty, "hcclComm: ", handle_, " is not a live HCCL communicator (destroyed?)");
    }
    return h->comm.get();
  }
  int device() const override {
    CommHandle* h = FindComm(handle_);
    return h != nullptr ? h->device : 0;
  }

 private:
  HcclComm handle_;
};

// One ATB made itself.
class Owned : public AtbComm {
 public:
  Owned(std::unique_ptr<comm::Communicator> c, int device) : comm_(std::move(c)), device_(device) {}
  // Made through the HCCL table path: the HCCL handle owns the communicator.
  Owned(HcclComm handle, int device) : handle_(handle), device_(device) {}
  ~Owned() override {
    if (handle_ != nullptr) HcclCommDestroy(handle_);
  }
  StatusOr<comm::Communicator*> Get() const override {
    if (handle_ != nullptr) {
      CommHandle* h = FindComm(handle_);
      if (h == nullptr) return AtbError(atb::kCommEmpty, "the communicator from rankTableFile was destroyed");
      return h->comm.get();
    }
    return comm_.get();
  }
  int device() const override { return device_; }

 private:
  std::unique_ptr<comm::Communicator> comm_;
  HcclComm handle_ = nullptr;
  int device_;
};

uint64_t Fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9e3779b97f4a7c15ull);
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The root info every rank of the job derives alike (atb_comm.h).
comm::RootInfo DerivedRootInfo(const std::string& key) {
  comm::RootInfo info;
  for (size_t i = 0; i < comm::kSecretBytes; i += 8) {
    const uint64_t h = Fnv1a(key, i + 1);
    std::memcpy(info.secret.data() + i, &h, 8);
  }
  char name[40];
  std::snprintf(name, sizeof(name), "mc2-atb-%016llx", static_cast<unsigned long long>(Fnv1a(key, 0)));
  info.socket_name = name;
  info.uid = getuid();
  return info;
}

StatusOr<std::unique_ptr<AtbComm>> Make(const ::atb::infer::LinearParallelParam& p, const std::string& key,
                                        int device) {
  if (p.rankSize == 1) {
    MC2_ASSIGN_OR_RETURN(auto comms, comm::InitThreads(1));
    return std::unique_ptr<AtbComm>(new Owned(std::move(comms[0]), device));
  }
  if (p.backend == "hccl" && !p.rankTableFile.empty()) {
    HcclComm handle = nullptr;
    const HcclResult r = HcclCommInitClusterInfo(p.rankTableFile.c_str(), static_cast<uint32_t>(p.rank), &handle);
    if (r != HCCL_SUCCESS) {
      return AtbError(atb::kHcclFail, "rankTableFile: HcclCommInitClusterInfo('", p.rankTableFile, "', rank ", p.rank,
                      ") failed with HcclResult ", static_cast<int>(r));
    }
    return std::unique_ptr<AtbComm>(new Owned(handle, device));
  }
  auto made = comm::InitRootInfo(p.rankSize, DerivedRootInfo(key), p.rank);
  if (!made.ok()) {
    Status s = made.status();
    return AtbError(atb::kHcclFail, "making the communicator of commDomain '", p.commDomain, "' (rank ", p.rank,
                    " of ", p.rankSize, "): ", s.message());
  }
  return std::unique_ptr<AtbComm>(new Owned(std::move(*made), device));
}

struct Slot {
  std::mutex mu;  // held while the communicator is being made (the bootstrap blocks)
  std::weak_ptr<AtbComm> comm;
};

}  // namespace

StatusOr<std::shared_ptr<AtbComm>> AcquireAtbComm(const ::atb::infer::LinearParallelParam& p, int device) {
  if (p.hcclComm != nullptr) return std::shared_ptr<AtbComm>(new Borrowed(p.hcclComm));
  const std::string job = StrCat("atb\n", getuid(), "\n", p.commDomain, "\n", p.rankSize, "\n", p.rankRoot, "\n",
                                 p.backend == "hccl" ? p.rankTableFile : std::string());
  static std::mutex mu;
  static auto* slots = new std::map<std::string, std::shared_ptr<Slot>>();
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mu);
    std::shared_ptr<Slot>& s = (*slots)[StrCat(job, "\nrank ", p.rank)];
    if (!s) s = std::make_shared<Slot>();
    slot = s;
  }
  std::lock_guard<std::mutex> lock(slot->mu);
  if (std::shared_ptr<AtbComm> live = slot->comm.lock()) return live;
  MC2_ASSIGN_OR_RETURN(std::unique_ptr<AtbComm> made, Make(p, job, device));
  std::shared_ptr<AtbComm> shared(std::move(made));
  slot->comm = shared;
  return shared;
}

}  // namespace mc2::api
