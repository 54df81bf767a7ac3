// Soak (issue 8): 4 ranks as forked processes run random operators with random valid shapes --
// WeightQuantMatmulAllReduceAddRmsNorm, LinearParallel of every type (float, W8A16, W8A8) and
// AlltoAllAllGatherBatchMatMul on a 2 x 2 grid -- for MC2_SOAK_SECONDS (default 5 s; CI runs
// 120 s), each result judged against the golden model by the rank that produced it, and the
// resident set of every rank must stay flat.
//
// The sequence is a function of one seed (MC2_SOAK_SEED, else the clock; printed, so a failure can
// be replayed), drawn identically on every rank, so all ranks make the same calls in the same
// order. Ranks agree on when to stop through an AllReduce(max) of "my time is up" after each
// operator.
//
// Memory bound: RSS is sampled after a warm-up (the first 10 % of the run, at least 8 operators:
// every operator kind and the allocator's arenas have reached their working size by then) and at
// the end. Every operator frees all it allocates, so the growth must stay below 4 MiB -- well
// above the allocator's slack for these tensors (the largest case holds < 1 MiB) and well below
// what a per-call leak of even 2 KiB would add over the run's thousands of calls.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <tuple>

#include "forked_ranks_test_util.h"
#include "ops_arn_test_util.h"
#include "ops_linear_parallel_test_util.h"
#include "ops_moe_test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define MC2_SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MC2_SOAK_ASAN 1
#endif
#endif
#ifdef MC2_SOAK_ASAN
// The sanitizer runtime's allocator statistics (sanitizer/allocator_interface.h, which GCC does not
// ship; the symbol is in libasan).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace mc2::ops {
namespace {

constexpr int kRanks = 4;
constexpr int64_t kRssBoundBytes = int64_t{4} << 20;

#ifdef MC2_SOAK_ASAN
// Under AddressSanitizer freed blocks wait in its quarantine (256 MiB by default) before they are
// reused, so the resident set grows whatever the code does; the allocator's count of live heap
// bytes is the flat-memory measure there (the bound and the messages are the same).
constexpr const char* kMemoryName = "live heap";
int64_t RssBytes() { return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes()); }
#else
constexpr const char* kMemoryName = "RSS";
int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}
#endif

// While an operator runs, the rank's report names it: if the rank dies, the parent prints it.
void Announce(mc2::testing::ForkedRankReport& rep, const std::string& what) {
  std::snprintf(rep.message, 256, "died while running %s", what.c_str());
}

double Ulp(double v, DType dt) { return mc2::testing::LpUlp(v, dt); }  // lp_judge.h

// ARN's outputs against the golden. An element passes the spec's accuracy rule
// (reference/accuracy.h), or else an explained bound:
//   y: each rank's local product P_r is rounded to the activation dtype before the all-reduce, and
//      the kernel's fp32 sum may round one ulp away from the golden's float64 one, so y may differ
//      by one ulp of |P_r| per rank (P_r from the golden model of that rank alone with a zero
//      residual) plus two ulps of y itself;
//   normOut: within two ulps of RMSNorm (float64) applied to the operator's own y and gamma.
// Kept here rather than shared so that the soak does not move with the suites' own judges.
std::string JudgeArn(const reference::ArnCase& c, int rank, const HostTensor& y, const HostTensor& norm_out,
                     const reference::ArnOutputs& want, double* max_abs) {
  const DType dt = want.y.dtype();
  const reference::RuleSpec rule = reference::DefaultRule(reference::AccuracyOp::kMatmulAllReduceAddRmsNorm, dt);
  const reference::AccuracyReport ry = reference::Check(rule, y, want.y);
  const reference::AccuracyReport rn = reference::Check(rule, norm_out, want.norm_out);
  *max_abs = std::max({*max_abs, ry.max_abs_error, rn.max_abs_error});
  if (ry.pass && rn.pass) return "";
  std::vector<HostTensor> products;
  for (const ArnInputs& in : c.ranks) {
    ArnInputs alone = in;
    HostTensor zero(in.residual.dtype, in.residual.dims);
    alone.residual = zero.view();
    auto out = reference::WeightQuantMatmulAllReduceAddRmsNorm({alone}, c.attrs, reference::Mode::kCann);
    if (!out.ok()) return "golden product: " + out.status().ToString();
    products.push_back(std::move((*out)[0].y));
  }
  const int64_t n = y.dims()[y.dims().size() - 1];
  const HostTensor gamma = HostTensor::FromView(c.ranks[static_cast<size_t>(rank)].gamma);
  for (int64_t row = 0; row < y.numel() / n; ++row) {
    double sum_sq = 0;
    for (int64_t j = 0; j < n; ++j) sum_sq += y.at(row * n + j) * y.at(row * n + j);
    const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + c.attrs.epsilon);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t e = row * n + j;
      const double g = want.y.at(e), a = y.at(e), d = std::fabs(a - g);
      if (d > rule.atol + rule.rtol * std::fabs(g)) {
        double bound = 2 * Ulp(g, dt);
        for (const HostTensor& p : products) bound += Ulp(p.at(e), dt);
        if (d > bound) return StrCat("y element ", e, " is ", a, " but the golden's is ", g, " (beyond ", bound, ")");
      }
      const double gn = want.norm_out.at(e), an = norm_out.at(e);
      if (std::fabs(an - gn) > rule.atol + rule.rtol * std::fabs(gn)) {
        const double own = a * inv_rms * gamma.at(j);
        if (std::fabs(an - own) > 2 * Ulp(own, dt)) {
          return StrCat("normOut element ", e, " is ", an, " but RMSNorm of the operator's own y gives ", own,
                        " (golden ", gn, ")");
        }
      }
    }
  }
  return "";
}

