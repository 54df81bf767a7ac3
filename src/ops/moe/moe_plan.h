// What a MoeOp runs, fixed at plan time from values every rank agrees on (shapes, attributes, the
// two communicators' symmetric buffer sizes), so every rank of the grid picks the same schedule.
// How the data moves on each algorithm: moe_fused.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/op_params.h"
#include "kernels/epilogue.h"

namespace mc2::ops {

enum class MoeAlgorithm : uint8_t {
  kAuto = 0,
  kFused,    // pipelined over local experts through the EP and TP symmetric buffers
  kChained,  // Communicator::AllToAll, AllGather, reorder, batch matmul (no shared buffers)
};

const char* MoeAlgorithmName(MoeAlgorithm a);

// Tuning knobs; the defaults choose by themselves. Must be equal on every rank.
struct MoeOptions {
  MoeAlgorithm algorithm = MoeAlgorithm::kAuto;
  int64_t experts_per_pass = 0;  // fused: local experts per symmetric-buffer pass; 0: as many as fit
};

// Sizes of one rank's call (spec 3.3 notation) and the choices made for it.
struct MoeGeometry {
  int64_t ep = 2, tp = 2;
  int64_t el = 0;    // E / ep local experts
  int64_t cl = 0;    // x.dims[1]: C (type 0) or C / tp (type 1)
  int64_t hl = 0;    // x.dims[2]: H / tp (type 0) or H (type 1)
  int64_t h = 0;     // weight.dims[1]
  int64_t ml = 0;    // weight.dims[2]: M / tp
  int64_t rows = 0;  // y1 / y2 dim 1: ep * C (type 0) or ep * tp * Cl (type 1)
  bool shard_h = true;
  DType dt = DType::kFloat16;
  size_t elem = 2;
  bool w_transposed = false;
  ActType act = ActType::kNone;
  bool has_bias = false;
  bool want_y2 = false, want_y3 = false;

  // Elements of one (Cl, Hl) block: what one rank sends one EP peer for one expert.
  int64_t block() const { return cl * hl; }
  // y2 position of block (EP source rank i, TP rank j): first row and first column.
  int64_t BlockRow(int64_t i, int64_t j) const { return shard_h ? i * cl : (i * tp + j) * cl; }
  int64_t BlockCol(int64_t j) const { return shard_h ? j * hl : 0; }
  // Bytes of one expert's y2 (rows, H) and of one expert's EP receive area (ep blocks).
  size_t ExpertY2Bytes() const { return static_cast<size_t>(rows * h) * elem; }
  size_t ExpertEpBytes() const { return static_cast<size_t>(ep * block()) * elem; }
};

struct MoeSchedule {
  MoeAlgorithm algorithm = MoeAlgorithm::kChained;
  int64_t experts_per_pass = 0;  // fused
  int64_t passes(int64_t el) const {
    return experts_per_pass > 0 ? (el + experts_per_pass - 1) / experts_per_pass : 0;
  }
};

// Most experts in one fused pass: each takes one data signal segment per communicator (E/ep <= 32
// by spec 3.4, so a pass normally holds every local expert).
inline constexpr int64_t kMoeMaxPassExperts = 32;

// ep_half / tp_half: usable bytes of one half of the EP / TP symmetric buffer (0: not usable).
MoeSchedule ChooseMoeSchedule(const MoeGeometry& g, size_t ep_half, size_t tp_half, const MoeOptions& options);

// The epilogue of spec 3.3 step 4 for y1 and y3 (docs/reference.md's precision table).
kernels::Activation ToKernelActivation(ActType act);
RoundMode Y1RoundMode(const MoeGeometry& g);

}  // namespace mc2::ops
