// The arithmetic of the LinearParallel golden model (spec 4.4-4.5). Each step is one function over
// a plain row-major matrix of doubles holding values already rounded the way CANN rounds them
// (kCann) or exact (kExact): LocalProduct is the per-rank matmul + dequant, SumOverRanks the
// reduction, AddResidual the epilogue, and LinearParallel wires them per type. Validation lives in
// linear_parallel_plan.cc and weight storage in linear_parallel_weight.cc, so this file reads as the
// math. Single-threaded loops: the model's job is to be obviously right, not fast.
#include "reference/linear_parallel.h"

#include <cstdint>
#include <vector>

#include "reference/linear_parallel_plan.h"
#include "reference/linear_parallel_weight.h"

namespace mc2::reference {
namespace {

struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> v;

  Matrix(int64_t r, int64_t c) : rows(r), cols(c), v(static_cast<size_t>(r * c)) {}
  double& at(int64_t i, int64_t j) { return v[Idx2(i, j, cols)]; }
  double at(int64_t i, int64_t j) const { return v[Idx2(i, j, cols)]; }
};

// The input (m, k) or (b, m, k) as (rows, k), read through the view's strides.
Matrix LoadRows(const TensorView& input, int64_t rows, int64_t k) {
  Matrix x(rows, k);
  const int rank = input.rank();
  int64_t idx[3] = {0, 0, 0};
  for (int64_t i = 0; i < rows; ++i) {
    if (rank == 3) {
      idx[0] = i / input.dims[1];
      idx[1] = i % input.dims[1];
    } else {
      idx[0] = i;
    }
    for (int64_t kk = 0; kk < k; ++kk) {
      idx[rank - 1] = kk;
      x.at(i, kk) = input.Load(idx);
    }
  }
  return x;
}

// Rows of `parts` one after the other (the all-gather, in rank order).
Matrix Concat(const std::vector<const Matrix*>& parts) {
  int64_t rows = 0;
  for (const Matrix* p : parts) rows += p->rows;
  Matrix g(rows, parts.front()->cols);
  int64_t row = 0;
  for (const Matrix* p : parts) {
    for (int64_t i = 0; i < p->rows; ++i, ++row) {
      for (int64_t j = 0; j < p->cols; ++j) g.at(row, j) = p->at(i, j);
    }
  }
  return g;
}

// x @ w for float operands: every product is exact in double, the sum is accumulated in double and
// rounded once to the output dtype (reference/common.h).
Matrix FloatProduct(const Matrix& x, const std::vector<double>& w, int64_t n, DType out, Mode mode) {
  Matrix p(x.rows, n);
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t kk = 0; kk < x.cols; ++kk) acc += x.at(i, kk) * w[Idx2(kk, j, n)];
      p.at(i, j) = Round(acc, out, mode);
    }
  }
  return p;
}

// W8A8 (spec 4.5): int32 accumulation (exact here), + bias, * deqScale in fp32, one rounding to the
// output dtype; PER_TOKEN then scales that stored value by perTokenScale[i] in fp32 and rounds
// again, as LCOC's per-token pass does on the output buffer (docs/reference.md).
Matrix W8a8Product(const Matrix& x, const WeightMatrix& w, const LinearParallelInputs& in, DType out, Mode mode) {
  const int64_t n = w.n();
  const bool has_bias = in.bias.has_value() && !in.bias->empty();
  Matrix p(x.rows, n);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t bias = has_bias ? static_cast<int64_t>(LoadVec(*in.bias, j)) : 0;
    const double scale = W8a8Scale(*in.deq_scale, j, out, mode);
    for (int64_t i = 0; i < x.rows; ++i) {
      int64_t acc = 0;
      for (int64_t kk = 0; kk < x.cols; ++kk) {
        acc += static_cast<int64_t>(x.at(i, kk)) * static_cast<int64_t>(w.At(kk, j));
      }
      const double token = in.per_token_scale ? LoadVec(*in.per_token_scale, i) : 1.0;
      if (mode == Mode::kExact) {
        p.at(i, j) = static_cast<double>(acc + bias) * scale * token;
        continue;
      }
      const float dequant = static_cast<float>(acc + bias) * static_cast<float>(scale);
      double v = RoundToDType(dequant, out);
      if (in.per_token_scale) v = RoundToDType(static_cast<float>(v) * static_cast<float>(token), out);
      p.at(i, j) = v;
    }
  }
  return p;
}

// P_r(x): rank r's local product, in the output dtype (kCann) or exact.
Matrix LocalProduct(const LinearParallelPlan& plan, const LinearParallelAttrs& attrs, const LinearParallelInputs& in,
                    const WeightMatrix& w, const Matrix& x, Mode mode) {
  switch (plan.kind) {
    case LinearKind::kFloat:
      return FloatProduct(x, DenseWeight(w), plan.n, plan.out_dtype, mode);
    case LinearKind::kW8A16: {
      const int32_t group = attrs.quant_type == QuantType::kPerGroup ? attrs.quant_group_size : 0;
      const std::vector<double> wd = DequantizedWeight(w, *in.deq_scale, in.bias, group, plan.in_dtype, mode);
      return FloatProduct(x, wd, plan.n, plan.out_dtype, mode);
    }
    case LinearKind::kW8A8:
      return W8a8Product(x, w, in, plan.out_dtype, mode);
  }
  return Matrix(0, 0);
}

// Elementwise sum of equally shaped matrices in the given (rank) order.
Matrix SumOverRanks(const std::vector<const Matrix*>& parts, DType dtype, Mode mode) {
  Matrix s(parts.front()->rows, parts.front()->cols);
  std::vector<double> per_rank(parts.size());
  for (size_t e = 0; e < s.v.size(); ++e) {
    for (size_t r = 0; r < parts.size(); ++r) per_rank[r] = parts[r]->v[e];
    s.v[e] = CrossRankSum(per_rank, dtype, mode);
  }
  return s;
}

