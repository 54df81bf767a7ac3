// Communicator construction, sub-communicators and the symmetric-memory API. The step machinery
// is in step.cc, the algorithms in allreduce.cc, gather.cc and alltoall.cc.
#include "comm/communicator.h"

#include <algorithm>
#include <cstring>

#include "comm/control_block.h"

namespace mc2::comm {

size_t CommElementBytes(DType dtype) {
  if (!IsCommDType(dtype)) return 0;
  return static_cast<size_t>(DTypeBits(dtype) / 8);
}

size_t Communicator::SegmentBytes(const CommOptions& options) {
  const size_t raw = kControlBytes + 2 * options.slot_bytes + options.symmetric_bytes;
  return (raw + 4095) & ~size_t{4095};
}

StatusOr<std::unique_ptr<Communicator>> Communicator::Create(std::shared_ptr<Domain> domain,
                                                             std::vector<int> members,
                                                             const std::vector<uint64_t>& handles,
                                                             Segment own,
                                                             const CommOptions& options,
                                                             std::string name) {
  const int n = static_cast<int>(members.size());
  if (n < 1 || n > kMaxRanks || handles.size() != members.size()) {
    return HcclError(hccl::kEPara, "communicator: ", n, " members and ", handles.size(),
                     " handles (need 1..", kMaxRanks, " and one handle each)");
  }
  const auto self = std::find(members.begin(), members.end(), domain->rank());
  if (self == members.end()) {
    return HcclError(hccl::kEPara, "communicator: rank ", domain->rank(), " is not a member");
  }
  std::unique_ptr<Communicator> comm(new Communicator());
  comm->domain_ = std::move(domain);
  comm->rank_ = static_cast<int>(self - members.begin());
  comm->size_ = n;
  comm->members_ = std::move(members);
  comm->sub_ = n != comm->domain_->size();
  for (int i = 0; i < n; ++i) comm->sub_ = comm->sub_ || comm->members_[static_cast<size_t>(i)] != i;
  comm->name_ = std::move(name);
  comm->options_ = options;
  comm->own_ = own;
  const int local_ranks = comm->domain_->size();
  comm->spin_ns_ = options.spin_us >= 0 ? options.spin_us * 1000
                                        : (local_ranks > RankCpus() ? 2000 : 50000);
  const size_t bytes = SegmentBytes(options);
  if (own.bytes < bytes) {
    return HcclError(hccl::kEInternal, "communicator: own segment has ", own.bytes,
                     " bytes, need ", bytes);
  }
  comm->bases_.assign(static_cast<size_t>(n), nullptr);
  for (int i = 0; i < n; ++i) {
    if (i == comm->rank_) {
      comm->bases_[static_cast<size_t>(i)] = own.ptr;
      continue;
    }
    auto mapped = comm->domain_->Map(comm->members_[static_cast<size_t>(i)],
                                     handles[static_cast<size_t>(i)], bytes);
    if (!mapped.ok()) {
      Status s = mapped.status();
      return s.Prepend(StrCat("communicator ", comm->name_, ": rank ", i));
    }
    comm->bases_[static_cast<size_t>(i)] = *mapped;
  }
  for (char* base : comm->bases_) comm->controls_.push_back(reinterpret_cast<ControlBlock*>(base));
  comm->domain_->AddBlockedWord(&comm->controls_[static_cast<size_t>(comm->rank_)]->blocked_on.value);
  comm->step_ = comm->controls_[static_cast<size_t>(comm->rank_)]->step.value.load();
  comm->chunks_seen_.assign(static_cast<size_t>(n), 0);
  comm->chunks_seen_[static_cast<size_t>(comm->rank_)] =
      comm->controls_[static_cast<size_t>(comm->rank_)]->chunks.value.load();
  return comm;
}

Communicator::~Communicator() {
  if (!controls_.empty()) domain_->RemoveBlockedWord(&controls_[static_cast<size_t>(rank_)]->blocked_on.value);
  const size_t bytes = SegmentBytes(options_);
  for (int i = 0; i < static_cast<int>(bases_.size()); ++i) {
    if (i != rank_ && bases_[static_cast<size_t>(i)] != nullptr) {
      domain_->Unmap(members_[static_cast<size_t>(i)], bases_[static_cast<size_t>(i)], bytes);
    }
  }
}

char* Communicator::SymmetricBuffer(int peer) const {
  if (peer < 0 || peer >= size_ || options_.symmetric_bytes == 0) return nullptr;
  if (inter_) {
    const int local = inter_->LocalRankOf(peer);
    return local < 0 ? nullptr : local_->SymmetricBuffer(local);
  }
  return bases_[static_cast<size_t>(peer)] + kControlBytes + 2 * options_.slot_bytes;
}

Status Communicator::Signal(int segment, uint32_t seq) {
  if (!failed_.ok()) return failed_;
  if (segment < 0 || segment >= kMaxSignals) {
    return HcclError(hccl::kEPara, "Signal: segment is ", segment, " (must be in [0, ",
                     kMaxSignals, "))");
  }
  if (inter_) return local_->Signal(segment, seq);
  std::atomic<uint32_t>& word = controls_[static_cast<size_t>(rank_)]->signals[segment].value;
  word.store(seq, std::memory_order_seq_cst);
  Wake(&word);
  return Status::Ok();
}

Status Communicator::WaitSignal(int peer, int segment, uint32_t seq) {
  if (!failed_.ok()) return failed_;
  if (peer < 0 || peer >= size_) {
    return HcclError(hccl::kEPara, "WaitSignal: peer is ", peer, " (must be in [0, ", size_, "))");
  }
  if (segment < 0 || segment >= kMaxSignals) {
    return HcclError(hccl::kEPara, "WaitSignal: segment is ", segment, " (must be in [0, ",
                     kMaxSignals, "))");
  }
  if (inter_) {
    const int local = inter_->LocalRankOf(peer);
    if (local < 0) {
      return HcclError(hccl::kENotSupport, "WaitSignal: rank ", peer,
                       " is on another machine (signals work between ranks of one machine)");
    }
    return local_->WaitSignal(local, segment, seq);
  }
  return WaitWord(peer, &controls_[static_cast<size_t>(peer)]->signals[segment].value, seq,
                  "WaitSignal");
}

namespace {
uint64_t HashRanks(const std::vector<int>& ranks) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(ranks.size());
  for (int r : ranks) mix(static_cast<uint64_t>(static_cast<uint32_t>(r)));
  return h;
}
}  // namespace

