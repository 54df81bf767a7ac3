// Golden model of AlltoAllAllGatherBatchMatMul: validation, then spec 3.3's four steps as separate
// loops over all ranks (AllToAll over EP, AllGather over TP, batch matmul, bias + activation), so
// each step can be read against the spec's index formula on its own.
//
// The checks here are the ones that make the math well defined (E divisible by ep, H and the
// weight agree, bias shape and dtype, the rank count is ep * tp). CANN's API-level limits (ep and
// tp in {2, 4, 8, 16, 32}, E <= 512, M/tp <= 65535, ...) belong to the aclnn layer, so the tests
// can use tiny shapes and ep or tp of 1.
#include "reference/moe.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/status.h"

namespace mc2::reference {
namespace {

Status Invalid(const std::string& message) { return AclnnError(aclnn::kErrParamInvalid, message); }

// Every size the model forms from dims and attributes is a product of caller-chosen int64 values:
// each one goes through Mul, and the buffers the model allocates are capped at kMaxElements
// (2^32 doubles = 32 GiB, far beyond any shape the golden model is meant for), so hostile dims
// give a status instead of a signed overflow or an allocation failure.
constexpr int64_t kMaxElements = int64_t{1} << 32;

bool Mul(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }

Status CheckedProduct(std::initializer_list<int64_t> factors, const char* what, int64_t limit, int64_t* out) {
  int64_t p = 1;
  for (int64_t f : factors) {
    if (!Mul(p, f, &p) || p > limit) {
      return Invalid(StrCat(what, ": the product of its sizes exceeds ", limit, " (too large for the golden model)"));
    }
  }
  *out = p;
  return Status::Ok();
}

Status CheckView(const TensorView& v, const char* name) {
  int64_t numel = 1;
  for (int d = 0; d < v.rank(); ++d) {
    if (v.dims[d] < 0) return Invalid(StrCat(name, ": dim ", d, " is ", v.dims[d], " (dims must be >= 0)"));
    if (!Mul(numel, v.dims[d], &numel)) {
      return Invalid(StrCat(name, ": shape ", v.dims.ToString(), " holds more than 2^63 elements"));
    }
  }
  if (!v.empty() && v.data == nullptr) {
    return AclnnError(aclnn::kErrParamNullptr, name, ": data is null but the view ", v.dims.ToString(), " holds ",
                      v.numel(), " elements");
  }
  return Status::Ok();
}

Status CheckAttrs(const MoeAttrs& a, size_t rank_count) {
  if (a.ep_world_size < 1) return Invalid(StrCat("epWorldSize: is ", a.ep_world_size, " (must be >= 1)"));
  if (a.tp_world_size < 1) return Invalid(StrCat("tpWorldSize: is ", a.tp_world_size, " (must be >= 1)"));
  int64_t grid = 0;
  if (!Mul(a.ep_world_size, a.tp_world_size, &grid)) {
    return Invalid(StrCat("epWorldSize * tpWorldSize: ", a.ep_world_size, " * ", a.tp_world_size, " overflows int64"));
  }
  if (static_cast<int64_t>(rank_count) != grid) {
    return Invalid(StrCat("ranks: ", rank_count, " given but epWorldSize * tpWorldSize = ", a.ep_world_size, " * ",
                          a.tp_world_size, " = ", grid, " (must match)"));
  }
  if (a.x_shard_type != 0 && a.x_shard_type != 1) {
    return Invalid(StrCat("xShardType: is ", a.x_shard_type, " (must be 0 or 1)"));
  }
  const int32_t act = static_cast<int32_t>(a.act_type);
  if (act < 0 || act > 4) return Invalid(StrCat("actType: is ", act, " (must be 0..4)"));
  if (a.want_y3 && a.act_type == ActType::kNone) {
    return Invalid("y3OutOptional: requested with actType 0 (None) (y3 needs an activation)");
  }
  return Status::Ok();
}

// Everything one rank's inputs must satisfy on their own.
Status CheckRank(const MoeInputs& in, const MoeAttrs& a) {
  MC2_RETURN_IF_ERROR(CheckView(in.x, "x"));
  MC2_RETURN_IF_ERROR(CheckView(in.weight, "weight"));
  if (in.bias) MC2_RETURN_IF_ERROR(CheckView(*in.bias, "bias"));
  const DType dt = in.x.dtype;
  if (dt != DType::kFloat16 && dt != DType::kBFloat16) {
    return Invalid(StrCat("x: dtype is ", DTypeName(dt), " but must be float16 or bfloat16"));
  }
  if (in.weight.dtype != dt) {
    return Invalid(
        StrCat("weight: dtype is ", DTypeName(in.weight.dtype), " but x is ", DTypeName(dt), " (must match)"));
  }
  if (in.x.rank() != 3) return Invalid(StrCat("x: shape is ", in.x.dims.ToString(), " but must be 3-D"));
  if (in.weight.rank() != 3) return Invalid(StrCat("weight: shape is ", in.weight.dims.ToString(), " but must be 3-D"));
  const int64_t experts = in.x.dims[0];
  int64_t experts_from_weight = 0;
  if (!Mul(in.weight.dims[0], a.ep_world_size, &experts_from_weight) || experts_from_weight != experts) {
    return Invalid(StrCat("weight: dim 0 is ", in.weight.dims[0], " but x's dim 0 is E = ", experts,
                          " (weight dim 0 * epWorldSize ", a.ep_world_size, " must equal E)"));
  }
  int64_t h = in.x.dims[2];
  if (a.x_shard_type == 0 && !Mul(in.x.dims[2], a.tp_world_size, &h)) {
    return Invalid(StrCat("x: dim 2 is ", in.x.dims[2], " and H = x dim 2 * tpWorldSize ", a.tp_world_size,
                          " overflows int64"));
  }
  if (in.weight.dims[1] != h) {
    return Invalid(StrCat("weight: dim 1 is ", in.weight.dims[1], " but H from x is ", h,
                          a.x_shard_type == 0 ? " (x dim 2 * tpWorldSize, must match)" : " (x dim 2, must match)"));
  }
  if (in.bias) {
    const TensorView& b = *in.bias;
    const bool shape_ok =
        (b.rank() == 2 && b.dims[0] == in.weight.dims[0] && b.dims[1] == in.weight.dims[2]) ||
        (b.rank() == 3 && b.dims[0] == in.weight.dims[0] && b.dims[1] == 1 && b.dims[2] == in.weight.dims[2]);
    if (!shape_ok) {
      return Invalid(StrCat("bias: shape is ", b.dims.ToString(), " but must be (E/ep, M/tp) or (E/ep, 1, M/tp) = (",
                            in.weight.dims[0], ", [1, ]", in.weight.dims[2], ")"));
    }
    const DType want = dt == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
    if (b.dtype != want) {
      return Invalid(
          StrCat("bias: dtype is ", DTypeName(b.dtype), " but x is ", DTypeName(dt), " (needs ", DTypeName(want), ")"));
    }
  }
  return Status::Ok();
}

Status CheckAgainstRank0(const MoeInputs& in, const MoeInputs& first) {
  if (in.x.dtype != first.x.dtype) {
    return Invalid(StrCat("x: dtype is ", DTypeName(in.x.dtype), " but rank 0 has ", DTypeName(first.x.dtype),
                          " (all ranks must match)"));
  }
  if (in.x.dims != first.x.dims) {
    return Invalid(StrCat("x: shape is ", in.x.dims.ToString(), " but rank 0 has ", first.x.dims.ToString(),
                          " (all ranks must match)"));
  }
  if (in.weight.dims != first.weight.dims) {
    return Invalid(StrCat("weight: shape is ", in.weight.dims.ToString(), " but rank 0 has ",
                          first.weight.dims.ToString(), " (all ranks must match)"));
  }
  return Status::Ok();
}

double Load3(const TensorView& v, int64_t a, int64_t b, int64_t c) {
  const int64_t idx[3] = {a, b, c};
  return v.Load(idx);
}

double LoadBias(const TensorView& bias, int64_t e, int64_t mm) {
  if (bias.rank() == 2) {
    const int64_t idx[2] = {e, mm};
    return bias.Load(idx);
  }
  return Load3(bias, e, 0, mm);
}

double Activate(ActType act, double z, Mode mode) {
  switch (act) {
    case ActType::kNone:
      return z;
    case ActType::kGelu:
      return Gelu(z, mode);
    case ActType::kSilu:
      return Silu(z, mode);
    case ActType::kRelu:
      return Relu(z);
    case ActType::kFastGelu:
      return FastGelu(z, mode);
  }
  return z;
}

// The sizes every step uses. rows = ep * Cl (type 0) or ep * tp * Cl (type 1).
struct Geometry {
  int64_t ep, tp, el, cl, hl, h, ml, rows;
  bool shard_h;
  DType dt;
};

// Step 1, AllToAll over EP: on rank (p, t), a[e, i*Cl + c, hh] = x_(i, t)[p*El + e, c, hh].
std::vector<std::vector<double>> AllToAllOverEp(const std::vector<MoeInputs>& ranks, const Geometry& g) {
  std::vector<std::vector<double>> a(ranks.size(), std::vector<double>(g.el * g.ep * g.cl * g.hl));
  for (int64_t p = 0; p < g.ep; ++p) {
    for (int64_t t = 0; t < g.tp; ++t) {
      for (int64_t e = 0; e < g.el; ++e) {
        for (int64_t i = 0; i < g.ep; ++i) {
          for (int64_t c = 0; c < g.cl; ++c) {
            for (int64_t hh = 0; hh < g.hl; ++hh) {
              a[p * g.tp + t][Idx3(e, i * g.cl + c, hh, g.ep * g.cl, g.hl)] =
                  Load3(ranks[i * g.tp + t].x, p * g.el + e, c, hh);
            }
          }
        }
      }
    }
  }
  return a;
}

// Step 2, AllGather over TP; the TP peers of (p, t) are (p, j), j = 0..tp-1:
//   type 0: y2[e, i*Cl + c, j*Hl + hh]    = a_(p, j)[e, i*Cl + c, hh]   (along H)
//   type 1: y2[e, i*tp*Cl + j*Cl + c, hh] = a_(p, j)[e, i*Cl + c, hh]   (along C: EP block, TP rank, c)
std::vector<std::vector<double>> AllGatherOverTp(const std::vector<std::vector<double>>& a, const Geometry& g) {
  std::vector<std::vector<double>> y2(a.size(), std::vector<double>(g.el * g.rows * g.h));
  for (int64_t p = 0; p < g.ep; ++p) {
    for (int64_t t = 0; t < g.tp; ++t) {
      for (int64_t j = 0; j < g.tp; ++j) {
        const std::vector<double>& peer = a[p * g.tp + j];
        for (int64_t e = 0; e < g.el; ++e) {
          for (int64_t i = 0; i < g.ep; ++i) {
            for (int64_t c = 0; c < g.cl; ++c) {
              for (int64_t hh = 0; hh < g.hl; ++hh) {
                const double v = peer[Idx3(e, i * g.cl + c, hh, g.ep * g.cl, g.hl)];
                if (g.shard_h) {
                  y2[p * g.tp + t][Idx3(e, i * g.cl + c, j * g.hl + hh, g.rows, g.h)] = v;
                } else {
                  y2[p * g.tp + t][Idx3(e, i * g.tp * g.cl + j * g.cl + c, hh, g.rows, g.h)] = v;
                }
              }
            }
          }
        }
      }
    }
  }
  return y2;
}

// Steps 3 and 4 on one rank: B = round(y2 @ weight), then bias and activation.
MoeOutputs MatmulBiasActivation(const MoeInputs& in, const std::vector<double>& y2, const Geometry& g,
                                const MoeAttrs& attrs, Mode mode) {
  const DType out_dt = OutputDType(g.dt, mode);
  MoeOutputs out{HostTensor(out_dt, {g.el, g.rows, g.ml}), std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  if (attrs.want_y2) {
    out.y2 = HostTensor(out_dt, {g.el, g.rows, g.h});
    for (int64_t e = 0; e < g.el * g.rows * g.h; ++e) out.y2->set(e, y2[e]);
  }
  if (attrs.want_y3) out.y3 = HostTensor(out_dt, {g.el, g.rows, g.ml});
  if (mode == Mode::kCann) {
    out.product = HostTensor(out_dt, {g.el, g.rows, g.ml});
    out.z = HostTensor(out_dt, {g.el, g.rows, g.ml});
  }
  std::vector<double> w(static_cast<size_t>(g.ml * g.h));  // expert e's weight as w[mm][hh], read once
  for (int64_t e = 0; e < g.el; ++e) {
    for (int64_t hh = 0; hh < g.h; ++hh) {
      for (int64_t mm = 0; mm < g.ml; ++mm) w[static_cast<size_t>(mm * g.h + hh)] = Load3(in.weight, e, hh, mm);
    }
    for (int64_t row = 0; row < g.rows; ++row) {
      for (int64_t mm = 0; mm < g.ml; ++mm) {
        // Step 3: accumulated in double, rounded once to x's dtype; the bias is not part of it.
        double acc = 0.0;
        const double* w_col = w.data() + mm * g.h;
        for (int64_t hh = 0; hh < g.h; ++hh) acc += y2[Idx3(e, row, hh, g.rows, g.h)] * w_col[hh];
        const double product = Round(acc, g.dt, mode);
        // Step 4: z = product + bias is y3; y1 = act(z).
        double z = product;
        double y1 = 0.0;
        if (mode == Mode::kExact) {
          if (in.bias) z += LoadBias(*in.bias, e, mm);
          y1 = Activate(attrs.act_type, z, mode);
        } else if (g.dt == DType::kBFloat16) {
          // fp32 add of the bf16 product and the fp32 bias; activation on the fp32 sum; y3 and y1
          // are both rounded with CAST_ROUND (half away from zero).
          float zf = static_cast<float>(product);
          if (in.bias) zf += static_cast<float>(LoadBias(*in.bias, e, mm));
          z = RoundToDType(zf, g.dt, RoundMode::kHalfAway);
          y1 = RoundToDType(Activate(attrs.act_type, zf, mode), g.dt, RoundMode::kHalfAway);
        } else {
          // fp16: the add is in fp16 (half-even); the activation reads the fp16 z in fp32; SiLU's
          // result is rounded with CAST_ROUND, the others' half-even.
          if (in.bias) z = AddInDType(product, LoadBias(*in.bias, e, mm), g.dt, mode);
          const RoundMode rm = attrs.act_type == ActType::kSilu ? RoundMode::kHalfAway : RoundMode::kHalfEven;
          y1 = RoundToDType(Activate(attrs.act_type, z, mode), g.dt, rm);
        }
        out.y1.set(Idx3(e, row, mm, g.rows, g.ml), y1);
        if (out.y3) out.y3->set(Idx3(e, row, mm, g.rows, g.ml), z);
        if (out.product) out.product->set(Idx3(e, row, mm, g.rows, g.ml), product);
        if (out.z) out.z->set(Idx3(e, row, mm, g.rows, g.ml), z);
      }
    }
  }
  return out;
}

}  // namespace

StatusOr<std::vector<MoeOutputs>> AlltoAllAllGatherBatchMatMul(const std::vector<MoeInputs>& ranks,
                                                               const MoeAttrs& attrs, Mode mode) {
  MC2_RETURN_IF_ERROR(CheckAttrs(attrs, ranks.size()));
  for (size_t r = 0; r < ranks.size(); ++r) {
    Status s = CheckRank(ranks[r], attrs);
    if (s.ok() && r > 0) s = CheckAgainstRank0(ranks[r], ranks[0]);
    if (!s.ok()) {
      return s.Prepend(StrCat("rank ", r, " (ep ", r / attrs.tp_world_size, ", tp ", r % attrs.tp_world_size, ")"));
    }
  }
  Geometry g;
  g.ep = attrs.ep_world_size;
  g.tp = attrs.tp_world_size;
  g.el = ranks[0].weight.dims[0];
  g.cl = ranks[0].x.dims[1];
  g.hl = ranks[0].x.dims[2];
  g.h = ranks[0].weight.dims[1];
  g.ml = ranks[0].weight.dims[2];
  g.shard_h = attrs.x_shard_type == 0;
  g.dt = ranks[0].x.dtype;
  // The buffers of the steps below: a (El*ep*Cl*Hl), y2 (El*rows*H), y1/y3 (El*rows*M/tp).
  MC2_RETURN_IF_ERROR(CheckedProduct({g.ep, g.shard_h ? 1 : g.tp, g.cl}, "rows (ep [* tp] * C/ep)", kMaxElements,
                                     &g.rows));
  int64_t unused = 0;
  MC2_RETURN_IF_ERROR(CheckedProduct({g.el, g.ep, g.cl, g.hl}, "AllToAll output", kMaxElements, &unused));
  MC2_RETURN_IF_ERROR(CheckedProduct({g.el, g.rows, g.h}, "y2 (AllGather output)", kMaxElements, &unused));
  MC2_RETURN_IF_ERROR(CheckedProduct({g.el, g.rows, g.ml}, "y1", kMaxElements, &unused));

  const std::vector<std::vector<double>> y2 = AllGatherOverTp(AllToAllOverEp(ranks, g), g);
  std::vector<MoeOutputs> outputs;
  for (size_t r = 0; r < ranks.size(); ++r) outputs.push_back(MatmulBiasActivation(ranks[r], y2[r], g, attrs, mode));
  return outputs;
}

namespace {

// One ulp of |v| in `dtype` (fp16: 11 significant bits and 2^-24 below its normal range; bf16: 8).
double UlpOf(double v, DType dtype) {
  if (!std::isfinite(v)) return HUGE_VAL;  // ilogb of NaN / inf is not a binade
  const int bits = dtype == DType::kBFloat16 ? 8 : dtype == DType::kFloat16 ? 11 : 24;
  double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(v), 1e-300)) - (bits - 1));
  if (dtype == DType::kFloat16) ulp = std::max(ulp, std::ldexp(1.0, -24));
  if (dtype == DType::kBFloat16) ulp = std::max(ulp, std::ldexp(1.0, -133));
  return ulp;
}

}  // namespace

