// Which algorithm an ArnOp runs and how it cuts the rows, chosen once at plan time from values
// every rank agrees on (shapes, dtype, rank count, the communicator's options), so every rank
// picks the same schedule. The thresholds and the reasons for them are in arn_fused.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mc2::ops {

enum class ArnAlgorithm : uint8_t {
  kAuto = 0,
  kLocal,    // one rank: matmul, add + RMSNorm
  kOneShot,  // every rank reads every peer's product and reduces all rows (small messages)
  kTwoShot,  // reduce-scatter by rows through the symmetric buffers, then gather the sums
  kChained,  // matmul, Communicator::AllReduce, add + RMSNorm (no shared buffers: other machines);
             // prefill in chunks whose all-reduce runs on a progress thread behind the next matmul
};

const char* ArnAlgorithmName(ArnAlgorithm a);

// Tuning knobs; the defaults choose by themselves. Must be equal on every rank.
struct ArnOptions {
  ArnAlgorithm algorithm = ArnAlgorithm::kAuto;
  int64_t chunk_rows = 0;  // rows per overlap chunk; 0: chosen from m
};

struct ArnSchedule {
  ArnAlgorithm algorithm = ArnAlgorithm::kLocal;
  int world_size = 1;
  int64_t m = 0, n = 0, k = 0;
  size_t elem = 2;          // bytes of an activation element
  int64_t pass_rows = 0;    // rows whose products fit one half of the symmetric buffer
  int64_t chunk_rows = 0;   // rows per chunk inside a pass (the unit of matmul / reduce overlap)
  int64_t passes() const { return pass_rows > 0 ? (m + pass_rows - 1) / pass_rows : 0; }
  // Largest row count one matmul call gets.
  int64_t max_matmul_rows() const;
};

// Most chunks in one pass: each takes one or two signal segments.
inline constexpr int64_t kArnMaxChunks = 16;

// What the caller's machine offers: the communicator's symmetric half size (0: no fused path)
// and the one-shot threshold.
struct ArnCommFacts {
  int world_size = 1;
  size_t half_bytes = 0;
  size_t oneshot_max_bytes = 256 << 10;
};

// The schedule for an (m, n, k) call. Never fails: a forced fused algorithm that cannot run
// (no symmetric buffer) becomes kChained.
ArnSchedule ChooseArnSchedule(int64_t m, int64_t n, int64_t k, size_t elem, const ArnCommFacts& facts,
                              const ArnOptions& options);

}  // namespace mc2::ops
