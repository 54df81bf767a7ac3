// mc2's CANN-compatible atb::SVector (atb/svector.h): a small vector that keeps up to
// DEFAULT_SVECTOR_SIZE (64) elements inline and grows onto the heap up to MAX_SVECTOR_SIZE (256);
// growing beyond, and indexing out of range (operator[] as well as at), throw std::out_of_range /
// std::length_error, as ATB's does. Elements must be default-constructible and copyable.
#ifndef MC2_ATB_SVECTOR_H_
#define MC2_ATB_SVECTOR_H_

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>

namespace atb {

constexpr std::size_t DEFAULT_SVECTOR_SIZE = 64;
constexpr std::size_t MAX_SVECTOR_SIZE = 256;

template <class T>
class SVector {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SVector() = default;
  SVector(std::initializer_list<T> list) {
    reserve(list.size());
    for (const T& v : list) push_back(v);
  }
  explicit SVector(std::size_t count, const T& value = T()) { resize(count, value); }
  SVector(const SVector& other) { *this = other; }
  SVector& operator=(const SVector& other) {
    if (this == &other) return *this;
    clear();
    reserve(other.size_);
    for (std::size_t i = 0; i < other.size_; ++i) data()[i] = other.data()[i];
    size_ = other.size_;
    return *this;
  }
  SVector(SVector&& other) noexcept { *this = static_cast<SVector&&>(other); }
  SVector& operator=(SVector&& other) noexcept {
    if (this == &other) return *this;
    heap_ = std::move(other.heap_);
    capacity_ = other.capacity_;
    if (!heap_) {
      for (std::size_t i = 0; i < other.size_; ++i) inline_[i] = static_cast<T&&>(other.inline_[i]);
    }
    size_ = other.size_;
    other.size_ = 0;
    other.capacity_ = DEFAULT_SVECTOR_SIZE;
    return *this;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  T* data() { return heap_ ? heap_.get() : inline_; }
  const T* data() const { return heap_ ? heap_.get() : inline_; }

  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    if (n > MAX_SVECTOR_SIZE) {
      throw std::length_error("atb::SVector: " + std::to_string(n) + " elements exceed MAX_SVECTOR_SIZE 256");
    }
    std::unique_ptr<T[]> grown(new T[MAX_SVECTOR_SIZE]);
    for (std::size_t i = 0; i < size_; ++i) grown[i] = static_cast<T&&>(data()[i]);
    heap_ = std::move(grown);
    capacity_ = MAX_SVECTOR_SIZE;
  }
  void resize(std::size_t n, const T& value = T()) {
    reserve(n);
    for (std::size_t i = size_; i < n; ++i) data()[i] = value;
    size_ = n;
  }
  void clear() { size_ = 0; }
  void push_back(const T& value) {
    reserve(size_ + 1);
    data()[size_++] = value;
  }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    reserve(size_ + 1);
    data()[size_] = T{static_cast<Args&&>(args)...};
    return data()[size_++];
  }
  void pop_back() {
    if (size_ == 0) throw std::out_of_range("atb::SVector: pop_back on an empty vector");
    --size_;
  }
  iterator insert(const_iterator pos, const T& value) {
    const std::size_t at_index = static_cast<std::size_t>(pos - begin());
    if (at_index > size_) throw std::out_of_range("atb::SVector: insert position out of range");
    T copy = value;  // `value` may live in this vector
    reserve(size_ + 1);
    for (std::size_t i = size_; i > at_index; --i) data()[i] = static_cast<T&&>(data()[i - 1]);
    data()[at_index] = static_cast<T&&>(copy);
    ++size_;
    return begin() + at_index;
  }

  T& at(std::size_t i) {
    Check(i);
    return data()[i];
  }
  const T& at(std::size_t i) const {
    Check(i);
    return data()[i];
  }
  T& operator[](std::size_t i) { return at(i); }
  const T& operator[](std::size_t i) const { return at(i); }
  T& front() { return at(0); }
  const T& front() const { return at(0); }
  T& back() { return at(size_ - 1); }
  const T& back() const { return at(size_ - 1); }

  iterator begin() { return data(); }
  iterator end() { return data() + size_; }
  const_iterator begin() const { return data(); }
  const_iterator end() const { return data() + size_; }

 private:
  void Check(std::size_t i) const {
    if (i >= size_) {
      throw std::out_of_range("atb::SVector: index " + std::to_string(i) + " but size " + std::to_string(size_));
    }
  }

  T inline_[DEFAULT_SVECTOR_SIZE] = {};
  std::unique_ptr<T[]> heap_;
  std::size_t size_ = 0;
  std::size_t capacity_ = DEFAULT_SVECTOR_SIZE;
};

}  // namespace atb

#endif  // MC2_ATB_SVECTOR_H_