StatusOr<std::unique_ptr<Communicator>> Communicator::CreateSub(const std::vector<int>& ranks) {
  if (!failed_.ok()) return failed_;
  if (inter_) return inter_->CreateSub(ranks, options_);
  const bool member = !ranks.empty();
  std::string problem;
  if (member) {
    std::vector<int> sorted = ranks;
    std::sort(sorted.begin(), sorted.end());
    if (sorted.front() < 0 || sorted.back() >= size_) {
      problem = StrCat("rank list holds ", sorted.front() < 0 ? sorted.front() : sorted.back(),
                       " (ranks must be in [0, ", size_, "))");
    } else if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      problem = "rank list holds a rank twice";
    } else if (!std::binary_search(sorted.begin(), sorted.end(), rank_)) {
      problem = StrCat("rank list does not hold the calling rank ", rank_);
    }
  }
  Segment segment;
  if (member && problem.empty()) {
    auto allocated = domain_->Allocate(SegmentBytes(options_));
    if (!allocated.ok()) {
      problem = allocated.status().ToString();
    } else {
      segment = *allocated;
    }
  }
  // Every rank takes part in the exchange, even with a bad list, so that all of them fail
  // together instead of some waiting for the others until the timeout.
  int64_t mine[3] = {problem.empty() ? (member ? 1 : 0) : -1,
                     static_cast<int64_t>(HashRanks(ranks)), static_cast<int64_t>(segment.handle)};
  std::vector<int64_t> all(static_cast<size_t>(size_) * 3);
  MC2_RETURN_IF_ERROR(AllGather(mine, all.data(), 3, DType::kInt64));
  if (!problem.empty()) return HcclError(hccl::kEPara, "CreateSub: ", problem);
  for (int p = 0; p < size_; ++p) {
    if (all[static_cast<size_t>(p) * 3] < 0) {
      return HcclError(hccl::kEPara, "CreateSub: rank ", p, " passed an invalid rank list");
    }
  }
  if (!member) return std::unique_ptr<Communicator>();
  std::vector<int> sub_members;
  std::vector<uint64_t> handles;
  for (int r : ranks) {
    const size_t at = static_cast<size_t>(r) * 3;
    if (all[at] != 1 || all[at + 1] != mine[1]) {
      return HcclError(hccl::kEPara, "CreateSub: rank ", r,
                       " is in this rank's list but passed a different list");
    }
    sub_members.push_back(members_[static_cast<size_t>(r)]);
    handles.push_back(static_cast<uint64_t>(all[at + 2]));
  }
  std::string sub_name = StrCat(name_, "/sub", static_cast<uint64_t>(mine[1]) % 100000);
  return Create(domain_, std::move(sub_members), handles, segment, options_, std::move(sub_name));
}

}  // namespace mc2::comm
