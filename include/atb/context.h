// mc2's CANN-compatible atb::Context (atb/context.h): what an operation executes on — the stream
// (an aclrtStream from aclrtCreateStream) and the device that was current when the context was
// created. Execute enqueues onto GetExecuteStream() and returns; errors surface at
// aclrtSynchronizeStream, as on a device.
//
// mc2 has no device tiling buffers, so the allocator overload of CreateContext accepts the
// functions and does not need them, and the launch mode makes no difference on a CPU. Only
// EXECUTE_NORMAL (Execute does everything) is supported; SetExecuteType refuses the split modes
// with ERROR_INVALID_PARAM.
#ifndef MC2_ATB_CONTEXT_H_
#define MC2_ATB_CONTEXT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "atb/types.h"

namespace atb {

enum ExecuteType : int { EXECUTE_NORMAL = 0, EXECUTE_PRELAUNCH, EXECUTE_LAUNCH };
enum LaunchMode : int { KERNEL_LAUNCH_MODE = 0, GRAPH_LAUNCH_MODE };

class Context {
 public:
  Context() = default;
  virtual ~Context() = default;
  virtual Status SetExecuteStream(aclrtStream stream) = 0;
  virtual aclrtStream GetExecuteStream() const = 0;
  virtual Status SetAsyncTilingCopyStatus(bool status) = 0;
  virtual bool GetAsyncTilingCopyStatus() const = 0;
  virtual Status SetExecuteStreams(const std::vector<aclrtStream>& streams) = 0;
  virtual std::vector<aclrtStream> GetExecuteStreams() = 0;
  virtual Status SetExecuteType(ExecuteType type) = 0;
  virtual ExecuteType GetExecuteType() = 0;
  virtual Status SetLaunchMode(LaunchMode mode) = 0;
  virtual LaunchMode GetLaunchMode() = 0;
};

ATB_API Status CreateContext(Context** context);
ATB_API Status CreateContext(Context** context, const std::function<void*(size_t)>& alloc,
                             const std::function<void(void*)>& dealloc);
// ATB's tiling-buffer sizes: hostTilingBlockNum in [128, 1024], deviceTilingBlockNum in [32, 1024],
// else ERROR_INVALID_PARAM (as ATB); mc2 has no tiling buffers, so valid counts change nothing.
ATB_API Status CreateContext(Context** context, uint32_t hostTilingBlockNum, uint32_t deviceTilingBlockNum);
ATB_API Status DestroyContext(Context* context);

}  // namespace atb

#endif  // MC2_ATB_CONTEXT_H_