template <typename T>
T Pick(std::mt19937_64& rng, std::initializer_list<T> values) {
  const size_t i = rng() % values.size();
  return *(values.begin() + i);
}

std::string RunArn(std::mt19937_64& rng, comm::Communicator& world, mc2::testing::ForkedRankReport& rep,
                   std::string* what) {
  double* max_abs = &rep.max_abs;
  reference::ArnShape s;
  s.world_size = world.world_size();
  s.b = Pick(rng, {1, 2});
  s.s = Pick(rng, {1, 3, 8, 20});
  s.k = Pick(rng, {64, 128, 256});
  s.n = Pick(rng, {32, 64, 96});
  s.act = Pick(rng, {DType::kFloat16, DType::kBFloat16});
  s.weight = Pick(rng, {DType::kInt8, DType::kInt4});
  s.scale = Pick(rng, {reference::ScaleKind::kPerTensor, reference::ScaleKind::kPerChannel, reference::ScaleKind::kPerGroup});
  // Per-group: a multiple of 32 below k (CANN's rule).
  s.group_size = s.scale == reference::ScaleKind::kPerGroup ? (s.k == 64 ? 32 : Pick(rng, {int64_t{32}, int64_t{64}})) : 0;
  s.offset = rng() % 2 == 0;
  s.bias = rng() % 2 == 0;
  s.transposed_weight = rng() % 2 == 0;
  s.seed = rng();
  const bool inplace = rng() % 4 == 0;
  *what = StrCat("arn b ", s.b, " s ", s.s, " k ", s.k, " n ", s.n, " ", DTypeName(s.act), " ", DTypeName(s.weight),
                 " scale ", static_cast<int>(s.scale), " group ", s.group_size, " offset ", s.offset, " bias ", s.bias,
                 " transposed ", s.transposed_weight, " inplace ", inplace);
  Announce(rep, *what);
  reference::ArnCase c = reference::MakeArnCase(s);
  auto golden = reference::WeightQuantMatmulAllReduceAddRmsNorm(c.ranks, c.attrs, reference::Mode::kCann);
  if (!golden.ok()) return "golden: " + golden.status().ToString();
  ThreadPool pool(1);
  const testing::RankResult res = testing::RunArnRank(c, &world, &pool, {}, inplace, 1);
  if (!res.status.ok()) return res.status.ToString();
  return JudgeArn(c, world.rank(), res.y, res.norm_out, (*golden)[static_cast<size_t>(world.rank())], max_abs);
}

