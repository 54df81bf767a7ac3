// W8A8 plan (weight packing, bias/scale decoding), execution and scalar reference (w8a8.h).
//
// Plan time: the weights are repacked into int16 pairs (2x the int8 bytes: 32 MiB for k = n =
// 4096) so the micro-kernel needs no sign extension in its inner loop; at ~50 ms for 16M weights
// the packing is paid once per weight. Execute: pack the activations (m x k int8 -> int16 pairs,
// ~1% of the multiply time at m = 512), then tiles. Threads split the 16-column panels when there
// are at least two per thread (each thread keeps its panels in its own L2), else the row blocks.
#include "kernels/w8a8.h"

#include <algorithm>
#include <cstring>

#include "core/float16.h"
#include "kernels/cpu_features.h"
#include "kernels/w8a8_job.h"

namespace mc2::kernels {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Status CheckWeight(const W8A8Weight& w) {
  if (w.k < 0 || w.n < 0) return AclnnError(aclnn::kErrInner, "W8A8: k = ", w.k, ", n = ", w.n, " (must be >= 0)");
  if (w.k > 0 && w.n > 0 && !w.data) return AclnnError(aclnn::kErrInner, "W8A8: weight data is null");
  const int64_t cols = w.transposed ? w.k : w.n;
  if (!w.nz && w.ld != 0 && w.ld < cols) {
    return AclnnError(aclnn::kErrInner, "W8A8: weight row stride ", w.ld, " is below its ", cols, " columns");
  }
  return Status::Ok();
}

Status CheckQuant(const W8A8Quant& q, int64_t n) {
  if (q.out_dtype != DType::kFloat16 && q.out_dtype != DType::kBFloat16 && q.out_dtype != DType::kFloat32) {
    return AclnnError(aclnn::kErrInner, "W8A8: output dtype ", DTypeName(q.out_dtype),
                      " (must be float16, bfloat16 or float32)");
  }
  if (q.scale_dtype != DType::kFloat32 && q.scale_dtype != DType::kInt64) {
    return AclnnError(aclnn::kErrInner, "W8A8: deqScale dtype ", DTypeName(q.scale_dtype),
                      " (must be float32 or int64)");
  }
  if (!q.scale || (q.scale_count != 1 && q.scale_count != n)) {
    return AclnnError(aclnn::kErrInner, "W8A8: deqScale has ", q.scale_count, " values",
                      q.scale ? "" : " (null)", " (must be 1 or n = ", n, ")");
  }
  if (q.bias && q.bias_count != 1 && q.bias_count != n) {
    return AclnnError(aclnn::kErrInner, "W8A8: bias has ", q.bias_count, " values (must be 1 or n = ", n, ")");
  }
  return Status::Ok();
}

// Weight element (kk, nn) of the logical (k, n) matrix.
int8_t WeightAt(const W8A8Weight& w, int64_t kk, int64_t nn) {
  const int64_t r = w.transposed ? nn : kk, c = w.transposed ? kk : nn;
  if (w.nz) {
    const int64_t rows_pad = CeilDiv(w.transposed ? w.n : w.k, 16) * 16;
    return w.data[((c / 32) * rows_pad + r) * 32 + c % 32];
  }
  const int64_t ld = w.ld ? w.ld : (w.transposed ? w.k : w.n);
  return w.data[r * ld + c];
}

// Scale of column j as the hardware applies it.
float ScaleAt(const W8A8Quant& q, int64_t j) {
  const int64_t idx = q.scale_count == 1 ? 0 : j;
  if (q.scale_dtype == DType::kFloat32) return static_cast<const float*>(q.scale)[idx];
  uint32_t bits = static_cast<uint32_t>(static_cast<const int64_t*>(q.scale)[idx] & 0xffffffffLL);
  if (q.out_dtype == DType::kFloat16) bits &= ~0x1fffu;
  return BitsToFloat(bits);
}

int32_t BiasAt(const W8A8Quant& q, int64_t j) {
  return q.bias ? q.bias[q.bias_count == 1 ? 0 : j] : 0;
}

int OutKind(DType t) { return t == DType::kFloat16 ? 1 : t == DType::kBFloat16 ? 2 : 0; }

}  // namespace

