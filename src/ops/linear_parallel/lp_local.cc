#include "ops/linear_parallel/lp_local.h"

#include <algorithm>
#include <atomic>

#include "core/float16.h"
#include "core/tensor.h"

namespace mc2::ops {

namespace {

constexpr size_t kAlign = 64;
// Rows are cut between threads too once a block has this many (kernels::SplitRange).
constexpr int64_t kSplitRows = 64;

size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

Status Inner(const char* param, const std::string& msg) {
  return AtbError(atb::kInvalidParam, param, ": ", msg);
}

// Storage index of element (r, c) of the stored (R, C) matrix (spec 4.6).
int64_t StoredIndex(const LpShapeInfo& info, int64_t r, int64_t c) {
  if (info.storage == LpWeightStorage::kNd) return r * info.weight_cols + c;
  const int64_t rpad = info.storage == LpWeightStorage::kNz4 ? info.weight_rows : CeilDiv(info.weight_rows, 16) * 16;
  return ((c / info.c0) * rpad + r) * info.c0 + c % info.c0;
}

// Element (g, j) of a W8A16 scale / offset view ((1), (n), (1, n) or (groups, n)); size-1 dims broadcast.
double QuantParam(const TensorView& v, int64_t g, int64_t j) {
  int64_t idx[2] = {0, 0};
  if (v.rank() == 1) {
    idx[0] = v.dims[0] == 1 ? 0 : j;
  } else {
    idx[0] = v.dims[0] == 1 ? 0 : g;
    idx[1] = v.dims[1] == 1 ? 0 : j;
  }
  return v.LoadFlat(v.ElementIndex(idx));
}

// The scale / offset as a contiguous (groups, n_eff) array of raw 2-byte values.
std::vector<uint16_t> GatherParam(const TensorView& v, int64_t groups, int64_t n_eff) {
  std::vector<uint16_t> out(static_cast<size_t>(groups * n_eff));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t j = 0; j < n_eff; ++j) {
      const double f = QuantParam(v, g, j);
      out[static_cast<size_t>(g * n_eff + j)] = v.dtype == DType::kFloat16 ? DoubleToHalf(f) : DoubleToBf16(f);
    }
  }
  return out;
}

bool Present(const std::optional<TensorView>& v) { return v.has_value() && !v->empty(); }

class FirstError {
 public:
  void Record(Status s) {
    if (!s.ok() && !failed_.exchange(true)) status_ = std::move(s);
  }
  Status Take() { return failed_.load() ? status_ : Status::Ok(); }

 private:
  std::atomic<bool> failed_{false};
  Status status_;
};

}  // namespace

const char* LpElementPtr(const TensorView& v) {
  return static_cast<const char*>(v.data) + v.offset * static_cast<int64_t>(DTypeStorageBytes(v.dtype, 1));
}

Status LpLocalProduct::Plan(const LinearParallelInputs& in, const LinearParallelAttrs& attrs, const LpShapeInfo& info,
                            int64_t max_rows, int threads) {
  kind_ = info.kind;
  k_ = info.k;
  n_ = info.n;
  max_rows_ = std::max<int64_t>(1, max_rows);
  threads_ = std::max(1, threads);
  in_dtype_ = info.in_dtype;
  out_dtype_ = info.out_dtype;
  weight_data_ = LpElementPtr(in.weight);
  scale_data_ = in.deq_scale ? LpElementPtr(*in.deq_scale) : nullptr;
  offset_data_ = Present(in.bias) ? LpElementPtr(*in.bias) : nullptr;
  switch (kind_) {
    case LpKind::kFloat:
      if (info.storage == LpWeightStorage::kNd) {
        path_ = "float";
        MC2_RETURN_IF_ERROR(PlanFloat(weight_data_, attrs.trans_weight));
      } else {
        path_ = "float (NZ unpacked at plan)";
        owned_weight_.resize(static_cast<size_t>(info.weight_rows * info.weight_cols));
        const auto* src = reinterpret_cast<const uint16_t*>(weight_data_);
        for (int64_t r = 0; r < info.weight_rows; ++r) {
          for (int64_t c = 0; c < info.weight_cols; ++c) {
            owned_weight_[static_cast<size_t>(r * info.weight_cols + c)] = src[StoredIndex(info, r, c)];
          }
        }
        MC2_RETURN_IF_ERROR(PlanFloat(owned_weight_.data(), attrs.trans_weight));
      }
      break;
    case LpKind::kW8A16: {
      bool planned = false;
      MC2_RETURN_IF_ERROR(PlanWq(in, attrs, info, &planned));
      if (!planned) {
        path_ = "w8a16 (dequantized at plan, float kernel)";
        MC2_RETURN_IF_ERROR(DequantToFloat(in, attrs, info));
      }
      break;
    }
    case LpKind::kW8A8: {
      path_ = "w8a8";
      kernels::W8A8Weight w;
      w.data = reinterpret_cast<const int8_t*>(weight_data_);
      w.k = k_;
      w.n = n_;
      w.transposed = attrs.trans_weight;
      w.nz = info.storage != LpWeightStorage::kNd;
      kernels::W8A8Quant q;
      if (Present(in.bias)) {
        q.bias = reinterpret_cast<const int32_t*>(LpElementPtr(*in.bias));
        q.bias_count = in.bias->numel();
      }
      q.scale = scale_data_;
      q.scale_dtype = in.deq_scale->dtype;
      q.scale_count = in.deq_scale->numel();
      q.out_dtype = out_dtype_;
      MC2_ASSIGN_OR_RETURN(kernels::W8A8Plan plan, kernels::W8A8Plan::Create(w, q));
      w8a8_ = std::make_unique<kernels::W8A8Plan>(std::move(plan));
      scratch_bytes_ = RoundUp(w8a8_->WorkspaceBytes(max_rows_), kAlign);
      break;
    }
  }
  return Status::Ok();
}

