/* aclCreateTensor called the way a C program may call it: with any int as the aclDataType and
 * aclFormat arguments. In C an enum argument holds any value of its underlying int; converting
 * such a value to the enum type in C++ would itself be undefined behaviour, so the fuzzers pass
 * raw values through this C translation unit. */
#include <stdint.h>

#include "aclnn/acl_meta.h"

aclTensor *FuzzCreateTensorRaw(const int64_t *viewDims, uint64_t viewDimsNum, int32_t dataType,
                               const int64_t *stride, int64_t offset, int32_t format,
                               const int64_t *storageDims, uint64_t storageDimsNum, void *tensorData) {
  return aclCreateTensor(viewDims, viewDimsNum, (aclDataType)dataType, stride, offset, (aclFormat)format,
                         storageDims, storageDimsNum, tensorData);
}
