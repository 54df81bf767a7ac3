// The implementations compared by collectives_bench: mc2, OpenMPI's MPI collectives, Gloo.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace mc2::bench {

enum class Collective { kAllReduce, kReduceScatter, kAllGather, kAllToAll, kBroadcast };

// One implementation. Buffers are float; `count` is the per-call element count in the
// collective's own convention (AllReduce/Broadcast: elements; ReduceScatter/AllGather/AllToAll:
// elements per rank block). Run returns false when the implementation lacks the collective.
class Impl {
 public:
  virtual ~Impl() = default;
  virtual std::string name() const = 0;
  virtual bool Supports(Collective c) const = 0;
  virtual bool Run(Collective c, const float* src, float* dst, size_t count) = 0;
};

std::unique_ptr<Impl> MakeMc2(int rank, int size);   // processes transport, bootstrapped over MPI
std::unique_ptr<Impl> MakeMpi();
std::unique_ptr<Impl> MakeGloo(int rank, int size);  // null when built without Gloo

}  // namespace mc2::bench
