// Isolation of the process transport (issue 8): who may join a communicator and what a hostile
// peer can do to it.
//   - A process of another user (this binary re-run through setpriv as 'nobody') is refused by
//     SO_PEERCRED, on both sides, and cannot open the root's memfd through /proc. Needs root to
//     switch users: skipped, saying so, otherwise.
//   - A joiner with a wrong secret, and malformed, oversized or inconsistent hello messages (with
//     and without descriptors attached) are refused one by one; the root neither crashes nor leaks
//     a descriptor, and the real rank 1 then joins and an AllReduce gives the right sum.
//   - A fake root that answers with malformed welcomes (and stray descriptors) makes the joiner
//     fail with an error, without leaking the descriptors.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "comm/bootstrap.h"
#include "comm/process_transport.h"
#include "comm/root_info.h"

namespace mc2::comm {
namespace {

constexpr char kIntruderEnv[] = "MC2_ISOLATION_INTRUDER";  // "<root info hex> <root pid> <memfd>"

int FdCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n - 1;  // the directory's own descriptor
}

// The descriptor number of this process's first mc2 memfd, or -1.
int OwnMemfd() {
  for (int fd = 0; fd < 1024; ++fd) {
    char link[256] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = readlink(path.c_str(), link, sizeof(link) - 1);
    if (n > 0 && std::strstr(link, "memfd:mc2-comm") != nullptr) return fd;
  }
  return -1;
}

CommOptions Options(int64_t timeout_ms) {
  CommOptions o;
  o.timeout_ms = timeout_ms;
  o.symmetric_bytes = 1 << 20;
  o.slot_bytes = 256 << 10;
  return o;
}

sockaddr_un Address(const RootInfo& info, socklen_t* len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, info.socket_name.data(), info.socket_name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + info.socket_name.size());
  return addr;
}

// Connects to the root of `info`, retrying until it listens (at most ~10 s); -1 on failure.
int ConnectToRoot(const RootInfo& info) {
  socklen_t len;
  const sockaddr_un addr = Address(info, &len);
  for (int i = 0; i < 2000; ++i) {
    const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (connect(s, reinterpret_cast<const sockaddr*>(&addr), len) == 0) return s;
    close(s);
    usleep(5000);
  }
  return -1;
}

// Sends `bytes` with `nfds` copies of /dev/null attached, then reads the root's answer: "" when the
// root refused (a welcome with a nonzero status, or a closed connection), else what happened.
std::string SendHostile(const RootInfo& info, const std::vector<uint8_t>& bytes, int nfds) {
  const int s = ConnectToRoot(info);
  if (s < 0) return "cannot connect";
  std::vector<int> fds;
  for (int i = 0; i < nfds; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * (nfds > 0 ? nfds : 1)), 0);
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * nfds);
  }
  const ssize_t sent = sendmsg(s, &msg, MSG_NOSIGNAL);
  for (int fd : fds) close(fd);
  if (sent != static_cast<ssize_t>(bytes.size())) {
    close(s);
    return "";  // the kernel refused the message itself (e.g. larger than the socket buffer)
  }
  std::vector<uint8_t> reply(kWelcomeHeaderBytes + 4 * kMaxProcessRanks);
  timeval tv{10, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const ssize_t n = recv(s, reply.data(), reply.size(), 0);
  close(s);
  if (n <= 0) return n == 0 ? "" : StrCat("no answer: ", std::strerror(errno));
  auto w = ParseWelcome(reply.data(), static_cast<size_t>(n));
  if (w.ok() && w->status == 0) return "the root welcomed a hostile hello";
  return "";
}

std::vector<uint8_t> Hello(const RootInfo& info, uint32_t rank, uint32_t nranks, uint64_t segment) {
  HelloMsg h;
  h.rank = rank;
  h.nranks = nranks;
  h.segment_bytes = segment;
  std::memcpy(h.secret, info.secret.data(), kSecretBytes);
  return SerializeHello(h);
}

