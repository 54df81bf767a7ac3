// Plan / pack / execute of the weight-quantized matmul (target independent). The kernels are in
// wq_matmul_decode.cc and wq_matmul_prefill.cc; wq_matmul.h describes the contract.
#include "kernels/wq_matmul.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/matmul_gemm_blocking.h"
#include "kernels/wq_matmul_kernels.h"
#include "kernels/wq_matmul_reference.h"

namespace mc2::kernels {
namespace {

bool IsAct(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

Status Invalid(const std::string& msg) { return AclnnError(aclnn::kErrParamInvalid, msg); }

int64_t RoundUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

void PutNibble(uint8_t* bytes, int64_t byte, bool high, int w) {
  const uint8_t nib = static_cast<uint8_t>(w) & 0xf;
  bytes[byte] = high ? static_cast<uint8_t>((bytes[byte] & 0x0f) | (nib << 4))
                     : static_cast<uint8_t>((bytes[byte] & 0xf0) | nib);
}

uint8_t* AlignScratch(void* scratch) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(scratch);
  return reinterpret_cast<uint8_t*>((p + 63) / 64 * 64);
}

// See WqPackedWeights::fast_round. |w| <= 128 (int8 and int4). fp16 without offset: scales in
// [2^-14, 511.75] put every nonzero product in fp16's normal range [2^-14, 65504]. bf16: scales
// in [2^-40, 2^40] and offsets 0 or in [2^-40, 2^20] keep every nonzero fp32 value (w + o) * s in
// [2^-80, 2^61] (a nonzero w + o is at least min(|o|, 2^-8)), far inside fp32's normal range.
bool FastRoundIsExact(const WqMatmulDesc& d, const WqPackedWeights& p) {
  const bool f16 = d.act_dtype == DType::kFloat16;
  if (f16 && d.has_offset) return false;
  const float lo = f16 ? 6.103515625e-05f : 9.094947017729282e-13f;  // 2^-14, 2^-40
  const float hi = f16 ? 511.75f : 1.099511627776e+12f;              // 65504 / 128, 2^40
  // The decode loops' two-op rounding (FastAntiquant in matmul_simd-inl.h) also needs
  // s * (c + 1) exact in fp32, c = 2^13 (fp16) / 2^16 (bf16): true of every fp16 / bf16 value.
  const double c = f16 ? 8192.0 : 65536.0;
  for (float s : p.scale) {
    const float a = std::fabs(s);
    if (!(a == 0.0f || (a >= lo && a <= hi))) return false;
    if (static_cast<double>(static_cast<float>(static_cast<double>(s) * (c + 1))) != static_cast<double>(s) * (c + 1)) {
      return false;
    }
  }
  for (float o : p.offset) {
    const float a = std::fabs(o);
    if (!(a == 0.0f || (a >= 9.094947017729282e-13f && a <= 1048576.0f))) return false;
  }
  return true;
}

}  // namespace

Status CheckWqMatmul(const WqMatmulDesc& d, const WqWeightsView& w, Support* support) {
  if (d.m_max < 0 || d.k < 0 || d.n < 0) {
    return Invalid(StrCat("wq matmul: m_max, k, n are ", d.m_max, ", ", d.k, ", ", d.n, " (must be >= 0)"));
  }
  if (!IsAct(d.act_dtype)) return Invalid(StrCat("x: dtype ", DTypeName(d.act_dtype), " (must be float16 or bfloat16)"));
  if (d.weight_dtype != DType::kInt8 && d.weight_dtype != DType::kInt4) {
    return Invalid(StrCat("weight: dtype ", DTypeName(d.weight_dtype), " (must be int8 or int4)"));
  }
  if (!IsAct(d.out_dtype) && d.out_dtype != DType::kFloat32) {
    return Invalid(StrCat("y: dtype ", DTypeName(d.out_dtype), " (must be float16, bfloat16 or float32)"));
  }
  if (d.scale_mode == ScaleMode::kPerGroup && d.group_size <= 0) {
    return Invalid(StrCat("antiquant group size is ", d.group_size, " (must be > 0 for per-group scales)"));
  }
  if (d.k > 0 && d.n > 0) {
    if (w.weight == nullptr) return Invalid("weight: null pointer");
    if (w.scale == nullptr) return Invalid("antiquant scale: null pointer");
    if (d.has_offset && w.offset == nullptr) return Invalid("antiquant offset: null pointer but has_offset is set");
  }
  *support = Support::Yes();
  if ((d.layout == WeightLayout::kNzKN || d.layout == WeightLayout::kNzNK) && d.weight_dtype != DType::kInt8) {
    *support = Support::No("FRACTAL_NZ weight is supported for int8 only");
  } else if (d.scale_mode == ScaleMode::kPerGroup && d.group_size % kWqChunk != 0) {
    *support = Support::No(StrCat("group size ", d.group_size, " is not a multiple of 32"));
  }
  return Status::Ok();
}

Status PackWeights(const WqMatmulDesc& d, const WqWeightsView& w, MatmulRegime regime, WqPackedWeights* p) {
  Support support = Support::Yes();
  MC2_RETURN_IF_ERROR(CheckWqMatmul(d, w, &support));
  if (!support.ok()) return Invalid(StrCat("PackWeights: ", support.reason()));
  const bool int4 = d.weight_dtype == DType::kInt4;
  const bool decode = regime == MatmulRegime::kDecode;
  *p = WqPackedWeights{};
  p->regime = decode ? MatmulRegime::kDecode : MatmulRegime::kPrefill;
  p->k = d.k;
  p->n = d.n;
  p->k_pad = decode ? RoundUp(d.k, int4 ? kWqInt4DecodeChunk : kWqChunk) : d.k;
  p->n_pad = decode ? d.n : RoundUp(d.n, kWqChunk);
  if (d.scale_mode == ScaleMode::kPerGroup) {
    p->group = d.group_size;
    p->groups = (d.k + d.group_size - 1) / d.group_size;
  } else {
    p->group = p->k_pad > kWqChunk ? p->k_pad : kWqChunk;
    p->groups = 1;
  }
  // Both layouts are sequences of chunks. Decode: chunk (nn, kk / C) holds W[kk .. kk+C, nn],
  // row-major over (n, k_pad / C). Prefill: chunk (nn / 32, kk) holds W[kk, nn .. nn+32], ordered
  // [n_pad / 32][k]. int8: C = 32 bytes. int4 prefill: 16 bytes, elements 0..15 in the low
  // nibbles. int4 decode: C = 128 elements in 64 bytes, element e in nibble e / 16 (bits
  // 4 (e / 16) ..) of 32-bit word e % 16, so word j holds the eight elements j, j + 16, .., j + 112
  // and the decode loop unpacks a vector with one shift (or two) and no widening.
  const int64_t chunk_elems = decode && int4 ? kWqInt4DecodeChunk : kWqChunk;
  const int64_t chunk_bytes = int4 ? chunk_elems / 2 : chunk_elems;
  p->data.assign(static_cast<size_t>((decode ? d.n * (p->k_pad / chunk_elems) : (p->n_pad / kWqChunk) * d.k) * chunk_bytes), 0);
  for (int64_t kk = 0; kk < d.k; ++kk) {
    for (int64_t nn = 0; nn < d.n; ++nn) {
      const int64_t chunk = decode ? nn * (p->k_pad / chunk_elems) + kk / chunk_elems : (nn / kWqChunk) * d.k + kk;
      const int64_t e = decode ? kk % chunk_elems : nn % kWqChunk;
      uint8_t* base = p->data.data() + chunk * chunk_bytes;
      const int v = WqWeightAt(d, w.weight, kk, nn);
      if (int4 && decode) {
        PutNibble(base, 4 * (e % 16) + e / 32, (e / 16) % 2 == 1, v);
      } else if (int4) {
        PutNibble(base, e % 16, e >= 16, v);
      } else {
        base[e] = static_cast<uint8_t>(static_cast<int8_t>(v));
      }
    }
  }
  // Scales / offsets: decode (n, groups), prefill (groups, n_pad) with zero padding columns.
  const size_t count = static_cast<size_t>(decode ? d.n * p->groups : p->groups * p->n_pad);
  p->scale.assign(count, 0.0f);
  if (d.has_offset) p->offset.assign(count, 0.0f);
  for (int64_t g = 0; g < p->groups; ++g) {
    for (int64_t nn = 0; nn < d.n; ++nn) {
      const size_t idx = static_cast<size_t>(decode ? nn * p->groups + g : g * p->n_pad + nn);
      const int64_t kk = d.scale_mode == ScaleMode::kPerGroup ? g * d.group_size : 0;
      p->scale[idx] = WqParamAt(d, w, w.scale, kk, nn);
      if (d.has_offset) p->offset[idx] = WqParamAt(d, w, w.offset, kk, nn);
    }
  }
  p->fast_round = FastRoundIsExact(d, *p);
  return Status::Ok();
}

size_t WqMatmulPlan::ScratchBytes(int64_t rows) const {
  const size_t body = regime() == MatmulRegime::kDecode ? WqDecodeScratchBytes(rows, packed_.k_pad, packed_.n)
                                                        : WqPrefillScratchBytes(rows, packed_.k);
  return body + 64;  // room to align the caller's pointer
}

Status PlanWqMatmul(const WqMatmulDesc& desc, const WqWeightsView& w, WqMatmulPlan* plan, Support* support) {
  MC2_RETURN_IF_ERROR(CheckWqMatmul(desc, w, support));
  if (!support->ok()) return Status::Ok();
  MatmulRegime regime = desc.regime;
  if (regime == MatmulRegime::kAuto) regime = desc.m_max <= kWqDecodeMaxM ? MatmulRegime::kDecode : MatmulRegime::kPrefill;
  plan->desc_ = desc;
  plan->n_align_ = regime == MatmulRegime::kDecode ? kDecodeCols : kWqChunk;
  return PackWeights(desc, w, regime, &plan->packed_);
}

namespace {

Status CheckArgs(const WqMatmulPlan& plan, const WqMatmulArgs& a) {
  const WqMatmulDesc& d = plan.desc();
  if (a.m < 0) return Invalid(StrCat("x: m is ", a.m, " (must be >= 0)"));
  if (a.m == 0 || d.n == 0) return Status::Ok();
  if (a.x == nullptr && d.k > 0) return Invalid("x: null pointer");
  if (a.y == nullptr) return Invalid("y: null pointer");
  if (a.x_stride >= 0 && a.x_stride < d.k) return Invalid(StrCat("x: row stride ", a.x_stride, " is below k = ", d.k));
  if (a.y_stride >= 0 && a.y_stride < d.n) return Invalid(StrCat("y: row stride ", a.y_stride, " is below n = ", d.n));
  if (a.bias != nullptr && !IsAct(a.bias_dtype) && a.bias_dtype != DType::kFloat32) {
    return Invalid(StrCat("bias: dtype ", DTypeName(a.bias_dtype), " (must be float16, bfloat16 or float32)"));
  }
  return Status::Ok();
}

void Run(const WqMatmulPlan& plan, const WqMatmulArgs& a, const MatmulRange& r, uint8_t* scratch) {
  const WqMatmulDesc& d = plan.desc();
  WqRunArgs run;
  run.packed = &plan.packed();
  run.act_dtype = d.act_dtype;
  run.has_offset = d.has_offset;
  run.int4 = d.weight_dtype == DType::kInt4;
  run.x_stride = a.x_stride < 0 ? d.k : a.x_stride;
  run.y_stride = a.y_stride < 0 ? d.n : a.y_stride;
  run.x = static_cast<const uint8_t*>(a.x) + r.m0 * run.x_stride * 2;
  run.rows = r.rows();
  run.n0 = r.n0;
  run.n1 = r.n1;
  run.bias = a.bias;
  run.bias_dtype = a.bias_dtype;
  run.out_dtype = d.out_dtype;
  run.y = static_cast<uint8_t*>(a.y) + r.m0 * run.y_stride * (d.out_dtype == DType::kFloat32 ? 4 : 2);
  run.scratch = scratch;
  if (plan.regime() == MatmulRegime::kDecode) {
    WqDecodeRun(run);
  } else {
    WqPrefillRun(run);
  }
}

}  // namespace

Status ExecuteWqMatmul(const WqMatmulPlan& plan, const WqMatmulArgs& args, const MatmulRange& range,
                       void* scratch, size_t scratch_bytes) {
  MC2_RETURN_IF_ERROR(CheckArgs(plan, args));
  const WqMatmulDesc& d = plan.desc();
  if (range.m0 < 0 || range.m1 > args.m || range.n0 < 0 || range.n1 > d.n) {
    return Invalid(StrCat("range rows [", range.m0, ", ", range.m1, ") cols [", range.n0, ", ", range.n1,
                          ") is outside the (", args.m, ", ", d.n, ") output"));
  }
  if (range.empty()) return Status::Ok();
  // Prefill reads 32-column weight blocks from a block boundary; decode takes any first column
  // (n_align() is only its preferred granularity).
  if (plan.regime() == MatmulRegime::kPrefill && range.n0 % kWqChunk != 0) {
    return Invalid(StrCat("range: first column ", range.n0, " is not a multiple of ", kWqChunk));
  }
  if (scratch == nullptr || scratch_bytes < plan.ScratchBytes(range.rows())) {
    return Invalid(StrCat("scratch: ", scratch_bytes, " bytes, ", plan.ScratchBytes(range.rows()), " needed"));
  }
  Run(plan, args, range, AlignScratch(scratch));
  return Status::Ok();
}

namespace {
struct ParallelCtx {
  const WqMatmulPlan* plan;
  const WqMatmulArgs* args;
  uint8_t* scratch;
  size_t slice;
  int64_t n_tasks;
};
void RunTask(void* ctx, int64_t task) {
  const ParallelCtx& c = *static_cast<const ParallelCtx*>(ctx);
  // Rows are split only in the prefill regime: a decode split would stream the weights twice.
  const int64_t m_split_min = c.plan->regime() == MatmulRegime::kDecode ? INT64_MAX : kWqDecodeMaxM + 1;
  const MatmulRange r = SplitRange(c.args->m, c.plan->desc().n, c.plan->n_align(), m_split_min, task, c.n_tasks);
  if (!r.empty()) Run(*c.plan, *c.args, r, AlignScratch(c.scratch + task * c.slice));
}
}  // namespace

Status ExecuteWqMatmulParallel(const WqMatmulPlan& plan, const WqMatmulArgs& args, ParallelForFn parallel_for,
                               void* pool, int64_t n_tasks, void* scratch, size_t scratch_bytes) {
  MC2_RETURN_IF_ERROR(CheckArgs(plan, args));
  if (args.m == 0 || plan.desc().n == 0) return Status::Ok();
  if (n_tasks < 1) return Invalid(StrCat("n_tasks is ", n_tasks, " (must be >= 1)"));
  const size_t slice = AlignUp64(plan.ScratchBytes(args.m));
  if (scratch == nullptr || scratch_bytes < slice * static_cast<size_t>(n_tasks)) {
    return Invalid(StrCat("scratch: ", scratch_bytes, " bytes, ", slice * n_tasks, " needed"));
  }
  ParallelCtx ctx{&plan, &args, static_cast<uint8_t*>(scratch), slice, n_tasks};
  if (parallel_for == nullptr || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) RunTask(&ctx, t);
  } else {
    parallel_for(pool, n_tasks, RunTask, &ctx);
  }
  return Status::Ok();
}

}  // namespace mc2::kernels
