// Random, valid per-rank inputs for every operator, owned together with their views. Used by the
// demo, the operator tests, the benchmarks and the soak test, so they all exercise the same
// distributions (the ones CANN's own tests use: activations U(-1, 1), int8 weights over their full
// range, per-channel scales U(0.001, 0.011), offsets U(-1, 1)).
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "core/op_params.h"
#include "core/tensor.h"

namespace mc2::reference {

enum class ScaleKind { kPerTensor, kPerChannel, kPerGroup };

// Owns tensors; the views handed out stay valid for the pool's lifetime.
class TensorPool {
 public:
  explicit TensorPool(uint64_t seed) : rng_(seed) {}
  // Uniform in [lo, hi], rounded to `dtype` (integers: uniform over the integers in range).
  TensorView Uniform(DType dtype, const Dims& dims, double lo, double hi);
  // A transposed view (last two dims swapped) of freshly stored data of shape dims-with-last-two-swapped.
  TensorView UniformTransposed(DType dtype, const Dims& view_dims, double lo, double hi);
  TensorView Zeros(DType dtype, const Dims& dims);
  std::mt19937_64& rng() { return rng_; }

 private:
  std::deque<HostTensor> tensors_;
  std::mt19937_64 rng_;
};

struct ArnShape {
  int world_size = 2;
  int64_t b = 1, s = 4, k = 256, n = 128;
  DType act = DType::kFloat16;    // fp16 or bf16
  DType weight = DType::kInt8;    // int8 or int4
  ScaleKind scale = ScaleKind::kPerChannel;
  int64_t group_size = 0;         // for kPerGroup
  bool offset = true;
  bool bias = true;
  bool transposed_weight = false;
  double epsilon = 1e-6;
  uint64_t seed = 1;
};

struct ArnCase {
  explicit ArnCase(uint64_t seed) : pool(seed) {}
  TensorPool pool;
  ArnAttrs attrs;
  std::vector<ArnInputs> ranks;
};

ArnCase MakeArnCase(const ArnShape& shape);

struct MoeShape {
  int64_t ep = 2, tp = 2;
  int64_t e = 4, c = 8, h = 64, m = 32;  // E experts, C capacity, H hidden, M output
  DType act = DType::kFloat16;
  int64_t x_shard_type = 0;
  ActType act_type = ActType::kGelu;
  bool bias = true;
  bool want_y2 = true, want_y3 = true;
  bool transposed_weight = false;
  uint64_t seed = 2;
};

struct MoeCase {
  explicit MoeCase(uint64_t seed) : pool(seed) {}
  TensorPool pool;
  MoeAttrs attrs;
  std::vector<MoeInputs> ranks;  // index p * tp + t
};

MoeCase MakeMoeCase(const MoeShape& shape);

struct LinearParallelShape {
  int world_size = 2;
  int64_t b = 0;  // 0: 2-D input (m, k); else 3-D (b, m, k)
  int64_t m = 8, k = 64, n = 32;
  LinearParallelAttrs attrs;
  DType act = DType::kFloat16;  // fp16/bf16 for float and W8A16; W8A8 uses int8 input
  bool w8a8 = false;
  bool deq_scale_int64 = true;  // W8A8: int64-encoded (else float)
  bool bias = true;             // W8A16: the offset; W8A8: int32 bias
  bool nz_weight = false;
  uint64_t seed = 3;
};

struct LinearParallelCase {
  explicit LinearParallelCase(uint64_t seed) : pool(seed) {}
  TensorPool pool;
  LinearParallelAttrs attrs;
  std::vector<LinearParallelInputs> ranks;
};

LinearParallelCase MakeLinearParallelCase(const LinearParallelShape& shape);

}  // namespace mc2::reference