// Runs fn in a child; returns its exit status.
template <typename Fn>
pid_t Spawn(Fn fn) {
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  return pid;
}

struct Shared {
  char message[3][400];
};

void Put(Shared* sh, int slot, const std::string& text) {
  std::snprintf(sh->message[slot], sizeof(sh->message[slot]), "%s", text.c_str());
}

TEST(IsolationHostilePeers, RefusedOneByOneWithoutHarmToTheRoot) {
  auto info = GetRootInfo();
  ASSERT_TRUE(info.ok());
  auto* sh = static_cast<Shared*>(mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(sh, MAP_FAILED);
  const uint64_t segment = Communicator::SegmentBytes(Options(1));
  const pid_t root = Spawn([&] {
    const int before = FdCount();
    std::string problem;
    {
      auto c = InitRootInfo(2, *info, 0, Options(30000));
      if (!c.ok()) {
        problem = "root: " + c.status().ToString();
      } else {
        int64_t v = 5;
        const Status s = (*c)->AllReduce(&v, &v, 1, DType::kInt64);
        if (!s.ok() || v != 12) problem = StrCat("root AllReduce: ", s.ToString(), " sum ", v);
      }
    }
    if (problem.empty() && FdCount() != before) problem = StrCat("root fds ", before, " -> ", FdCount());
    Put(sh, 0, problem);
    return problem.empty() ? 0 : 1;
  });
  const pid_t hostile = Spawn([&] {
    struct Attempt {
      const char* what;
      std::vector<uint8_t> bytes;
      int nfds;
    };
    std::vector<uint8_t> garbage(kHelloBytes);
    for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 37 + 11);
    std::vector<uint8_t> short_hello = Hello(*info, 1, 2, segment);
    short_hello.pop_back();
    std::vector<uint8_t> wrong_secret = Hello(*info, 1, 2, segment);
    wrong_secret[30] ^= 0x40;
    const Attempt attempts[] = {
        {"3 bytes", {1, 2, 3}, 0},
        {"64 KiB", std::vector<uint8_t>(64 << 10, 0x5a), 1},
        {"hello-sized garbage", garbage, 1},
        {"hello one byte short", short_hello, 1},
        {"wrong secret", wrong_secret, 1},
        {"rank out of range", Hello(*info, 2, 2, segment), 1},
        {"rank 0", Hello(*info, 0, 2, segment), 1},
        {"other nranks", Hello(*info, 1, 3, segment), 1},
        {"other segment size", Hello(*info, 1, 2, segment + 4096), 1},
        {"segment of 1 byte", Hello(*info, 1, 2, 1), 1},
        {"no descriptor", Hello(*info, 1, 2, segment), 0},
        {"five descriptors", Hello(*info, 1, 2, segment), 5},
    };
    for (const Attempt& a : attempts) {
      const std::string r = SendHostile(*info, a.bytes, a.nfds);
      if (!r.empty()) {
        Put(sh, 1, StrCat(a.what, ": ", r));
        return 1;
      }
    }
    // A real joiner with a wrong secret gets an error that says so.
    RootInfo bad = *info;
    bad.secret[0] ^= 1;
    auto c = InitRootInfo(2, bad, 1, Options(10000));
    if (c.ok()) {
      Put(sh, 1, "joined with a wrong secret");
      return 1;
    }
    if (c.status().message().find("secret") == std::string::npos) {
      Put(sh, 1, "wrong secret: unexpected error " + c.status().ToString());
      return 1;
    }
    Put(sh, 1, "");
    return 0;
  });
  int st = 0;
  ASSERT_EQ(waitpid(hostile, &st, 0), hostile);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << sh->message[1];
  // Only now the real rank 1: the root must still be intact.
  const pid_t joiner = Spawn([&] {
    auto c = InitRootInfo(2, *info, 1, Options(30000));
    if (!c.ok()) {
      Put(sh, 2, "joiner: " + c.status().ToString());
      return 1;
    }
    int64_t v = 7;
    const Status s = (*c)->AllReduce(&v, &v, 1, DType::kInt64);
    Put(sh, 2, s.ok() && v == 12 ? "" : StrCat("joiner AllReduce: ", s.ToString(), " sum ", v));
    return s.ok() && v == 12 ? 0 : 1;
  });
  for (pid_t p : {joiner, root}) {
    ASSERT_EQ(waitpid(p, &st, 0), p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << (p == root ? sh->message[0] : sh->message[2]);
  }
  munmap(sh, sizeof(Shared));
}

// A fake root: accepts one connection on the root info's socket, reads the hello and answers with
// `welcome` (and `nfds` descriptors of /dev/null).
void FakeRoot(const RootInfo& info, const std::vector<uint8_t>& welcome, int nfds) {
  const int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  socklen_t len;
  const sockaddr_un addr = Address(info, &len);
  if (bind(l, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || listen(l, 4) != 0) _exit(2);
  const int c = accept(l, nullptr, nullptr);
  std::vector<uint8_t> hello(4096);
  if (recv(c, hello.data(), hello.size(), 0) <= 0) _exit(3);
  std::vector<int> fds;
  for (int i = 0; i < nfds; ++i) fds.push_back(open("/dev/null", O_RDONLY));
  iovec iov{const_cast<uint8_t*>(welcome.data()), welcome.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * (nfds > 0 ? nfds : 1)), 0);
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * nfds);
  }
  sendmsg(c, &msg, MSG_NOSIGNAL);
  usleep(200000);  // let the joiner read before the socket closes
  _exit(0);
}

