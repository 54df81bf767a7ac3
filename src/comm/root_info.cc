#include "comm/root_info.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mc2::comm {
namespace {
constexpr char kMagic[8] = {'M', 'C', '2', 'R', 'O', 'O', 'T', '1'};

Status FillRandom(uint8_t* out, size_t bytes) {
  size_t done = 0;
  while (done < bytes) {
    const ssize_t got = getrandom(out + done, bytes - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return HcclError(hccl::kESyscall, "getrandom failed: ", std::strerror(errno));
    }
    done += static_cast<size_t>(got);
  }
  return Status::Ok();
}

bool ValidNameChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '.';
}
}  // namespace

StatusOr<RootInfo> GetRootInfo() {
  RootInfo info;
  MC2_RETURN_IF_ERROR(FillRandom(info.secret.data(), info.secret.size()));
  uint8_t name[12];
  MC2_RETURN_IF_ERROR(FillRandom(name, sizeof(name)));
  static const char kHex[] = "0123456789abcdef";
  info.socket_name = "mc2.";
  for (uint8_t b : name) {
    info.socket_name.push_back(kHex[b >> 4]);
    info.socket_name.push_back(kHex[b & 15]);
  }
  info.uid = static_cast<uint32_t>(getuid());
  return info;
}

void EncodeRootInfo(const RootInfo& info, uint8_t* out) {
  std::memset(out, 0, kRootInfoWireBytes);
  std::memcpy(out, kMagic, 8);
  const uint32_t version = 1;
  std::memcpy(out + 8, &version, 4);
  std::memcpy(out + 12, &info.uid, 4);
  std::memcpy(out + 16, info.secret.data(), kSecretBytes);
  std::memcpy(out + 16 + kSecretBytes, info.socket_name.data(),
              std::min(info.socket_name.size(), kSocketNameBytes - 1));
}

StatusOr<RootInfo> DecodeRootInfo(const uint8_t* data, size_t bytes) {
  if (data == nullptr) return HcclError(hccl::kEPtr, "root info: null");
  if (bytes < kRootInfoWireBytes || bytes > kHcclRootInfoBytes) {
    return HcclError(hccl::kEPara, "root info: ", bytes, " bytes (need ", kRootInfoWireBytes,
                     "..", kHcclRootInfoBytes, ")");
  }
  if (std::memcmp(data, kMagic, 8) != 0) {
    return HcclError(hccl::kEPara, "root info: bad magic (not made by GetRootInfo)");
  }
  uint32_t version;
  std::memcpy(&version, data + 8, 4);
  if (version != 1) return HcclError(hccl::kEPara, "root info: version ", version, " (need 1)");
  RootInfo info;
  std::memcpy(&info.uid, data + 12, 4);
  std::memcpy(info.secret.data(), data + 16, kSecretBytes);
  const char* name = reinterpret_cast<const char*>(data + 16 + kSecretBytes);
  size_t len = 0;
  while (len < kSocketNameBytes && name[len] != '\0') ++len;
  if (len == 0 || len == kSocketNameBytes) {
    return HcclError(hccl::kEPara, "root info: socket name is empty or unterminated");
  }
  for (size_t i = 0; i < len; ++i) {
    if (!ValidNameChar(name[i])) {
      return HcclError(hccl::kEPara, "root info: socket name has a character outside [0-9a-z.-]");
    }
  }
  for (size_t i = len; i < kSocketNameBytes; ++i) {
    if (name[i] != '\0') return HcclError(hccl::kEPara, "root info: garbage after the socket name");
  }
  info.socket_name.assign(name, len);
  return info;
}

std::string RootInfoToHex(const RootInfo& info) {
  uint8_t raw[kRootInfoWireBytes];
  EncodeRootInfo(info, raw);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

StatusOr<RootInfo> RootInfoFromHex(const std::string& hex) {
  if (hex.size() != 2 * kRootInfoWireBytes) {
    return HcclError(hccl::kEPara, "root info: hex text has ", hex.size(), " characters (need ",
                     2 * kRootInfoWireBytes, ")");
  }
  uint8_t raw[kRootInfoWireBytes];
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < kRootInfoWireBytes; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return HcclError(hccl::kEPara, "root info: hex text has a non-hex character");
    raw[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return DecodeRootInfo(raw, kRootInfoWireBytes);
}

}  // namespace mc2::comm