Matrix RowBlock(const Matrix& m, int64_t first, int64_t count) {
  Matrix b(count, m.cols);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < m.cols; ++j) b.at(i, j) = m.at(first + i, j);
  }
  return b;
}

// out += residual[j] on every row, once, after communication, as the output dtype adds.
void AddResidual(Matrix* out, const std::optional<TensorView>& residual, DType dtype, Mode mode) {
  if (!residual) return;
  for (int64_t i = 0; i < out->rows; ++i) {
    for (int64_t j = 0; j < out->cols; ++j) out->at(i, j) = AddInDType(out->at(i, j), LoadVec(*residual, j), dtype, mode);
  }
}

HostTensor ToTensor(const Matrix& m, DType dtype, const Dims& dims) {
  HostTensor t(dtype, dims);
  for (size_t e = 0; e < m.v.size(); ++e) t.set(static_cast<int64_t>(e), m.v[e]);
  return t;
}

// ALL_GATHER_LINEAR_REDUCE_SCATTER (spec 4.4): rank r sits at (agIdx, rsIdx) of an agDim x rsDim
// grid. Rank j gathers the inputs of its AG group (same rsIdx, ordered by agIdx) and multiplies them
// by its own weight; rank r receives its rsIdx block of the sum of the products of its RS group
// (same agIdx, ordered by rsIdx).
std::vector<Matrix> AllGatherLinearReduceScatter(const LinearParallelPlan& plan, const LinearParallelAttrs& attrs,
                                                 const std::vector<LinearParallelInputs>& ranks,
                                                 const std::vector<Matrix>& x, Mode mode) {
  const int ag = attrs.ag_dim;
  const int rs = attrs.rs_dim;
  const bool inner = attrs.inner_dim_is_ag;
  auto ag_idx = [&](int r) { return inner ? r % ag : r / rs; };
  auto rs_idx = [&](int r) { return inner ? r / ag : r % rs; };
  auto rank_at = [&](int a, int s) { return inner ? s * ag + a : a * rs + s; };

  std::vector<Matrix> q;
  for (int j = 0; j < plan.world_size; ++j) {
    std::vector<const Matrix*> group;
    for (int a = 0; a < ag; ++a) group.push_back(&x[rank_at(a, rs_idx(j))]);
    q.push_back(LocalProduct(plan, attrs, ranks[j], plan.weights[j], Concat(group), mode));
  }
  const int64_t chunk = plan.rows * ag / rs;
  std::vector<Matrix> out;
  for (int r = 0; r < plan.world_size; ++r) {
    std::vector<const Matrix*> group;
    for (int s = 0; s < rs; ++s) group.push_back(&q[rank_at(ag_idx(r), s)]);
    out.push_back(RowBlock(SumOverRanks(group, plan.out_dtype, mode), rs_idx(r) * chunk, chunk));
  }
  return out;
}

}  // namespace

StatusOr<std::vector<LinearParallelOutputs>> LinearParallel(const std::vector<LinearParallelInputs>& ranks,
                                                            const LinearParallelAttrs& attrs, Mode mode) {
  MC2_ASSIGN_OR_RETURN(const LinearParallelPlan plan, PlanLinearParallel(ranks, attrs));
  const int world = plan.world_size;
  std::vector<Matrix> x;
  for (const LinearParallelInputs& in : ranks) x.push_back(LoadRows(in.input, plan.rows, plan.k));
  std::vector<const Matrix*> all_x;
  for (const Matrix& m : x) all_x.push_back(&m);

  std::vector<Matrix> out;
  std::optional<Matrix> gathered;
  switch (attrs.type) {
    case LinearParallelType::kPureLinear:
      for (int r = 0; r < world; ++r) out.push_back(LocalProduct(plan, attrs, ranks[r], plan.weights[r], x[r], mode));
      break;
    case LinearParallelType::kLinearAllReduce:
    case LinearParallelType::kLinearReduceScatter: {
      std::vector<Matrix> p;
      for (int r = 0; r < world; ++r) p.push_back(LocalProduct(plan, attrs, ranks[r], plan.weights[r], x[r], mode));
      std::vector<const Matrix*> parts;
      for (const Matrix& m : p) parts.push_back(&m);
      const Matrix sum = SumOverRanks(parts, plan.out_dtype, mode);
      const int64_t chunk = plan.rows / world;
      for (int r = 0; r < world; ++r) {
        out.push_back(attrs.type == LinearParallelType::kLinearAllReduce ? sum : RowBlock(sum, r * chunk, chunk));
      }
      break;
    }
    case LinearParallelType::kAllGatherLinear:
      gathered = Concat(all_x);
      for (int r = 0; r < world; ++r) {
        out.push_back(LocalProduct(plan, attrs, ranks[r], plan.weights[r], *gathered, mode));
      }
      break;
    case LinearParallelType::kAllGatherLinearReduceScatter:
      out = AllGatherLinearReduceScatter(plan, attrs, ranks, x, mode);
      break;
  }

  const DType out_dtype = OutputDType(plan.out_dtype, mode);
  std::vector<LinearParallelOutputs> result;
  for (int r = 0; r < world; ++r) {
    AddResidual(&out[r], ranks[r].residual, plan.out_dtype, mode);
    LinearParallelOutputs o;
    o.output = ToTensor(out[r], out_dtype, plan.out_dims);
    if (attrs.keep_intermediate) {
      o.intermediate = ToTensor(*gathered, OutputDType(plan.in_dtype, mode), plan.intermediate_dims);
    }
    result.push_back(std::move(o));
  }
  return result;
}

}  // namespace mc2::reference
