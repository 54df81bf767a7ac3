// HandleSet: the live objects behind one kind of CANN handle (streams, contexts, tensors,
// communicators, executors). CANN handles are raw pointers chosen by the library; a program that
// passes a stale or made-up one must get an error code, not a crash, so every entry point looks
// the pointer up here before it touches the object. A lookup is one hash probe under a mutex,
// noise next to anything a handle is used for.
#pragma once

#include <mutex>
#include <unordered_set>

namespace mc2::api {

template <typename T>
class HandleSet {
 public:
  void Add(T* p) {
    std::lock_guard<std::mutex> lock(mu_);
    live_.insert(p);
  }
  // True if `p` was live (and is not any more).
  bool Remove(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    return live_.erase(static_cast<T*>(const_cast<void*>(p))) > 0;
  }
  // `p` as a T* if live, else null.
  T* Find(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    T* t = static_cast<T*>(const_cast<void*>(p));
    return live_.count(t) > 0 ? t : nullptr;
  }

 private:
  std::mutex mu_;
  std::unordered_set<T*> live_;
};

}  // namespace mc2::api
