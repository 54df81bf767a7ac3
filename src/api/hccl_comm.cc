#include "api/hccl_comm.h"

#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>

#include "api/handles.h"

namespace mc2::api {
namespace {
struct Registry {
  std::mutex mu;
  std::map<std::string, CommHandle*> by_name;
  HandleSet<CommHandle> live;
};
Registry& Reg() {
  static auto* reg = new Registry();
  return *reg;
}
}  // namespace

uint64_t NextGroupId() {
  static std::atomic<uint64_t> next{0};
  return next.fetch_add(1);
}

CommHandle* RegisterComm(std::unique_ptr<comm::Communicator> comm, uint64_t group, int device) {
  auto* h = new CommHandle();
  h->name = StrCat("mc2-", static_cast<long>(getpid()), "-", group, "-r", comm->rank());
  h->device = device;
  h->comm = std::move(comm);
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  r.by_name[h->name] = h;
  r.live.Add(h);
  return h;
}

CommHandle* FindComm(const void* handle) { return Reg().live.Find(handle); }

CommHandle* FindCommByName(const char* name) {
  if (name == nullptr) return nullptr;
  Registry& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_name.find(name);
  return it == r.by_name.end() ? nullptr : it->second;
}

bool DestroyComm(const void* handle) {
  Registry& r = Reg();
  CommHandle* h = nullptr;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    h = r.live.Find(handle);
    if (h == nullptr) return false;
    r.live.Remove(h);
    r.by_name.erase(h->name);
  }
  delete h;
  return true;
}

}  // namespace mc2::api
