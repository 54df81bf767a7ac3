// Cross-rank argument check. A fused operator that ranks call with different shapes, dtypes or
// attributes would read past its peers' buffers or wait forever for data that never comes; CANN
// leaves that to the user. mc2's plan phase instead exchanges a digest of every rank's arguments
// (one AllGather of a few hundred int64 values) and fails on every rank, with a message naming
// the parameter and the ranks, if they disagree.
//
// The exchange also carries each rank's own validation result, so a rank whose arguments are
// invalid still takes part: its peers learn that it failed (and why, by code) instead of waiting
// for it until the timeout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"
#include "core/tensor.h"

namespace mc2::ops {

class ArgDigest {
 public:
  // A tensor: present flag, dtype, format, rank and dims (values, so messages can print them).
  void AddTensor(const char* name, const TensorView& v);
  // `per_rank_optional`: some ranks may pass the tensor and others not (ARN's bias is given on
  // rank 0 only by CANN's callers); only ranks that pass it are compared.
  void AddTensor(const char* name, const std::optional<TensorView>& v, bool per_rank_optional = false);
  void AddInt(const char* name, int64_t v);
  void AddDouble(const char* name, double v);

  const std::vector<int64_t>& values() const { return values_; }

  // Describes field `i`'s values for messages ("(1024, 512) float16 ND").
  std::string Describe(int field, const int64_t* values) const;
  int field_count() const { return static_cast<int>(fields_.size()); }

 private:
  friend Status ExchangeAndCheck(comm::Communicator& comm, const ArgDigest& digest, const Status& local,
                                 ErrorSpace space, int32_t code, int fault_rank);
  enum class Kind : uint8_t { kTensor, kInt, kDouble };
  struct Field {
    const char* name;
    Kind kind;
    size_t offset;
    size_t count;
    bool per_rank_optional;
  };
  std::vector<Field> fields_;
  std::vector<int64_t> values_;
};

// Exchanges `digest` and `local` (this rank's validation result) with every rank of `comm`.
// Returns: `local` if it failed; else an error of (space, code) if another rank failed ("rank 2
// rejected its arguments with 161002 (...): " and the start of that rank's own message) or if the
// digests differ ("x2: ranks disagree: rank 0 has (256, 128) int8 ND, rank 1 has (256, 64) int8
// ND"); else Ok. Ranks are named by Communicator::RankName (with their global rank in a
// sub-communicator). A communication failure is returned as the communicator's error.
// `fault_rank`: the rank MC2_FAULT's point "digest" matches (default: the rank in `comm`; a MoE
// plan passes its grid rank, since it exchanges on two groups).
Status ExchangeAndCheck(comm::Communicator& comm, const ArgDigest& digest, const Status& local, ErrorSpace space,
                        int32_t code, int fault_rank = -1);

}  // namespace mc2::ops
