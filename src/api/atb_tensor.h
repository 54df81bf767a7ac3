// atb::Tensor / TensorDesc -> the TensorView the operators take. ATB tensors are dense row-major
// (strides follow from the dims) in ND or FRACTAL_NZ. A 2-D FRACTAL_NZ tensor's dims are the logical
// matrix while its data is the NZ arrangement, so its storage is described by dataSize.
#pragma once

#include <cstdint>

#include "atb/types.h"
#include "core/status.h"
#include "core/tensor.h"

namespace mc2::api {

// Bytes of `numel` elements of an ATB dtype; false when mc2 has no such dtype.
bool AtbDTypeBytes(aclDataType dtype, int64_t numel, uint64_t* bytes);

// The view of tensor `name`. Descriptions only (with_data false, InferShape): the view gets a
// placeholder address that is never read. With data (Setup / Execute): deviceData must be set when
// there are elements (ERROR_INVALID_TENSOR_ADDR) and dataSize must hold them
// (ERROR_INVALID_TENSOR_SIZE). dimNum > 8: ERROR_INVALID_TENSOR_DIM_NUM; negative dims:
// ERROR_INVALID_TENSOR_DIM; a dtype or format mc2 does not compute with:
// ERROR_INVALID_TENSOR_INI_MATCH. `optional_empty`: a tensor with dimNum 0 is an empty tensor
// (shape (0)), as ATB accepts for bias.
Status AtbTensorView(const char* name, const ::atb::TensorDesc& desc, void* data, uint64_t data_size, bool with_data,
                     bool optional_empty, TensorView* view);

// The description of a view (dtype, ND, dims).
::atb::TensorDesc AtbDescOf(DType dtype, const Dims& dims);

// Same dtype, format and dims.
bool SameDesc(const ::atb::TensorDesc& a, const ::atb::TensorDesc& b);

}  // namespace mc2::api
