// trace: per-thread event buffers, the registry that outlives their threads, and the JSON writer.
#include "core/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace mc2::trace {
namespace internal {
std::atomic<bool> g_enabled{false};
}  // namespace internal

namespace {

struct ThreadBuffer {
  std::mutex mutex;
  std::vector<Event> events;
  uint64_t dropped = 0;
  uint32_t tid = 0;
};

struct Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  uint32_t next_tid = 1;
};

Registry& GetRegistry() {
  static Registry* registry = new Registry();  // never destroyed: threads may record during exit
  return *registry;
}

int RankFromEnvironment() {
  const char* value = std::getenv("MC2_RANK");
  if (value == nullptr || *value == '\0') return 0;
  char* end = nullptr;
  long rank = std::strtol(value, &end, 10);
  if (*end != '\0' || rank < 0 || rank > (1 << 20)) return 0;
  return static_cast<int>(rank);
}

std::atomic<int> g_process_rank{-1};  // -1: not set yet, read MC2_RANK on first use
thread_local int t_rank = -1;
thread_local std::shared_ptr<ThreadBuffer> t_buffer;

ThreadBuffer& ThisThreadBuffer() {
  if (!t_buffer) {
    auto buffer = std::make_shared<ThreadBuffer>();
    Registry& registry = GetRegistry();
    std::lock_guard<std::mutex> lock(registry.mutex);
    buffer->tid = registry.next_tid++;
    registry.buffers.push_back(buffer);
    t_buffer = std::move(buffer);
  }
  return *t_buffer;
}

void AppendEscaped(std::string& out, const char* s) {
  for (; *s != '\0'; ++s) {
    unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Nanoseconds as microseconds with three decimals: Chrome's ts/dur unit, keeping ns resolution.
void AppendMicros(std::string& out, int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ns / 1000),
                static_cast<long long>(ns % 1000));
  out += buf;
}

}  // namespace

const char* CategoryName(Category category) {
  switch (category) {
    case Category::kCompute: return "compute";
    case Category::kComm: return "comm";
    case Category::kReduce: return "reduce";
    case Category::kNorm: return "norm";
    case Category::kWait: return "wait";
    case Category::kOther: return "other";
  }
  return "other";
}

void Enable() { internal::g_enabled.store(true, std::memory_order_relaxed); }
void Disable() { internal::g_enabled.store(false, std::memory_order_relaxed); }

void SetProcessRank(int rank) { g_process_rank.store(rank < 0 ? 0 : rank, std::memory_order_relaxed); }
void SetThreadRank(int rank) { t_rank = rank; }

int CurrentRank() {
  if (t_rank >= 0) return t_rank;
  int rank = g_process_rank.load(std::memory_order_relaxed);
  if (rank < 0) {
    rank = RankFromEnvironment();
    g_process_rank.store(rank, std::memory_order_relaxed);
  }
  return rank;
}

RankScope::RankScope(int rank) : previous_(t_rank) { t_rank = rank; }
RankScope::~RankScope() { t_rank = previous_; }

void internal::Record(const char* name, Category category, int64_t begin_ns, int64_t end_ns, int32_t index) {
  ThreadBuffer& buffer = ThisThreadBuffer();
  Event event{name, category, CurrentRank(), buffer.tid, begin_ns, end_ns, index};
  std::lock_guard<std::mutex> lock(buffer.mutex);
  if (buffer.events.size() >= kMaxEventsPerThread) {
    ++buffer.dropped;
    return;
  }
  buffer.events.push_back(event);
}

std::vector<Event> TakeEvents() {
  std::vector<Event> all;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (auto& buffer : registry.buffers) {
    std::lock_guard<std::mutex> buffer_lock(buffer->mutex);
    all.insert(all.end(), buffer->events.begin(), buffer->events.end());
    buffer->events.clear();
    buffer->events.shrink_to_fit();
  }
  // A buffer only the registry still holds belongs to a thread that has exited: now drained,
  // it can go (its dropped count is kept until DroppedEvents() is asked).
  std::erase_if(registry.buffers, [](const std::shared_ptr<ThreadBuffer>& buffer) {
    return buffer.use_count() == 1 && buffer->dropped == 0;
  });
  std::stable_sort(all.begin(), all.end(),
                   [](const Event& a, const Event& b) { return a.begin_ns < b.begin_ns; });
  return all;
}

uint64_t DroppedEvents() {
  uint64_t dropped = 0;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (auto& buffer : registry.buffers) {
    std::lock_guard<std::mutex> buffer_lock(buffer->mutex);
    dropped += buffer->dropped;
    buffer->dropped = 0;
  }
  return dropped;
}

std::string ToChromeJson(const std::vector<Event>& events) {
  int64_t origin = 0;
  if (!events.empty()) {
    origin = events.front().begin_ns;
    for (const Event& e : events) origin = std::min(origin, e.begin_ns);
  }
  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
  bool first = true;
  auto separator = [&] {
    if (!first) out += ",";
    out += "\n";
    first = false;
  };
  // Metadata: name each rank's track group and each thread's track once.
  std::vector<std::pair<int32_t, uint32_t>> seen;
  for (const Event& e : events) seen.emplace_back(e.rank, e.tid);
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  int32_t last_rank = -1;
  for (const auto& [rank, tid] : seen) {
    if (rank != last_rank) {
      separator();
      out += StrCat("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":", rank,
                    ",\"tid\":0,\"args\":{\"name\":\"rank ", rank, "\"}}");
      separator();
      out += StrCat("{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":", rank,
                    ",\"tid\":0,\"args\":{\"sort_index\":", rank, "}}");
      last_rank = rank;
    }
    separator();
    out += StrCat("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":", rank, ",\"tid\":", tid,
                  ",\"args\":{\"name\":\"thread ", tid, "\"}}");
  }
  for (const Event& e : events) {
    separator();
    out += "{\"ph\":\"X\",\"name\":\"";
    AppendEscaped(out, e.name);
    out += "\",\"cat\":\"";
    out += CategoryName(e.category);
    out += StrCat("\",\"pid\":", e.rank, ",\"tid\":", e.tid, ",\"ts\":");
    AppendMicros(out, e.begin_ns - origin);
    out += ",\"dur\":";
    AppendMicros(out, std::max<int64_t>(0, e.end_ns - e.begin_ns));
    if (e.index >= 0) out += StrCat(",\"args\":{\"chunk\":", e.index, "}");
    out += "}";
  }
  out += "\n]}\n";
  return out;
}

Status WriteChromeJson(const std::string& path, const std::vector<Event>& events) {
  std::string json = ToChromeJson(events);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return AclError(acl::kErrInvalidParam, "trace path '", path, "': cannot open for writing (",
                    std::strerror(errno), ")");
  }
  size_t written = std::fwrite(json.data(), 1, json.size(), file);
  int closed = std::fclose(file);
  if (written != json.size() || closed != 0) {
    return AclError(acl::kErrFailure, "trace path '", path, "': short write (", written, " of ",
                    json.size(), " bytes)");
  }
  return Status::Ok();
}

}  // namespace mc2::trace
