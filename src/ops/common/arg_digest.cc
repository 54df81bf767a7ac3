#include "ops/common/arg_digest.h"

#include <algorithm>
#include <cstring>

#include "core/fault.h"

namespace mc2::ops {
namespace {

// Header of each rank's record: its validation code and family, the digest length, then the
// start of its error message (kTextWords words, NUL-padded), which peers repeat in theirs.
constexpr int kTextWords = 48;
constexpr int kHeader = 3 + kTextWords;
constexpr int kTensorValues = 4 + kMaxDims;  // present, dtype, format, rank, dims

}  // namespace

void ArgDigest::AddTensor(const char* name, const TensorView& v) {
  fields_.push_back({name, Kind::kTensor, values_.size(), kTensorValues, false});
  values_.push_back(1);
  values_.push_back(static_cast<int64_t>(v.dtype));
  values_.push_back(static_cast<int64_t>(v.format));
  values_.push_back(v.rank());
  for (int d = 0; d < kMaxDims; ++d) values_.push_back(d < v.rank() ? v.dims[d] : 0);
}

void ArgDigest::AddTensor(const char* name, const std::optional<TensorView>& v, bool per_rank_optional) {
  if (v) {
    AddTensor(name, *v);
    fields_.back().per_rank_optional = per_rank_optional;
    return;
  }
  fields_.push_back({name, Kind::kTensor, values_.size(), kTensorValues, per_rank_optional});
  values_.insert(values_.end(), kTensorValues, 0);
}

void ArgDigest::AddInt(const char* name, int64_t v) {
  fields_.push_back({name, Kind::kInt, values_.size(), 1, false});
  values_.push_back(v);
}

void ArgDigest::AddDouble(const char* name, double v) {
  int64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  fields_.push_back({name, Kind::kDouble, values_.size(), 1, false});
  values_.push_back(bits);
}

std::string ArgDigest::Describe(int field, const int64_t* v) const {
  const Field& f = fields_[field];
  switch (f.kind) {
    case Kind::kInt:
      return std::to_string(v[0]);
    case Kind::kDouble: {
      double d;
      std::memcpy(&d, v, sizeof d);
      return StrCat(d);
    }
    case Kind::kTensor: {
      if (v[0] == 0) return "no tensor";
      const int rank = static_cast<int>(v[3]);
      Dims dims(v + 4, rank < 0 || rank > kMaxDims ? 0 : rank);
      return StrCat(dims.ToString(), " ", DTypeName(static_cast<DType>(v[1])), " ",
                    FormatName(static_cast<Format>(v[2])));
    }
  }
  return "";
}

Status ExchangeAndCheck(comm::Communicator& comm, const ArgDigest& digest, const Status& local, ErrorSpace space,
                        int32_t code, int fault_rank) {
  const int world = comm.world_size();
  const size_t record = kHeader + digest.values_.size();
  std::vector<int64_t> mine(record);
  mine[0] = local.code();
  mine[1] = static_cast<int64_t>(local.space());
  mine[2] = static_cast<int64_t>(digest.values_.size());
  const std::string& text = local.message();
  std::memcpy(&mine[3], text.data(), std::min(text.size(), size_t{kTextWords} * 8 - 1));
  std::copy(digest.values_.begin(), digest.values_.end(), mine.begin() + kHeader);
  // MC2_FAULT (core/fault.h): a wrong digest on the chosen rank.
  if (fault::At("digest", fault_rank >= 0 ? fault_rank : comm.rank()) == fault::Action::kDigest && record > kHeader) {
    mine[kHeader] ^= 1;
  }
  std::vector<int64_t> all(record * world);
  MC2_RETURN_IF_ERROR(comm.AllGather(mine.data(), all.data(), record, DType::kInt64));
  if (!local.ok()) return local;
  for (int r = 0; r < world; ++r) {
    const int64_t* rec = all.data() + r * record;
    if (rec[0] != 0) {
      const auto their_space = static_cast<ErrorSpace>(rec[1]);
      char their_text[kTextWords * 8];
      std::memcpy(their_text, rec + 3, sizeof(their_text));
      their_text[sizeof(their_text) - 1] = '\0';
      return Status(space, code,
                    StrCat(comm.RankName(r), " rejected its arguments with ", rec[0], " (",
                           CodeName(their_space, static_cast<int32_t>(rec[0])), "): ",
                           their_text[0] != '\0' ? their_text : "see that rank's error for the reason"));
    }
  }
  for (int f = 0; f < digest.field_count(); ++f) {
    const ArgDigest::Field& field = digest.fields_[f];
    // Compare every rank with the first rank that has the field (all ranks for non-optional ones).
    int first = -1;
    for (int r = 0; r < world; ++r) {
      const int64_t* b = all.data() + r * record + kHeader + field.offset;
      if (field.per_rank_optional && b[0] == 0) continue;
      if (first < 0) {
        first = r;
        continue;
      }
      const int64_t* a = all.data() + first * record + kHeader + field.offset;
      if (std::memcmp(a, b, field.count * sizeof(int64_t)) != 0) {
        return Status(space, code,
                      StrCat(field.name, ": ranks disagree: ", comm.RankName(first), " has ", digest.Describe(f, a),
                             ", ", comm.RankName(r), " has ", digest.Describe(f, b),
                             " (every rank must pass the same shapes, dtypes and attributes)"));
      }
    }
  }
  return Status::Ok();
}

}  // namespace mc2::ops
