// aclTensor as mc2 holds it: the caller's description, kept verbatim (CANN dtype and format values
// may be ones mc2 does not compute with; an operator rejects them in its own validation step, at
// the point CANN does), plus the conversion to the TensorView the operators take.
#pragma once

#include <cstdint>
#include <vector>

#include "aclnn/acl_meta.h"
#include "core/tensor.h"

struct aclTensor {
  std::vector<int64_t> view_dims;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  int32_t dtype = 0;   // aclDataType
  int32_t format = 2;  // aclFormat
  std::vector<int64_t> storage_dims;
  void* data = nullptr;
};

struct aclIntArray {
  std::vector<int64_t> values;
};

namespace mc2::api {

// The live aclTensor behind a handle, or null.
const aclTensor* FindTensor(const aclTensor* handle);

// The view the operators take. A dtype mc2 does not know is given as float64 and a format other
// than ND / FRACTAL_NZ as ND; `*known` tells the caller (who must then reject the tensor).
TensorView ToView(const aclTensor& t, bool* known);

}  // namespace mc2::api
