#include "reference/cases.h"

#include <cmath>
#include <cstring>

#include "core/float16.h"

namespace mc2::reference {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Dims ScaleDims(ScaleKind kind, int64_t k, int64_t n, int64_t group) {
  switch (kind) {
    case ScaleKind::kPerTensor:
      return {1};
    case ScaleKind::kPerChannel:
      return {n};
    case ScaleKind::kPerGroup:
      return {CeilDiv(k, group), n};
  }
  return {1};
}

}  // namespace

TensorView TensorPool::Uniform(DType dtype, const Dims& dims, double lo, double hi) {
  HostTensor& t = tensors_.emplace_back(dtype, dims);
  if (IsFloating(dtype)) {
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.set(i, dist(rng_));
  } else {
    std::uniform_int_distribution<int64_t> dist(static_cast<int64_t>(std::ceil(lo)),
                                                static_cast<int64_t>(std::floor(hi)));
    for (int64_t i = 0; i < t.numel(); ++i) t.set(i, static_cast<double>(dist(rng_)));
  }
  return t.view();
}

TensorView TensorPool::UniformTransposed(DType dtype, const Dims& view_dims, double lo, double hi) {
  Dims storage = view_dims;
  const int r = storage.size();
  std::swap(storage[r - 1], storage[r - 2]);
  return Uniform(dtype, storage, lo, hi).Transposed(r - 2, r - 1);
}

TensorView TensorPool::Zeros(DType dtype, const Dims& dims) { return tensors_.emplace_back(dtype, dims).view(); }

ArnCase MakeArnCase(const ArnShape& s) {
  ArnCase c(s.seed);
  c.attrs.epsilon = s.epsilon;
  c.attrs.antiquant_group_size = s.scale == ScaleKind::kPerGroup ? s.group_size : 0;
  const double wmax = s.weight == DType::kInt4 ? 7 : 127;
  const double wmin = s.weight == DType::kInt4 ? -8 : -128;
  // Activations, residual, gamma and bias are the same on every rank only where CANN users make
  // them so (gamma); the rest differ per rank.
  TensorView gamma = c.pool.Uniform(s.act, {s.n}, 0.5, 1.5);
  for (int r = 0; r < s.world_size; ++r) {
    ArnInputs in;
    in.x1 = c.pool.Uniform(s.act, {s.b, s.s, s.k}, -1, 1);
    in.x2 = s.transposed_weight ? c.pool.UniformTransposed(s.weight, {s.k, s.n}, wmin, wmax)
                                : c.pool.Uniform(s.weight, {s.k, s.n}, wmin, wmax);
    const Dims sd = ScaleDims(s.scale, s.k, s.n, s.group_size);
    in.antiquant_scale = c.pool.Uniform(s.act, sd, 0.001, 0.011);
    if (s.offset) in.antiquant_offset = c.pool.Uniform(s.act, sd, -1, 1);
    if (s.bias) in.bias = c.pool.Uniform(s.act, {s.n}, -1, 1);
    in.residual = c.pool.Uniform(s.act, {s.b, s.s, s.n}, -1, 1);
    in.gamma = gamma;
    c.ranks.push_back(in);
  }
  return c;
}

MoeCase MakeMoeCase(const MoeShape& s) {
  MoeCase c(s.seed);
  c.attrs.ep_world_size = s.ep;
  c.attrs.tp_world_size = s.tp;
  c.attrs.x_shard_type = s.x_shard_type;
  c.attrs.act_type = s.act_type;
  c.attrs.want_y2 = s.want_y2;
  c.attrs.want_y3 = s.want_y3 && s.act_type != ActType::kNone;
  const Dims x_dims = s.x_shard_type == 0 ? Dims{s.e, s.c, s.h / s.tp} : Dims{s.e, s.c / s.tp, s.h};
  const Dims w_dims{s.e / s.ep, s.h, s.m / s.tp};
  const DType bias_dtype = s.act == DType::kBFloat16 ? DType::kFloat32 : DType::kFloat16;
  for (int64_t g = 0; g < s.ep * s.tp; ++g) {
    MoeInputs in;
    in.x = c.pool.Uniform(s.act, x_dims, -1, 1);
    in.weight = s.transposed_weight ? c.pool.UniformTransposed(s.act, w_dims, -0.1, 0.1)
                                    : c.pool.Uniform(s.act, w_dims, -0.1, 0.1);
    if (s.bias) in.bias = c.pool.Uniform(bias_dtype, {s.e / s.ep, 1, s.m / s.tp}, -1, 1);
    c.ranks.push_back(in);
  }
  return c;
}

