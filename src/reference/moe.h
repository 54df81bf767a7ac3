// Golden model of aclnnAlltoAllAllGatherBatchMatMul (spec section 3): the MoE expert layer that
// moves tokens to their experts' EP rank (AllToAll), gathers the TP shards of the hidden dim or of
// the capacity dim (AllGather), runs one matmul per local expert, then adds bias and applies the
// activation. All ep * tp ranks run in one process with plain nested loops.
//
// Rank numbering: the operator only needs each rank's EP rank p and TP rank t (it does not fix a
// global numbering). Here `ranks` and the result are indexed by grid position  p * tp + t,
// so the TP group of EP rank p is ranks [p * tp, (p + 1) * tp) and the EP group of TP rank t is
// {t, tp + t, 2 * tp + t, ...}.
//
// With El = E / ep local experts, Cl = x.dims[1] and Hl = x.dims[2], on rank (p, t):
//   A[e, i*Cl + c, h]  = x_(i, t)[p*El + e, c, h]                         AllToAll over EP
//   y2 (type 0)        : y2[e, i*Cl + c, j*Hl + h]        = A_(p, j)[e, i*Cl + c, h]
//   y2 (type 1)        : y2[e, i*tp*Cl + j*Cl + c, h]     = A_(p, j)[e, i*Cl + c, h]
//   B[e] = round(y2[e] @ weight[e]);  y3 = B + bias[e];  y1 = act(y3)
// The precision of each step and the rounding modes are in docs/reference.md, section
// "AlltoAllAllGatherBatchMatMul".
#pragma once

#include <optional>
#include <vector>

#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"
#include "reference/accuracy.h"
#include "reference/common.h"

namespace mc2::reference {

// y1 (El, rows, M/tp) always; y2 (El, rows, H) and y3 (El, rows, M/tp) when MoeAttrs asks for them;
// rows = ep * C (type 0) or ep * tp * (C/tp) (type 1). dtype = x's in kCann, float64 in kExact.
struct MoeOutputs {
  HostTensor y1;
  std::optional<HostTensor> y2, y3;
  // kCann only, for CheckMoeOutput: the rounded batch-matmul output B and z = B + bias (y3's
  // values, kept whether or not y3 was asked for), both of y1's dims and dtype.
  std::optional<HostTensor> product, z;
};

// `ranks[p * tp + t]` holds the inputs of EP rank p, TP rank t; the result is indexed the same way.
// Returns ACLNN_ERR_PARAM_INVALID (or ACLNN_ERR_PARAM_NULLPTR for missing data) naming the
// parameter, its value and the rule when the inputs are inconsistent; never aborts.
StatusOr<std::vector<MoeOutputs>> AlltoAllAllGatherBatchMatMul(const std::vector<MoeInputs>& ranks,
                                                               const MoeAttrs& attrs, Mode mode);

// Judges an operator's y1 (or, with `y3`, its y3) against one rank's kCann golden outputs. It
// passes by the spec's rule (DefaultRule: torch.allclose 0.001 fp16, 0.005 bf16), or else when
// every element is within the explained bound: the golden sums each product exactly and rounds
// once, while an fp32 accumulation (the kernels', as the NPU's cube unit) may round the product B
// one ulp to the other side, which z = round(B + bias) passes on as up to ulp(B) + ulp(z) (two
// ulps of z when bias cancels part of B) and the activation (slope at most 1.13: GELU; SiLU 1.10)
// into y1, whose own rounding adds one ulp: |a - g| <= 1.13 (ulp(B) + ulp(z)) + ulp(max(|a|, |g|))
// (y3: ulp(B) + ulp(max(|a|, |g|))). Found by the moe demo preset (H = 4096, signed data, SiLU):
// 3 of 1,048,576 elements 3 fp16 ulps off, the chained run identically. The spec's rule comes
// from a test with x ~ U[0, 1) and no activation, where one ulp of B always passes it. A wrong
// value, element or shape fails: the bound is a few ulps of the element's own magnitudes.
// `want` is the golden's y1 (y3), `product` and `z` its MoeOutputs fields of the same rank.
AccuracyReport CheckMoeOutput(const HostTensor& got, const HostTensor& want, const HostTensor& product,
                              const HostTensor& z, bool y3);
// The same with one rank's MoeOutputs; fails and says so when it lacks y3 (if asked), product or z.
AccuracyReport CheckMoeOutput(const HostTensor& got, const MoeOutputs& golden, bool y3);

}  // namespace mc2::reference
