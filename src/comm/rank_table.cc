#include "comm/rank_table.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace mc2::comm {
namespace {

constexpr int kMaxTableRanks = 65536;

// A non-negative integer given as a JSON number or a decimal string; -1 otherwise.
int64_t AsIndex(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), 1u << 30));
  if (v.is_number_integer()) return v.get<int64_t>() < 0 ? -1 : std::min<int64_t>(v.get<int64_t>(), 1 << 30);
  if (!v.is_string()) return -1;
  const std::string s = v.get<std::string>();
  if (s.empty() || s.size() > 9) return -1;
  int64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    x = x * 10 + (c - '0');
  }
  return x;
}

}  // namespace

StatusOr<RankTable> ParseRankTable(const std::string& json_text) {
  const nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return HcclError(hccl::kEPara, "rank table: not a JSON object");
  }
  const auto servers = doc.find("server_list");
  if (servers == doc.end() || !servers->is_array() || servers->empty()) {
    return HcclError(hccl::kEPara, "rank table: \"server_list\" is missing or empty");
  }
  RankTable table;
  std::vector<RankTableEntry> entries;
  for (const nlohmann::json& server : *servers) {
    if (!server.is_object()) return HcclError(hccl::kEPara, "rank table: a server entry is not an object");
    const auto id = server.find("server_id");
    if (id == server.end() || !id->is_string() || id->get<std::string>().empty()) {
      return HcclError(hccl::kEPara, "rank table: server ", table.servers.size(), " has no \"server_id\"");
    }
    const auto devices = server.find("device");
    if (devices == server.end() || !devices->is_array()) {
      return HcclError(hccl::kEPara, "rank table: server ", id->get<std::string>(), " has no \"device\" list");
    }
    const int server_index = static_cast<int>(table.servers.size());
    table.servers.push_back(id->get<std::string>());
    for (const nlohmann::json& dev : *devices) {
      if (!dev.is_object() || !dev.contains("rank_id")) {
        return HcclError(hccl::kEPara, "rank table: a device of server ", table.servers.back(), " has no \"rank_id\"");
      }
      const int64_t rank = AsIndex(dev["rank_id"]);
      const int64_t device = dev.contains("device_id") ? AsIndex(dev["device_id"]) : 0;
      if (rank < 0 || rank >= kMaxTableRanks || device < 0) {
        return HcclError(hccl::kEPara, "rank table: bad rank_id or device_id on server ", table.servers.back());
      }
      entries.push_back({static_cast<int>(rank), server_index, static_cast<int>(device)});
      if (entries.size() > static_cast<size_t>(kMaxTableRanks)) {
        return HcclError(hccl::kEPara, "rank table: more than ", kMaxTableRanks, " ranks");
      }
    }
  }
  table.ranks.assign(entries.size(), RankTableEntry{-1, 0, 0});
  for (const RankTableEntry& e : entries) {
    if (e.rank >= static_cast<int>(entries.size())) {
      return HcclError(hccl::kEPara, "rank table: rank_id ", e.rank, " with only ", entries.size(), " ranks");
    }
    if (table.ranks[static_cast<size_t>(e.rank)].rank >= 0) {
      return HcclError(hccl::kEPara, "rank table: rank_id ", e.rank, " appears twice");
    }
    table.ranks[static_cast<size_t>(e.rank)] = e;
  }
  if (table.ranks.empty()) return HcclError(hccl::kEPara, "rank table: no ranks");
  return table;
}

StatusOr<RankTable> LoadRankTable(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return HcclError(hccl::kEOpenFileFailure, "rank table: cannot open ", path);
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > (size_t{16} << 20)) return HcclError(hccl::kEPara, "rank table: ", path, " exceeds 16 MiB");
  }
  auto table = ParseRankTable(text);
  if (!table.ok()) {
    Status s = table.status();
    return s.Prepend(path);
  }
  return table;
}

}  // namespace mc2::comm
