// Fuzzes the golden models (src/reference): WeightQuantMatmulAllReduceAddRmsNorm,
// AlltoAllAllGatherBatchMatMul and LinearParallel, with small shapes and storage that is always
// consistent with the views (the models' contract: they trust data pointers, so any read outside
// the storage is a bug in the model, not in the caller).
//
// Input decoding (FuzzedDataProvider): byte 0 picks the operator (mod 3) and the mode (kCann or
// kExact); then a mostly consistent call of that operator built from a few small parameters
// (dims in [0, 8], rank counts 1..4, attributes sometimes out of range); then up to 8 mutations of
// one property of one tensor (tensor_gen.h: dtype, format, a dim, the rank, a stride, the offset,
// storage dims, a transpose); then every rank gets its own copy of each view (sometimes one rank's
// copy of one tensor is mutated again, so the ranks disagree), backed by an exact-size
// buffer filled from the input (so NaN, Inf and subnormals occur). An input whose views cannot be
// backed (negative index, a product of dims over kMaxElements, more than 4 KiB) is skipped, which
// bounds each run to well under a millisecond of arithmetic.
//
// Checks: the model returns a status or outputs without crashing, reading outside a buffer, UB or
// leaks; outputs come one per rank.
#include <vector>

#include "fuzz_check.h"
#include "reference/arn.h"
#include "reference/linear_parallel.h"
#include "reference/moe.h"
#include "tensor_gen.h"