TEST(IsolationHostilePeers, MalformedWelcomesGiveAnErrorAndLeakNothing) {
  const uint64_t segment = Communicator::SegmentBytes(Options(1));
  WelcomeMsg good;
  good.nranks = 2;
  good.segment_bytes = segment;
  good.pids = {getpid(), getpid()};
  std::vector<uint8_t> truncated = SerializeWelcome(good);
  truncated.pop_back();
  WelcomeMsg liar = good;
  liar.nranks = 3;  // three pids for a job of two
  liar.pids.push_back(getpid());
  WelcomeMsg negative = good;
  negative.pids[1] = -5;
  std::vector<uint8_t> big(kWelcomeHeaderBytes + 4 * kMaxProcessRanks + 100, 0xee);
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    int nfds;
  };
  const Case cases[] = {
      {"truncated", truncated, 2},
      {"more ranks than the job", SerializeWelcome(liar), 3},
      {"negative pid", SerializeWelcome(negative), 2},
      {"oversized", big, 2},
      {"descriptors missing", SerializeWelcome(good), 1},
      {"too many descriptors", SerializeWelcome(good), 7},
      {"garbage", std::vector<uint8_t>(40, 0x11), 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto info = GetRootInfo();
    ASSERT_TRUE(info.ok());
    const pid_t fake = fork();
    if (fake == 0) FakeRoot(*info, c.bytes, c.nfds);
    const int before = FdCount();
    const int mapped_before = OwnMemfd();
    {
      auto joined = InitRootInfo(2, *info, 1, Options(5000));
      ASSERT_FALSE(joined.ok());
      EXPECT_NE(joined.status().code(), 0);
      std::printf("[isolation] welcome %s: %s\n", c.what, joined.status().ToString().c_str());
    }
    EXPECT_EQ(FdCount(), before);
    EXPECT_EQ(OwnMemfd(), mapped_before);
    int st = 0;
    waitpid(fake, &st, 0);
  }
}