std::string RunLp(std::mt19937_64& rng, comm::Communicator& world, mc2::testing::ForkedRankReport& rep,
                  std::string* what) {
  double* max_abs = &rep.max_abs;
  using Type = LinearParallelType;
  reference::LinearParallelShape s;
  s.world_size = world.world_size();
  s.attrs.type = Pick(rng, {Type::kLinearAllReduce, Type::kLinearReduceScatter, Type::kAllGatherLinear,
                            Type::kAllGatherLinearReduceScatter});
  s.k = Pick(rng, {64, 128});
  s.n = Pick(rng, {32, 64});
  s.m = 4 * Pick(rng, {1, 2, 8});  // ReduceScatter needs m divisible by the rank count
  s.act = Pick(rng, {DType::kFloat16, DType::kBFloat16});
  const int quant = static_cast<int>(rng() % 3);  // float, W8A16, W8A8
  if (quant >= 1) s.attrs.quant_type = QuantType::kPerChannel;
  s.w8a8 = quant == 2;
  if (s.w8a8) s.act = DType::kFloat16;
  s.attrs.has_residual = s.attrs.type == Type::kLinearAllReduce && rng() % 2 == 0;
  s.attrs.keep_intermediate = s.attrs.type == Type::kAllGatherLinear && quant == 0 && rng() % 2 == 0;
  if (s.attrs.type == Type::kAllGatherLinearReduceScatter) {
    s.attrs.ag_dim = 2;
    s.attrs.rs_dim = s.world_size / 2;
    s.w8a8 = false;
    s.attrs.quant_type = QuantType::kUnquant;
  }
  s.seed = rng();
  *what = StrCat("lp type ", static_cast<int>(s.attrs.type), " m ", s.m, " k ", s.k, " n ", s.n, " ",
                 DTypeName(s.act), " quant ", quant, " residual ", s.attrs.has_residual, " keep ",
                 s.attrs.keep_intermediate);
  Announce(rep, *what);
  reference::LinearParallelCase c = reference::MakeLinearParallelCase(s);
  auto golden = reference::LinearParallel(c.ranks, c.attrs, reference::Mode::kCann);
  if (!golden.ok()) return "golden: " + golden.status().ToString();
  ThreadPool pool(1);
  const testing::LpRankResult res = testing::RunLpRank(c, &world, &pool, {}, 1);
  if (!res.status.ok()) return res.status.ToString();
  const auto& want = (*golden)[static_cast<size_t>(world.rank())];
  // The LinearParallel suites' own judge (lp_judge.h), so the two cannot drift.
  const std::string verdict = mc2::testing::JudgeLp(c, world.rank(), res.output, want.output, max_abs, nullptr);
  if (!verdict.empty()) return verdict;
  if (c.attrs.keep_intermediate &&
      std::memcmp(res.intermediate.data(), want.intermediate->data(), res.intermediate.bytes()) != 0) {
    return "intermediate differs";
  }
  return "";
}

std::string RunMoe(std::mt19937_64& rng, const MoeContext& ctx, int64_t grid, mc2::testing::ForkedRankReport& rep,
                   std::string* what) {
  double* max_abs = &rep.max_abs;
  reference::MoeShape s;
  s.e = Pick(rng, {2, 4, 8});
  s.c = Pick(rng, {2, 4, 6});
  s.h = Pick(rng, {32, 64});
  s.m = Pick(rng, {32, 64});
  s.act = Pick(rng, {DType::kFloat16, DType::kBFloat16});
  s.x_shard_type = static_cast<int64_t>(rng() % 2);
  s.act_type = Pick(rng, {ActType::kNone, ActType::kGelu, ActType::kSilu, ActType::kRelu, ActType::kFastGelu});
  s.bias = rng() % 2 == 0;
  s.want_y2 = rng() % 2 == 0;
  s.want_y3 = s.act_type != ActType::kNone && rng() % 2 == 0;
  s.transposed_weight = rng() % 2 == 0;
  s.seed = rng();
  *what = StrCat("moe e ", s.e, " c ", s.c, " h ", s.h, " m ", s.m, " ", DTypeName(s.act), " shard ", s.x_shard_type,
                 " act ", static_cast<int>(s.act_type), " bias ", s.bias, " y2 ", s.want_y2, " y3 ", s.want_y3,
                 " transposed ", s.transposed_weight);
  Announce(rep, *what);
  const reference::MoeCase c = reference::MakeMoeCase(s);
  auto golden = reference::AlltoAllAllGatherBatchMatMul(c.ranks, c.attrs, reference::Mode::kCann);
  if (!golden.ok()) return "golden: " + golden.status().ToString();
  const testing::MoeRankResult res = testing::RunMoeRank(c, grid, ctx, {}, 1);
  if (!res.status.ok()) return res.status.ToString();
  int64_t differing = 0;
  return testing::JudgeMoeRank(res, (*golden)[static_cast<size_t>(grid)], max_abs, &differing);
}

struct Totals {
  int64_t ops[3] = {0, 0, 0};
  int64_t rss_start = 0, rss_end = 0;
};

