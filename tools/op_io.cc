#include "op_io.h"

#include <algorithm>
#include <cctype>
#include <system_error>

namespace mc2::cli {
namespace {

std::string Lower(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '_' || c == '-'; }), s.end());
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s.rfind("aclnn", 0) == 0) s = s.substr(5);
  return s;
}

}  // namespace

StatusOr<OpKind> ParseOpKind(const std::string& name) {
  const std::string n = Lower(name);
  if (n == "arn" || n == "weightquantmatmulallreduceaddrmsnorm") return OpKind::kArn;
  if (n == "arninplace" || n == "inplacearn" || n == "inplaceweightquantmatmulallreduceaddrmsnorm") {
    return OpKind::kArnInplace;
  }
  if (n == "moe" || n == "alltoallallgatherbatchmatmul") return OpKind::kMoe;
  if (n == "lp" || n == "linearparallel" || n == "linearparalleloperation") return OpKind::kLinearParallel;
  return AclnnError(aclnn::kErrParamInvalid, "operator '", name,
                    "' is unknown; use one of: WeightQuantMatmulAllReduceAddRmsNorm (arn), "
                    "InplaceWeightQuantMatmulAllReduceAddRmsNorm (arn-inplace), AlltoAllAllGatherBatchMatMul (moe), "
                    "LinearParallel (lp)");
}

const char* OpKindName(OpKind op) {
  switch (op) {
    case OpKind::kArn:
      return "WeightQuantMatmulAllReduceAddRmsNorm";
    case OpKind::kArnInplace:
      return "InplaceWeightQuantMatmulAllReduceAddRmsNorm";
    case OpKind::kMoe:
      return "AlltoAllAllGatherBatchMatMul";
    case OpKind::kLinearParallel:
      return "LinearParallel";
  }
  return "";
}

std::vector<std::string> OutputNames(OpKind op) {
  switch (op) {
    case OpKind::kArn:
    case OpKind::kArnInplace:
      return {"y", "normOut"};
    case OpKind::kMoe:
      return {"y1", "y2", "y3"};
    case OpKind::kLinearParallel:
      return {"output", "intermediateOutput"};
  }
  return {};
}

int CountRankDirs(const std::filesystem::path& dir) {
  int n = 0;
  std::error_code ec;
  while (std::filesystem::is_directory(dir / ("rank" + std::to_string(n)), ec)) ++n;
  return n;
}

std::filesystem::path InputLoader::Path(int rank, const std::string& name) const {
  return dir_ / ("rank" + std::to_string(rank)) / (name + ".npy");
}

bool InputLoader::Exists(int rank, const std::string& name) const {
  std::error_code ec;
  return std::filesystem::exists(Path(rank, name), ec);
}

StatusOr<DType> InputLoader::FileDType(int rank, const std::string& name) {
  const std::string path = Path(rank, name).string();
  if (!Exists(rank, name)) return AclnnError(aclnn::kErrParamInvalid, path, ": missing (", name, " is required)");
  MC2_ASSIGN_OR_RETURN(HostTensor t, ReadNpy(path));
  return t.dtype();
}

StatusOr<TensorView> InputLoader::Load(int rank, const std::string& name, DType dtype) {
  const std::string path = Path(rank, name).string();
  if (!Exists(rank, name)) return AclnnError(aclnn::kErrParamInvalid, path, ": missing (", name, " is required)");
  MC2_ASSIGN_OR_RETURN(HostTensor loaded, ReadNpy(path));
  MC2_ASSIGN_OR_RETURN(HostTensor converted, ConvertForOperator(loaded, dtype, path));
  return tensors_.emplace_back(std::move(converted)).view();
}

StatusOr<std::optional<TensorView>> InputLoader::LoadOptional(int rank, const std::string& name, DType dtype) {
  if (!Exists(rank, name)) return std::optional<TensorView>();
  MC2_ASSIGN_OR_RETURN(TensorView v, Load(rank, name, dtype));
  return std::optional<TensorView>(v);
}

Status WriteOutput(const std::filesystem::path& dir, int rank, const std::string& name, const HostTensor& t) {
  const std::filesystem::path rank_dir = dir / ("rank" + std::to_string(rank));
  std::error_code ec;
  std::filesystem::create_directories(rank_dir, ec);
  if (ec) return AclnnError(aclnn::kErrRuntime, rank_dir.string(), ": cannot create directory: ", ec.message());
  return WriteNpy((rank_dir / (name + ".npy")).string(), t);
}

}  // namespace mc2::cli
