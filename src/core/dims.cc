#include "core/dims.h"

#include <algorithm>
#include <limits>

namespace mc2 {

Dims::Dims(std::initializer_list<int64_t> values) {
  for (int64_t v : values) {
    if (size_ < kMaxDims) d_[size_++] = v;
  }
}

Dims::Dims(const int64_t* values, int count) {
  size_ = std::clamp(count, 0, kMaxDims);
  for (int i = 0; i < size_; ++i) d_[i] = values[i];
}

void Dims::resize(int n, int64_t fill) {
  n = std::clamp(n, 0, kMaxDims);
  for (int i = size_; i < n; ++i) d_[i] = fill;
  size_ = n;
}

int64_t Dims::numel() const {
  // Saturates instead of overflowing (shapes come from users): a zero dim still gives 0, and a
  // product past int64 gives INT64_MAX (or INT64_MIN with an odd number of negative dims).
  int64_t n = 1;
  for (int i = 0; i < size_; ++i) {
    const bool negative = (n < 0) != (d_[i] < 0);
    if (__builtin_mul_overflow(n, d_[i], &n)) {
      n = negative ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
    }
  }
  return n;
}

bool Dims::operator==(const Dims& o) const { return std::equal(begin(), end(), o.begin(), o.end()); }

std::string Dims::ToString() const {
  std::string s = "(";
  for (int i = 0; i < size_; ++i) {
    if (i) s += ", ";
    s += std::to_string(d_[i]);
  }
  if (size_ == 1) s += ",";
  return s + ")";
}

Dims RowMajorStrides(const Dims& dims) {
  Dims strides;
  strides.resize(dims.size());
  int64_t s = 1;
  for (int i = dims.size() - 1; i >= 0; --i) {
    strides[i] = s;
    // Saturates like numel: such a view cannot be addressed anyway, and validation refuses it.
    if (__builtin_mul_overflow(s, std::max<int64_t>(dims[i], 1), &s)) s = std::numeric_limits<int64_t>::max();
  }
  return strides;
}

}  // namespace mc2
