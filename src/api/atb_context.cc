#include "api/atb_context.h"

#include <new>

#include "api/atb_status.h"
#include "api/handles.h"
#include "api/runtime.h"

namespace mc2::api {
namespace {

HandleSet<AtbContext>& Contexts() {
  static auto* set = new HandleSet<AtbContext>();
  return *set;
}

::atb::Status Make(::atb::Context** context) {
  if (context == nullptr) return AtbCode(AtbError(atb::kInvalidParam, "CreateContext: context is null"));
  auto* made = new (std::nothrow) AtbContext(CurrentDevice());
  if (made == nullptr) return AtbCode(AtbError(atb::kOutOfHostMemory, "CreateContext: out of host memory"));
  Contexts().Add(made);
  *context = made;
  return ::atb::NO_ERROR;
}

}  // namespace

::atb::Status AtbContext::SetExecuteStream(aclrtStream stream) {
  if (streams_.empty()) {
    streams_.push_back(stream);
  } else {
    streams_[0] = stream;
  }
  return ::atb::NO_ERROR;
}

::atb::Status AtbContext::SetExecuteStreams(const std::vector<aclrtStream>& streams) {
  if (streams.empty()) {
    return AtbCode(AtbError(atb::kInvalidParam, "Context::SetExecuteStreams: streams is empty (need at least one)"));
  }
  streams_ = streams;
  return ::atb::NO_ERROR;
}

::atb::Status AtbContext::SetExecuteType(::atb::ExecuteType type) {
  if (type != ::atb::EXECUTE_NORMAL) {
    return AtbCode(AtbError(atb::kInvalidParam, "Context::SetExecuteType: ", static_cast<int>(type),
                            " (mc2 supports EXECUTE_NORMAL = 0 only: Execute does all the work)"));
  }
  return ::atb::NO_ERROR;
}

::atb::Status AtbContext::SetLaunchMode(::atb::LaunchMode mode) {
  if (mode != ::atb::KERNEL_LAUNCH_MODE && mode != ::atb::GRAPH_LAUNCH_MODE) {
    return AtbCode(AtbError(atb::kInvalidParam, "Context::SetLaunchMode: ", static_cast<int>(mode),
                            " is not a LaunchMode (0 or 1)"));
  }
  launch_mode_ = mode;
  return ::atb::NO_ERROR;
}

AtbContext* FindAtbContext(const ::atb::Context* context) { return Contexts().Find(context); }

}  // namespace mc2::api

namespace atb {

Status CreateContext(Context** context) { return mc2::api::Make(context); }

Status CreateContext(Context** context, const std::function<void*(size_t)>& alloc,
                     const std::function<void(void*)>& dealloc) {
  if (!alloc || !dealloc) {
    return mc2::api::AtbCode(
        mc2::AtbError(mc2::atb::kInvalidParam, "CreateContext: alloc or dealloc is empty (give both functions)"));
  }
  return mc2::api::Make(context);  // mc2 has no tiling buffers to allocate with them
}

Status CreateContext(Context** context, uint32_t hostTilingBlockNum, uint32_t deviceTilingBlockNum) {
  if (context == nullptr) return mc2::api::AtbCode(mc2::AtbError(mc2::atb::kInvalidParam, "CreateContext: context is null"));
  if (hostTilingBlockNum < 128 || hostTilingBlockNum > 1024) {
    return mc2::api::AtbCode(mc2::AtbError(mc2::atb::kInvalidParam, "CreateContext: hostTilingBlockNum ",
                                           hostTilingBlockNum, " (must be in [128, 1024])"));
  }
  if (deviceTilingBlockNum < 32 || deviceTilingBlockNum > 1024) {
    return mc2::api::AtbCode(mc2::AtbError(mc2::atb::kInvalidParam, "CreateContext: deviceTilingBlockNum ",
                                           deviceTilingBlockNum, " (must be in [32, 1024])"));
  }
  return mc2::api::Make(context);  // the counts size tiling buffers, which mc2 does not have
}

Status DestroyContext(Context* context) {
  if (context == nullptr) {
    return mc2::api::AtbCode(mc2::AtbError(mc2::atb::kInvalidParam, "DestroyContext: context is null"));
  }
  if (!mc2::api::Contexts().Remove(context)) {
    return mc2::api::AtbCode(mc2::AtbError(mc2::atb::kInvalidContextAddr, "DestroyContext: context ", context,
                                           " is not a live context (destroyed already, or not from CreateContext)"));
  }
  delete context;
  return NO_ERROR;
}

}  // namespace atb
