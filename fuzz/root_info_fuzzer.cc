// Fuzzes the root-info decoders (src/comm/root_info.h): DecodeRootInfo on the raw bytes, and
// RootInfoFromHex on the same bytes taken as text (what arrives in MC2_ROOT_INFO).
//
// Checks: both answer with a status or a RootInfo without reading outside the input; an accepted
// root info has a socket name of 1..47 characters from [0-9a-z.-]; encoding it and decoding again
// (raw and hex) gives the same secret, name and uid.
#include <cstring>
#include <string>

#include "comm/root_info.h"
#include "fuzz_check.h"

namespace {

void CheckAccepted(const mc2::comm::RootInfo& info) {
  using namespace mc2::comm;
  FUZZ_CHECK(!info.socket_name.empty() && info.socket_name.size() < kSocketNameBytes);
  for (char c : info.socket_name) {
    FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '.');
  }
  uint8_t raw[kRootInfoWireBytes];
  EncodeRootInfo(info, raw);
  auto back = DecodeRootInfo(raw, sizeof(raw));
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->secret == info.secret && back->socket_name == info.socket_name && back->uid == info.uid);
  auto from_hex = RootInfoFromHex(RootInfoToHex(info));
  FUZZ_CHECK(from_hex.ok());
  FUZZ_CHECK(from_hex->secret == info.secret && from_hex->socket_name == info.socket_name &&
             from_hex->uid == info.uid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mc2::comm;
  auto raw = DecodeRootInfo(data, size);
  if (raw.ok()) CheckAccepted(*raw);
  auto hex = RootInfoFromHex(std::string(reinterpret_cast<const char*>(data), size));
  if (hex.ok()) CheckAccepted(*hex);
  return 0;
}