StatusOr<W8A8Plan> W8A8Plan::Create(const W8A8Weight& w, const W8A8Quant& q) {
  MC2_RETURN_IF_ERROR(CheckWeight(w));
  MC2_RETURN_IF_ERROR(CheckQuant(q, w.n));
  W8A8Plan plan;
  plan.k_ = w.k;
  plan.n_ = w.n;
  plan.k_pairs_ = CeilDiv(w.k, 2);
  plan.panels_ = CeilDiv(w.n, w8a8::kPanelCols);
  plan.out_dtype_ = q.out_dtype;
  const int64_t cols_pad = plan.panels_ * w8a8::kPanelCols;
  plan.packed_ = hwy::AllocateAligned<int16_t>(static_cast<size_t>(std::max<int64_t>(1, cols_pad * plan.k_pairs_ * 2)));
  plan.bias_ = hwy::AllocateAligned<int32_t>(static_cast<size_t>(std::max<int64_t>(1, cols_pad)));
  plan.scale_ = hwy::AllocateAligned<float>(static_cast<size_t>(std::max<int64_t>(1, cols_pad)));
  if (!plan.packed_ || !plan.bias_ || !plan.scale_) {
    return AclnnError(aclnn::kErrInner, "W8A8: out of memory packing a (", w.k, ", ", w.n, ") weight");
  }
  for (int64_t j = 0; j < cols_pad; ++j) {
    plan.bias_[j] = j < w.n ? BiasAt(q, j) : 0;
    plan.scale_[j] = j < w.n ? ScaleAt(q, j) : 0.0f;
  }
  for (int64_t panel = 0; panel < plan.panels_; ++panel) {
    int16_t* dst = plan.packed_.get() + panel * plan.k_pairs_ * 2 * w8a8::kPanelCols;
    for (int64_t p = 0; p < plan.k_pairs_; ++p) {
      for (int c = 0; c < w8a8::kPanelCols; ++c) {
        const int64_t nn = panel * w8a8::kPanelCols + c;
        for (int h = 0; h < 2; ++h) {
          const int64_t kk = 2 * p + h;
          *dst++ = (nn < w.n && kk < w.k) ? WeightAt(w, kk, nn) : 0;
        }
      }
    }
  }
  // Arm with SDOT: the same weights as int8 quads as well (the NEON target uses them; SVE targets
  // and hosts without the extension keep the int16 pairs).
  if (DetectCpuFeatures().dotprod) {
    plan.k_quads_ = CeilDiv(w.k, 4);
    plan.packed_q_ = hwy::AllocateAligned<int8_t>(static_cast<size_t>(std::max<int64_t>(1, cols_pad * plan.k_quads_ * 4)));
    if (!plan.packed_q_) return AclnnError(aclnn::kErrInner, "W8A8: out of memory packing a (", w.k, ", ", w.n, ") weight");
    int8_t* dst = plan.packed_q_.get();
    for (int64_t panel = 0; panel < plan.panels_; ++panel) {
      for (int64_t q = 0; q < plan.k_quads_; ++q) {
        for (int c = 0; c < w8a8::kPanelCols; ++c) {
          const int64_t nn = panel * w8a8::kPanelCols + c;
          for (int h = 0; h < 4; ++h) {
            const int64_t kk = 4 * q + h;
            *dst++ = static_cast<int8_t>((nn < w.n && kk < w.k) ? WeightAt(w, kk, nn) : 0);
          }
        }
      }
    }
  }
  return plan;
}

size_t W8A8Plan::WorkspaceBytes(int64_t m) const {
  const int64_t rows = CeilDiv(std::max<int64_t>(m, 0), w8a8::kMaxRowsPerTile) * w8a8::kMaxRowsPerTile;
  return static_cast<size_t>(rows * k_pairs_) * sizeof(int32_t) + 64;
}

