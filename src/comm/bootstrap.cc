#include "comm/bootstrap.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "comm/wait.h"

namespace mc2::comm {
namespace {

constexpr uint32_t kHelloMagic = 0x4d433248;    // "MC2H"
constexpr uint32_t kWelcomeMagic = 0x4d433257;  // "MC2W"
constexpr uint32_t kVersion = 1;

template <typename T>
void Put(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
template <typename T>
T Get(const uint8_t* data, size_t at) {
  T v;
  std::memcpy(&v, data + at, sizeof(T));
  return v;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }
  int release() { const int f = fd_; fd_ = -1; return f; }
 private:
  int fd_;
};

void CloseAll(std::vector<int>& fds) {
  for (int& f : fds) {
    if (f >= 0) close(f);
    f = -1;
  }
}

sockaddr_un AbstractAddress(const RootInfo& info, socklen_t* len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // sun_path[0] = 0 selects the abstract namespace; the name is not NUL-terminated.
  std::memcpy(addr.sun_path + 1, info.socket_name.data(), info.socket_name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + info.socket_name.size());
  return addr;
}

int64_t RemainingMs(int64_t deadline_ns) {
  const int64_t left = (deadline_ns - NowNs()) / 1000000;
  return left < 0 ? 0 : left;
}

// Waits for `events` on fd until the deadline. False on timeout.
bool PollFor(int fd, short events, int64_t deadline_ns) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int64_t ms = RemainingMs(deadline_ns);
    const int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

Status SendWithFds(int sock, const std::vector<uint8_t>& bytes, const int* fds, size_t nfds) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * (nfds == 0 ? 1 : nfds)), 0);
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  for (;;) {
    const ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return Status::Ok();
    if (n < 0 && errno == EINTR) continue;
    return HcclError(hccl::kETcpTransfer, "bootstrap: sendmsg failed: ",
                     n < 0 ? std::strerror(errno) : "short write");
  }
}

// Receives one message (at most max_bytes) and up to max_fds descriptors.
Status RecvWithFds(int sock, size_t max_bytes, size_t max_fds, int64_t deadline_ns,
                   std::vector<uint8_t>* bytes, std::vector<int>* fds) {
  if (!PollFor(sock, POLLIN, deadline_ns)) {
    return HcclError(hccl::kETimeout, "bootstrap: no message before the deadline");
  }
  bytes->assign(max_bytes + 1, 0);  // one spare byte detects an oversized message
  iovec iov{bytes->data(), bytes->size()};
  std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * max_fds), 0);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  fds->clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int f;
        std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds->push_back(f);
      }
    }
  }
  if (n <= 0) {
    CloseAll(*fds);
    return HcclError(hccl::kERemote, "bootstrap: peer closed the connection",
                     n < 0 ? StrCat(" (", std::strerror(errno), ")") : std::string());
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || static_cast<size_t>(n) > max_bytes) {
    CloseAll(*fds);
    return HcclError(hccl::kEPara, "bootstrap: oversized message or too many descriptors");
  }
  bytes->resize(static_cast<size_t>(n));
  return Status::Ok();
}

bool SameSecret(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < kSecretBytes; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

void Refuse(int sock, int32_t status, const std::string& reason) {
  WelcomeMsg w;
  w.status = status;
  w.reason = reason;
  (void)SendWithFds(sock, SerializeWelcome(w), nullptr, 0);
}

}  // namespace

std::vector<uint8_t> SerializeHello(const HelloMsg& hello) {
  std::vector<uint8_t> out;
  Put(out, kHelloMagic);
  Put(out, kVersion);
  Put(out, hello.rank);
  Put(out, hello.nranks);
  Put(out, hello.segment_bytes);
  out.insert(out.end(), hello.secret, hello.secret + kSecretBytes);
  return out;
}

StatusOr<HelloMsg> ParseHello(const uint8_t* data, size_t bytes) {
  if (data == nullptr || bytes != kHelloBytes) {
    return HcclError(hccl::kEPara, "hello: ", bytes, " bytes (need ", kHelloBytes, ")");
  }
  if (Get<uint32_t>(data, 0) != kHelloMagic || Get<uint32_t>(data, 4) != kVersion) {
    return HcclError(hccl::kEPara, "hello: bad magic or version");
  }
  HelloMsg h;
  h.rank = Get<uint32_t>(data, 8);
  h.nranks = Get<uint32_t>(data, 12);
  h.segment_bytes = Get<uint64_t>(data, 16);
  std::memcpy(h.secret, data + 24, kSecretBytes);
  if (h.nranks < 2 || h.nranks > static_cast<uint32_t>(kMaxProcessRanks)) {
    return HcclError(hccl::kEPara, "hello: nranks is ", h.nranks, " (must be in [2, ",
                     kMaxProcessRanks, "])");
  }
  if (h.rank < 1 || h.rank >= h.nranks) {
    return HcclError(hccl::kEPara, "hello: rank is ", h.rank, " (must be in [1, ", h.nranks, "))");
  }
  if (h.segment_bytes == 0 || h.segment_bytes > (uint64_t{1} << 40) || h.segment_bytes % 4096 != 0) {
    return HcclError(hccl::kEPara, "hello: segment size ", h.segment_bytes, " is not a page multiple below 1 TiB");
  }
  return h;
}