namespace {

using namespace mc2;
using mc2::fuzz::FuzzView;

constexpr int64_t kMaxElements = 2048;
constexpr int64_t kMaxBytes = 4096;
constexpr size_t kFillBytes = 64;  // input bytes per buffer; the rest is a pattern

int64_t Small(FuzzedDataProvider& fdp, int64_t lo = 0, int64_t hi = 8) { return fdp.ConsumeIntegralInRange(lo, hi); }

// The views of one rank's tensors, optional ones marked absent.
struct Tensors {
  std::vector<FuzzView> views;
  std::vector<bool> present;
  void Add(const TensorView& v, bool is_present = true) {
    views.push_back({v, fuzz::Backing::kValid, false});
    present.push_back(is_present);
  }
  std::optional<TensorView> Opt(size_t i) const {
    return present[i] ? std::optional<TensorView>(views[i].view) : std::nullopt;
  }
};

void MutateSome(FuzzedDataProvider& fdp, Tensors& t) {
  const int mutations = fdp.ConsumeIntegralInRange<int>(0, 8);
  for (int i = 0; i < mutations && fdp.remaining_bytes() > 0; ++i) {
    FuzzView& fv = t.views[fdp.ConsumeIntegralInRange<size_t>(0, t.views.size() - 1)];
    fuzz::Mutate(fdp, fv);
    fv.backing = fuzz::Backing::kValid;  // the models get consistent storage only
  }
}

// False if a dim is negative, or the product of the dims (a 0 counted as 1, so that an empty view
// cannot hide a huge dim) exceeds kMaxElements: the models are fuzzed with small shapes only.
bool SmallEnough(const TensorView& v) {
  int64_t n = 1;
  for (int64_t d : v.dims) {
    if (d < 0 || d > kMaxElements) return false;
    n *= d == 0 ? 1 : d;  // both factors <= kMaxElements: no overflow
    if (n > kMaxElements) return false;
  }
  int64_t bytes = 0;
  return fuzz::BackingBytes(v, &bytes) && bytes <= kMaxBytes;
}

// Rank copies of `proto` with their own buffers; false if some view cannot be backed.
bool BackRanks(FuzzedDataProvider& fdp, fuzz::Arena& arena, const Tensors& proto, int ranks,
               std::vector<Tensors>* out) {
  for (const FuzzView& fv : proto.views) {
    if (!SmallEnough(fv.view)) return false;
  }
  out->assign(static_cast<size_t>(ranks), proto);
  // Sometimes one rank disagrees with rank 0 about one tensor (the models must refuse that).
  if (ranks > 1 && fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
    Tensors& t = (*out)[fdp.ConsumeIntegralInRange<size_t>(1, out->size() - 1)];
    FuzzView& fv = t.views[fdp.ConsumeIntegralInRange<size_t>(0, t.views.size() - 1)];
    fuzz::Mutate(fdp, fv);
    fv.backing = fuzz::Backing::kValid;
    if (!SmallEnough(fv.view)) return false;
  }
  for (Tensors& t : *out) {
    for (FuzzView& fv : t.views) {
      fuzz::Back(fdp, arena, fv, kFillBytes);
      if (!fv.valid) return false;
    }
  }
  return true;
}

void FuzzArn(FuzzedDataProvider& fdp, reference::Mode mode) {
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  const DType wq = fdp.ConsumeBool() ? DType::kInt4 : DType::kInt8;
  const int64_t b = Small(fdp, 0, 3), s = Small(fdp, 0, 3), k = Small(fdp, 0, 8), n = Small(fdp, 0, 8);
  static constexpr int kRanks[] = {1, 2, 4};
  const int ranks = fdp.PickValueInArray(kRanks);
  ArnAttrs attrs;
  attrs.antiquant_group_size = fdp.ConsumeBool() ? 0 : Small(fdp, -1, 9);
  attrs.epsilon = fdp.ConsumeBool() ? 1e-6 : fdp.ConsumeFloatingPoint<double>();
  const int64_t g = attrs.antiquant_group_size > 0 ? attrs.antiquant_group_size : 1;
  const int scale_form = fdp.ConsumeIntegralInRange<int>(0, 3);
  const Dims scale_dims = scale_form == 0   ? Dims{1}
                          : scale_form == 1 ? Dims{n}
                          : scale_form == 2 ? Dims{1, n}
                                            : Dims{(k + g - 1) / g, n};
  const bool x2_transposed = fdp.ConsumeBool();
  Tensors proto;
  proto.Add(fuzz::MakeContiguous(act, fdp.ConsumeBool() ? Dims{b, s, k} : Dims{b * s, k}));
  TensorView x2 = fuzz::MakeContiguous(wq, x2_transposed ? Dims{n, k} : Dims{k, n});
  proto.Add(x2_transposed ? x2.Transposed(0, 1) : x2);
  proto.Add(fuzz::MakeContiguous(act, Dims{n}), fdp.ConsumeBool());  // bias
  proto.Add(fuzz::MakeContiguous(act, scale_dims));
  proto.Add(fuzz::MakeContiguous(act, scale_dims), fdp.ConsumeBool());  // offset
  proto.Add(fuzz::MakeContiguous(act, Dims{b, s, n}));
  proto.Add(fuzz::MakeContiguous(act, Dims{n}));
  MutateSome(fdp, proto);
  fuzz::Arena arena;
  std::vector<Tensors> per_rank;
  if (!BackRanks(fdp, arena, proto, ranks, &per_rank)) return;
  std::vector<ArnInputs> inputs(per_rank.size());
  for (size_t r = 0; r < per_rank.size(); ++r) {
    const Tensors& t = per_rank[r];
    inputs[r] = {t.views[0].view, t.views[1].view, t.Opt(2), t.views[3].view, t.Opt(4), t.views[5].view,
                 t.views[6].view};
  }
  auto out = reference::WeightQuantMatmulAllReduceAddRmsNorm(inputs, attrs, mode);
  if (out.ok()) FUZZ_CHECK(out->size() == inputs.size());
}

void FuzzMoe(FuzzedDataProvider& fdp, reference::Mode mode) {
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  MoeAttrs attrs;
  attrs.ep_world_size = Small(fdp, 0, 2);
  attrs.tp_world_size = Small(fdp, 0, 2);
  attrs.x_shard_type = Small(fdp, 0, 2) == 2 ? Small(fdp, -1, 3) : fdp.ConsumeBool();
  attrs.act_type = static_cast<ActType>(Small(fdp, -1, 5));
  attrs.want_y2 = fdp.ConsumeBool();
  attrs.want_y3 = fdp.ConsumeBool();
  const int64_t ep = std::max<int64_t>(attrs.ep_world_size, 1), tp = std::max<int64_t>(attrs.tp_world_size, 1);
  const int64_t el = Small(fdp, 0, 3), c = Small(fdp, 0, 3), hl = Small(fdp, 0, 4), ml = Small(fdp, 0, 4);
  const int64_t h = hl * tp;
  const bool w_transposed = fdp.ConsumeBool();
  Tensors proto;
  proto.Add(fuzz::MakeContiguous(act, attrs.x_shard_type == 1 ? Dims{el * ep, c, h} : Dims{el * ep, c, hl}));
  TensorView w = fuzz::MakeContiguous(act, w_transposed ? Dims{el, ml, h} : Dims{el, h, ml});
  proto.Add(w_transposed ? w.Transposed(1, 2) : w);
  const DType bias_dtype = act == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
  proto.Add(fuzz::MakeContiguous(bias_dtype, fdp.ConsumeBool() ? Dims{el, 1, ml} : Dims{el, ml}), fdp.ConsumeBool());
  MutateSome(fdp, proto);
  fuzz::Arena arena;
  std::vector<Tensors> per_rank;
  if (!BackRanks(fdp, arena, proto, static_cast<int>(ep * tp), &per_rank)) return;
  std::vector<MoeInputs> inputs(per_rank.size());
  for (size_t r = 0; r < per_rank.size(); ++r) {
    inputs[r] = {per_rank[r].views[0].view, per_rank[r].views[1].view, per_rank[r].Opt(2)};
  }
  // A rank count that disagrees with the attributes must be refused too.
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0 && !inputs.empty()) inputs.pop_back();
  auto out = reference::AlltoAllAllGatherBatchMatMul(inputs, attrs, mode);
  if (out.ok()) FUZZ_CHECK(out->size() == inputs.size());
}

