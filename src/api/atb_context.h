// atb::Context on mc2: the execute stream(s) and the device that was current on the creating thread
// (-1 if none; its thread pool runs the operators, see runtime.h). Contexts are looked up in a live set, so a
// stale or made-up Context* gives ERROR_INVALID_CONTEXT_ADDR, not a crash.
#pragma once

#include <vector>

#include "atb/context.h"

namespace mc2::api {

class AtbContext : public ::atb::Context {
 public:
  explicit AtbContext(int device) : device_(device) {}
  int device() const { return device_; }

  ::atb::Status SetExecuteStream(aclrtStream stream) override;
  aclrtStream GetExecuteStream() const override { return streams_.empty() ? nullptr : streams_[0]; }
  ::atb::Status SetAsyncTilingCopyStatus(bool status) override {
    async_tiling_copy_ = status;
    return ::atb::NO_ERROR;
  }
  bool GetAsyncTilingCopyStatus() const override { return async_tiling_copy_; }
  ::atb::Status SetExecuteStreams(const std::vector<aclrtStream>& streams) override;
  std::vector<aclrtStream> GetExecuteStreams() override { return streams_; }
  ::atb::Status SetExecuteType(::atb::ExecuteType type) override;
  ::atb::ExecuteType GetExecuteType() override { return ::atb::EXECUTE_NORMAL; }
  ::atb::Status SetLaunchMode(::atb::LaunchMode mode) override;
  ::atb::LaunchMode GetLaunchMode() override { return launch_mode_; }

 private:
  const int device_;
  std::vector<aclrtStream> streams_;
  bool async_tiling_copy_ = false;
  ::atb::LaunchMode launch_mode_ = ::atb::KERNEL_LAUNCH_MODE;
};

// The live context behind a handle, or null.
AtbContext* FindAtbContext(const ::atb::Context* context);

}  // namespace mc2::api
