// Device and host memory (acl/acl_rt.h). On mc2 both are host memory, 64-byte aligned (a cache
// line and an AVX-512 vector) so kernels may use aligned loads on buffers users allocate. Every
// block is recorded with its size and kind: freeing a pointer that is not a live block of that
// kind is an error (never a crash), and aclrtMemcpy is a plain copy whatever the kind, since
// every kind names the same memory here.
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "acl/acl_rt.h"
#include "api/report.h"

namespace mc2::api {
namespace {

constexpr size_t kAlign = 64;

struct Blocks {
  std::mutex mu;
  std::unordered_map<void*, bool /*host*/> live;
};
Blocks& AllBlocks() {
  static auto* blocks = new Blocks();
  return *blocks;
}

Status Allocate(void** ptr, size_t size, bool host, const char* fn) {
  if (ptr == nullptr) return AclError(acl::kErrInvalidParam, fn, ": the pointer to fill is null");
  if (size == 0) return AclError(acl::kErrInvalidParam, fn, ": size is 0");
  const size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
  if (rounded < size) return AclError(acl::kErrBadAlloc, fn, ": size ", size, " is too large");
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) return AclError(acl::kErrBadAlloc, fn, ": out of memory allocating ", size, " bytes");
  Blocks& b = AllBlocks();
  std::lock_guard<std::mutex> lock(b.mu);
  b.live[p] = host;
  *ptr = p;
  return Status::Ok();
}

Status Release(void* ptr, bool host, const char* fn) {
  if (ptr == nullptr) return AclError(acl::kErrInvalidParam, fn, ": pointer is null");
  Blocks& b = AllBlocks();
  {
    std::lock_guard<std::mutex> lock(b.mu);
    auto it = b.live.find(ptr);
    if (it == b.live.end() || it->second != host) {
      return AclError(acl::kErrInvalidParam, fn, ": ", ptr, " is not a live block from ",
                      host ? "aclrtMallocHost" : "aclrtMalloc");
    }
    b.live.erase(it);
  }
  std::free(ptr);
  return Status::Ok();
}

}  // namespace
}  // namespace mc2::api

using mc2::AclError;
using mc2::api::AclCode;

extern "C" {

aclError aclrtMalloc(void** devPtr, size_t size, aclrtMemMallocPolicy policy) {
  if (static_cast<int>(policy) < 0 || static_cast<int>(policy) > ACL_MEM_MALLOC_HUGE1G_ONLY_P2P) {
    return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtMalloc: policy ", static_cast<int>(policy),
                            " is not an aclrtMemMallocPolicy"));
  }
  return AclCode(mc2::api::Allocate(devPtr, size, /*host=*/false, "aclrtMalloc"));
}

aclError aclrtFree(void* devPtr) { return AclCode(mc2::api::Release(devPtr, false, "aclrtFree")); }

aclError aclrtMallocHost(void** hostPtr, size_t size) {
  return AclCode(mc2::api::Allocate(hostPtr, size, /*host=*/true, "aclrtMallocHost"));
}

aclError aclrtFreeHost(void* hostPtr) { return AclCode(mc2::api::Release(hostPtr, true, "aclrtFreeHost")); }

aclError aclrtMemcpy(void* dst, size_t destMax, const void* src, size_t count, aclrtMemcpyKind kind) {
  if (static_cast<int>(kind) < ACL_MEMCPY_HOST_TO_HOST || static_cast<int>(kind) > ACL_MEMCPY_DEFAULT) {
    return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtMemcpy: kind ", static_cast<int>(kind),
                            " is not an aclrtMemcpyKind"));
  }
  if (count > destMax) {
    return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtMemcpy: count ", count, " exceeds destMax ", destMax));
  }
  if (count == 0) return ACL_SUCCESS;
  if (dst == nullptr || src == nullptr) {
    return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtMemcpy: ", dst == nullptr ? "dst" : "src", " is null"));
  }
  std::memmove(dst, src, count);
  return ACL_SUCCESS;
}

aclError aclrtMemset(void* devPtr, size_t maxCount, int32_t value, size_t count) {
  if (count > maxCount) {
    return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtMemset: count ", count, " exceeds maxCount ", maxCount));
  }
  if (count == 0) return ACL_SUCCESS;
  if (devPtr == nullptr) return AclCode(AclError(mc2::acl::kErrInvalidParam, "aclrtMemset: devPtr is null"));
  std::memset(devPtr, value, count);
  return ACL_SUCCESS;
}

}  // extern "C"
