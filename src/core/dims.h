// Dims: a small fixed-capacity list of int64 (shapes and strides), never allocating.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace mc2 {

inline constexpr int kMaxDims = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> values);
  Dims(const int64_t* values, int count);

  int size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t operator[](int i) const { return d_[i]; }
  // Python-style: back(1) is the last dim, back(2) the one before.
  int64_t back(int from_end = 1) const { return d_[size_ - from_end]; }
  const int64_t* data() const { return d_; }
  int64_t* data() { return d_; }
  const int64_t* begin() const { return d_; }
  const int64_t* end() const { return d_ + size_; }

  void push_back(int64_t v) { d_[size_++] = v; }  // caller keeps size() < kMaxDims
  void resize(int n, int64_t fill = 0);

  int64_t numel() const;  // product; 1 for rank 0
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  std::string ToString() const;  // "(2, 3, 4)"

 private:
  int64_t d_[kMaxDims] = {};
  int size_ = 0;
};

// Row-major strides (in elements) for `dims`.
Dims RowMajorStrides(const Dims& dims);

}  // namespace mc2
