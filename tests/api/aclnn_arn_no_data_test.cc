// aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize reads shapes only (a fuzz finding of
// issue 8: it used to read the antiquant scale and pack x2). Every tensor's data pointer here
// points into a PROT_NONE mapping, so any read of tensor data at GetWorkspaceSize faults; the
// booking must equal the one made for the same shapes over readable memory.
#include <sys/mman.h>

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "hccl/hccl.h"

namespace {

struct Call {
  std::vector<aclTensor*> tensors;
  ~Call() {
    for (aclTensor* t : tensors) aclDestroyTensor(t);
  }
  aclTensor* Make(std::vector<int64_t> dims, aclDataType dtype, void* data, bool transposed = false) {
    std::vector<int64_t> strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
    std::vector<int64_t> storage = dims;
    if (transposed) {  // a (k, n) view of (n, k) storage
      std::swap(storage[0], storage[1]);
      strides = {1, dims[0]};
    }
    aclTensor* t = aclCreateTensor(dims.data(), dims.size(), dtype, strides.data(), 0, ACL_FORMAT_ND, storage.data(),
                                   storage.size(), data);
    tensors.push_back(t);
    return t;
  }
};

struct Shape {
  int64_t m, k, n, group_size;
  aclDataType weight;
  bool transposed;
};

// GetWorkspaceSize for `s` with every tensor's data at `data`; returns the status.
aclnnStatus WorkspaceFor(const Shape& s, const char* group, void* data, uint64_t* bytes) {
  Call c;
  const int64_t groups = s.group_size > 0 ? (s.k + s.group_size - 1) / s.group_size : 1;
  aclTensor* x1 = c.Make({s.m, s.k}, ACL_FLOAT16, data);
  aclTensor* x2 = c.Make({s.k, s.n}, s.weight, data, s.transposed);
  aclTensor* scale = s.group_size > 0 ? c.Make({groups, s.n}, ACL_FLOAT16, data) : c.Make({s.n}, ACL_FLOAT16, data);
  aclTensor* residual = c.Make({1, s.m, s.n}, ACL_FLOAT16, data);
  aclTensor* gamma = c.Make({s.n}, ACL_FLOAT16, data);
  aclTensor* y = c.Make({1, s.m, s.n}, ACL_FLOAT16, data);
  aclTensor* norm_out = c.Make({1, s.m, s.n}, ACL_FLOAT16, data);
  aclOpExecutor* executor = nullptr;
  const aclnnStatus st = aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
      x1, x2, nullptr, scale, nullptr, residual, gamma, 1e-6, group, "sum", 0, 1, s.group_size, y, norm_out, bytes,
      &executor);
  if (executor != nullptr) aclDestroyAclOpExecutor(executor);
  return st;
}

TEST(AclnnArnGetWorkspaceSize, ReadsNoTensorData) {
  ASSERT_EQ(aclrtSetDevice(0), ACL_SUCCESS);
  HcclComm comm = nullptr;
  int32_t devices[1] = {0};
  ASSERT_EQ(HcclCommInitAll(1, devices, &comm), HCCL_SUCCESS);
  char group[COMM_NAME_MAX_LENGTH];
  ASSERT_EQ(HcclGetCommName(comm, group), HCCL_SUCCESS);

  const size_t kBytes = 1 << 20;  // more than any tensor below
  void* fenced = mmap(nullptr, kBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(fenced, MAP_FAILED);
  std::vector<uint8_t> readable(kBytes, 0);

  const Shape shapes[] = {{1, 64, 32, 0, ACL_INT8, false},   {4, 128, 64, 0, ACL_INT8, true},
                          {40, 64, 96, 32, ACL_INT4, false}, {300, 256, 32, 64, ACL_INT8, false},
                          {2, 64, 32, 32, ACL_INT4, true}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "m " << s.m << " k " << s.k << " n " << s.n << " group " << s.group_size);
    uint64_t with_data = 0, without = 0;
    ASSERT_EQ(WorkspaceFor(s, group, readable.data(), &with_data), ACLNN_SUCCESS);
    ASSERT_EQ(WorkspaceFor(s, group, fenced, &without), ACLNN_SUCCESS);  // a read would be SIGSEGV
    EXPECT_GT(without, 0u);
    EXPECT_EQ(without, with_data);
  }
  munmap(fenced, kBytes);
  EXPECT_EQ(HcclCommDestroy(comm), HCCL_SUCCESS);
}

}  // namespace
