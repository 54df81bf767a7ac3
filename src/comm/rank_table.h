// HCCL rank table files (the JSON given to HcclCommInitClusterInfo / RANK_TABLE_FILE), read to
// learn which ranks share a machine. Accepted shape (version 1.0; numbers as strings or numbers):
//   {"version": "1.0", "server_count": "2", "status": "completed",
//    "server_list": [{"server_id": "host-a",
//                     "device": [{"device_id": "0", "device_ip": "...", "rank_id": "0"}, ...]},
//                    ...]}
// Every rank 0..n-1 must appear exactly once; anything else is refused with the reason.
#pragma once

#include <string>
#include <vector>

#include "core/status_or.h"

namespace mc2::comm {

struct RankTableEntry {
  int rank = 0;
  int server = 0;  // index into RankTable::servers
  int device = 0;
};

struct RankTable {
  std::vector<std::string> servers;
  std::vector<RankTableEntry> ranks;  // indexed by rank
};

StatusOr<RankTable> ParseRankTable(const std::string& json_text);
StatusOr<RankTable> LoadRankTable(const std::string& path);  // files up to 16 MiB

}  // namespace mc2::comm