Status W8A8Plan::Execute(const int8_t* x, int64_t m, int64_t ldx, const float* token_scale, void* out,
                         int64_t ldo, void* workspace, size_t workspace_bytes, ThreadPool* pool) const {
  if (m < 0) return AclnnError(aclnn::kErrInner, "W8A8: m = ", m, " (must be >= 0)");
  if (ldx == 0) ldx = k_;
  if (ldo == 0) ldo = n_;
  if (ldx < k_ || ldo < n_) {
    return AclnnError(aclnn::kErrInner, "W8A8: row strides ldx = ", ldx, ", ldo = ", ldo,
                      " are below k = ", k_, " / n = ", n_);
  }
  if (m == 0 || n_ == 0) return Status::Ok();
  if ((k_ > 0 && !x) || !out) return AclnnError(aclnn::kErrInner, "W8A8: null x or out");
  if (workspace_bytes < WorkspaceBytes(m) || !workspace) {
    return AclnnError(aclnn::kErrInner, "W8A8: workspace of ", workspace_bytes, " bytes, ",
                      WorkspaceBytes(m), " needed for m = ", m);
  }
  w8a8::Job job;
  job.x = x;
  job.m = m;
  job.k = k_;
  job.n = n_;
  job.ldx = ldx;
  job.ldo = ldo;
  job.k_pairs = k_pairs_;
  job.panels = panels_;
  job.packed = packed_.get();
  job.packed_q = packed_q_.get();
  job.k_quads = k_quads_;
  job.bias = bias_.get();
  job.scale = scale_.get();
  job.token_scale = token_scale;
  job.out_kind = OutKind(out_dtype_);
  job.out = out;
  // 64-byte aligned start inside the workspace (WorkspaceBytes reserves the slack).
  const uintptr_t base = reinterpret_cast<uintptr_t>(workspace);
  job.a_packed = reinterpret_cast<int32_t*>((base + 63) & ~uintptr_t{63});

  const int mr = w8a8::RowsPerTile();
  const int64_t blocks = CeilDiv(m, mr);
  const int threads = pool ? pool->num_threads() : 1;
  if (threads == 1) {
    w8a8::PackA(job, 0, blocks);
    w8a8::Compute(job, 0, blocks, 0, panels_);
    return Status::Ok();
  }
  MC2_RETURN_IF_ERROR(pool->ParallelFor(threads, [&](int64_t t, int) {
    w8a8::PackA(job, blocks * t / threads, blocks * (t + 1) / threads);
  }));
  const bool split_panels = panels_ >= 2 * threads || blocks < threads;
  return pool->ParallelFor(threads, [&](int64_t t, int) {
    if (split_panels) {
      w8a8::Compute(job, 0, blocks, panels_ * t / threads, panels_ * (t + 1) / threads);
    } else {
      w8a8::Compute(job, blocks * t / threads, blocks * (t + 1) / threads, 0, panels_);
    }
  });
}

Status W8A8Scalar(const W8A8Weight& w, const W8A8Quant& q, const int8_t* x, int64_t m, int64_t ldx,
                  const float* token_scale, void* out, int64_t ldo) {
  MC2_RETURN_IF_ERROR(CheckWeight(w));
  MC2_RETURN_IF_ERROR(CheckQuant(q, w.n));
  if (ldx == 0) ldx = w.k;
  if (ldo == 0) ldo = w.n;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < w.n; ++j) {
      uint32_t acc = 0;  // int32 with wrap-around, without signed-overflow UB
      for (int64_t kk = 0; kk < w.k; ++kk) {
        acc += static_cast<uint32_t>(int32_t{x[i * ldx + kk]} * int32_t{WeightAt(w, kk, j)});
      }
      acc += static_cast<uint32_t>(BiasAt(q, j));
      float v = static_cast<float>(static_cast<int32_t>(acc)) * ScaleAt(q, j);
      if (token_scale) v *= token_scale[i];
      const int64_t o = i * ldo + j;
      if (q.out_dtype == DType::kFloat32) {
        static_cast<float*>(out)[o] = v;
      } else {
        static_cast<uint16_t*>(out)[o] = q.out_dtype == DType::kFloat16 ? FloatToHalf(v) : FloatToBf16(v);
      }
    }
  }
  return Status::Ok();
}

const char* W8A8Target() { return w8a8::TargetName(); }

}  // namespace mc2::kernels
