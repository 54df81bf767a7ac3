// ArnOp with ranks as threads (1, 2, 4, 8) against the golden model (reference::
// WeightQuantMatmulAllReduceAddRmsNorm, kCann) over a parameter matrix: fp16 / bf16, int8 / int4,
// per-tensor / channel / group, offset, bias on rank 0 / all / none, transposed x2, 2-D and 3-D
// x1, decode and prefill m, uneven sizes, empty b*s and n, inplace; every algorithm (one-shot,
// two-shot with chunks and passes, chained); determinism; cross-rank argument disagreement.
// Judged strictly in two parts (ops_arn_test_util.h): the operator's local product within one ulp
// of the golden's (fp32 vs exact accumulation), and y / normOut bitwise equal to the golden's own
// steps after the matmul applied to that product. Distances to the full golden are printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "comm/thread_transport.h"
#include "ops/common/progress_thread.h"
#include "ops/common/symmetric_channel.h"
#include "ops_arn_test_util.h"

namespace mc2::ops {
namespace {

using reference::ArnCase;
using reference::ArnShape;
using reference::ScaleKind;
using testing::JudgeArnRank;
using testing::JudgeStats;
using testing::RankResult;
using testing::RunArnRank;

enum class BiasOn { kNone, kRank0, kAll };

struct Param {
  const char* name;
  ArnShape shape;
  BiasOn bias = BiasOn::kRank0;
  bool inplace = false;
  ArnOptions options;
  std::vector<int> worlds = {1, 2, 4, 8};
  int threads_per_rank = 1;
  size_t symmetric_bytes = 4 << 20;
  size_t oneshot_max_bytes = 256 << 10;
  bool x1_2d = false;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.name; }

JudgeStats g_stats;

ArnCase BuildCase(const Param& p, int world) {
  ArnShape s = p.shape;
  s.world_size = world;
  s.bias = p.bias != BiasOn::kNone;
  ArnCase c = reference::MakeArnCase(s);
  for (int r = 1; r < world && p.bias == BiasOn::kRank0; ++r) c.ranks[static_cast<size_t>(r)].bias.reset();
  if (p.x1_2d) {
    for (auto& in : c.ranks) {
      in.x1.dims = Dims{s.b * s.s, s.k};
      in.x1.strides = Dims{s.k, 1};
    }
  }
  return c;
}

// Runs every rank of `c` on its own thread.
std::vector<RankResult> RunThreads(const ArnCase& c, int world, const Param& p, int repeats = 1) {
  comm::CommOptions o;
  o.symmetric_bytes = p.symmetric_bytes;
  o.oneshot_max_bytes = p.oneshot_max_bytes;
  o.slot_bytes = 256 << 10;
  o.timeout_ms = 60000;
  auto comms = comm::InitThreads(world, o);
  EXPECT_TRUE(comms.ok()) << comms.status().ToString();
  std::vector<RankResult> results(static_cast<size_t>(world));
  if (!comms.ok()) return results;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      ThreadPool pool(p.threads_per_rank);
      results[static_cast<size_t>(r)] =
          RunArnRank(c, (*comms)[static_cast<size_t>(r)].get(), &pool, p.options, p.inplace, repeats);
    });
  }
  for (auto& t : threads) t.join();
  return results;
}

class ArnThreads : public ::testing::TestWithParam<Param> {};

void CheckMatchesGolden(const Param& p) {
  for (int world : p.worlds) {
    SCOPED_TRACE(::testing::Message() << "world " << world);
    const ArnCase c = BuildCase(p, world);
    auto golden = reference::WeightQuantMatmulAllReduceAddRmsNorm(c.ranks, c.attrs, reference::Mode::kCann);
    ASSERT_TRUE(golden.ok()) << golden.status().ToString();
    const std::vector<RankResult> got = RunThreads(c, world, p, /*repeats=*/2);
    for (int r = 0; r < world; ++r) {
      const RankResult& res = got[static_cast<size_t>(r)];
      ASSERT_TRUE(res.status.ok()) << "rank " << r << ": " << res.status.ToString();
      if (world > 1 && p.options.algorithm != ArnAlgorithm::kAuto && res.y.numel() > 0) {
        EXPECT_EQ(res.algorithm, p.options.algorithm);
      }
      EXPECT_TRUE(res.repeat_identical) << "rank " << r << ": two runs differ";
      const auto& want = (*golden)[static_cast<size_t>(r)];
      EXPECT_EQ(res.y.dims(), want.y.dims());
    }
    std::vector<HostTensor> products;
    for (const RankResult& res : got) products.push_back(res.product);
    for (int r = 0; r < world; ++r) {
      const RankResult& res = got[static_cast<size_t>(r)];
      EXPECT_EQ(JudgeArnRank(c, products, r, res.y, res.norm_out, (*golden)[static_cast<size_t>(r)], &g_stats), "")
          << "rank " << r;
    }
  }
}

