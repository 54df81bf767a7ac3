#include "peers.h"

#include <mpi.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "comm/process_transport.h"

#if defined(MC2_BENCH_HAVE_GLOO)
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>
#endif

namespace mc2::bench {
namespace {

class Mc2Impl final : public Impl {
 public:
  explicit Mc2Impl(std::unique_ptr<comm::Communicator> c) : comm_(std::move(c)) {}
  std::string name() const override { return "mc2"; }
  bool Supports(Collective) const override { return true; }
  bool Run(Collective c, const float* src, float* dst, size_t count) override {
    Status s;
    switch (c) {
      case Collective::kAllReduce: s = comm_->AllReduce(src, dst, count, DType::kFloat32); break;
      case Collective::kReduceScatter: s = comm_->ReduceScatter(src, dst, count, DType::kFloat32); break;
      case Collective::kAllGather: s = comm_->AllGather(src, dst, count, DType::kFloat32); break;
      case Collective::kAllToAll: s = comm_->AllToAll(src, dst, count, DType::kFloat32); break;
      case Collective::kBroadcast: s = comm_->Broadcast(dst, count, DType::kFloat32, 0); break;
    }
    if (!s.ok()) std::fprintf(stderr, "mc2: %s\n", s.ToString().c_str());
    return s.ok();
  }

 private:
  std::unique_ptr<comm::Communicator> comm_;
};

class MpiImpl final : public Impl {
 public:
  std::string name() const override { return "openmpi"; }
  bool Supports(Collective) const override { return true; }
  bool Run(Collective c, const float* src, float* dst, size_t count) override {
    const int n = static_cast<int>(count);
    switch (c) {
      case Collective::kAllReduce:
        return MPI_Allreduce(src, dst, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS;
      case Collective::kReduceScatter:
        return MPI_Reduce_scatter_block(src, dst, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS;
      case Collective::kAllGather:
        return MPI_Allgather(src, n, MPI_FLOAT, dst, n, MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS;
      case Collective::kAllToAll:
        return MPI_Alltoall(src, n, MPI_FLOAT, dst, n, MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS;
      case Collective::kBroadcast:
        return MPI_Bcast(dst, n, MPI_FLOAT, 0, MPI_COMM_WORLD) == MPI_SUCCESS;
    }
    return false;
  }
};

#if defined(MC2_BENCH_HAVE_GLOO)
class GlooImpl final : public Impl {
 public:
  explicit GlooImpl(std::shared_ptr<gloo::Context> ctx) : ctx_(std::move(ctx)) {}
  std::string name() const override { return "gloo"; }
  bool Supports(Collective c) const override { return c != Collective::kReduceScatter; }
  bool Run(Collective c, const float* src, float* dst, size_t count) override {
    float* in = const_cast<float*>(src);
    const size_t n = static_cast<size_t>(ctx_->size);
    try {
      switch (c) {
        case Collective::kAllReduce: {
          gloo::AllreduceOptions o(ctx_);
          o.setInput(in, count);
          o.setOutput(dst, count);
          o.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
          gloo::allreduce(o);
          return true;
        }
        case Collective::kAllGather: {
          gloo::AllgatherOptions o(ctx_);
          o.setInput(in, count);
          o.setOutput(dst, count * n);
          gloo::allgather(o);
          return true;
        }
        case Collective::kAllToAll: {
          gloo::AlltoallOptions o(ctx_);
          o.setInput(in, count * n);
          o.setOutput(dst, count * n);
          gloo::alltoall(o);
          return true;
        }
        case Collective::kBroadcast: {
          gloo::BroadcastOptions o(ctx_);
          o.setOutput(dst, count);
          o.setRoot(0);
          gloo::broadcast(o);
          return true;
        }
        case Collective::kReduceScatter:
          return false;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gloo: %s\n", e.what());
    }
    return false;
  }

 private:
  std::shared_ptr<gloo::Context> ctx_;
};
#endif

}  // namespace

std::unique_ptr<Impl> MakeMc2(int rank, int size) {
  std::string hex;
  if (rank == 0) {
    auto info = comm::GetRootInfo();
    if (!info.ok()) return nullptr;
    hex = comm::RootInfoToHex(*info);
  }
  hex.resize(2 * comm::kRootInfoWireBytes);
  MPI_Bcast(hex.data(), static_cast<int>(hex.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  auto info = comm::RootInfoFromHex(hex);
  if (!info.ok()) return nullptr;
  auto c = comm::InitRootInfo(size, *info, rank);
  if (!c.ok()) {
    std::fprintf(stderr, "mc2 init: %s\n", c.status().ToString().c_str());
    return nullptr;
  }
  return std::make_unique<Mc2Impl>(std::move(*c));
}

std::unique_ptr<Impl> MakeMpi() { return std::make_unique<MpiImpl>(); }

std::unique_ptr<Impl> MakeGloo(int rank, int size) {
#if defined(MC2_BENCH_HAVE_GLOO)
  // Gloo's rendezvous goes through a file store in a private directory, removed afterwards.
  char dir[256] = {};
  if (rank == 0) {
    std::snprintf(dir, sizeof(dir), "/tmp/mc2-bench-gloo-XXXXXX");
    if (mkdtemp(dir) == nullptr) dir[0] = 0;
  }
  MPI_Bcast(dir, sizeof(dir), MPI_CHAR, 0, MPI_COMM_WORLD);
  if (dir[0] == 0) return nullptr;
  std::unique_ptr<Impl> impl;
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = "127.0.0.1";
    auto dev = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(dir);
    auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    ctx->connectFullMesh(store, dev);
    impl = std::make_unique<GlooImpl>(ctx);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gloo init: %s\n", e.what());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    const std::string cmd = std::string("rm -rf '") + dir + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir);
  }
  return impl;
#else
  (void)rank;
  (void)size;
  return nullptr;
#endif
}

}  // namespace mc2::bench
