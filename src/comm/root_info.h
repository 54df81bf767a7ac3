// The root info: what rank 0 hands to the other ranks so they can find it (HcclGetRootInfo /
// HcclCommInitRootInfo). It names a Unix socket in the abstract namespace (nothing on disk) and
// carries a 256-bit random secret that every joining rank must present. It is a plain byte
// layout that fits HCCL's 4108-byte HcclRootInfo, and travels between processes as hex text
// (MC2_ROOT_INFO) or as raw bytes; both decoders reject anything malformed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status_or.h"

namespace mc2::comm {

inline constexpr size_t kHcclRootInfoBytes = 4108;
inline constexpr size_t kSecretBytes = 32;
inline constexpr size_t kSocketNameBytes = 48;

struct RootInfo {
  std::array<uint8_t, kSecretBytes> secret{};
  std::string socket_name;  // abstract-namespace name, without the leading NUL
  uint32_t uid = 0;         // owner; only processes of this user may join
};

// A fresh root info: random socket name and secret (getrandom).
StatusOr<RootInfo> GetRootInfo();

// Raw layout (kRootInfoWireBytes <= kHcclRootInfoBytes bytes) and its hex form.
inline constexpr size_t kRootInfoWireBytes = 8 + 4 + 4 + kSecretBytes + kSocketNameBytes;
static_assert(kRootInfoWireBytes <= kHcclRootInfoBytes);
void EncodeRootInfo(const RootInfo& info, uint8_t* out /* kRootInfoWireBytes */);
StatusOr<RootInfo> DecodeRootInfo(const uint8_t* data, size_t bytes);
std::string RootInfoToHex(const RootInfo& info);
StatusOr<RootInfo> RootInfoFromHex(const std::string& hex);

}  // namespace mc2::comm