std::vector<uint8_t> SerializeWelcome(const WelcomeMsg& welcome) {
  std::vector<uint8_t> out;
  Put(out, kWelcomeMagic);
  Put(out, welcome.status);
  Put(out, welcome.nranks);
  Put(out, static_cast<uint32_t>(welcome.pids.size()));
  Put(out, welcome.segment_bytes);
  char reason[128] = {};
  std::memcpy(reason, welcome.reason.data(), std::min<size_t>(welcome.reason.size(), 127));
  out.insert(out.end(), reason, reason + 128);
  for (int32_t pid : welcome.pids) Put(out, pid);
  return out;
}

StatusOr<WelcomeMsg> ParseWelcome(const uint8_t* data, size_t bytes) {
  if (data == nullptr || bytes < kWelcomeHeaderBytes) {
    return HcclError(hccl::kEPara, "welcome: ", bytes, " bytes (need at least ", kWelcomeHeaderBytes, ")");
  }
  if (Get<uint32_t>(data, 0) != kWelcomeMagic) return HcclError(hccl::kEPara, "welcome: bad magic");
  WelcomeMsg w;
  w.status = Get<int32_t>(data, 4);
  w.nranks = Get<uint32_t>(data, 8);
  const uint32_t npids = Get<uint32_t>(data, 12);
  w.segment_bytes = Get<uint64_t>(data, 16);
  const char* reason = reinterpret_cast<const char*>(data + 24);
  w.reason.assign(reason, strnlen(reason, 127));
  if (w.status != 0) return w;
  if (w.nranks < 2 || w.nranks > static_cast<uint32_t>(kMaxProcessRanks) || npids != w.nranks) {
    return HcclError(hccl::kEPara, "welcome: nranks ", w.nranks, " with ", npids, " pids");
  }
  if (bytes != kWelcomeHeaderBytes + 4 * static_cast<size_t>(npids)) {
    return HcclError(hccl::kEPara, "welcome: ", bytes, " bytes for ", npids, " pids");
  }
  for (uint32_t i = 0; i < npids; ++i) {
    const int32_t pid = Get<int32_t>(data, kWelcomeHeaderBytes + 4 * i);
    if (pid <= 0) return HcclError(hccl::kEPara, "welcome: pid ", pid, " of rank ", i, " is invalid");
    w.pids.push_back(pid);
  }
  return w;
}

StatusOr<JoinResult> BootstrapRoot(const RootInfo& info, int nranks, int own_fd,
                                   uint64_t segment_bytes, int64_t timeout_ms) {
  const int64_t deadline = NowNs() + timeout_ms * 1000000;
  Fd listener(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return HcclError(hccl::kESyscall, "bootstrap: socket: ", std::strerror(errno));
  socklen_t len;
  const sockaddr_un addr = AbstractAddress(info, &len);
  if (bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    return HcclError(hccl::kEUnavail, "bootstrap: cannot listen on the root info's socket (",
                     std::strerror(errno), "); was this root info used twice?");
  }
  if (listen(listener.get(), 256) != 0) return HcclError(hccl::kESyscall, "bootstrap: listen: ", std::strerror(errno));

  JoinResult result;
  result.fds.assign(static_cast<size_t>(nranks), -1);
  result.pids.assign(static_cast<size_t>(nranks), 0);
  std::vector<int> conns(static_cast<size_t>(nranks), -1);
  result.fds[0] = fcntl(own_fd, F_DUPFD_CLOEXEC, 0);
  result.pids[0] = getpid();
  int joined = 1;
  Status failure;
  while (joined < nranks) {
    if (!PollFor(listener.get(), POLLIN, deadline)) {
      std::string missing;
      for (int r = 1; r < nranks; ++r) {
        if (conns[static_cast<size_t>(r)] < 0) missing += StrCat(missing.empty() ? "" : ", ", r);
      }
      failure = HcclError(hccl::kETimeout, "bootstrap: rank(s) ", missing, " did not join within ",
                          timeout_ms, " ms");
      break;
    }
    Fd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.get() < 0) continue;
    ucred cred{};
    socklen_t cred_len = sizeof(cred);
    if (getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 || cred.uid != info.uid) {
      Refuse(conn.get(), hccl::kEPara, "refused: the peer runs as another user");
      continue;
    }
    std::vector<uint8_t> bytes;
    std::vector<int> fds;
    // A peer gets a few seconds to say hello, so a silent connection cannot stall the job.
    const int64_t hello_deadline = std::min(deadline, NowNs() + int64_t{5} * 1000000000);
    if (!RecvWithFds(conn.get(), kHelloBytes, 1, hello_deadline, &bytes, &fds).ok()) continue;
    auto hello = ParseHello(bytes.data(), bytes.size());
    std::string reason;
    if (!hello.ok()) {
      reason = hello.status().message();
    } else if (!SameSecret(hello->secret, info.secret.data())) {
      reason = "refused: wrong secret (root info of another job?)";
    } else if (static_cast<int>(hello->nranks) != nranks) {
      reason = StrCat("refused: nranks ", hello->nranks, " but the root has ", nranks);
    } else if (hello->segment_bytes != segment_bytes) {
      reason = StrCat("refused: segment of ", hello->segment_bytes, " bytes but the root uses ",
                      segment_bytes, " (MC2_COMM_* options differ)");
    } else if (conns[hello->rank] >= 0) {
      reason = StrCat("refused: rank ", hello->rank, " joined twice");
    } else if (fds.size() != 1) {
      reason = "refused: no memory descriptor attached";
    }
    if (!reason.empty()) {
      CloseAll(fds);
      Refuse(conn.get(), hccl::kEPara, reason);
      continue;
    }
    conns[hello->rank] = conn.release();
    result.fds[hello->rank] = fds[0];
    result.pids[hello->rank] = cred.pid;
    ++joined;
  }
  if (failure.ok()) {
    WelcomeMsg w;
    w.nranks = static_cast<uint32_t>(nranks);
    w.segment_bytes = segment_bytes;
    for (pid_t p : result.pids) w.pids.push_back(static_cast<int32_t>(p));
    const std::vector<uint8_t> bytes = SerializeWelcome(w);
    for (int r = 1; r < nranks && failure.ok(); ++r) {
      failure = SendWithFds(conns[static_cast<size_t>(r)], bytes, result.fds.data(), result.fds.size());
    }
  }
  for (int& c : conns) {
    if (c >= 0) close(c);
  }
  if (!failure.ok()) {
    CloseAll(result.fds);
    return failure;
  }
  return result;
}

