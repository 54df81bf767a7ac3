// Shared by the MoeOp tests (ranks as threads, as forked processes): the EP x TP grid layouts, one
// rank of a reference case through MoeOp, and the verdict against the golden model.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/thread_pool.h"
#include "ops/moe/moe_op.h"
#include "reference/accuracy.h"
#include "reference/cases.h"
#include "reference/moe.h"

namespace mc2::ops::testing {

// How world ranks form the grid. kTpConsecutive: CANN's example (TP groups {0,1},{2,3},...,
// EP groups strided); kEpConsecutive: MindSpeed's (EP groups {0..ep-1},..., TP groups strided).
enum class GridLayout { kTpConsecutive, kEpConsecutive };

struct GridPlace {
  int64_t p = 0, t = 0;            // EP rank, TP rank
  std::vector<int> ep_group, tp_group;  // world ranks, in communicator rank order
};

inline GridPlace PlaceInGrid(GridLayout layout, int world_rank, int64_t ep, int64_t tp) {
  GridPlace g;
  const bool tp_consecutive = layout == GridLayout::kTpConsecutive;
  g.p = tp_consecutive ? world_rank / tp : world_rank % ep;
  g.t = tp_consecutive ? world_rank % tp : world_rank / ep;
  for (int64_t i = 0; i < ep; ++i) g.ep_group.push_back(static_cast<int>(tp_consecutive ? i * tp + g.t : g.t * ep + i));
  for (int64_t j = 0; j < tp; ++j) g.tp_group.push_back(static_cast<int>(tp_consecutive ? g.p * tp + j : j * ep + g.p));
  return g;
}

struct MoeRankResult {
  Status status;
  int64_t grid = 0;  // p * tp + t: the golden's index of this rank
  HostTensor y1, y2, y3;
  MoeAlgorithm algorithm = MoeAlgorithm::kAuto;
  int64_t passes = 0;  // fused: symmetric-buffer passes per call
  bool repeat_identical = true;
};

// Grid rank `grid` of `c` on the given communicators: Create, then Execute `repeats` times.
inline MoeRankResult RunMoeRank(const reference::MoeCase& c, int64_t grid, const MoeContext& ctx,
                                const MoeOptions& options, int repeats = 1) {
  MoeRankResult res;
  res.grid = grid;
  MoeTensors t;
  t.in = c.ranks[static_cast<size_t>(grid)];
  const MoeAttrs& a = c.attrs;
  const int64_t el = t.in.weight.dims[0], h = t.in.weight.dims[1], ml = t.in.weight.dims[2];
  const int64_t rows = a.x_shard_type == 0 ? t.in.x.dims[1] * a.ep_world_size
                                           : t.in.x.dims[1] * a.ep_world_size * a.tp_world_size;
  const DType dt = t.in.x.dtype;
  res.y1 = HostTensor(dt, {el, rows, ml});
  t.y1 = res.y1.view();
  if (a.want_y2) {
    res.y2 = HostTensor(dt, {el, rows, h});
    t.y2 = res.y2.view();
  }
  if (a.want_y3) {
    res.y3 = HostTensor(dt, {el, rows, ml});
    t.y3 = res.y3.view();
  }
  auto op = MoeOp::Create(t, a, ctx, options);
  if (!op.ok()) {
    res.status = op.status();
    return res;
  }
  res.algorithm = (*op)->schedule().algorithm;
  res.passes = (*op)->schedule().passes(el);
  std::vector<uint8_t> workspace((*op)->workspace_bytes() + 1);
  HostTensor first;
  for (int i = 0; i < repeats; ++i) {
    std::memset(res.y1.data(), 0xff, res.y1.bytes());  // NaN: a missed element cannot pass
    // +1: a workspace pointer that is not 64-byte aligned must work too.
    res.status = (*op)->Execute(t, workspace.data() + 1, (*op)->workspace_bytes());
    if (!res.status.ok()) return res;
    if (i == 0) {
      first = HostTensor::FromView(res.y1.view());
    } else if (!first.SameBytes(res.y1)) {
      res.repeat_identical = false;
    }
  }
  return res;
}

// "" when `got` (y1, or y3 with `y3`) passes the operator's judge against the golden's kCann
// outputs (reference::CheckMoeOutput: the Huawei rule, allclose 0.001 fp16 / 0.005 bf16, or the
// explained bound of fp32 accumulation); else the report. `max_abs` receives the largest absolute
// error, `differing` the count of elements not bitwise equal.
inline std::string JudgeMoe(const HostTensor& got, const reference::MoeOutputs& golden, bool y3, double* max_abs,
                            int64_t* differing) {
  const HostTensor& want = y3 ? *golden.y3 : golden.y1;
  if (got.dims() != want.dims()) return "shape " + got.dims().ToString() + " vs golden " + want.dims().ToString();
  const reference::AccuracyReport rep = reference::CheckMoeOutput(got, golden, y3);
  if (max_abs != nullptr && rep.max_abs_error > *max_abs) *max_abs = rep.max_abs_error;
  if (differing != nullptr) {
    const auto* a = static_cast<const uint16_t*>(got.data());
    const auto* b = static_cast<const uint16_t*>(want.data());
    for (int64_t i = 0; i < got.numel(); ++i) *differing += a[i] != b[i];
  }
  return rep.pass ? "" : rep.ToString();
}

// Every output of one rank against the golden's; "" if all pass. y2 must be bitwise equal (copies).
inline std::string JudgeMoeRank(const MoeRankResult& res, const reference::MoeOutputs& want, double* max_abs,
                                int64_t* differing) {
  std::string v = JudgeMoe(res.y1, want, false, max_abs, differing);
  if (!v.empty()) return "y1: " + v;
  if (want.y2) {
    if (!res.y2.SameBytes(*want.y2)) {
      return "y2: not bitwise equal to the golden's";
    }
  }
  if (want.y3) {
    v = JudgeMoe(res.y3, want, true, max_abs, differing);
    if (!v.empty()) return "y3: " + v;
  }
  return "";
}

}  // namespace mc2::ops::testing
