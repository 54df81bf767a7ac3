// NumPy .npy files: how tensors enter and leave mc2 from Python (goldens made with torch/numpy,
// inputs for `mc2 run-op`, outputs for `mc2 compare`).
//
// Why by hand: the format is tiny (magic, version, a Python-dict header, raw row-major data) and
// the parser is an attack surface that gets fuzzed, so every length is checked before it is used
// and nothing is allocated before the file is known to hold that many bytes. No exceptions, no
// JSON library: the header is a Python literal, not JSON.
//
// Read: format versions 1.0 and 2.0 (latin-1 header) and 3.0 (utf-8 header), C order only,
// little-endian data ('<', '|' or '=' byte-order marks; '>' is rejected for multi-byte types).
//   '<f2' float16  '<f4' float32  '<f8' float64  '|i1' int8  '|u1' uint8
//   '<i4' int32    '<i8' int64    '<u8' uint64
// Everything else (bool '|b1', int16, complex, strings, structured dtypes, objects) is rejected
// with a message that says what to convert to. At most kMaxDims (8) dims.
// Write: version 1.0, or 2.0 when the header would not fit 1.0's 16-bit length; the header is
// padded so the data starts on a 64-byte boundary, as NumPy does.
//
// Conventions for the two mc2 dtypes NumPy does not have (docs/npy.md):
//   - bfloat16 is written as '<f4' float32. Every bf16 value is exactly a float32, so nothing is
//     lost; ConvertForOperator(..., kBFloat16, ...) brings it back bit for bit.
//   - int4 is written as '|i1' int8, one element per byte, values in [-8, 7].
//     ConvertForOperator(..., kInt4, ...) packs it again (two per byte, element 2j low nibble).
//
// Errors are Status values with aclnn::kErrParamInvalid (bad or unsupported file, missing file)
// or aclnn::kErrRuntime (an I/O failure after the file was opened); every message starts with the
// path (or "npy" for in-memory data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/status_or.h"
#include "core/tensor.h"

namespace mc2 {

// Largest header accepted when reading (NumPy itself refuses headers over 10000 bytes by default);
// a bigger one is malformed or malicious.
inline constexpr size_t kNpyMaxHeaderBytes = 1 << 20;

// Reads a whole .npy file. The tensor's dtype is the file's (float16, float32, float64, int8,
// uint8, int32, int64, uint64); use ConvertForOperator for bf16 and int4.
StatusOr<HostTensor> ReadNpy(const std::string& path);

// Writes `tensor` as .npy (bf16 as float32, int4 as int8; see above). Replaces an existing file.
Status WriteNpy(const std::string& path, const HostTensor& tensor);

// The same, in memory. ParseNpy never reads outside [data, data + size) and allocates at most the
// tensor the bytes actually contain, whatever the header claims.
StatusOr<HostTensor> ParseNpy(const uint8_t* data, size_t size);
std::vector<uint8_t> SerializeNpy(const HostTensor& tensor);

// The NumPy dtype string a tensor of `dtype` is written with ("<f4" for float32 and bfloat16,
// "|i1" for int8 and int4, ...).
std::string_view NpyDescr(DType dtype);

// Turns a tensor loaded from .npy into the dtype an operator input wants, or explains why not.
// `name` is the input's name (e.g. "x2") and starts every message.
//   wanted float16 / bfloat16 / float32 / float64: accepts float16, float32, float64 (and
//     bfloat16) and rounds half-to-even; a bf16 tensor saved as float32 comes back exactly.
//   wanted int4: accepts int8 (or int4) with every value in [-8, 7] and packs it; the first value
//     out of range is named with its index.
//   wanted int8, uint8, int32, int64 (e.g. an int64 deqScale), uint64: accepts exactly that dtype.
// A mismatch names the tensor, the dtype found and the dtypes accepted.
StatusOr<HostTensor> ConvertForOperator(const HostTensor& loaded, DType wanted, const std::string& name);

}  // namespace mc2