TEST_P(ArnThreads, MatchesGolden) { CheckMatchesGolden(GetParam()); }

Param Case(const char* name, ArnShape shape, BiasOn bias = BiasOn::kRank0, bool inplace = false,
           ArnOptions options = {}, std::vector<int> worlds = {1, 2, 4, 8}, int threads_per_rank = 1,
           size_t symmetric_bytes = 4 << 20, size_t oneshot_max_bytes = 256 << 10, bool x1_2d = false) {
  return Param{name, shape, bias, inplace, options, std::move(worlds), threads_per_rank, symmetric_bytes,
               oneshot_max_bytes, x1_2d};
}

ArnShape Shape(DType act, DType weight, ScaleKind scale, int64_t b, int64_t s, int64_t k, int64_t n) {
  ArnShape sh;
  sh.act = act;
  sh.weight = weight;
  sh.scale = scale;
  sh.b = b;
  sh.s = s;
  sh.k = k;
  sh.n = n;
  return sh;
}

ArnShape WithGroup(ArnShape s, int64_t g) {
  s.group_size = g;
  return s;
}
ArnShape Transposed(ArnShape s) {
  s.transposed_weight = true;
  return s;
}
ArnShape NoOffset(ArnShape s) {
  s.offset = false;
  return s;
}

ArnOptions Algo(ArnAlgorithm a, int64_t chunk_rows = 0) {
  ArnOptions o;
  o.algorithm = a;
  o.chunk_rows = chunk_rows;
  return o;
}

constexpr DType kF16 = DType::kFloat16, kBf16 = DType::kBFloat16, kI8 = DType::kInt8, kI4 = DType::kInt4;