std::string Soak(comm::Communicator& world, uint64_t seed, double seconds, mc2::testing::ForkedRankReport& rep,
                 Totals* totals) {
  const testing::GridPlace place = testing::PlaceInGrid(testing::GridLayout::kTpConsecutive, world.rank(), 2, 2);
  auto ep = world.CreateSub(place.ep_group);
  if (!ep.ok()) return "ep group: " + ep.status().ToString();
  auto tp = world.CreateSub(place.tp_group);
  if (!tp.ok()) return "tp group: " + tp.status().ToString();
  ThreadPool moe_pool(1);
  const MoeContext moe_ctx{ep->get(), tp->get(), &moe_pool};
  const int64_t grid = place.p * 2 + place.t;

  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  const auto warm = start + std::chrono::duration<double>(seconds * 0.1);
  const auto end = start + std::chrono::duration<double>(seconds);
  for (int64_t i = 0;; ++i) {
    const int kind = static_cast<int>(rng() % 3);
    std::string what;
    std::string verdict = kind == 0   ? RunArn(rng, world, rep, &what)
                          : kind == 1 ? RunLp(rng, world, rep, &what)
                                      : RunMoe(rng, moe_ctx, grid, rep, &what);
    if (!verdict.empty()) return StrCat("operator ", i, " (", what, ", seed ", seed, "): ", verdict);
    ++totals->ops[kind];
    const auto now = std::chrono::steady_clock::now();
    if (totals->rss_start == 0 && now >= warm && i >= 8) totals->rss_start = RssBytes();
    int32_t done = now >= end && totals->rss_start != 0 ? 1 : 0;
    const Status s = world.AllReduce(&done, &done, 1, DType::kInt32, comm::ReduceOp::kMax);
    if (!s.ok()) return "stop vote: " + s.ToString();
    if (done != 0) break;
  }
  totals->rss_end = RssBytes();
  if (totals->rss_end - totals->rss_start > kRssBoundBytes) {
    return StrCat(kMemoryName, " grew from ", totals->rss_start, " to ", totals->rss_end, " bytes (bound ", kRssBoundBytes, ")");
  }
  return "";
}

TEST(Soak, RandomOperatorsOnFourProcessRanksMatchGoldenWithFlatMemory) {
  const char* secs = std::getenv("MC2_SOAK_SECONDS");
  const double seconds = secs != nullptr ? std::atof(secs) : 5.0;
  ASSERT_GT(seconds, 0) << "MC2_SOAK_SECONDS must be a positive number";
  const char* seed_env = std::getenv("MC2_SOAK_SEED");
  const uint64_t seed = seed_env != nullptr ? std::strtoull(seed_env, nullptr, 0)
                                            : static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::printf("[soak] %.0f s on %d process ranks, seed %llu (MC2_SOAK_SEED replays it)\n", seconds, kRanks,
              static_cast<unsigned long long>(seed));
  std::vector<mc2::testing::ForkedRankReport> reports;
  const std::string failure = mc2::testing::RunForkedRanks(
      kRanks,
      [&](comm::Communicator& c, mc2::testing::ForkedRankReport& rep) {
        Totals totals;
        std::string msg = Soak(c, seed, seconds, rep, &totals);
        if (msg.empty()) {
          // The counts travel back in the second half of the message: "arn lp moe rss_start rss_end".
          std::snprintf(rep.message + 256, 200, "%lld %lld %lld %lld %lld", static_cast<long long>(totals.ops[0]),
                        static_cast<long long>(totals.ops[1]), static_cast<long long>(totals.ops[2]),
                        static_cast<long long>(totals.rss_start), static_cast<long long>(totals.rss_end));
        }
        return msg;
      },
      &reports, std::chrono::seconds(static_cast<int64_t>(seconds) * 3 + 120));
  ASSERT_EQ(failure, "");
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(reports[r].done, 1) << "rank " << r << ": " << reports[r].message;
    long long arn = 0, lp = 0, moe = 0, rss0 = 0, rss1 = 0;
    std::sscanf(reports[r].message + 256, "%lld %lld %lld %lld %lld", &arn, &lp, &moe, &rss0, &rss1);
    std::printf("[soak] rank %d: %lld ARN, %lld LinearParallel, %lld MoE; max |error| %.3g; %s %.1f MiB after "
                "warm-up, %.1f MiB at the end (%+.2f MiB)\n",
                r, arn, lp, moe, reports[r].max_abs, kMemoryName, rss0 / 1048576.0, rss1 / 1048576.0, (rss1 - rss0) / 1048576.0);
  }
}

}  // namespace
}  // namespace mc2::ops
