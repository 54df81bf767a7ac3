// trace: a per-rank timeline recorder, written out as Chrome / Perfetto trace JSON.
//
// Shape, and why:
//   - Off by default, and then a span costs one relaxed atomic load: the fused operators' Execute
//     paths carry their spans permanently, so the disabled cost must stay below the noise of a
//     ~10 us collective step. Nothing is allocated and no clock is read while tracing is off.
//   - On, a span reads steady_clock twice (~20 ns each with the vDSO) and appends one 40-byte
//     event to a buffer owned by its thread; the buffer's mutex is only ever contended while
//     TakeEvents() drains it, so recording is an uncontended lock, not a shared queue.
//   - Buffers outlive their threads (the registry holds them), so the spans of rank threads and
//     pool workers that have exited are still written. A thread keeps at most kMaxEventsPerThread
//     events; later ones are counted in DroppedEvents() instead of growing without bound.
//   - Timestamps are CLOCK_MONOTONIC (std::chrono::steady_clock on Linux), which every process of
//     a host shares, so the event lists of forked ranks can be merged into one timeline.
//   - The rank of a span is the calling thread's rank (RankScope / SetThreadRank), else the
//     process's rank (SetProcessRank, or MC2_RANK from the launcher), else 0. In the JSON,
//     pid = rank and tid = a small per-process thread number, so Perfetto shows one track group
//     per rank with one track per thread, and the category colours compute against communication.
//
// Use:
//   MC2_TRACE_SCOPE("arn.matmul", kCompute);     // one span, from here to the end of the block
//   trace::Enable(); ... run ...; trace::WriteChromeJson("t.json", trace::TakeEvents());
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace mc2::trace {

// What a span spends its time on. kWait = blocked on a peer (a flag, a barrier), not moving data.
enum class Category : uint8_t { kCompute = 0, kComm, kReduce, kNorm, kWait, kOther };

// "compute", "comm", "reduce", "norm", "wait", "other".
const char* CategoryName(Category category);

struct Event {
  const char* name;  // a string literal: spans never own their names
  Category category;
  int32_t rank;
  uint32_t tid;      // the per-process thread number (1, 2, ...) of the recording thread
  int64_t begin_ns;  // steady_clock, absolute
  int64_t end_ns;
  int32_t index = -1;  // the chunk / block / expert the span works on, or -1 (JSON args.chunk)
};

inline constexpr size_t kMaxEventsPerThread = size_t{1} << 20;

namespace internal {
extern std::atomic<bool> g_enabled;
void Record(const char* name, Category category, int64_t begin_ns, int64_t end_ns, int32_t index);
}  // namespace internal

inline bool Enabled() { return internal::g_enabled.load(std::memory_order_relaxed); }
void Enable();
void Disable();

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The rank recorded for spans of threads that have no rank of their own. Default: the MC2_RANK
// environment variable if it is a number, else 0.
void SetProcessRank(int rank);
// The rank recorded for this thread's spans; a negative rank falls back to the process's.
void SetThreadRank(int rank);
int CurrentRank();

// Sets this thread's rank for the lifetime of the object, restoring the previous one after.
class RankScope {
 public:
  explicit RankScope(int rank);
  ~RankScope();
  RankScope(const RankScope&) = delete;
  RankScope& operator=(const RankScope&) = delete;

 private:
  int previous_;
};

// One span, optionally of one chunk (`index` >= 0). Records nothing if tracing was off when it
// began; off, construction is one relaxed load and nothing else (no clock, no allocation).
class Scope {
 public:
  Scope(const char* name, Category category, int64_t index = -1)
      : name_(name), category_(category), index_(static_cast<int32_t>(index)),
        begin_ns_(Enabled() ? NowNs() : -1) {}
  ~Scope() { End(); }
  // Closes the span now (recorded once; the destructor then does nothing).
  void End() {
    if (begin_ns_ >= 0) internal::Record(name_, category_, begin_ns_, NowNs(), index_);
    begin_ns_ = -1;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  Category category_;
  int32_t index_;
  int64_t begin_ns_;
};

// Moves every recorded event out of every thread's buffer, ordered by begin time.
// Spans still open are not included (they record when they close).
std::vector<Event> TakeEvents();
// Events dropped because a thread's buffer was full, since the last TakeEvents().
uint64_t DroppedEvents();

// The Chrome trace-event JSON ({"traceEvents": [...]}) of `events`: one complete ("X") event per
// span with ts/dur in microseconds from the earliest event, pid = rank, tid = thread, cat = the
// category, args.chunk = the span's index when it has one, plus process_name / thread_name metadata ("rank 0", "thread 1").
std::string ToChromeJson(const std::vector<Event>& events);
Status WriteChromeJson(const std::string& path, const std::vector<Event>& events);

}  // namespace mc2::trace

#define MC2_TRACE_CONCAT_INNER_(a, b) a##b
#define MC2_TRACE_CONCAT_(a, b) MC2_TRACE_CONCAT_INNER_(a, b)

// MC2_TRACE_SCOPE("name", kCompute): a span over the rest of the enclosing block. The category is
// one of Category's enumerators, unqualified: kCompute, kComm, kReduce, kNorm, kWait, kOther.
#define MC2_TRACE_SCOPE(name, category) \
  ::mc2::trace::Scope MC2_TRACE_CONCAT_(mc2_trace_scope_, __LINE__)(name, ::mc2::trace::Category::category)
// MC2_TRACE_CHUNK("name", kCompute, i): the same, for chunk (block, expert) i of a fused operator.
#define MC2_TRACE_CHUNK(name, category, index)                                                     \
  ::mc2::trace::Scope MC2_TRACE_CONCAT_(mc2_trace_scope_, __LINE__)(name, ::mc2::trace::Category::category, \
                                                                     index)