std::vector<Param> Matrix() {
  std::vector<Param> v;
  // Decode, one-shot.
  v.push_back(Case("fp16_int8_channel_m1", Shape(kF16, kI8, ScaleKind::kPerChannel, 1, 1, 256, 128)));
  v.push_back(Case("bf16_int8_channel_m16_biasall_nooffset",
               NoOffset(Shape(kBf16, kI8, ScaleKind::kPerChannel, 2, 8, 256, 128)), BiasOn::kAll, false, {}, {2, 4}));
  v.push_back(Case("fp16_int4_group64_transposed_m5", Transposed(WithGroup(Shape(kF16, kI4, ScaleKind::kPerGroup, 1, 5, 256, 96), 64)),
               BiasOn::kRank0, false, {}, {2, 4, 8}));
  v.push_back(Case("bf16_int4_tensor_n130_2d_nobias", Shape(kBf16, kI4, ScaleKind::kPerTensor, 1, 7, 128, 130), BiasOn::kNone,
               false, {}, {1, 2, 8}, 1, 4 << 20, 256 << 10, /*x1_2d=*/true));
  v.push_back(Case("fp16_int8_group96_k256_inplace", WithGroup(Shape(kF16, kI8, ScaleKind::kPerGroup, 3, 3, 256, 64), 96),
               BiasOn::kRank0, true, {}, {1, 2, 4, 8}));
  v.push_back(Case("bf16_int8_tensor_transposed_inplace_2threads", Transposed(Shape(kBf16, kI8, ScaleKind::kPerTensor, 1, 3, 64, 256)),
               BiasOn::kAll, true, {}, {2, 4}, 2));
  // Prefill, one-shot with chunks (matmul of chunk i+1 overlapping the reduction of chunk i).
  v.push_back(Case("fp16_int8_channel_prefill_oneshot_chunks", Shape(kF16, kI8, ScaleKind::kPerChannel, 2, 45, 128, 64),
               BiasOn::kRank0, false, Algo(ArnAlgorithm::kOneShot, 17), {2, 4}));
  // Two-shot: reduce-scatter by rows, norm, gather of sums; chunks, uneven rows, passes.
  v.push_back(Case("bf16_int4_group32_prefill_twoshot", WithGroup(Shape(kBf16, kI4, ScaleKind::kPerGroup, 1, 83, 64, 66), 32),
               BiasOn::kRank0, false, Algo(ArnAlgorithm::kTwoShot, 20), {2, 4, 8}, 1, 4 << 20, 256 << 10, true));
  v.push_back(Case("fp16_int8_transposed_twoshot_auto_passes_inplace", Transposed(Shape(kF16, kI8, ScaleKind::kPerChannel, 2, 50, 96, 128)),
               BiasOn::kAll, true, {}, {2, 4}, 2, /*symmetric_bytes=*/(4 << 10) + 2 * 8192, /*oneshot_max=*/2048));
  v.push_back(Case("fp16_int4_channel_twoshot_m_less_chunk", Shape(kF16, kI4, ScaleKind::kPerChannel, 1, 9, 64, 64), BiasOn::kNone,
               false, Algo(ArnAlgorithm::kTwoShot), {2, 8}));
  v.push_back(Case("bf16_int8_channel_oneshot_passes", Shape(kBf16, kI8, ScaleKind::kPerChannel, 1, 40, 64, 64), BiasOn::kRank0,
               false, Algo(ArnAlgorithm::kOneShot, 3), {2, 4}, 1, (4 << 10) + 2 * 1280));
  // The unfused chain (the path for ranks on other machines).
  v.push_back(Case("fp16_int8_chained", Shape(kF16, kI8, ScaleKind::kPerChannel, 1, 20, 128, 64), BiasOn::kRank0, false,
               Algo(ArnAlgorithm::kChained), {2, 4}));
  // Chained in chunks: the all-reduce of chunk i on the progress thread behind the matmul of i + 1.
  v.push_back(Case("bf16_int4_group32_chained_chunks", WithGroup(Shape(kBf16, kI4, ScaleKind::kPerGroup, 2, 19, 96, 66), 32),
               BiasOn::kAll, true, Algo(ArnAlgorithm::kChained, 6), {2, 4, 8}, 2));
  v.push_back(Case("fp16_int8_no_symmetric_buffer", Shape(kF16, kI8, ScaleKind::kPerChannel, 1, 4, 64, 64), BiasOn::kRank0, false,
               {}, {2}, 1, /*symmetric_bytes=*/0));
  // Empty b*s and empty n: success, nothing written.
  v.push_back(Case("empty_bs", Shape(kF16, kI8, ScaleKind::kPerChannel, 0, 4, 64, 64), BiasOn::kRank0, false, {}, {1, 2, 4}));
  v.push_back(Case("empty_n", Shape(kBf16, kI8, ScaleKind::kPerChannel, 1, 4, 64, 0), BiasOn::kNone, false, {}, {2}));
  return v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, ArnThreads, ::testing::ValuesIn(Matrix()),
                         [](const ::testing::TestParamInfo<Param>& i) { return std::string(i.param.name); });

// The chained pipeline with its matmul cut into column blocks (what a real-time caller does,
// ProgressThread::LendBlockCols), forced small so every chunk takes several blocks, Lend between.
TEST(ArnThreadsColumnBlocks, ChainedChunksMatchGolden) {
  ProgressThread::SetLendBlockFlopsForTest(2.0 * 6 * 96 * 32);  // 32 columns of a 6-row chunk
  CheckMatchesGolden(Case("bf16_int4_group32_chained_chunks_blocks",
                          WithGroup(Shape(kBf16, kI4, ScaleKind::kPerGroup, 2, 19, 96, 130), 32), BiasOn::kAll, true,
                          Algo(ArnAlgorithm::kChained, 6), {2, 4}, 2));
  ProgressThread::SetLendBlockFlopsForTest(-1);
}

