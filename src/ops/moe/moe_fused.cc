#include "ops/moe/moe_fused.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/trace.h"
#include "ops/common/progress_thread.h"
#include "ops/common/symmetric_channel.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace mc2::ops {
namespace {

// One pass over local experts [e0, e0 + n).
class FusedPass {
 public:
  FusedPass(const MoeRun& run, SymmetricChannel& ep_ch, SymmetricChannel& tp_ch, int64_t e0, int64_t n)
      : run_(run), g_(*run.g), ep_ch_(ep_ch), tp_ch_(tp_ch), e0_(e0), n_(n), p_(run.ep->rank()), t_(run.tp->rank()) {}

  Status Run() {
    MC2_RETURN_IF_ERROR(ep_ch_.Begin(&seq_ep_));
    MC2_RETURN_IF_ERROR(tp_ch_.Begin(&seq_tp_));
    clock_.Mark(MoePhaseTimes::kBegin);
    for (int64_t s = 0; s < n_ + 2; ++s) {
      if (s < n_) MC2_RETURN_IF_ERROR(Push(s));
      if (s >= 1 && s - 1 < n_) MC2_RETURN_IF_ERROR(Forward(s - 1));
      if (s >= 2) {
        MC2_RETURN_IF_ERROR(Gather(s - 2));
        MC2_TRACE_CHUNK("moe.matmul", kCompute, e0_ + s - 2);
        MC2_RETURN_IF_ERROR(ExpertMatmul(run_, e0_ + s - 2, Y2(t_, s - 2)));
        clock_.Mark(MoePhaseTimes::kMatmul);
      }
    }
    return Status::Ok();
  }

 private:
  size_t BlockBytes() const { return static_cast<size_t>(g_.block()) * g_.elem; }
  // EP rank p's receive slot for expert s of the pass, block from EP rank i.
  char* EpSlot(int q, int64_t s, int64_t i) const {
    return ep_ch_.Half(q, seq_ep_) + static_cast<size_t>(s) * g_.ExpertEpBytes() + static_cast<size_t>(i) * BlockBytes();
  }
  // TP rank j's y2 of expert s of the pass.
  char* Y2(int j, int64_t s) const { return tp_ch_.Half(j, seq_tp_) + static_cast<size_t>(s) * g_.ExpertY2Bytes(); }
  const char* XChunk(int64_t q, int64_t s) const {
    return run_.x + static_cast<size_t>((q * g_.el + e0_ + s) * g_.block()) * g_.elem;
  }

  Status Push(int64_t s) {
    MC2_TRACE_CHUNK("moe.alltoall_push", kComm, e0_ + s);
    for (int64_t k = 0; k < g_.ep; ++k) {
      const int q = static_cast<int>((p_ + k) % g_.ep);  // every rank starts with a different peer
      if (q == p_) {
        MC2_RETURN_IF_ERROR(PlaceBlock(run_, Y2(t_, s), p_, t_, XChunk(q, s)));
      } else {
        std::memcpy(EpSlot(q, s, p_), XChunk(q, s), BlockBytes());
      }
    }
    clock_.Mark(MoePhaseTimes::kPush);
    return ep_ch_.Signal(static_cast<int>(s), seq_ep_);
  }

  Status Forward(int64_t s) {
    for (int64_t k = 1; k < g_.ep; ++k) {
      const int i = static_cast<int>((p_ + k) % g_.ep);
      {
        MC2_TRACE_CHUNK("moe.wait_ep", kWait, e0_ + s);
        MC2_RETURN_IF_ERROR(ep_ch_.Wait(i, static_cast<int>(s), seq_ep_));
      }
      clock_.Mark(MoePhaseTimes::kEpWait);
      MC2_TRACE_CHUNK("moe.alltoall_place", kComm, e0_ + s);
      MC2_RETURN_IF_ERROR(PlaceBlock(run_, Y2(t_, s), i, t_, EpSlot(p_, s, i)));
      clock_.Mark(MoePhaseTimes::kForward);
    }
    return tp_ch_.Signal(static_cast<int>(s), seq_tp_);
  }

  Status Gather(int64_t s) {
    char* mine = Y2(t_, s);
    for (int64_t k = 1; k < g_.tp; ++k) {
      const int j = static_cast<int>((t_ + k) % g_.tp);
      {
        MC2_TRACE_CHUNK("moe.wait_tp", kWait, e0_ + s);
        MC2_RETURN_IF_ERROR(tp_ch_.Wait(j, static_cast<int>(s), seq_tp_));
      }
      clock_.Mark(MoePhaseTimes::kTpWait);
      MC2_TRACE_CHUNK("moe.allgather_copy", kComm, e0_ + s);
      const char* theirs = Y2(j, s);
      for (int64_t i = 0; i < g_.ep; ++i) {
        const size_t at = static_cast<size_t>(g_.BlockRow(i, j) * g_.h + g_.BlockCol(j)) * g_.elem;
        MC2_RETURN_IF_ERROR(CopyRows(run_.pool, mine + at, g_.h, theirs + at, g_.h, g_.cl, g_.hl));
      }
      clock_.Mark(MoePhaseTimes::kGather);
    }
    if (run_.y2 != nullptr) {
      char* out = run_.y2 + static_cast<size_t>(e0_ + s) * g_.ExpertY2Bytes();
      MC2_RETURN_IF_ERROR(CopyRows(run_.pool, out, g_.h, mine, g_.h, g_.rows, g_.h));
    }
    clock_.Mark(MoePhaseTimes::kGather);
    return Status::Ok();
  }