AccuracyReport CheckMoeOutput(const HostTensor& got, const MoeOutputs& golden, bool y3) {
  const HostTensor* want = y3 ? (golden.y3 ? &*golden.y3 : nullptr) : &golden.y1;
  if (want == nullptr || !golden.product || !golden.z) {
    AccuracyReport rep;
    rep.rule = "AlltoAllAllGatherBatchMatMul judge";
    rep.detail = want == nullptr ? "the golden has no y3" : "the golden has no product / z (not a kCann golden)";
    return rep;
  }
  return CheckMoeOutput(got, *want, *golden.product, *golden.z, y3);
}

AccuracyReport CheckMoeOutput(const HostTensor& got, const HostTensor& want_t, const HostTensor& product,
                              const HostTensor& z, bool y3) {
  const HostTensor* want = &want_t;
  const DType dt = want->dtype();
  AccuracyReport rep = Check(DefaultRule(AccuracyOp::kAlltoAllAllGatherBatchMatMul, dt), got, *want);
  if (rep.pass || got.dims() != want->dims() || got.dtype() != dt) return rep;
  if (product.dims() != want->dims() || z.dims() != want->dims()) {
    rep.detail = "the golden's product / z do not have the output's dims";
    return rep;
  }
  // The explained bound (moe.h), element by element.
  constexpr double kMaxActSlope = 1.13;
  const std::string spec_rule = rep.rule;
  int64_t outside = 0, worst = -1;
  double worst_ratio = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double a = got.at(i), g = want->at(i);
    const double err = std::fabs(a - g);
    const double own = UlpOf(std::max(std::fabs(a), std::fabs(g)), dt);
    const double b_ulp = UlpOf(product.at(i), dt);
    const double bound = y3 ? b_ulp + own : kMaxActSlope * (b_ulp + UlpOf(z.at(i), dt)) + own;
    if (!(err <= bound)) {  // NaN fails
      ++outside;
      const double ratio = std::isnan(err) ? HUGE_VAL : err / bound;
      if (worst < 0 || ratio > worst_ratio) worst = i, worst_ratio = ratio;
    }
  }
  rep.rule = StrCat(spec_rule, " or the explained bound (fp32 accumulation)");
  const int64_t spec_failing = rep.failing;
  if (outside == 0) {
    rep.pass = true;
    rep.detail = StrCat(spec_failing, " element(s) outside ", spec_rule,
                        ", every one within the explained bound (one ulp of B through bias and activation)");
    return rep;
  }
  rep.failing = outside;
  rep.worst_index = worst;
  rep.worst_actual = got.at(worst);
  rep.worst_golden = want->at(worst);
  rep.worst_position = IndexString(got.dims(), worst);
  rep.detail = StrCat(outside, " element(s) beyond the explained bound too, worst ", worst_ratio, "x it");
  return rep;
}

}  // namespace mc2::reference