// Every algorithm computes the same sums, so the outputs are bitwise equal across algorithms and,
// with replicated residual and gamma (CANN's use), across ranks.
TEST(ArnDeterminism, AlgorithmsAndRanksAgreeBitwise) {
  Param p = Case("det", Shape(kF16, kI8, ScaleKind::kPerChannel, 1, 40, 128, 64));
  const int world = 4;
  ArnCase c = BuildCase(p, world);
  for (int r = 1; r < world; ++r) c.ranks[static_cast<size_t>(r)].residual = c.ranks[0].residual;
  std::vector<RankResult> first;
  for (ArnAlgorithm a : {ArnAlgorithm::kOneShot, ArnAlgorithm::kTwoShot, ArnAlgorithm::kChained}) {
    p.options = Algo(a, 7);
    std::vector<RankResult> got = RunThreads(c, world, p, 3);
    for (int r = 0; r < world; ++r) {
      const RankResult& res = got[static_cast<size_t>(r)];
      ASSERT_TRUE(res.status.ok()) << res.status.ToString();
      ASSERT_EQ(res.algorithm, a);
      EXPECT_TRUE(res.repeat_identical);
      const RankResult& ref = first.empty() ? got[0] : first[0];
      EXPECT_EQ(std::memcmp(res.y.data(), ref.y.data(), ref.y.bytes()), 0) << ArnAlgorithmName(a) << " rank " << r;
      EXPECT_EQ(std::memcmp(res.norm_out.data(), ref.norm_out.data(), ref.norm_out.bytes()), 0)
          << ArnAlgorithmName(a) << " rank " << r;
    }
    if (first.empty()) first = std::move(got);
  }
}

TEST(ArnAgreement, RanksDisagreeingOnAShapeAllFailNamingIt) {
  Param p = Case("disagree", Shape(kF16, kI8, ScaleKind::kPerChannel, 1, 4, 64, 64));
  ArnCase c = BuildCase(p, 4);
  ArnShape other = p.shape;
  other.s = 6;
  other.world_size = 1;
  ArnCase c2 = reference::MakeArnCase(other);
  c.ranks[2] = c2.ranks[0];  // rank 2 has 6 rows, the others 4
  const std::vector<RankResult> got = RunThreads(c, 4, p);
  for (int r = 0; r < 4; ++r) {
    const Status& s = got[static_cast<size_t>(r)].status;
    EXPECT_EQ(s.code(), aclnn::kErrParamInvalid) << "rank " << r << ": " << s.ToString();
    EXPECT_NE(s.message().find("x1: ranks disagree"), std::string::npos) << s.message();
  }
}

TEST(ArnAgreement, BadArgumentOnOneRankFailsEveryRankWithoutHanging) {
  Param p = Case("bad", Shape(kBf16, kI8, ScaleKind::kPerChannel, 1, 4, 64, 64));
  ArnCase c = BuildCase(p, 4);
  c.ranks[1].gamma.dims = Dims{63};  // rank 1 only: gamma must be (n)
  const std::vector<RankResult> got = RunThreads(c, 4, p);
  EXPECT_EQ(got[1].status.code(), aclnn::kErrInnerTiling) << got[1].status.ToString();
  EXPECT_NE(got[1].status.message().find("gamma"), std::string::npos);
  for (int r : {0, 2, 3}) {
    const Status& s = got[static_cast<size_t>(r)].status;
    EXPECT_EQ(s.code(), aclnn::kErrParamInvalid) << s.ToString();
    EXPECT_NE(s.message().find("rank 1 rejected its arguments"), std::string::npos) << s.message();
  }
}

TEST(ArnExecute, RefusesAnotherWeightOrASmallWorkspace) {
  Param p = Case("exec", Shape(kF16, kI8, ScaleKind::kPerChannel, 1, 2, 64, 64));
  ArnCase c = BuildCase(p, 1);
  ArnTensors t;
  t.in = c.ranks[0];
  HostTensor y(DType::kFloat16, t.in.residual.dims), norm(DType::kFloat16, t.in.residual.dims);
  t.y = y.view();
  t.norm_out = norm.view();
  auto op = ArnOp::Create(t, c.attrs, OpContext{});
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  std::vector<uint8_t> ws((*op)->workspace_bytes());
  EXPECT_EQ((*op)->Execute(t, ws.data(), ws.size() - 1).code(), aclnn::kErrParamInvalid);
  HostTensor other = HostTensor::FromView(t.in.x2);
  ArnTensors t2 = t;
  t2.in.x2 = other.view();
  EXPECT_EQ((*op)->Execute(t2, ws.data(), ws.size()).code(), aclnn::kErrParamInvalid);
  EXPECT_TRUE((*op)->Execute(t, ws.data(), ws.size()).ok());
}

