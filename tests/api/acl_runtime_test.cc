// The ACL runtime of mc2 (acl/acl.h): init/finalize codes, devices per thread, contexts, streams
// (in-order, asynchronous, errors at synchronize, timeouts), memory and memcpy bounds, and the
// aclTensor accessors.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "acl/acl.h"
#include "aclnn/acl_meta.h"
#include "api/stream.h"

namespace {

TEST(AclInit, RepeatCodes) {
  ASSERT_EQ(aclInit(nullptr), ACL_SUCCESS);
  EXPECT_EQ(aclInit(nullptr), ACL_ERROR_REPEAT_INITIALIZE);
  EXPECT_EQ(aclFinalize(), ACL_SUCCESS);
  EXPECT_EQ(aclFinalize(), ACL_ERROR_REPEAT_FINALIZE);
  EXPECT_EQ(aclInit("ignored.json"), ACL_SUCCESS);
  EXPECT_EQ(aclFinalize(), ACL_SUCCESS);
}

TEST(AclDevice, CountAndPerThreadCurrentDevice) {
  uint32_t count = 0;
  ASSERT_EQ(aclrtGetDeviceCount(&count), ACL_SUCCESS);
  EXPECT_EQ(count, 8u);  // MC2_DEVICE_COUNT unset in the tests
  EXPECT_EQ(aclrtSetDevice(static_cast<int32_t>(count)), ACL_ERROR_INVALID_DEVICE);
  EXPECT_EQ(aclrtSetDevice(-1), ACL_ERROR_INVALID_DEVICE);
  ASSERT_EQ(aclrtSetDevice(3), ACL_SUCCESS);
  int32_t dev = -1;
  ASSERT_EQ(aclrtGetDevice(&dev), ACL_SUCCESS);
  EXPECT_EQ(dev, 3);
  std::thread other([] {
    int32_t d = -1;
    EXPECT_EQ(aclrtGetDevice(&d), ACL_ERROR_RT_CONTEXT_NULL);  // a new thread has no device
    EXPECT_EQ(aclrtSetDevice(5), ACL_SUCCESS);
    EXPECT_EQ(aclrtGetDevice(&d), ACL_SUCCESS);
    EXPECT_EQ(d, 5);
    EXPECT_EQ(aclrtResetDevice(5), ACL_SUCCESS);
  });
  other.join();
  ASSERT_EQ(aclrtGetDevice(&dev), ACL_SUCCESS);
  EXPECT_EQ(dev, 3);
  EXPECT_EQ(aclrtResetDevice(3), ACL_SUCCESS);
  EXPECT_EQ(aclrtGetDevice(&dev), ACL_ERROR_RT_CONTEXT_NULL);
  EXPECT_EQ(aclrtGetDevice(nullptr), ACL_ERROR_INVALID_PARAM);
}

TEST(AclContext, CreateSetDestroy) {
  aclrtContext a = nullptr, b = nullptr, cur = nullptr;
  ASSERT_EQ(aclrtCreateContext(&a, 1), ACL_SUCCESS);
  ASSERT_EQ(aclrtCreateContext(&b, 2), ACL_SUCCESS);
  ASSERT_EQ(aclrtGetCurrentContext(&cur), ACL_SUCCESS);
  EXPECT_EQ(cur, b);  // a new context becomes current
  std::thread t([a] {
    ASSERT_EQ(aclrtSetCurrentContext(a), ACL_SUCCESS);
    int32_t dev = -1;
    ASSERT_EQ(aclrtGetDevice(&dev), ACL_SUCCESS);
    EXPECT_EQ(dev, 1);  // the context carries its device
  });
  t.join();
  int32_t dev = -1;
  ASSERT_EQ(aclrtGetDevice(&dev), ACL_SUCCESS);
  EXPECT_EQ(dev, 2);
  EXPECT_EQ(aclrtCreateContext(&a, 99), ACL_ERROR_INVALID_DEVICE);
  EXPECT_EQ(aclrtDestroyContext(b), ACL_SUCCESS);
  EXPECT_EQ(aclrtGetCurrentContext(&cur), ACL_ERROR_RT_CONTEXT_NULL);
  EXPECT_EQ(aclrtDestroyContext(b), ACL_ERROR_INVALID_PARAM);  // stale handle: an error, no crash
  EXPECT_EQ(aclrtSetCurrentContext(b), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtDestroyContext(a), ACL_SUCCESS);
}

TEST(AclStream, RunsInOrderAsynchronously) {
  aclrtStream stream = nullptr;
  ASSERT_EQ(aclrtCreateStream(&stream), ACL_SUCCESS);
  auto* s = static_cast<mc2::api::Stream*>(stream);
  std::atomic<bool> release{false};
  std::vector<int> order;
  s->Enqueue([&] {
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    order.push_back(1);
    return mc2::Status::Ok();
  });
  s->Enqueue([&] {
    order.push_back(2);
    return mc2::Status::Ok();
  });
  // Enqueue returned while the first task blocks: the work is asynchronous.
  EXPECT_EQ(aclrtSynchronizeStreamWithTimeout(stream, 20), ACL_ERROR_RT_STREAM_SYNC_TIMEOUT);
  release = true;
  EXPECT_EQ(aclrtSynchronizeStreamWithTimeout(stream, 10000), ACL_SUCCESS);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(aclrtSynchronizeStreamWithTimeout(stream, -2), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtDestroyStream(stream), ACL_SUCCESS);
  EXPECT_EQ(aclrtSynchronizeStream(stream), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtDestroyStream(stream), ACL_ERROR_INVALID_PARAM);
}

TEST(AclStream, ErrorSurfacesAtSynchronizeAndStopsTheQueue) {
  aclrtStream stream = nullptr;
  ASSERT_EQ(aclrtCreateStream(&stream), ACL_SUCCESS);
  auto* s = static_cast<mc2::api::Stream*>(stream);
  bool ran_after = false;
  s->Enqueue([] { return mc2::AclError(mc2::acl::kErrBadAlloc, "test failure"); });
  s->Enqueue([&] {
    ran_after = true;
    return mc2::Status::Ok();
  });
  EXPECT_EQ(aclrtSynchronizeStream(stream), ACL_ERROR_BAD_ALLOC);
  EXPECT_FALSE(ran_after);  // ACL_STOP_ON_FAILURE: later work is dropped
  EXPECT_STRNE(aclGetRecentErrMsg(), "");
  // The error was reported once; the stream is usable again.
  s->Enqueue([&] {
    ran_after = true;
    return mc2::Status::Ok();
  });
  EXPECT_EQ(aclrtSynchronizeStream(stream), ACL_SUCCESS);
  EXPECT_TRUE(ran_after);
  EXPECT_EQ(aclrtDestroyStream(stream), ACL_SUCCESS);
}

TEST(AclMemory, MallocAlignedAndFreeChecks) {
  void* p = nullptr;
  ASSERT_EQ(aclrtMalloc(&p, 1000, ACL_MEM_MALLOC_HUGE_FIRST), ACL_SUCCESS);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(aclrtMalloc(&p, 0, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtMalloc(nullptr, 10, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtMalloc(&p, 10, static_cast<aclrtMemMallocPolicy>(42)), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtFreeHost(p), ACL_ERROR_INVALID_PARAM);  // device block through the host free
  EXPECT_EQ(aclrtFree(p), ACL_SUCCESS);
  EXPECT_EQ(aclrtFree(p), ACL_ERROR_INVALID_PARAM);  // double free is an error, not a crash
  void* h = nullptr;
  ASSERT_EQ(aclrtMallocHost(&h, 64), ACL_SUCCESS);
  EXPECT_EQ(aclrtFree(h), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtFreeHost(h), ACL_SUCCESS);
}

TEST(AclMemory, MemcpyEveryKindAndBounds) {
  std::vector<uint8_t> src(256), dst(256, 0);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i);
  for (aclrtMemcpyKind kind : {ACL_MEMCPY_HOST_TO_HOST, ACL_MEMCPY_HOST_TO_DEVICE, ACL_MEMCPY_DEVICE_TO_HOST,
                               ACL_MEMCPY_DEVICE_TO_DEVICE, ACL_MEMCPY_DEFAULT}) {
    std::fill(dst.begin(), dst.end(), 0);
    ASSERT_EQ(aclrtMemcpy(dst.data(), dst.size(), src.data(), 200, kind), ACL_SUCCESS);
    EXPECT_EQ(dst[199], 199);
    EXPECT_EQ(dst[200], 0);
  }
  EXPECT_EQ(aclrtMemcpy(dst.data(), 100, src.data(), 101, ACL_MEMCPY_HOST_TO_DEVICE), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtMemcpy(dst.data(), 100, src.data(), 10, static_cast<aclrtMemcpyKind>(9)), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtMemcpy(nullptr, 100, src.data(), 10, ACL_MEMCPY_DEFAULT), ACL_ERROR_INVALID_PARAM);
  EXPECT_EQ(aclrtMemcpy(nullptr, 0, nullptr, 0, ACL_MEMCPY_DEFAULT), ACL_SUCCESS);
  EXPECT_EQ(aclrtMemset(dst.data(), 256, 7, 256), ACL_SUCCESS);
  EXPECT_EQ(dst[255], 7);
  EXPECT_EQ(aclrtMemset(dst.data(), 10, 7, 11), ACL_ERROR_INVALID_PARAM);
}

TEST(AclTensor, GettersReturnWhatWasCreated) {
  const int64_t view[2] = {4, 3};
  const int64_t strides[2] = {1, 4};  // a transposed view of (3, 4) storage
  const int64_t storage[2] = {3, 4};
  int dummy = 0;
  aclTensor* t = aclCreateTensor(view, 2, ACL_INT8, strides, 5, ACL_FORMAT_ND, storage, 2, &dummy);
  ASSERT_NE(t, nullptr);
  int64_t* dims = nullptr;
  uint64_t num = 0;
  ASSERT_EQ(aclGetViewShape(t, &dims, &num), ACLNN_SUCCESS);
  ASSERT_EQ(num, 2u);
  EXPECT_EQ(dims[0], 4);
  EXPECT_EQ(dims[1], 3);
  delete[] dims;
  ASSERT_EQ(aclGetViewStrides(t, &dims, &num), ACLNN_SUCCESS);
  EXPECT_EQ(dims[0], 1);
  EXPECT_EQ(dims[1], 4);
  delete[] dims;
  ASSERT_EQ(aclGetStorageShape(t, &dims, &num), ACLNN_SUCCESS);
  EXPECT_EQ(dims[0], 3);
  EXPECT_EQ(dims[1], 4);
  delete[] dims;
  int64_t offset = 0;
  ASSERT_EQ(aclGetViewOffset(t, &offset), ACLNN_SUCCESS);
  EXPECT_EQ(offset, 5);
  aclFormat format = ACL_FORMAT_UNDEFINED;
  ASSERT_EQ(aclGetFormat(t, &format), ACLNN_SUCCESS);
  EXPECT_EQ(format, ACL_FORMAT_ND);
  aclDataType dt = ACL_DT_UNDEFINED;
  ASSERT_EQ(aclGetDataType(t, &dt), ACLNN_SUCCESS);
  EXPECT_EQ(dt, ACL_INT8);
  EXPECT_EQ(aclGetDataType(t, nullptr), ACLNN_ERR_PARAM_NULLPTR);
  EXPECT_EQ(aclDestroyTensor(t), ACLNN_SUCCESS);
  EXPECT_EQ(aclGetDataType(t, &dt), ACLNN_ERR_PARAM_INVALID);  // destroyed
  EXPECT_EQ(aclDestroyTensor(t), ACLNN_ERR_PARAM_INVALID);
  EXPECT_EQ(aclDestroyTensor(nullptr), ACLNN_SUCCESS);
  const int64_t neg[1] = {-1};
  EXPECT_EQ(aclCreateTensor(neg, 1, ACL_INT8, nullptr, 0, ACL_FORMAT_ND, nullptr, 0, &dummy), nullptr);
}

}  // namespace
