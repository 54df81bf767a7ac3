// StatusOr<T>: a value or the Status that explains why there is none.
#pragma once

#include <optional>
#include <utility>

#include "core/status.h"

namespace mc2 {

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace mc2

// Declares `lhs` from a StatusOr expression, or returns its Status.
#define MC2_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto MC2_STATUS_CONCAT_(mc2_or_, __LINE__) = (expr);                   \
  if (!MC2_STATUS_CONCAT_(mc2_or_, __LINE__).ok())                       \
    return MC2_STATUS_CONCAT_(mc2_or_, __LINE__).status();               \
  lhs = std::move(MC2_STATUS_CONCAT_(mc2_or_, __LINE__)).value()
