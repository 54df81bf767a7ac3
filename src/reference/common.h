// Precision steps shared by the golden reference of every operator.
//
// Two modes:
//   kCann  — every intermediate rounding CANN performs (spec 2.2, 3.3, 4.4/4.5) is applied: the
//            dequantized weight rounded to the activation dtype, the local product rounded to the
//            output dtype, the all-reduce result rounded, fp16 adds done in fp16, and so on.
//   kExact — the same formulas in float64 with no intermediate rounding; outputs are float64.
//
// Choices where CANN's documents are silent (docs/reference.md has the reasons):
//   - A matmul accumulates in float64 and rounds once (the NPU cube accumulates in fp32 in an
//     undocumented order; the correctly rounded exact dot product is the best single answer).
//   - A cross-rank sum of fp16/bf16 values is accumulated in fp32 in rank order 0..R-1 and
//     rounded once to the dtype (spec 6.1: HCCL's order and precision are not published).
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mc2::reference {

enum class Mode { kCann, kExact };

// Rounds to `dtype` in kCann mode (round-half-even unless `round` says otherwise); identity in kExact.
double Round(double v, DType dtype, Mode mode, RoundMode round = RoundMode::kHalfEven);

// The dtype an output is produced in: `dtype` for kCann, float64 for kExact.
DType OutputDType(DType dtype, Mode mode);

// Antiquant of one weight element: (w + offset) * scale (spec 2.2 step 1, 4.5 W8A16).
// act_dtype fp16: the add and the multiply are each rounded to fp16 (fp16 arithmetic);
// act_dtype bf16: computed in fp32, then rounded to bf16 (CAST_RINT). kExact: float64.
// scale and offset are the stored values (already of the activation dtype).
double AntiquantWeight(double w, double scale, double offset, DType act_dtype, Mode mode);

// a + b as the NPU vector unit adds two values of `dtype` (fp16: in fp16; bf16: in fp32 then
// rounded; fp32: in fp32). kExact: exact.
double AddInDType(double a, double b, DType dtype, Mode mode);

// Sum of one value per rank, accumulated in fp32 in rank order and rounded to `dtype`.
double CrossRankSum(const std::vector<double>& per_rank, DType dtype, Mode mode);

// Activations on fp32 (kCann) or float64 (kExact) input (spec 3.3 step 5).
//   GELU (tanh form): x / (1 + exp(-1.59576912 * (x + 0.044715 x^3)))
//   FastGELU:         x / (1 + exp(-1.702 x))
//   SiLU:             x / (1 + exp(-x));  ReLU: max(x, 0)
double Gelu(double x, Mode mode);
double FastGelu(double x, Mode mode);
double Silu(double x, Mode mode);
double Relu(double x);

// Row-major index helpers for the reference's nested loops.
inline int64_t Idx2(int64_t i, int64_t j, int64_t cols) { return i * cols + j; }
inline int64_t Idx3(int64_t i, int64_t j, int64_t k, int64_t d1, int64_t d2) { return (i * d1 + j) * d2 + k; }

// Element (i, j) of a 1-D or 2-D view through its strides; size-1 dims broadcast.
double Load2(const TensorView& v, int64_t i, int64_t j);
// Element i of a (n), (1, n), (1) or (1, 1) view.
double LoadVec(const TensorView& v, int64_t i);

}  // namespace mc2::reference
