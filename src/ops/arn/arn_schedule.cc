#include "ops/arn/arn_schedule.h"

#include <algorithm>

#include "kernels/wq_matmul.h"

namespace mc2::ops {

namespace {
// Prefill rows per chunk, when not forced: at least this many, so the per-chunk cost of the
// prefill kernel (it dequantizes every weight panel once per call) stays amortized. Measured with
// arn_bench (k = 2048, n = 4096, int8, 2 ranks): m = 256 in 4 chunks of 64 rows took 1.28x the
// matmul alone, in one chunk 1.12x; 256-row chunks keep that overhead to a few percent.
constexpr int64_t kMinChunkRows = 256;
// ... and about this many chunks per pass, so the reduction of one chunk hides behind the matmul
// of the next and the last, unhidden reduction is a quarter of the total.
constexpr int64_t kTargetChunks = 4;
// Chained prefill (ranks on other machines): chunks of at least this many rows. Smaller than
// kMinChunkRows because there the all-reduce is a network transfer worth hiding (arn_fused.h).
// Not 64: the per-call weight preparation made 64-row chunks cost 1.4x the unchunked chain's
// matmul against 1.16x for 128-row chunks (LinearParallel float, m = 512, threads, load 11).
constexpr int64_t kMinChainedChunkRows = 128;
// ... and about this many of them: the first chunk's matmul and the last chunk's transfer are not
// hidden, so the best a pipeline of c chunks can do is max(mm + comm / c, mm / c + comm), 1.25x
// max(mm, comm) at c = 4 when the two are of equal size, 1.125x at c = 8.
constexpr int64_t kChainedTargetChunks = 8;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

const char* ArnAlgorithmName(ArnAlgorithm a) {
  switch (a) {
    case ArnAlgorithm::kAuto: return "auto";
    case ArnAlgorithm::kLocal: return "local";
    case ArnAlgorithm::kOneShot: return "one-shot";
    case ArnAlgorithm::kTwoShot: return "two-shot";
    case ArnAlgorithm::kChained: return "chained";
  }
  return "?";
}

int64_t ArnSchedule::max_matmul_rows() const {
  if (algorithm == ArnAlgorithm::kLocal) return m;
  return std::min(chunk_rows, m);
}

ArnSchedule ChooseArnSchedule(int64_t m, int64_t n, int64_t k, size_t elem, const ArnCommFacts& facts,
                              const ArnOptions& options) {
  ArnSchedule s;
  s.world_size = facts.world_size;
  s.m = m;
  s.n = n;
  s.k = k;
  s.elem = elem;
  const size_t row_bytes = static_cast<size_t>(n) * elem;
  const int64_t fit_rows = row_bytes == 0 ? m : static_cast<int64_t>(facts.half_bytes / row_bytes);
  ArnAlgorithm a = options.algorithm;
  if (facts.world_size <= 1) {
    a = ArnAlgorithm::kLocal;
  } else if (a == ArnAlgorithm::kLocal || fit_rows < 1) {
    a = ArnAlgorithm::kChained;
  } else if (a == ArnAlgorithm::kAuto) {
    const bool small = static_cast<size_t>(m) * row_bytes <= facts.oneshot_max_bytes;
    a = small || m < 2 * facts.world_size ? ArnAlgorithm::kOneShot : ArnAlgorithm::kTwoShot;
  }
  s.algorithm = a;
  if (a == ArnAlgorithm::kLocal || a == ArnAlgorithm::kChained) {
    s.pass_rows = m;
    s.chunk_rows = m;
    if (a == ArnAlgorithm::kChained && m > kernels::kWqDecodeMaxM) {
      int64_t chunk = options.chunk_rows > 0 ? options.chunk_rows
                                             : std::max(kMinChainedChunkRows, CeilDiv(m, kChainedTargetChunks));
      chunk = std::max(chunk, CeilDiv(m, kArnMaxChunks));
      s.chunk_rows = std::max<int64_t>(1, std::min(chunk, m));
    }
    return s;
  }
  s.pass_rows = std::max<int64_t>(1, std::min(m, fit_rows));
  int64_t chunk = options.chunk_rows;
  if (chunk <= 0) {
    chunk = m <= kernels::kWqDecodeMaxM ? s.pass_rows
                                         : std::max(kMinChunkRows, CeilDiv(s.pass_rows, kTargetChunks));
  }
  chunk = std::max(chunk, CeilDiv(s.pass_rows, kArnMaxChunks));
  s.chunk_rows = std::max<int64_t>(1, std::min(chunk, s.pass_rows));
  return s;
}

}  // namespace mc2::ops