Status LpLocalProduct::PlanFloat(const void* weight, bool transposed) {
  float_desc_ = kernels::FloatMatmulDesc{};
  float_desc_.k = k_;
  float_desc_.n = n_;
  float_desc_.x_dtype = in_dtype_;
  float_desc_.w_dtype = in_dtype_;
  float_desc_.w_transposed = transposed;
  float_desc_.out_dtype = out_dtype_;
  kernels::Support support = kernels::Support::Yes();
  MC2_RETURN_IF_ERROR(kernels::CheckFloatMatmul(float_desc_, &support));
  if (!support.ok()) return Inner("weight", "no float matmul kernel: " + support.reason());
  float_weight_ = weight;
  slice_ = RoundUp(kernels::FloatMatmulScratchBytes(float_desc_, max_rows_), kAlign);
  scratch_bytes_ = slice_ * static_cast<size_t>(threads_);
  return Status::Ok();
}

Status LpLocalProduct::PlanWq(const LinearParallelInputs& in, const LinearParallelAttrs& attrs,
                              const LpShapeInfo& info, bool* planned) {
  *planned = false;
  kernels::WqMatmulDesc d;
  d.m_max = max_rows_;
  d.k = k_;
  d.n = n_;
  d.act_dtype = in_dtype_;
  d.weight_dtype = DType::kInt8;
  const bool nd = info.storage == LpWeightStorage::kNd;
  d.layout = attrs.trans_weight ? (nd ? kernels::WeightLayout::kNK : kernels::WeightLayout::kNzNK)
                                : (nd ? kernels::WeightLayout::kKN : kernels::WeightLayout::kNzKN);
  const bool per_group = attrs.quant_type == QuantType::kPerGroup;
  const bool per_tensor = attrs.quant_type == QuantType::kPerTensor;
  d.scale_mode = per_group ? kernels::ScaleMode::kPerGroup
                           : (per_tensor ? kernels::ScaleMode::kPerTensor : kernels::ScaleMode::kPerChannel);
  d.group_size = per_group ? attrs.quant_group_size : 0;
  d.has_offset = Present(in.bias);
  d.out_dtype = out_dtype_;
  const int64_t groups = per_group ? CeilDiv(k_, attrs.quant_group_size) : 1;
  const int64_t n_eff = per_tensor ? 1 : n_;
  const std::vector<uint16_t> scale = GatherParam(*in.deq_scale, groups, n_eff);
  std::vector<uint16_t> offset;
  if (d.has_offset) offset = GatherParam(*in.bias, groups, n_eff);
  kernels::WqWeightsView w;
  w.weight = weight_data_;
  w.scale = scale.data();
  w.offset = d.has_offset ? offset.data() : nullptr;
  w.stride_g = n_eff;
  w.stride_n = per_tensor ? 0 : 1;
  kernels::Support support = kernels::Support::Yes();
  MC2_RETURN_IF_ERROR(kernels::CheckWqMatmul(d, w, &support));
  if (!support.ok()) return Status::Ok();
  MC2_RETURN_IF_ERROR(kernels::PlanWqMatmul(d, w, &wq_, &support));
  if (!support.ok()) return Status::Ok();
  use_wq_ = true;
  *planned = true;
  path_ = "w8a16";
  slice_ = RoundUp(wq_.ScratchBytes(max_rows_), kAlign);
  scratch_bytes_ = slice_ * static_cast<size_t>(threads_);
  return Status::Ok();
}

