// The ACL runtime entry points (acl/acl.h, acl/acl_rt.h): init, devices, contexts, streams.
// Each is a few lines into api/runtime.h or api/stream.h; handles are looked up before use so a
// stale one is an error, not a crash.
#include "acl/acl.h"
#include "api/handles.h"
#include "api/report.h"
#include "api/runtime.h"
#include "api/stream.h"
#include "api/streams.h"

namespace mc2::api {

// The internal codes are the public macros (CANN's rt_error_codes.h values, see acl_base.h).
static_assert(mc2::api::kAclErrStreamSyncTimeout == ACL_ERROR_RT_STREAM_SYNC_TIMEOUT);
static_assert(mc2::api::kAclErrContextNull == ACL_ERROR_RT_CONTEXT_NULL);

namespace {
HandleSet<Context>& Contexts() {
  static auto* set = new HandleSet<Context>();
  return *set;
}
Status InvalidHandle(const char* what, const void* p) {
  return AclError(acl::kErrInvalidParam, what, " ", p, " is null or not a live handle");
}
}  // namespace

HandleSet<Stream>& Streams() {
  static auto* set = new HandleSet<Stream>();
  return *set;
}

Stream* FindStream(const void* handle) { return Streams().Find(handle); }

}  // namespace mc2::api

using mc2::AclError;
using mc2::Status;
using mc2::api::AclCode;
using mc2::api::Runtime;

extern "C" {

aclError aclInit(const char* /*configPath: nothing to configure on a CPU*/) {
  return AclCode(Runtime::Get().Init());
}

aclError aclFinalize(void) { return AclCode(Runtime::Get().Finalize()); }

const char* aclGetRecentErrMsg(void) { return mc2::api::RecentErrorMessage(); }

aclError aclrtSetDevice(int32_t deviceId) { return AclCode(Runtime::Get().SetDevice(deviceId)); }

aclError aclrtResetDevice(int32_t deviceId) { return AclCode(Runtime::Get().ResetDevice(deviceId)); }

aclError aclrtGetDevice(int32_t* deviceId) {
  if (deviceId == nullptr) return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtGetDevice: deviceId is null"));
  if (mc2::api::CurrentDevice() < 0) {
    return AclCode(AclError(mc2::api::kAclErrContextNull, "aclrtGetDevice: this thread has no current device"));
  }
  *deviceId = mc2::api::CurrentDevice();
  return ACL_SUCCESS;
}

aclError aclrtGetDeviceCount(uint32_t* count) {
  if (count == nullptr) return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtGetDeviceCount: count is null"));
  *count = static_cast<uint32_t>(Runtime::Get().DeviceCount());
  return ACL_SUCCESS;
}

aclError aclrtCreateContext(aclrtContext* context, int32_t deviceId) {
  if (context == nullptr) return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtCreateContext: context is null"));
  Status s = Runtime::Get().CheckDevice(deviceId);
  if (!s.ok()) return AclCode(s);
  auto* ctx = new mc2::api::Context{deviceId};
  mc2::api::Contexts().Add(ctx);
  mc2::api::SetCurrent(deviceId, ctx);  // as in CANN, the new context becomes current
  *context = ctx;
  return ACL_SUCCESS;
}

aclError aclrtDestroyContext(aclrtContext context) {
  if (!mc2::api::Contexts().Remove(context)) {
    return AclCode(mc2::api::InvalidHandle("aclrtDestroyContext: context", context));
  }
  if (mc2::api::CurrentContext() == context) mc2::api::SetCurrent(mc2::api::CurrentDevice(), nullptr);
  delete static_cast<mc2::api::Context*>(context);
  return ACL_SUCCESS;
}

aclError aclrtSetCurrentContext(aclrtContext context) {
  mc2::api::Context* ctx = mc2::api::Contexts().Find(context);
  if (ctx == nullptr) return AclCode(mc2::api::InvalidHandle("aclrtSetCurrentContext: context", context));
  mc2::api::SetCurrent(ctx->device, ctx);
  return ACL_SUCCESS;
}

aclError aclrtGetCurrentContext(aclrtContext* context) {
  if (context == nullptr) return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtGetCurrentContext: context is null"));
  if (mc2::api::CurrentContext() == nullptr) {
    return AclCode(AclError(mc2::api::kAclErrContextNull, "aclrtGetCurrentContext: this thread has no current context"));
  }
  *context = mc2::api::CurrentContext();
  return ACL_SUCCESS;
}

aclError aclrtCreateStream(aclrtStream* stream) {
  if (stream == nullptr) return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtCreateStream: stream is null"));
  auto* s = new mc2::api::Stream(mc2::api::DeviceOrDefault());
  mc2::api::Streams().Add(s);
  *stream = s;
  return ACL_SUCCESS;
}

aclError aclrtDestroyStream(aclrtStream stream) {
  if (!mc2::api::Streams().Remove(stream)) {
    return AclCode(mc2::api::InvalidHandle("aclrtDestroyStream: stream", stream));
  }
  delete static_cast<mc2::api::Stream*>(stream);  // waits for the queued work
  return ACL_SUCCESS;
}

aclError aclrtSynchronizeStream(aclrtStream stream) { return aclrtSynchronizeStreamWithTimeout(stream, -1); }

aclError aclrtSynchronizeStreamWithTimeout(aclrtStream stream, int32_t timeout) {
  mc2::api::Stream* s = mc2::api::FindStream(stream);
  if (s == nullptr) return AclCode(mc2::api::InvalidHandle("aclrtSynchronizeStream: stream", stream));
  if (timeout < -1) {
    return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtSynchronizeStreamWithTimeout: timeout ", timeout,
                            " ms is below -1 (-1 waits forever)"));
  }
  return AclCode(s->Synchronize(timeout));
}

}  // extern "C"
