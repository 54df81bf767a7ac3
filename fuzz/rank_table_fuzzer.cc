// Fuzzes the HCCL rank-table JSON parser, mc2::comm::ParseRankTable (src/comm/rank_table.h). The
// input is the file's text.
//
// Checks: the parser answers every text with a status or a table (no exception escapes, no crash,
// nothing read out of bounds); an accepted table lists each rank 0..n-1 exactly once, at its own
// index, on a server that exists, with a non-negative device id.
#include <string>

#include "comm/rank_table.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto table = mc2::comm::ParseRankTable(std::string(reinterpret_cast<const char*>(data), size));
  if (!table.ok()) return 0;
  FUZZ_CHECK(!table->ranks.empty() && !table->servers.empty());
  for (size_t i = 0; i < table->ranks.size(); ++i) {
    const mc2::comm::RankTableEntry& e = table->ranks[i];
    FUZZ_CHECK(e.rank == static_cast<int>(i));
    FUZZ_CHECK(e.server >= 0 && static_cast<size_t>(e.server) < table->servers.size());
    FUZZ_CHECK(e.device >= 0);
  }
  return 0;
}
