// Fuzzes the bootstrap message parsers (src/comm/bootstrap.h): the Hello a joining rank sends and
// the Welcome rank 0 answers with. Input: byte 0 selects the parser (even: ParseHello, odd:
// ParseWelcome); the rest is the message exactly as received from the socket.
//
// Checks: the parser answers with a status or a message without reading outside the input; an
// accepted Hello has 1 <= rank < nranks <= kMaxProcessRanks and a page-multiple segment size; an
// accepted Welcome with status 0 has nranks pids, all positive; serializing an accepted message
// and parsing it again gives the same fields.
#include <cstring>

#include "comm/bootstrap.h"
#include "fuzz_check.h"

namespace {

using namespace mc2::comm;

void FuzzHello(const uint8_t* data, size_t size) {
  auto hello = ParseHello(data, size);
  if (!hello.ok()) return;
  FUZZ_CHECK(hello->nranks >= 2 && hello->nranks <= static_cast<uint32_t>(kMaxProcessRanks));
  FUZZ_CHECK(hello->rank >= 1 && hello->rank < hello->nranks);
  FUZZ_CHECK(hello->segment_bytes > 0 && hello->segment_bytes % 4096 == 0);
  const std::vector<uint8_t> bytes = SerializeHello(*hello);
  FUZZ_CHECK(bytes.size() == kHelloBytes);
  auto again = ParseHello(bytes.data(), bytes.size());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->rank == hello->rank && again->nranks == hello->nranks &&
             again->segment_bytes == hello->segment_bytes &&
             std::memcmp(again->secret, hello->secret, kSecretBytes) == 0);
}

void FuzzWelcome(const uint8_t* data, size_t size) {
  auto welcome = ParseWelcome(data, size);
  if (!welcome.ok()) return;
  FUZZ_CHECK(welcome->reason.size() < 128);
  if (welcome->status != 0) return;  // a refusal carries only the reason
  FUZZ_CHECK(welcome->nranks >= 2 && welcome->nranks <= static_cast<uint32_t>(kMaxProcessRanks));
  FUZZ_CHECK(welcome->pids.size() == welcome->nranks);
  for (int32_t pid : welcome->pids) FUZZ_CHECK(pid > 0);
  const std::vector<uint8_t> bytes = SerializeWelcome(*welcome);
  auto again = ParseWelcome(bytes.data(), bytes.size());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->nranks == welcome->nranks && again->segment_bytes == welcome->segment_bytes &&
             again->pids == welcome->pids && again->reason == welcome->reason);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The message gets its own exact-size allocation so ASan sees a read one byte past its end.
  const std::vector<uint8_t> msg(data + 1, data + size);
  if (data[0] % 2 == 0) {
    FuzzHello(msg.data(), msg.size());
  } else {
    FuzzWelcome(msg.data(), msg.size());
  }
  return 0;
}
