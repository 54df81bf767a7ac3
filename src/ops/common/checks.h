// Small building blocks of argument validation shared by the operators' plan phases. Each returns
// a Status in the caller's code family whose message names the parameter, its value and the rule.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace mc2::ops {

// "fp16", "bf16", ... short names used in messages.
std::string DTypeList(std::initializer_list<DType> dtypes);

// Builds a Status of `space`/`code` naming `param`.
template <typename... Args>
Status Fail(ErrorSpace space, int32_t code, const char* param, const Args&... msg) {
  return Status(space, code, StrCat(param, ": ", msg...));
}

// The view's dims are all >= 0, and a view with elements has storage.
Status CheckViewSane(ErrorSpace space, int32_t code, const char* param, const TensorView& v);

// Rank of the view is one of `ranks`.
Status CheckRankIn(ErrorSpace space, int32_t code, const char* param, const TensorView& v,
                   std::initializer_list<int> ranks);

// dtype is one of `dtypes`.
Status CheckDTypeIn(ErrorSpace space, int32_t code, const char* param, const TensorView& v,
                    std::initializer_list<DType> dtypes);

// Same dims.
Status CheckSameDims(ErrorSpace space, int32_t code, const char* param, const TensorView& v, const char* other_name,
                     const TensorView& other);

// Product of the view's leading dims (all but the last): the number of rows of a matmul operand.
// Saturates like Dims::numel (dims come from users).
int64_t LeadingRows(const TensorView& v);

// Products of user-given dims without overflow. MulSat saturates to INT64_MAX / INT64_MIN (for
// messages, and for values checked against a limit afterwards); CheckedMul is nullopt on overflow,
// which compares unequal to every dim.
int64_t MulSat(int64_t a, int64_t b);
std::optional<int64_t> CheckedMul(int64_t a, int64_t b);

}  // namespace mc2::ops