// The other user's side: run by this binary under setpriv (see below).
TEST(IsolationOtherUser, IntruderSide) {
  const char* env = std::getenv(kIntruderEnv);
  if (env == nullptr) GTEST_SKIP() << "runs only as the intruder process of IsolationOtherUser.IsRefused";
  char hex[1024] = {};
  int root_pid = 0, memfd = 0;
  ASSERT_EQ(std::sscanf(env, "%1023s %d %d", hex, &root_pid, &memfd), 3);
  ASSERT_NE(getuid(), 0u) << "the intruder must not run as root";
  // The root's memory through /proc: refused (another user's process).
  const std::string fd_path = StrCat("/proc/", root_pid, "/fd/", memfd);
  const int f = open(fd_path.c_str(), O_RDWR);
  EXPECT_LT(f, 0) << "opened " << fd_path;
  if (f >= 0) close(f);
  const std::string mem_path = StrCat("/proc/", root_pid, "/mem");
  const int m = open(mem_path.c_str(), O_RDONLY);
  EXPECT_LT(m, 0) << "opened " << mem_path;
  if (m >= 0) close(m);
  // Joining with the root info as given: refused before connecting (it names its owner's uid).
  auto info = RootInfoFromHex(hex);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto c = InitRootInfo(2, *info, 1, Options(3000));
  ASSERT_FALSE(c.ok()) << "another user joined the communicator";
  EXPECT_NE(c.status().message().find("uid"), std::string::npos) << c.status().ToString();
  std::printf("[isolation] intruder (uid %u), root info as given: %s\n", getuid(), c.status().ToString().c_str());
  // With a root info forged to name the intruder's uid: the connection is made, and SO_PEERCRED
  // refuses it (here on the joiner's side; the root refuses it too and keeps waiting, see below).
  RootInfo forged = *info;
  forged.uid = getuid();
  auto f2 = InitRootInfo(2, forged, 1, Options(3000));
  ASSERT_FALSE(f2.ok()) << "another user joined the communicator";
  EXPECT_NE(f2.status().message().find("another user"), std::string::npos) << f2.status().ToString();
  std::printf("[isolation] intruder (uid %u), forged root info: %s\n", getuid(), f2.status().ToString().c_str());
}

TEST(IsolationOtherUser, IsRefused) {
  if (std::getenv(kIntruderEnv) != nullptr) GTEST_SKIP() << "this is the intruder";
  if (geteuid() != 0) GTEST_SKIP() << "needs root to start a process as another user (setpriv); not root here";
  if (std::system("command -v setpriv > /dev/null 2>&1") != 0) GTEST_SKIP() << "setpriv (util-linux) is not installed";
  char self[4096] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
  auto info = GetRootInfo();
  ASSERT_TRUE(info.ok());
  // The root of a two-rank job, in a thread: it waits for a rank 1 that never comes, holding the
  // memfd the intruder will try to open.
  Status root_status;
  std::thread root_thread([&] {
    auto c = InitRootInfo(2, *info, 0, Options(6000));
    root_status = c.ok() ? Status::Ok() : c.status();
  });
  // Wait until the root's memfd exists.
  int memfd = -1;
  for (int i = 0; i < 400 && memfd < 0; ++i) {
    memfd = OwnMemfd();
    if (memfd < 0) usleep(5000);
  }
  ASSERT_GE(memfd, 0);
  const std::string cmd =
      StrCat(kIntruderEnv, "='", RootInfoToHex(*info), " ", getpid(), " ", memfd,
             "' setpriv --reuid=65534 --regid=65534 --clear-groups ", self,
             " --gtest_filter=IsolationOtherUser.IntruderSide --gtest_color=no 2>&1");
  FILE* out = popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), out) != nullptr) text += buf;
  const int rc = pclose(out);
  root_thread.join();
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("[  PASSED  ] 1 test"), std::string::npos) << text;
  EXPECT_EQ(text.find("SKIPPED"), std::string::npos) << text;
  // The root saw nobody acceptable: it timed out naming rank 1.
  EXPECT_EQ(root_status.code(), hccl::kETimeout) << root_status.ToString();
  EXPECT_NE(root_status.message().find("1"), std::string::npos);
  for (size_t at = text.find("[isolation]"); at != std::string::npos; at = text.find("[isolation]", at + 1)) {
    std::printf("%s\n", text.substr(at, text.find('\n', at) - at).c_str());
  }
}

}  // namespace
}  // namespace mc2::comm
