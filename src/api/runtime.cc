#include "api/runtime.h"

#include <cstdlib>

#include "comm/options.h"

namespace mc2::api {

namespace {
constexpr int kDefaultDeviceCount = 8;
constexpr int kMaxDeviceCount = 1024;

thread_local int t_device = -1;
thread_local Context* t_context = nullptr;

int DeviceCountFromEnv() {
  const int64_t v = comm::EnvInt("MC2_DEVICE_COUNT", kDefaultDeviceCount);
  return v >= 1 && v <= kMaxDeviceCount ? static_cast<int>(v) : kDefaultDeviceCount;
}
}  // namespace

Runtime& Runtime::Get() {
  static Runtime* runtime = new Runtime();  // never destroyed: streams may outlive static teardown
  return *runtime;
}

Runtime::Runtime() {
  const int n = DeviceCountFromEnv();
  devices_.reserve(n);
  for (int i = 0; i < n; ++i) devices_.push_back(std::make_unique<Device>());
}

Status Runtime::Init() {
  std::lock_guard<std::mutex> lock(mu_);
  if (initialized_) return AclError(acl::kErrRepeatInitialize, "aclInit: already initialized");
  initialized_ = true;
  return Status::Ok();
}

Status Runtime::Finalize() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!initialized_) return AclError(acl::kErrRepeatFinalize, "aclFinalize: not initialized");
  initialized_ = false;
  return Status::Ok();
}

Status Runtime::CheckDevice(int device) const {
  if (device < 0 || device >= DeviceCount()) {
    return AclError(acl::kErrInvalidDevice, "deviceId ", device, " is outside [0, ", DeviceCount(),
                    ") (MC2_DEVICE_COUNT sets the count)");
  }
  return Status::Ok();
}

Status Runtime::SetDevice(int device) {
  MC2_RETURN_IF_ERROR(CheckDevice(device));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++devices_[device]->set_count;
  }
  SetCurrent(device, nullptr);
  return Status::Ok();
}

Status Runtime::ResetDevice(int device) {
  MC2_RETURN_IF_ERROR(CheckDevice(device));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (devices_[device]->set_count > 0) --devices_[device]->set_count;
  }
  if (t_device == device) SetCurrent(-1, nullptr);
  return Status::Ok();
}

ThreadPool* Runtime::Pool(int device) {
  std::lock_guard<std::mutex> lock(mu_);
  Device& d = *devices_[device];
  if (!d.pool) {
    int threads = 1;
    if (std::getenv("MC2_NUM_THREADS") != nullptr) {
      StatusOr<int> n = ThreadPool::DefaultNumThreads();
      threads = n.ok() ? *n : 1;
    } else {
      int active = 0;
      for (const auto& dev : devices_) active += dev->set_count > 0 ? 1 : 0;
      threads = comm::OnlineCpus() / (active > 0 ? active : 1);
    }
    d.pool = std::make_unique<ThreadPool>(threads < 1 ? 1 : threads);
  }
  return d.pool.get();
}

int CurrentDevice() { return t_device; }
Context* CurrentContext() { return t_context; }
void SetCurrent(int device, Context* context) {
  t_device = device;
  t_context = context;
}
int DeviceOrDefault() { return t_device >= 0 ? t_device : 0; }

}  // namespace mc2::api