namespace {

// Stores a logical rows x cols matrix of `dtype` in FRACTAL_NZ (zero padding), as a 4-D view.
TensorView MakeNzWeight(TensorPool& pool, DType dtype, int64_t rows, int64_t cols, double lo, double hi) {
  const NzLayout nz{rows, cols, dtype == DType::kInt8 ? 32 : 16};
  TensorView logical = pool.Uniform(dtype, {rows, cols}, lo, hi);
  TensorView stored = pool.Zeros(dtype, nz.StorageDims());
  stored.format = Format::kFractalNZ;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t col = 0; col < cols; ++col) stored.StoreFlat(nz.Index(r, col), logical.LoadFlat(r * cols + col));
  return stored;
}

}  // namespace

LinearParallelCase MakeLinearParallelCase(const LinearParallelShape& s) {
  LinearParallelCase c(s.seed);
  c.attrs = s.attrs;
  const bool quant = c.attrs.quant_type != QuantType::kUnquant;
  const DType in_dtype = s.w8a8 ? DType::kInt8 : s.act;
  const DType w_dtype = quant ? DType::kInt8 : s.act;
  DType out_dtype = s.act;
  if (s.w8a8) out_dtype = c.attrs.out_dtype.value_or(DType::kFloat16);
  const Dims in_dims = s.b > 0 ? Dims{s.b, s.m, s.k} : Dims{s.m, s.k};
  const int64_t rows = s.b > 0 ? s.b * s.m : s.m;
  const int64_t wr = c.attrs.trans_weight ? s.n : s.k;
  const int64_t wc = c.attrs.trans_weight ? s.k : s.n;
  const double wlo = quant ? -128 : -0.1, whi = quant ? 127 : 0.1;
  for (int r = 0; r < s.world_size; ++r) {
    LinearParallelInputs in;
    in.input = s.w8a8 ? c.pool.Uniform(in_dtype, in_dims, -128, 127) : c.pool.Uniform(in_dtype, in_dims, -1, 1);
    in.weight = s.nz_weight ? MakeNzWeight(c.pool, w_dtype, wr, wc, wlo, whi) : c.pool.Uniform(w_dtype, {wr, wc}, wlo, whi);
    if (quant) {
      Dims qd{1};
      if (c.attrs.quant_type == QuantType::kPerChannel || c.attrs.quant_type == QuantType::kPerToken) qd = {s.n};
      if (c.attrs.quant_type == QuantType::kPerGroup) qd = {CeilDiv(s.k, c.attrs.quant_group_size), s.n};
      if (s.w8a8) {
        if (s.bias) in.bias = c.pool.Uniform(DType::kInt32, qd, -1000, 1000);
        TensorView scale = c.pool.Uniform(DType::kFloat32, qd, 1e-5, 1e-4);
        if (s.deq_scale_int64) {
          // Low 32 bits: the fp32 scale's bits; high 32 bits zero (spec 4.5).
          TensorView enc = c.pool.Zeros(DType::kInt64, qd);
          for (int64_t i = 0; i < scale.numel(); ++i) {
            const uint32_t bits = FloatBits(static_cast<float>(scale.LoadFlat(i)));
            static_cast<int64_t*>(enc.data)[i] = static_cast<int64_t>(bits);
          }
          scale = enc;
        }
        in.deq_scale = scale;
        if (c.attrs.quant_type == QuantType::kPerToken) in.per_token_scale = c.pool.Uniform(DType::kFloat32, {rows}, 0.5, 1.5);
      } else {
        if (s.bias) in.bias = c.pool.Uniform(s.act, qd, -1, 1);
        in.deq_scale = c.pool.Uniform(s.act, qd, 0.001, 0.011);
      }
    }
    if (c.attrs.has_residual) in.residual = c.pool.Uniform(out_dtype, {s.n}, -1, 1);
    c.ranks.push_back(in);
  }
  return c;
}

}  // namespace mc2::reference