  const MoeRun& run_;
  const MoeGeometry& g_;
  SymmetricChannel& ep_ch_;
  SymmetricChannel& tp_ch_;
  const int64_t e0_, n_;
  const int p_, t_;
  uint32_t seq_ep_ = 0, seq_tp_ = 0;
  PhaseClock clock_{run_.times};
};

}  // namespace

Status RunMoeFused(const MoeRun& run) {
  SymmetricChannel ep_ch(run.ep), tp_ch(run.tp);
  const int64_t per_pass = run.schedule->experts_per_pass;
  for (int64_t e0 = 0; e0 < run.g->el; e0 += per_pass) {
    FusedPass pass(run, ep_ch, tp_ch, e0, std::min(per_pass, run.g->el - e0));
    MC2_RETURN_IF_ERROR(pass.Run());
  }
  return Status::Ok();
}

namespace {

void PopulateRange(char* begin, size_t bytes) {
  if (bytes == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(begin) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(begin) + bytes + page - 1) / page * page;
  // A hint: on failure (old kernel) the first call faults the pages in instead.
  (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE);
}

void PopulateHalves(comm::Communicator* c, size_t bytes) {
  SymmetricChannel ch(c);
  if (!ch.Usable()) return;
  bytes = std::min(bytes, ch.half_bytes());
  for (int peer = 0; peer < c->world_size(); ++peer) {
    for (uint32_t half = 0; half < 2; ++half) PopulateRange(ch.Half(peer, half), bytes);
  }
}

}  // namespace

void PrefaultMoeBuffers(comm::Communicator* ep, comm::Communicator* tp, const MoeGeometry& g,
                        const MoeSchedule& schedule) {
  if (schedule.algorithm != MoeAlgorithm::kFused) return;
  const size_t n = static_cast<size_t>(schedule.experts_per_pass);
  PopulateHalves(ep, n * g.ExpertEpBytes());
  PopulateHalves(tp, n * g.ExpertY2Bytes());
}

bool MoeChainPipelined(const MoeGeometry& g, MoeAlgorithm algorithm) {
  return algorithm == MoeAlgorithm::kChained && g.el > 1 && g.ep * g.tp > 1 && g.block() > 0;
}

size_t MoeChainBytes(const MoeGeometry& g, MoeAlgorithm algorithm) {
  if (algorithm != MoeAlgorithm::kChained) return 0;
  const size_t x_bytes = static_cast<size_t>(g.ep * g.el * g.block()) * g.elem;
  // Received blocks (|x|), the TP gather of them (tp |x|), and y2 when the caller did not ask
  // for it (El * ExpertY2Bytes() = tp |x|); expert by expert also the staged sends (|x|).
  const size_t send = MoeChainPipelined(g, algorithm) ? x_bytes : 0;
  return send + x_bytes * static_cast<size_t>(1 + g.tp) + (g.want_y2 ? 0 : static_cast<size_t>(g.el) * g.ExpertY2Bytes());
}

namespace {

// The chain expert by expert (moe_fused.h). Workspace: send (El, ep, blk), recv (El, ep, blk),
// gathered (El, tp, ep, blk), then y2 when not asked for.
class ChainPipeline {
 public:
  explicit ChainPipeline(const MoeRun& run)
      : run_(run), g_(*run.g), blk_(static_cast<size_t>(g_.block()) * g_.elem),
        x_bytes_(static_cast<size_t>(g_.ep * g_.el) * blk_), send_(run.chain), recv_(send_ + x_bytes_),
        gathered_(recv_ + x_bytes_),
        y2_(run.y2 != nullptr ? run.y2 : gathered_ + x_bytes_ * static_cast<size_t>(g_.tp)) {}