TEST(ArnSchedule, ChoosesBySizeAndFitsTheSymmetricBuffer) {
  ArnCommFacts facts;
  facts.world_size = 2;
  facts.half_bytes = SymmetricChannel::HalfBytes(64 << 20);
  // Decode: one-shot, one chunk.
  ArnSchedule s = ChooseArnSchedule(16, 4096, 2048, 2, facts, {});
  EXPECT_EQ(s.algorithm, ArnAlgorithm::kOneShot);
  EXPECT_EQ(s.chunk_rows, 16);
  EXPECT_EQ(s.passes(), 1);
  // Prefill: two-shot, ~4 chunks of >= 256 rows, one pass while 2048 rows fit a 32 MiB half.
  s = ChooseArnSchedule(2048, 4096, 2048, 2, facts, {});
  EXPECT_EQ(s.algorithm, ArnAlgorithm::kTwoShot);
  EXPECT_EQ(s.chunk_rows, 512);
  EXPECT_EQ(s.passes(), 1);
  s = ChooseArnSchedule(256, 4096, 2048, 2, facts, {});
  EXPECT_EQ(s.chunk_rows, 256);
  // Larger than a half: several passes, at most 16 chunks each.
  s = ChooseArnSchedule(10000, 4096, 2048, 2, facts, ArnOptions{ArnAlgorithm::kAuto, 8});
  EXPECT_GT(s.passes(), 1);
  EXPECT_LE((s.pass_rows + s.chunk_rows - 1) / s.chunk_rows, kArnMaxChunks);
  // No usable buffer, or one rank.
  facts.half_bytes = 0;
  EXPECT_EQ(ChooseArnSchedule(16, 4096, 2048, 2, facts, {}).algorithm, ArnAlgorithm::kChained);
  // Chained prefill: chunks of >= 128 rows, ~8 of them; decode in one piece.
  EXPECT_EQ(ChooseArnSchedule(16, 4096, 2048, 2, facts, {}).chunk_rows, 16);
  EXPECT_EQ(ChooseArnSchedule(256, 4096, 2048, 2, facts, {}).chunk_rows, 128);
  EXPECT_EQ(ChooseArnSchedule(1024, 4096, 2048, 2, facts, {}).chunk_rows, 128);
  EXPECT_EQ(ChooseArnSchedule(2048, 4096, 2048, 2, facts, {}).chunk_rows, 256);
  EXPECT_EQ(ChooseArnSchedule(300, 4096, 2048, 2, facts, {}).chunk_rows, 128);
  EXPECT_EQ(ChooseArnSchedule(100, 4096, 2048, 2, facts, {}).chunk_rows, 100);
  EXPECT_EQ(ChooseArnSchedule(100, 4096, 2048, 2, facts, ArnOptions{ArnAlgorithm::kChained, 100}).chunk_rows, 100);
  facts.world_size = 1;
  EXPECT_EQ(ChooseArnSchedule(16, 4096, 2048, 2, facts, {}).algorithm, ArnAlgorithm::kLocal);
}

class Summary : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("[ArnOp] %lld output elements, all bitwise equal to the golden's steps after the matmul on the "
                "operator's products; %lld product elements not bitwise equal to the golden's (within the fp32 bound); vs the full "
                "golden: %lld elements differ, %lld outside allclose(0.005), max |error| %.3g\n",
                static_cast<long long>(g_stats.compared), static_cast<long long>(g_stats.products_off),
                static_cast<long long>(g_stats.differ_golden), static_cast<long long>(g_stats.beyond_rule),
                g_stats.max_abs);
  }
};
const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new Summary);

}  // namespace
}  // namespace mc2::ops