StatusOr<JoinResult> BootstrapJoin(const RootInfo& info, int nranks, int rank, int own_fd,
                                   uint64_t segment_bytes, int64_t timeout_ms) {
  const int64_t deadline = NowNs() + timeout_ms * 1000000;
  socklen_t len;
  const sockaddr_un addr = AbstractAddress(info, &len);
  Fd sock;
  for (;;) {
    Fd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (s.get() < 0) return HcclError(hccl::kESyscall, "bootstrap: socket: ", std::strerror(errno));
    if (connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0) {
      sock.reset(s.release());
      break;
    }
    if (errno != ECONNREFUSED && errno != ENOENT && errno != EAGAIN && errno != EINTR) {
      return HcclError(hccl::kETcpConnect, "bootstrap: rank ", rank, " cannot reach rank 0: ",
                       std::strerror(errno));
    }
    if (NowNs() >= deadline) {
      return HcclError(hccl::kETimeout, "bootstrap: rank ", rank, " found no root (rank 0) within ",
                       timeout_ms, " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ucred cred{};
  socklen_t cred_len = sizeof(cred);
  if (getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 || cred.uid != info.uid ||
      cred.uid != getuid()) {
    return HcclError(hccl::kEPara, "bootstrap: the process behind the root socket runs as another user");
  }
  HelloMsg hello;
  hello.rank = static_cast<uint32_t>(rank);
  hello.nranks = static_cast<uint32_t>(nranks);
  hello.segment_bytes = segment_bytes;
  std::memcpy(hello.secret, info.secret.data(), kSecretBytes);
  MC2_RETURN_IF_ERROR(SendWithFds(sock.get(), SerializeHello(hello), &own_fd, 1));
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  Status got = RecvWithFds(sock.get(), kWelcomeHeaderBytes + 4 * kMaxProcessRanks,
                           static_cast<size_t>(kMaxProcessRanks), deadline, &bytes, &fds);
  if (!got.ok()) return got.Prepend(StrCat("bootstrap: rank ", rank, " waiting for rank 0"));
  auto welcome = ParseWelcome(bytes.data(), bytes.size());
  if (!welcome.ok() || welcome->status != 0 || static_cast<int>(welcome->nranks) != nranks ||
      welcome->segment_bytes != segment_bytes || fds.size() != static_cast<size_t>(nranks)) {
    CloseAll(fds);
    if (!welcome.ok()) return welcome.status();
    if (welcome->status != 0) {
      return HcclError(welcome->status, "bootstrap: rank 0 refused rank ", rank, ": ", welcome->reason);
    }
    return HcclError(hccl::kEPara, "bootstrap: rank 0's welcome does not match (nranks ",
                     welcome->nranks, ", ", fds.size(), " descriptors)");
  }
  JoinResult result;
  result.fds = std::move(fds);
  for (int32_t p : welcome->pids) result.pids.push_back(static_cast<pid_t>(p));
  return result;
}

}  // namespace mc2::comm