  Status Run() {
    ProgressThread& progress = *run_.progress;
    PhaseClock clock(run_.times);
    progress.Begin(&ChainPipeline::Task, this);
    progress.Post(g_.el);  // the exchanges need nothing from the matmuls
    Status status;
    for (int64_t e = 0; e < g_.el && status.ok(); ++e) {
      {
        MC2_TRACE_CHUNK("moe.wait_comm", kWait, e);
        progress.WaitFor(e + 1);
      }
      clock.Mark(MoePhaseTimes::kTpWait);
      char* y2e = y2_ + static_cast<size_t>(e) * g_.ExpertY2Bytes();
      {
        MC2_TRACE_CHUNK("moe.place", kOther, e);
        const char* ge = gathered_ + static_cast<size_t>(e * g_.tp * g_.ep) * blk_;
        for (int64_t j = 0; j < g_.tp && status.ok(); ++j) {
          for (int64_t i = 0; i < g_.ep && status.ok(); ++i) {
            status = PlaceBlock(run_, y2e, i, j, ge + static_cast<size_t>(j * g_.ep + i) * blk_);
          }
        }
      }
      clock.Mark(MoePhaseTimes::kGather);
      if (status.ok()) {
        MC2_TRACE_CHUNK("moe.matmul", kCompute, e);
        progress.Lend(run_.ep);
        status = ExpertMatmul(run_, e, y2e, &progress);
      }
      clock.Mark(MoePhaseTimes::kMatmul);
    }
    trace::Scope wait("moe.wait_progress", trace::Category::kWait);
    Status comm_status = progress.Finish();
    wait.End();
    MC2_RETURN_IF_ERROR(status);
    return comm_status;
  }

 private:
  // On the progress thread: expert e's all-to-all over EP and all-gather over TP (no pool).
  static Status Task(void* self, int64_t e) {
    auto* p = static_cast<ChainPipeline*>(self);
    const MoeGeometry& g = p->g_;
    char* send = p->send_ + static_cast<size_t>(e * g.ep) * p->blk_;
    char* recv = p->recv_ + static_cast<size_t>(e * g.ep) * p->blk_;
    {
      MC2_TRACE_CHUNK("moe.alltoall", kComm, e);
      for (int64_t q = 0; q < g.ep; ++q) {
        std::memcpy(send + static_cast<size_t>(q) * p->blk_,
                    p->run_.x + static_cast<size_t>(q * g.el + e) * p->blk_, p->blk_);
      }
      MC2_RETURN_IF_ERROR(p->run_.ep->AllToAll(send, recv, static_cast<size_t>(g.block()), g.dt));
    }
    MC2_TRACE_CHUNK("moe.allgather", kComm, e);
    return p->run_.tp->AllGather(recv, p->gathered_ + static_cast<size_t>(e * g.tp * g.ep) * p->blk_,
                                 static_cast<size_t>(g.ep * g.block()), g.dt);
  }

  const MoeRun& run_;
  const MoeGeometry& g_;
  const size_t blk_, x_bytes_;
  char* const send_;
  char* const recv_;
  char* const gathered_;
  char* const y2_;
};

}  // namespace

Status RunMoeChained(const MoeRun& run) {
  const MoeGeometry& g = *run.g;
  if (run.progress != nullptr && MoeChainPipelined(g, MoeAlgorithm::kChained)) return ChainPipeline(run).Run();
  const size_t x_elems = static_cast<size_t>(g.ep * g.el * g.block());
  char* recv = run.chain;
  char* gathered = recv + x_elems * g.elem;
  char* y2 = run.y2 != nullptr ? run.y2 : gathered + x_elems * static_cast<size_t>(g.tp) * g.elem;
  // recv[i] = x_(i, t)[p*El .. (p+1)*El): block i of the all-to-all, (El, Cl, Hl).
  PhaseClock clock(run.times);
  {
    MC2_TRACE_SCOPE("moe.alltoall", kComm);
    MC2_RETURN_IF_ERROR(run.ep->AllToAll(run.x, recv, static_cast<size_t>(g.el * g.block()), g.dt));
  }
  clock.Mark(MoePhaseTimes::kPush);
  // gathered[j] = recv of TP rank j: (tp, ep, El, Cl, Hl).
  {
    MC2_TRACE_SCOPE("moe.allgather", kComm);
    MC2_RETURN_IF_ERROR(run.tp->AllGather(recv, gathered, x_elems, g.dt));
  }
  clock.Mark(MoePhaseTimes::kTpWait);
  trace::Scope place("moe.place", trace::Category::kOther);
  for (int64_t e = 0; e < g.el; ++e) {
    char* y2e = y2 + static_cast<size_t>(e) * g.ExpertY2Bytes();
    for (int64_t j = 0; j < g.tp; ++j) {
      for (int64_t i = 0; i < g.ep; ++i) {
        const size_t at = static_cast<size_t>(((j * g.ep + i) * g.el + e) * g.block()) * g.elem;
        MC2_RETURN_IF_ERROR(PlaceBlock(run, y2e, i, j, gathered + at));
      }
    }
  }
  place.End();
  clock.Mark(MoePhaseTimes::kGather);
  for (int64_t e = 0; e < g.el; ++e) {
    MC2_TRACE_CHUNK("moe.matmul", kCompute, e);
    MC2_RETURN_IF_ERROR(ExpertMatmul(run, e, y2 + static_cast<size_t>(e) * g.ExpertY2Bytes()));
  }
  clock.Mark(MoePhaseTimes::kMatmul);
  return Status::Ok();
}

}  // namespace mc2::ops