Status LpLocalProduct::DequantToFloat(const LinearParallelInputs& in, const LinearParallelAttrs& attrs,
                                      const LpShapeInfo& info) {
  const int64_t group = attrs.quant_type == QuantType::kPerGroup ? attrs.quant_group_size : 0;
  const bool has_offset = Present(in.bias);
  owned_weight_.resize(static_cast<size_t>(k_ * n_));
  const bool fp16 = in_dtype_ == DType::kFloat16;
  for (int64_t kk = 0; kk < k_; ++kk) {
    const int64_t g = group > 0 ? kk / group : 0;
    for (int64_t j = 0; j < n_; ++j) {
      const int64_t stored = attrs.trans_weight ? StoredIndex(info, j, kk) : StoredIndex(info, kk, j);
      const float w = static_cast<float>(reinterpret_cast<const int8_t*>(weight_data_)[stored]);
      const float scale = static_cast<float>(QuantParam(*in.deq_scale, g, j));
      const float offset = has_offset ? static_cast<float>(QuantParam(*in.bias, g, j)) : 0.0f;
      uint16_t v;
      if (fp16) {
        v = FloatToHalf(RoundToHalf(w + offset) * scale);
      } else {
        v = FloatToBf16((w + offset) * scale);
      }
      owned_weight_[static_cast<size_t>(kk * n_ + j)] = v;
    }
  }
  return PlanFloat(owned_weight_.data(), /*transposed=*/false);
}

bool LpLocalProduct::SameWeights(const LinearParallelInputs& in) const {
  return LpElementPtr(in.weight) == weight_data_ &&
         (in.deq_scale ? LpElementPtr(*in.deq_scale) : nullptr) == scale_data_ &&
         (Present(in.bias) ? LpElementPtr(*in.bias) : nullptr) == offset_data_;
}

void LpLocalProduct::ApplyTokenScale(const float* token_scale, int64_t rows, char* dst) const {
  auto* y = reinterpret_cast<uint16_t*>(dst);
  const bool fp16 = out_dtype_ == DType::kFloat16;
  for (int64_t i = 0; i < rows; ++i) {
    const float t = token_scale[i];
    uint16_t* row = y + i * n_;
    for (int64_t j = 0; j < n_; ++j) {
      row[j] = fp16 ? FloatToHalf(HalfToFloat(row[j]) * t) : FloatToBf16(Bf16ToFloat(row[j]) * t);
    }
  }
}

Status LpLocalProduct::Run(const char* x, int64_t rows, const float* token_scale, char* dst, char* scratch,
                           ThreadPool* pool, int64_t n0, int64_t n1) const {
  if (n1 < 0 || kind_ == LpKind::kW8A8) {
    n0 = 0;
    n1 = n_;
  }
  if (rows <= 0 || n_ == 0 || n1 <= n0) return Status::Ok();
  if (rows > max_rows_) return AtbError(atb::kInvalidParam, "input: ", rows, " rows in one block, plan has ", max_rows_);
  if (kind_ == LpKind::kW8A8) {
    MC2_RETURN_IF_ERROR(w8a8_->Execute(reinterpret_cast<const int8_t*>(x), rows, 0, nullptr, dst, 0, scratch,
                                       scratch_bytes_, pool));
    if (token_scale != nullptr) ApplyTokenScale(token_scale, rows, dst);
    return Status::Ok();
  }
  const int threads = pool != nullptr ? std::min(pool->num_threads(), threads_) : 1;
  FirstError error;
  // Scratch by task, not by thread: a pool larger than planned still runs `threads` tasks.
  auto task = [&](int64_t t, int) {
    char* my_scratch = scratch + static_cast<size_t>(t) * slice_;
    if (use_wq_) {
      kernels::MatmulRange range = kernels::SplitRange(rows, n1 - n0, wq_.n_align(), kSplitRows, t, threads);
      range.n0 += n0;
      range.n1 += n0;
      if (range.empty()) return;
      kernels::WqMatmulArgs args;
      args.x = x;
      args.m = rows;
      args.y = dst;
      args.y_stride = n_;
      error.Record(kernels::ExecuteWqMatmul(wq_, args, range, my_scratch, slice_));
      return;
    }
    kernels::MatmulRange range = kernels::SplitRange(rows, n1 - n0, 32, kSplitRows, t, threads);
    range.n0 += n0;
    range.n1 += n0;
    if (range.empty()) return;
    kernels::FloatMatmulArgs args;
    args.x = x;
    args.m = rows;
    args.w = float_weight_;
    args.y = dst;
    error.Record(kernels::ExecuteFloatMatmul(float_desc_, args, 0, 1, range, my_scratch, slice_));
  };
  if (pool == nullptr || threads <= 1) {
    task(0, 0);
  } else {
    MC2_RETURN_IF_ERROR(pool->ParallelFor(threads, task));
  }
  return error.Take();
}

}  // namespace mc2::ops
