// The process-wide state of mc2's ACL runtime: whether aclInit ran, the devices and their per-rank
// thread pools, and each host thread's current device and context.
//
// A "device" is a rank slot of this process: ids 0 .. DeviceCount()-1, where the count is
// MC2_DEVICE_COUNT (1..1024) or 8 (the size of an Atlas A2 node, what CANN's examples assume).
// Each device owns one ThreadPool that every operator run for that rank uses (the pool of
// OpContext). Its size is MC2_NUM_THREADS when set, else the usable cores divided by the number of
// devices set in this process when the pool is first needed, so 8 thread-ranks on one machine share
// its cores instead of oversubscribing them 8 times. A pool runs one ParallelFor at a time, so work
// of one device from different streams is serialised on DeviceLock.
//
// As in CANN, the current device and context belong to the calling host thread.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"

namespace mc2::api {

struct Context {
  int device = 0;
};

class Runtime {
 public:
  static Runtime& Get();

  Status Init();
  Status Finalize();

  int DeviceCount() const { return static_cast<int>(devices_.size()); }
  Status CheckDevice(int device) const;
  Status SetDevice(int device);  // counts, and makes it the thread's current device
  Status ResetDevice(int device);

  // The device's pool, created on first use. Never null for a valid device.
  ThreadPool* Pool(int device);
  std::mutex& DeviceLock(int device) { return devices_[device]->run_mu; }

 private:
  Runtime();
  struct Device {
    std::mutex run_mu;
    std::unique_ptr<ThreadPool> pool;
    int set_count = 0;
  };
  std::mutex mu_;
  bool initialized_ = false;
  std::vector<std::unique_ptr<Device>> devices_;
};

// The calling thread's current device (-1 if none) and context (null if none).
int CurrentDevice();
Context* CurrentContext();
void SetCurrent(int device, Context* context);

// The thread's device, or device 0 when the thread never set one (lenient, like CANN's default
// context).
int DeviceOrDefault();



}  // namespace mc2::api
