// Reading an operator's per-rank inputs from .npy files and writing its outputs back, the file
// convention of `mc2 run-op` and `mc2 compare`:
//
//   DIR/rank<i>/<name>.npy     one file per tensor and rank, <name> as the spec's parameter
//
// ARN:  x1 x2 antiquantScale [antiquantOffset] [bias] residual gamma       -> y normOut
// MoE:  x weight [bias]  (rank<i> is grid position i = p * tp + t)         -> y1 [y2] [y3]
// LP:   input weight [bias] [deqScale] [residual] [perTokenScale]        -> output [intermediateOutput]
//
// dtypes follow docs/npy.md: fp16 tensors may be float16 or float32 files, bf16 tensors are float32
// files (so --dtype bf16 says which), int4 tensors are int8 files with values in [-8, 7].
#pragma once

#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/npy.h"
#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"

namespace mc2::cli {

enum class OpKind { kArn, kArnInplace, kMoe, kLinearParallel };

// Accepts the CANN names ("WeightQuantMatmulAllReduceAddRmsNorm", "aclnnAlltoAllAllGatherBatchMatMul",
// "LinearParallel"...) and short ones ("arn", "arn-inplace", "moe", "linear-parallel", "lp").
StatusOr<OpKind> ParseOpKind(const std::string& name);
const char* OpKindName(OpKind op);
// Parameter names of the operator's outputs, in order.
std::vector<std::string> OutputNames(OpKind op);

// Number of rank<i> directories in `dir` (rank0, rank1, ... without gaps).
int CountRankDirs(const std::filesystem::path& dir);

// Loads tensors, converting them to the dtypes the operator wants, and keeps them alive.
class InputLoader {
 public:
  explicit InputLoader(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // rank<rank>/<name>.npy as `dtype`; an error naming the file if it is missing or unfit.
  StatusOr<TensorView> Load(int rank, const std::string& name, DType dtype);
  // Same, or nullopt when the file does not exist.
  StatusOr<std::optional<TensorView>> LoadOptional(int rank, const std::string& name, DType dtype);
  // The dtype stored in the file (after the .npy conventions: float16, float32, int8, ...).
  StatusOr<DType> FileDType(int rank, const std::string& name);
  bool Exists(int rank, const std::string& name) const;

 private:
  std::filesystem::path Path(int rank, const std::string& name) const;
  std::filesystem::path dir_;
  std::deque<HostTensor> tensors_;
};

// Writes rank<rank>/<name>.npy under `dir`, creating directories.
Status WriteOutput(const std::filesystem::path& dir, int rank, const std::string& name, const HostTensor& t);

}  // namespace mc2::cli