void FuzzLinearParallel(FuzzedDataProvider& fdp, reference::Mode mode) {
  LinearParallelAttrs attrs;
  attrs.type = static_cast<LinearParallelType>(Small(fdp, 0, 5));
  attrs.quant_type = static_cast<QuantType>(Small(fdp, -1, 4));
  attrs.trans_weight = fdp.ConsumeBool();
  attrs.has_residual = fdp.ConsumeBool();
  attrs.keep_intermediate = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  attrs.quant_group_size = static_cast<int32_t>(Small(fdp, -1, 8));
  static constexpr DType kOut[] = {DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kInt8};
  if (fdp.ConsumeBool()) attrs.out_dtype = fdp.PickValueInArray(kOut);
  attrs.ag_dim = static_cast<int32_t>(Small(fdp, 0, 4));
  attrs.rs_dim = static_cast<int32_t>(Small(fdp, 0, 4));
  attrs.inner_dim_is_ag = fdp.ConsumeBool();
  static constexpr int kRanks[] = {1, 2, 4};
  const int ranks = fdp.PickValueInArray(kRanks);

  // Kind: float, W8A16 (float input, int8 weight) or W8A8 (int8 input and weight).
  const int kind = fdp.ConsumeIntegralInRange<int>(0, 2);
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  const DType x_dtype = kind == 2 ? DType::kInt8 : act;
  const DType w_dtype = kind == 0 ? act : DType::kInt8;
  const DType out_dtype = kind == 2 ? attrs.out_dtype.value_or(DType::kFloat16) : act;
  const int64_t m = Small(fdp, 0, 4) * ranks, k = Small(fdp, 0, 8), n = Small(fdp, 0, 8);
  const int64_t g = attrs.quant_group_size > 0 ? attrs.quant_group_size : 1;
  const Dims vec = attrs.quant_type == QuantType::kPerTensor  ? Dims{1}
                   : attrs.quant_type == QuantType::kPerGroup ? Dims{(k + g - 1) / g, n}
                                                              : Dims{n};
  const DType scale_dtype = kind == 2 ? (fdp.ConsumeBool() ? DType::kInt64 : DType::kFloat32) : act;
  const bool quant = attrs.quant_type != QuantType::kUnquant;
  Tensors proto;
  proto.Add(fuzz::MakeContiguous(x_dtype, fdp.ConsumeBool() ? Dims{1, m, k} : Dims{m, k}));
  proto.Add(fuzz::MakeContiguous(w_dtype, attrs.trans_weight ? Dims{n, k} : Dims{k, n}));
  proto.Add(fuzz::MakeContiguous(kind == 2 ? DType::kInt32 : act, vec), quant && fdp.ConsumeBool());  // bias
  proto.Add(fuzz::MakeContiguous(scale_dtype, vec), quant);                                          // deq_scale
  proto.Add(fuzz::MakeContiguous(out_dtype, Dims{n}), attrs.has_residual);                           // residual
  proto.Add(fuzz::MakeContiguous(DType::kFloat32, Dims{m}), attrs.quant_type == QuantType::kPerToken);
  MutateSome(fdp, proto);
  fuzz::Arena arena;
  std::vector<Tensors> per_rank;
  if (!BackRanks(fdp, arena, proto, ranks, &per_rank)) return;
  std::vector<LinearParallelInputs> inputs(per_rank.size());
  for (size_t r = 0; r < per_rank.size(); ++r) {
    const Tensors& t = per_rank[r];
    inputs[r] = {t.views[0].view, t.views[1].view, t.Opt(2), t.Opt(3), t.Opt(4), t.Opt(5)};
  }
  auto out = reference::LinearParallel(inputs, attrs, mode);
  if (out.ok()) FUZZ_CHECK(out->size() == inputs.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const uint8_t pick = fdp.ConsumeIntegral<uint8_t>();
  const reference::Mode mode = (pick & 4) ? reference::Mode::kExact : reference::Mode::kCann;
  switch (pick % 3) {
    case 0:
      FuzzArn(fdp, mode);
      break;
    case 1:
      FuzzMoe(fdp, mode);
      break;
    default:
      FuzzLinearParallel(fdp, mode);
      break;
  }
  return 0;
}
