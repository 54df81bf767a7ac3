// The step machinery every collective is made of (protocol in communicator.h), and the waits.
//
// Costs on this machine (2-core Zen3): a flag handoff between the cores is ~0.1-0.2 us, so the
// spin budget (50 us, or 2 us when ranks outnumber cores) covers a peer that is a little behind;
// beyond it the waiter sleeps on the flag's futex for at most 100 ms at a time, so that 8 ranks
// on 2 cores make progress, and re-checks its deadline and its peers' liveness (at most every
// 50 ms, one pidfd poll per peer) between sleeps.
#include <algorithm>
#include <cstring>
#include <utility>

#include "comm/communicator.h"
#include "comm/control_block.h"
#include "core/fault.h"

namespace mc2::comm {
namespace {
constexpr int64_t kSleepSliceNs = 100 * 1000 * 1000;
constexpr int64_t kLivenessPeriodNs = 50 * 1000 * 1000;
}  // namespace

char* Communicator::Slot(int peer, uint32_t step) const {
  return bases_[static_cast<size_t>(peer)] + kControlBytes + (step & 1u) * options_.slot_bytes;
}

void Communicator::Wake(std::atomic<uint32_t>* word) {
  // Pairs with the waiter's increment + re-load (both seq_cst): either the waiter sees the new
  // value before sleeping, or this load sees the waiter.
  if (controls_[static_cast<size_t>(rank_)]->waiters.value.load(std::memory_order_seq_cst) != 0) {
    FutexWakeAll(word);
  }
}

StatusOr<char*> Communicator::BeginStep(const char* op) {
  // Before reusing slot[(step_ + 1) % 2], every peer must be done with step step_ - 1 (it used
  // the same slot); a peer that published step_ has finished reading everything of step_ - 1.
  for (int p = 0; p < size_; ++p) {
    if (p == rank_) continue;
    MC2_RETURN_IF_ERROR(WaitPeerStep(p, step_, op));
  }
  return Slot(rank_, step_ + 1);
}

void Communicator::PublishStep() {
  ++step_;
  std::atomic<uint32_t>& word = controls_[static_cast<size_t>(rank_)]->step.value;
  word.store(step_, std::memory_order_seq_cst);
  Wake(&word);
}

void Communicator::PublishChunk() {
  uint32_t& mine = chunks_seen_[static_cast<size_t>(rank_)];
  ++mine;
  std::atomic<uint32_t>& word = controls_[static_cast<size_t>(rank_)]->chunks.value;
  word.store(mine, std::memory_order_seq_cst);
  Wake(&word);
}

Status Communicator::WaitPeerChunk(int peer, uint32_t chunks, const char* op) {
  return WaitWord(peer, &controls_[static_cast<size_t>(peer)]->chunks.value, chunks, op);
}

Status Communicator::WaitPeerStep(int peer, uint32_t step, const char* op) {
  return WaitWord(peer, &controls_[static_cast<size_t>(peer)]->step.value, step, op);
}

Status Communicator::WaitAllSteps(uint32_t step, const char* op) {
  for (int i = 1; i < size_; ++i) {
    MC2_RETURN_IF_ERROR(WaitPeerStep((rank_ + i) % size_, step, op));
  }
  return Status::Ok();
}

Status Communicator::WaitWord(int peer, std::atomic<uint32_t>* word, uint32_t target,
                              const char* op) {
  if (SeqReached(word->load(std::memory_order_acquire), target)) return Status::Ok();
  const int64_t start = NowNs();
  int64_t now = start;
  const int64_t spin_ns = spin_ns_ + spin_extra_ns_;
  while (now - start < spin_ns) {
    for (int i = 0; i < 16; ++i) {
      CpuRelax();
      if (SeqReached(word->load(std::memory_order_acquire), target)) return Status::Ok();
    }
    now = NowNs();
  }
  std::atomic<uint32_t>& waiters = controls_[static_cast<size_t>(peer)]->waiters.value;
  int64_t deadline = start + options_.timeout_ms * 1000000;
  bool extended = false;
  // While sleeping, every communicator of this rank says whom it waits for (domain.h).
  domain_->PublishBlocked(1 + static_cast<uint32_t>(members_[static_cast<size_t>(peer)]));
  // A wait that fails leaves the word set: this rank stays "blocked on `peer`" until its next wait,
  // so a rank that times out on it while it reports (and, in an operator, aborts its other
  // communicators) still sees it as blocked by someone else and gives it the extension below
  // (without this, a peer whose deadline fell between our timeout and our abort blamed us).
  struct Unblock {
    Domain* domain;
    bool keep = false;
    ~Unblock() {
      if (!keep) domain->PublishBlocked(0);
    }
  } unblock{domain_.get()};
  const auto failed = [&unblock](Status st) {
    unblock.keep = true;
    return st;
  };
  for (;;) {
    waiters.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seen = word->load(std::memory_order_seq_cst);
    if (!SeqReached(seen, target)) {
      FutexWait(word, seen, std::min(kSleepSliceNs, std::max<int64_t>(deadline - now, 1)));
    }
    waiters.fetch_sub(1, std::memory_order_seq_cst);
    if (SeqReached(word->load(std::memory_order_acquire), target)) return Status::Ok();
    now = NowNs();
    if (now - last_liveness_check_ns_ >= kLivenessPeriodNs) {
      last_liveness_check_ns_ = now;
      if (Status st = CheckPeers(op); !st.ok()) return failed(std::move(st));
    }
    if (now >= deadline && !extended) {
      // A peer that is itself asleep waiting for another rank (in any of its communicators)
      // is not the one to blame: it times out too, at about the same time, and names the rank
      // it waited for, which reaches us through its abort flag. Give it half the timeout more,
      // once, so that the rank nearest to the fault reports first and the others repeat it.
      const uint32_t blocked = controls_[static_cast<size_t>(peer)]->blocked_on.value.load(std::memory_order_acquire);
      if (blocked != 0 && static_cast<int64_t>(blocked) - 1 != members_[static_cast<size_t>(rank_)]) {
        extended = true;
        deadline += options_.timeout_ms * 500000;
        continue;
      }
    }
    if (now >= deadline) {
      // A peer's own failure explains more than the timeout.
      if (Status st = CheckPeers(op); !st.ok()) return failed(std::move(st));
      return failed(Fail(HcclError(hccl::kETimeout, op, " on ", name_, ": ", RankName(peer),
                                   " did not arrive within ", options_.timeout_ms, " ms (MC2_COMM_TIMEOUT_MS)"),
                         members_[static_cast<size_t>(peer)]));
    }
  }
}

Status Communicator::CheckPeers(const char* op) {
  if (!failed_.ok()) return failed_;
  // A peer that failed cleanly exits afterwards, so a dead peer with its abort flag set is a
  // consequence; the cause is a dead peer that never raised its flag, or the rank a flag names.
  int failed_peer = -1;
  for (int p = 0; p < size_; ++p) {
    if (p == rank_) continue;
    const uint32_t abort = controls_[static_cast<size_t>(p)]->abort.value.load(std::memory_order_acquire);
    if (abort != 0) {
      if (failed_peer < 0) failed_peer = p;
      continue;
    }
    const int member = members_[static_cast<size_t>(p)];
    Status alive = domain_->CheckAlive(member);
    if (!alive.ok()) {
      const std::string who = sub_ ? StrCat("rank ", p, " (global rank ", member, ", ", domain_->Describe(member), ")")
                                   : StrCat("rank ", p, " (", domain_->Describe(member), ")");
      return Fail(HcclError(hccl::kERemote, op, " on ", name_, ": ", who, " is gone: ", alive.message()), member);
    }
  }
  if (failed_peer >= 0) {
    const ControlBlock* peer = controls_[static_cast<size_t>(failed_peer)];
    const uint32_t abort = peer->abort.value.load(std::memory_order_acquire);
    // 1: it failed for a reason of its own; 2 + g: because of domain rank g (Fail).
    const int64_t culprit = static_cast<int64_t>(abort) - 2;
    const int member = members_[static_cast<size_t>(failed_peer)];
    const bool named = culprit >= 0 && culprit < domain_->size();
    std::string cause = named && culprit != member ? StrCat(" because of ", DomainRankName(static_cast<int>(culprit)))
                                                   : std::string();
    // The peer wrote its reason before raising the flag (release / acquire); copy at most the
    // buffer, whatever it holds.
    char reason[kAbortReasonBytes];
    std::memcpy(reason, peer->reason, sizeof(reason));
    reason[sizeof(reason) - 1] = '\0';
    if (reason[0] != '\0') cause += StrCat(" [its error: ", reason, "]");
    return Fail(HcclError(hccl::kERemote, op, " on ", name_, ": ", RankName(failed_peer),
                          " failed and left the communicator", cause),
                named ? static_cast<int>(culprit) : member);
  }
  return Status::Ok();
}

Status Communicator::Fail(Status status, int culprit) {
  if (failed_.ok()) {
    failed_ = std::move(status);
    culprit_ = culprit;
    ControlBlock* own = controls_[static_cast<size_t>(rank_)];
    const std::string& text = failed_.message();
    const size_t n = std::min(text.size(), kAbortReasonBytes - 1);
    std::memcpy(own->reason, text.data(), n);
    own->reason[n] = '\0';
    // 1: failed for a reason of its own; 2 + g: because of domain rank g.
    own->abort.value.store(culprit >= 0 ? static_cast<uint32_t>(culprit) + 2 : 1,
                           std::memory_order_seq_cst);
    // Sleepers on our words re-check their peers when woken.
    FutexWakeAll(&own->step.value);
    for (SharedWord& s : own->signals) FutexWakeAll(&s.value);
  }
  return failed_;
}

std::string Communicator::RankName(int r) const {
  if (!sub_ || r < 0 || r >= size_) return StrCat("rank ", r);
  return StrCat("rank ", r, " (global rank ", members_[static_cast<size_t>(r)], ")");
}

std::string Communicator::DomainRankName(int domain_rank) const {
  const auto at = std::find(members_.begin(), members_.end(), domain_rank);
  if (at != members_.end()) return RankName(static_cast<int>(at - members_.begin()));
  return StrCat("global rank ", domain_rank, " (not in this group)");
}

void Communicator::AbortFrom(const Communicator& broken) {
  if (&broken == this || broken.failed_.ok() || !failed_.ok()) return;
  Status status(broken.failed_.space(), broken.failed_.code(),
                StrCat(name_, " is broken because ", broken.name_, " is: ", broken.failed_.message()));
  if (inter_) {
    (void)HierFail(std::move(status));
    return;
  }
  (void)Fail(std::move(status), broken.domain_ == domain_ ? broken.culprit_ : -1);
}

Status Communicator::Precheck(const char* op, DType dtype, bool need_reduce, ReduceOp op_kind) {
  fault::At(op, rank_);  // MC2_FAULT (core/fault.h): the collectives' entry
  if (!failed_.ok()) return failed_;
  if (!IsCommDType(dtype)) {
    return HcclError(hccl::kENotSupport, op, ": dtype ", DTypeName(dtype),
                     " is not supported (float32/16, bfloat16, float64, int8/32/64, uint8/64)");
  }
  if (need_reduce && (static_cast<int32_t>(op_kind) < 0 || static_cast<int32_t>(op_kind) > 3)) {
    return HcclError(hccl::kEPara, op, ": reduce op ", static_cast<int32_t>(op_kind),
                     " is not one of sum, prod, max, min");
  }
  return Status::Ok();
}

Status Communicator::Barrier() {
  if (!failed_.ok()) return failed_;
  if (inter_) return HierFail(inter_->Barrier());
  MC2_ASSIGN_OR_RETURN(char* slot, BeginStep("Barrier"));
  (void)slot;
  PublishStep();
  return WaitAllSteps(step_, "Barrier");
}

}  // namespace mc2::comm
