// How processes on one machine join: the Unix-socket handshake that exchanges memfds.
//
// Rank 0 listens on the abstract-namespace socket named in the root info (no file is created;
// the name disappears when the socket closes). Every other rank connects, the root checks the
// peer's uid with SO_PEERCRED, and the peer sends a Hello with its rank, the job's secret and
// its memfd (SCM_RIGHTS). When all ranks are in, the root sends each a Welcome with every rank's
// pid (as seen by SO_PEERCRED) and every rank's memfd. A connection with a wrong secret, uid,
// rank or size is refused with a reason and does not disturb the others. Every message from a
// peer goes through a parser that checks sizes and ranges before anything is used.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "comm/root_info.h"
#include "core/status_or.h"

namespace mc2::comm {

inline constexpr int kMaxProcessRanks = 250;  // fds per SCM_RIGHTS message (Linux: 253)

struct HelloMsg {
  uint32_t rank = 0;
  uint32_t nranks = 0;
  uint64_t segment_bytes = 0;
  uint8_t secret[kSecretBytes] = {};
};
inline constexpr size_t kHelloBytes = 4 + 4 + 4 + 4 + 8 + kSecretBytes;

struct WelcomeMsg {
  int32_t status = 0;  // an HcclResult; nonzero: refused, `reason` says why
  uint32_t nranks = 0;
  uint64_t segment_bytes = 0;
  std::string reason;
  std::vector<int32_t> pids;
};
inline constexpr size_t kWelcomeHeaderBytes = 4 + 4 + 4 + 4 + 8 + 128;

std::vector<uint8_t> SerializeHello(const HelloMsg& hello);
StatusOr<HelloMsg> ParseHello(const uint8_t* data, size_t bytes);
std::vector<uint8_t> SerializeWelcome(const WelcomeMsg& welcome);
StatusOr<WelcomeMsg> ParseWelcome(const uint8_t* data, size_t bytes);

struct JoinResult {
  std::vector<int> fds;  // one per rank (this rank's own fd at its index), owned by the caller
  std::vector<pid_t> pids;
};

// Rank 0's side. `own_fd` stays owned by the caller (it is duplicated into the result).
StatusOr<JoinResult> BootstrapRoot(const RootInfo& info, int nranks, int own_fd,
                                   uint64_t segment_bytes, int64_t timeout_ms);
// Every other rank's side.
StatusOr<JoinResult> BootstrapJoin(const RootInfo& info, int nranks, int rank, int own_fd,
                                   uint64_t segment_bytes, int64_t timeout_ms);

}  // namespace mc2::comm
