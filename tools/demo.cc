// `mc2 demo`: one step of a tensor-parallel Llama-style decoder layer and of a MoE expert layer,
// run by the fused operators across local ranks, checked against the golden model.
//
// The decoder layer at TP = n (hidden H, MLP width I, T tokens in the step):
//   attention out-proj + residual + RMSNorm   WeightQuantMatmulAllReduceAddRmsNorm, int4 weights
//                                             with per-group (128) scales: x1 (1, T, H/n) @ (H/n, H)
//   MLP up, sequence-parallel input           LinearParallel ALL_GATHER_LINEAR, fp16: (T/n, H) ->
//                                             gathered (T, H) @ (H, I/n)
//   MLP down                                  LinearParallel LINEAR_REDUCE_SCATTER, fp16 and W8A8
//                                             per-channel: (T, I/n) @ (I/n, H) -> (T/n, H)
// The expert layer: AlltoAllAllGatherBatchMatMul on an EP x TP grid (both must be >= 2, so it runs
// on max(4, n) ranks as its own job).
//
// Every operator is timed twice on the same data: fused (the plan's own algorithm) and the
// unfused chain (the same operator forced to its chained algorithm: mc2's matmul, then the mc2
// collective, then the epilogue as a separate pass). After two warm-up calls of each, the two are
// sampled alternately (fused / chained, then chained / fused, ...), so both see the same machine.
// A sample is one call between two barriers; its time is the slowest rank's; the table shows the
// median of each. Afterwards every rank's outputs of
// both runs are gathered on rank 0 and judged against the golden model with the spec's Huawei
// rule for the operator (section 5; MoE: or the explained bound of fp32 accumulation,
// reference::CheckMoeOutput); a row fails if any output of either run fails.
//
// Ranks are processes by default (the command re-executes itself through the launcher, see
// ranks.h), threads with --threads; under `mc2 launch` or mpirun it is one rank of that job.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "core/dtype.h"
#include "core/trace.h"
#include "rank_op.h"
#include "ranks.h"
#include "reference/accuracy.h"
#include "reference/arn.h"
#include "reference/cases.h"
#include "reference/linear_parallel.h"
#include "reference/moe.h"

namespace mc2::cli {
namespace {

struct DemoOptions {
  int ranks = 2;
  bool threads = false;
  std::string preset = "tiny";
  int iters = 0;     // 0: the preset's
  std::string job;   // internal: "decoder" or "moe" in re-executed ranks
  std::string corrupt;  // test hook (hidden --corrupt-output): rows whose operator contains it get a wrong output
};

struct Preset {
  int64_t hidden, mlp, tokens;
  int64_t moe_e, moe_c, moe_h, moe_m;
  int iters;
};

Preset GetPreset(const std::string& name) {
  if (name == "7b") return {4096, 11008, 16, 8, 32, 1024, 1024, 5};
  if (name == "70b") return {8192, 28672, 16, 8, 32, 1024, 1024, 3};
  if (name == "moe") return {1024, 2048, 16, 16, 64, 4096, 2048, 3};
  return {1024, 2048, 16, 4, 16, 512, 512, 10};  // tiny
}

// ---- what one row measures, on every rank ----

struct Row {
  std::string op, shape, algorithm;
  double fused_us = 0, chain_us = 0;
  double max_abs = 0;
  bool pass = false;
  std::string error;
};

double NowUs() { return static_cast<double>(trace::NowNs()) / 1e3; }

// Times the fused and the chained operator on the same data, alternately, so that both see the
// same machine (load, caches, clock): two warm-up calls of each (an operator alternating between
// the halves of its symmetric buffers touches both), then `iters` rounds of one sample of each,
// which goes first alternating between rounds. A sample is one call between two barriers, its
// time the slowest rank's. Returns the median of each (fused, chained), in microseconds.
StatusOr<std::pair<double, double>> TimeAlternately(comm::Communicator& c, RankOp& fused, RankOp& chain, int iters) {
  for (int i = 0; i < 2; ++i) {
    MC2_RETURN_IF_ERROR(fused.Execute());
    MC2_RETURN_IF_ERROR(chain.Execute());
  }
  // samples[0 .. iters) fused, samples[iters .. 2 iters) chained
  std::vector<float> samples(static_cast<size_t>(2 * iters));
  for (int i = 0; i < iters; ++i) {
    for (int j = 0; j < 2; ++j) {
      const bool run_fused = (i + j) % 2 == 0;
      MC2_RETURN_IF_ERROR(c.Barrier());
      const double t0 = NowUs();
      MC2_RETURN_IF_ERROR(run_fused ? fused.Execute() : chain.Execute());
      samples[static_cast<size_t>(run_fused ? i : iters + i)] = static_cast<float>(NowUs() - t0);
    }
  }
  MC2_RETURN_IF_ERROR(c.AllReduce(samples.data(), samples.data(), samples.size(), DType::kFloat32, comm::ReduceOp::kMax));
  auto median = [](std::vector<float>::iterator first, std::vector<float>::iterator last) {
    std::sort(first, last);
    return static_cast<double>(first[(last - first) / 2]);
  };
  const double f = median(samples.begin(), samples.begin() + iters);
  return std::make_pair(f, median(samples.begin() + iters, samples.end()));
}

// Every rank's outputs of `op`, on rank 0 ([rank][output]); empty elsewhere.
StatusOr<std::vector<std::vector<HostTensor>>> GatherOutputs(comm::Communicator& c, const RankOp& op) {
  const int world = c.world_size();
  std::vector<std::vector<HostTensor>> all(c.rank() == 0 ? static_cast<size_t>(world) : 0);
  for (const auto& [name, t] : op.outputs()) {
    std::vector<uint8_t> buf(t.bytes() * static_cast<size_t>(world));
    MC2_RETURN_IF_ERROR(c.AllGather(t.data(), buf.data(), t.bytes(), DType::kUInt8));
    if (c.rank() != 0) continue;
    for (int r = 0; r < world; ++r) {
      HostTensor copy(t.dtype(), t.dims());
      std::copy_n(buf.data() + t.bytes() * static_cast<size_t>(r), t.bytes(), static_cast<uint8_t*>(copy.data()));
      all[static_cast<size_t>(r)].push_back(std::move(copy));
    }
  }
  return all;
}

// Judges gathered outputs against the golden's (same order), folding into the row.
void Judge(reference::AccuracyOp kind, const std::vector<std::vector<HostTensor>>& got,
           const std::vector<std::vector<const HostTensor*>>& want, const char* which, Row& row) {
  for (size_t r = 0; r < got.size(); ++r) {
    for (size_t i = 0; i < got[r].size() && i < want[r].size(); ++i) {
      const HostTensor& g = got[r][i];
      const HostTensor& w = *want[r][i];
      if (g.dims() != w.dims()) {
        row.pass = false;
        row.error = StrCat(which, " rank ", r, " output ", i, ": shape ", g.dims().ToString(), " vs golden ",
                           w.dims().ToString());
        continue;
      }
      // MoE: the golden's rank outputs are y1, its product and z (MoeCase), judged with the
      // operator's explained bound (reference::CheckMoeOutput).
      const bool moe = kind == reference::AccuracyOp::kAlltoAllAllGatherBatchMatMul && want[r].size() == 3;
      const reference::AccuracyReport rep =
          moe ? reference::CheckMoeOutput(g, w, *want[r][1], *want[r][2], false)
              : reference::Check(reference::DefaultRule(kind, w.dtype()), g, w);
      if (std::string(which) == "fused") row.max_abs = std::max(row.max_abs, rep.max_abs_error);
      if (!rep.pass) {
        row.pass = false;
        // The first failure of each run (fused, chain), so that the table tells whether both fail.
        const std::string prefix = StrCat(which, " rank ");
        if (row.error.find(prefix) == std::string::npos) {
          row.error += StrCat(row.error.empty() ? "" : "\n    ", prefix, r, " output ", i, ": ", rep.ToString());
        }
      }
    }
  }
}

// The test hook behind --corrupt-output (docs/cli.md): makes the last rank's first fused output
// wrong in one element (the top exponent bit of element 0 flipped, on rank 0's gathered copy, so
// the value changes by a factor of 2^16 or more in fp16, bf16 and fp32 alike) before the judge.
// It exists so that a test can see the table say FAIL and the exit code be 1.
void CorruptOneElement(std::vector<std::vector<HostTensor>>& got) {
  if (got.empty() || got.back().empty()) return;
  HostTensor& t = got.back().front();
  const int bits = DTypeBits(t.dtype());
  if (t.bytes() == 0 || bits < 16 || !IsFloating(t.dtype())) return;
  static_cast<uint8_t*>(t.data())[static_cast<size_t>(bits / 8) - 1] ^= 0x40;  // little endian: the sign/exponent byte
}

// The progress line on rank 0 when stdout is a terminal.
class Progress {
 public:
  Progress(bool show, int total) : show_(show && isatty(STDOUT_FILENO) != 0), total_(total) {}
  void Step(const std::string& what) {
    if (!show_) return;
    ++done_;
    const int width = 30, filled = total_ > 0 ? width * done_ / total_ : width;
    std::printf("\r[%s%s] %d/%d %-60.60s", std::string(static_cast<size_t>(filled), '#').c_str(),
                std::string(static_cast<size_t>(width - filled), '.').c_str(), done_, total_, what.c_str());
    std::fflush(stdout);
  }
  void Clear() {
    if (show_) std::printf("\r%110s\r", "");
    std::fflush(stdout);
  }

 private:
  bool show_;
  int total_;
  int done_ = 0;
};

// One operator end to end on one rank: plan fused and chained, time both, gather, judge on rank 0.
// `make(fused)` plans; `golden()` (rank 0 only) returns the golden outputs per rank, in the order
// of the RankOp's outputs.
struct Case {
  std::string op, shape;
  reference::AccuracyOp kind;
  std::function<StatusOr<std::unique_ptr<RankOp>>(bool fused)> make;
  std::function<StatusOr<std::vector<std::vector<HostTensor>>>()> golden;
  std::function<void()> release;  // frees the row's inputs once the row is done
};

// A row's inputs of every rank (the golden model needs them all on rank 0), generated when the row
// starts and freed when it is done (on rank 0: once judged, after the last row), so that the other
// ranks need the memory of the largest row, not of all.
template <typename T>
class Lazy {
 public:
  explicit Lazy(std::function<T()> make) : make_(std::move(make)) {}
  T& get() {
    if (!value_) value_ = std::make_unique<T>(make_());
    return *value_;
  }
  void reset() { value_.reset(); }

 private:
  std::function<T()> make_;
  std::unique_ptr<T> value_;
};

// One row's measurement on one rank, and on rank 0 every rank's outputs of both runs, to judge.
struct Timed {
  Row row;
  std::vector<std::vector<HostTensor>> fused, chain;  // [rank][output], rank 0 only
  bool judge = false;                                 // timed and gathered: judge it
};

// Plans fused and chained, times both, gathers their outputs on rank 0 (collective).
Timed TimeCase(comm::Communicator& c, const Case& k, int iters, Progress& progress) {
  Timed t;
  t.row.op = k.op;
  t.row.shape = k.shape;
  auto fail = [&](const Status& s) {
    t.row.pass = false;
    t.row.error = s.ToString();
    return std::move(t);
  };
  auto fused = k.make(true);
  if (!fused.ok()) return fail(fused.status());
  auto chain = k.make(false);
  if (!chain.ok()) return fail(chain.status());
  t.row.algorithm = (*fused)->algorithm();
  progress.Step(k.op + ": fused and unfused, alternately");
  auto us = TimeAlternately(c, **fused, **chain, iters);
  if (!us.ok()) return fail(us.status());
  t.row.fused_us = us->first;
  t.row.chain_us = us->second;
  auto got_fused = GatherOutputs(c, **fused);
  if (!got_fused.ok()) return fail(got_fused.status());
  auto got_chain = GatherOutputs(c, **chain);
  if (!got_chain.ok()) return fail(got_chain.status());
  t.fused = std::move(*got_fused);
  t.chain = std::move(*got_chain);
  t.judge = true;
  return t;
}

// Rank 0, after every collective of the job: the golden model of the row and the judge. (Run while
// the other ranks waited in the next row's collectives, a golden model of a big preset outlasted
// the communication timeout.)
void JudgeCase(const Case& k, const std::string& corrupt, Timed& t, Progress& progress) {
  Row& row = t.row;
  if (!corrupt.empty() && k.op.find(corrupt) != std::string::npos) CorruptOneElement(t.fused);
  progress.Step(k.op + ": golden model");
  auto want = k.golden();
  if (!want.ok()) {
    row.pass = false;
    row.error = want.status().ToString();
    return;
  }
  std::vector<std::vector<const HostTensor*>> want_ptrs;
  for (auto& outs : *want) {
    want_ptrs.emplace_back();
    for (auto& w : outs) want_ptrs.back().push_back(&w);
  }
  row.pass = true;
  Judge(k.kind, t.fused, want_ptrs, "fused", row);
  Judge(k.kind, t.chain, want_ptrs, "chain", row);
}

void PrintHeader() {
  std::printf("%-46s %-32s %-9s %11s %11s %8s %10s  %s\n", "operator", "shape (per rank)", "algorithm", "fused",
              "unfused", "speedup", "max err", "result");
}

std::string FormatUs(double us) {
  char buf[32];
  if (us >= 1e4) std::snprintf(buf, sizeof(buf), "%.2f ms", us / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.1f us", us);
  return buf;
}

bool PrintRows(const std::vector<Row>& rows) {
  bool all = true;
  for (const Row& r : rows) {
    all = all && r.pass;
    const bool timed = r.fused_us > 0 && r.chain_us > 0;
    std::printf("%-46s %-32s %-9s %11s %11s %7.2fx %10.2e  %s\n", r.op.c_str(), r.shape.c_str(), r.algorithm.c_str(),
                timed ? FormatUs(r.fused_us).c_str() : "-", timed ? FormatUs(r.chain_us).c_str() : "-",
                timed ? r.chain_us / r.fused_us : 0.0, r.max_abs, r.pass ? "PASS" : "FAIL");
    if (!r.error.empty()) std::printf("    %s\n", r.error.c_str());
  }
  std::fflush(stdout);
  return all;
}

// ---- the two layers ----

std::vector<Case> DecoderCases(const Preset& p, comm::Communicator& c, ThreadPool& pool) {
  const int n = c.world_size();
  const int rank = c.rank();
  const ops::OpContext ctx{&c, &pool};
  std::vector<Case> cases;
  {
    reference::ArnShape s;
    s.world_size = n;
    s.b = 1;
    s.s = p.tokens;
    s.k = p.hidden / n;
    s.n = p.hidden;
    s.act = DType::kFloat16;
    s.weight = DType::kInt4;
    s.scale = reference::ScaleKind::kPerGroup;
    s.group_size = 128;
    s.transposed_weight = true;
    s.offset = false;
    s.bias = false;
    s.seed = 101;
    auto cs = std::make_shared<Lazy<reference::ArnCase>>([s] { return reference::MakeArnCase(s); });
    cases.push_back(
        {"WeightQuantMatmulAllReduceAddRmsNorm int4 g128",
         StrCat("(", s.s, ",", s.k, ")x(", s.k, ",", s.n, ")"),
         reference::AccuracyOp::kMatmulAllReduceAddRmsNorm,
         [cs, ctx, rank](bool fused) {
           ops::ArnOptions o;
           if (!fused) o.algorithm = ops::ArnAlgorithm::kChained;
           return MakeArnRankOp(cs->get().ranks[static_cast<size_t>(rank)], cs->get().attrs, ctx, o);
         },
         [cs]() -> StatusOr<std::vector<std::vector<HostTensor>>> {
           MC2_ASSIGN_OR_RETURN(auto outs, reference::WeightQuantMatmulAllReduceAddRmsNorm(
                                               cs->get().ranks, cs->get().attrs, reference::Mode::kCann));
           std::vector<std::vector<HostTensor>> all;
           for (auto& o : outs) {
             all.emplace_back();
             all.back().push_back(std::move(o.y));
             all.back().push_back(std::move(o.norm_out));
           }
           return all;
         },
         [cs] { cs->reset(); }});
  }
  auto lp_case = [&](const char* label, LinearParallelType type, bool w8a8, int64_t m, int64_t k, int64_t nn,
                     uint64_t seed) {
    reference::LinearParallelShape s;
    s.world_size = n;
    s.m = m;
    s.k = k;
    s.n = nn;
    s.attrs.type = type;
    s.attrs.trans_weight = true;
    s.act = DType::kFloat16;
    s.bias = false;
    s.seed = seed;
    if (w8a8) {
      s.w8a8 = true;
      s.bias = true;
      s.attrs.quant_type = QuantType::kPerChannel;
      s.attrs.out_dtype = DType::kFloat16;
    }
    auto cs = std::make_shared<Lazy<reference::LinearParallelCase>>(
        [s] { return reference::MakeLinearParallelCase(s); });
    cases.push_back({label, StrCat("(", m, ",", k, ")x(", k, ",", nn, ")"), reference::AccuracyOp::kLinearParallel,
                     [cs, ctx, rank](bool fused) {
                       ops::LpOptions o;
                       if (!fused) o.algorithm = ops::LpAlgorithm::kChained;
                       return MakeLpRankOp(cs->get().ranks[static_cast<size_t>(rank)], cs->get().attrs, ctx, o);
                     },
                     [cs]() -> StatusOr<std::vector<std::vector<HostTensor>>> {
                       MC2_ASSIGN_OR_RETURN(auto outs, reference::LinearParallel(cs->get().ranks, cs->get().attrs,
                                                                                 reference::Mode::kCann));
                       std::vector<std::vector<HostTensor>> all;
                       for (auto& o : outs) {
                         all.emplace_back();
                         all.back().push_back(std::move(o.output));
                       }
                       return all;
                     },
                     [cs] { cs->reset(); }});
  };
  lp_case("LinearParallel ALL_GATHER_LINEAR fp16", LinearParallelType::kAllGatherLinear, false, p.tokens / n,
          p.hidden, p.mlp / n, 102);
  lp_case("LinearParallel LINEAR_REDUCE_SCATTER fp16", LinearParallelType::kLinearReduceScatter, false, p.tokens,
          p.mlp / n, p.hidden, 103);
  lp_case("LinearParallel LINEAR_REDUCE_SCATTER W8A8", LinearParallelType::kLinearReduceScatter, true, p.tokens,
          p.mlp / n, p.hidden, 104);
  return cases;
}

Case MoeCase(const Preset& p, int64_t ep, int64_t tp, comm::Communicator& c, ThreadPool& pool) {
  const int rank = c.rank();
  comm::Communicator* world = &c;
  ThreadPool* pool_ptr = &pool;
  reference::MoeShape s;
  s.ep = ep;
  s.tp = tp;
  s.e = p.moe_e;
  s.c = p.moe_c;
  s.h = p.moe_h;
  s.m = p.moe_m;
  s.act = DType::kFloat16;
  s.act_type = ActType::kSilu;
  s.want_y2 = false;
  s.want_y3 = false;
  s.seed = 105;
  auto cs = std::make_shared<Lazy<reference::MoeCase>>([s] { return reference::MakeMoeCase(s); });
  return {StrCat("AlltoAllAllGatherBatchMatMul ", ep, "x", tp, " SiLU"),
          StrCat("E", s.e / ep, " (", s.c * ep, ",", s.h, ")x(", s.h, ",", s.m / tp, ")"),
          reference::AccuracyOp::kAlltoAllAllGatherBatchMatMul,
          [cs, world, pool_ptr, rank](bool fused) {
            ops::MoeOptions o;
            o.algorithm = fused ? ops::MoeAlgorithm::kAuto : ops::MoeAlgorithm::kChained;
            return MakeMoeRankOp(cs->get().ranks[static_cast<size_t>(rank)], cs->get().attrs, *world, pool_ptr, o);
          },
          [cs]() -> StatusOr<std::vector<std::vector<HostTensor>>> {
            MC2_ASSIGN_OR_RETURN(auto outs, reference::AlltoAllAllGatherBatchMatMul(cs->get().ranks, cs->get().attrs,
                                                                                   reference::Mode::kCann));
            std::vector<std::vector<HostTensor>> all;
            for (auto& o : outs) {
              all.emplace_back();
              all.back().push_back(std::move(o.y1));
              all.back().push_back(std::move(*o.product));
              all.back().push_back(std::move(*o.z));
            }
            return all;
          },
          [cs] { cs->reset(); }};
}

// One rank of a job: `decoder` and/or `moe` parts. Rank 0 prints the rows; its exit code says
// whether every row passed.
int DemoRank(comm::Communicator& c, ThreadPool& pool, const DemoOptions& o, bool decoder, bool moe) {
  const Preset p = GetPreset(o.preset);
  const int iters = o.iters > 0 ? o.iters : p.iters;
  std::vector<Case> cases;
  if (decoder) cases = DecoderCases(p, c, pool);
  if (moe) cases.push_back(MoeCase(p, c.world_size() / 2, 2, c, pool));
  Progress progress(c.rank() == 0, static_cast<int>(cases.size()) * 2);
  std::vector<Timed> timed;
  for (const Case& k : cases) {
    timed.push_back(TimeCase(c, k, iters, progress));  // its operators are destroyed here
    if (c.rank() != 0) k.release();                   // rank 0 keeps the inputs for the golden model
  }
  if (c.rank() != 0) return 0;
  std::vector<Row> rows;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (timed[i].judge) JudgeCase(cases[i], o.corrupt, timed[i], progress);
    cases[i].release();
    rows.push_back(std::move(timed[i].row));
  }
  progress.Clear();
  return PrintRows(rows) ? 0 : 1;
}

bool IsPow2(int n) { return n > 0 && (n & (n - 1)) == 0; }

int RunDemo(const DemoOptions& o) {
  if (!o.job.empty()) {  // a re-executed rank of one of the two jobs
    return RunRanks(0, false, [&](comm::Communicator& c, ThreadPool& pool) {
      return DemoRank(c, pool, o, o.job == "decoder", o.job == "moe");
    });
  }
  if (InLaunchedJob()) {  // under `mc2 launch` or mpirun: one job, this process one rank of it
    return RunRanks(0, false, [&](comm::Communicator& c, ThreadPool& pool) {
      const bool moe = c.world_size() >= 4 && IsPow2(c.world_size());
      if (c.rank() == 0) {
        std::printf("mc2 demo: preset %s, %d ranks (launched job)%s\n\n", o.preset.c_str(), c.world_size(),
                    moe ? "" : "; the MoE layer needs an EP x TP grid of >= 4 ranks, skipped");
        PrintHeader();
      }
      return DemoRank(c, pool, o, true, moe);
    });
  }
  const int moe_ranks = std::max(4, o.ranks);
  std::printf("mc2 demo: preset %s, decoder layer on %d ranks, MoE layer on %d ranks (EP %d x TP 2), ranks as %s\n\n",
              o.preset.c_str(), o.ranks, moe_ranks, moe_ranks / 2, o.threads ? "threads" : "processes");
  PrintHeader();
  std::fflush(stdout);
  const int decoder_code = RunRanks(o.ranks, o.threads, [&](comm::Communicator& c, ThreadPool& pool) {
    return DemoRank(c, pool, o, true, false);
  }, {"--job", "decoder"});
  const int moe_code = RunRanks(moe_ranks, o.threads, [&](comm::Communicator& c, ThreadPool& pool) {
    return DemoRank(c, pool, o, false, true);
  }, {"--job", "moe"});
  std::printf("\nfused: the operator's own algorithm; unfused: the same operator chained (mc2 matmul, then the mc2\n"
              "collective, then the epilogue as a separate pass). Times: median over calls of the slowest rank.\n"
              "max err: largest |fused - golden| over every output of every rank; PASS = both runs meet the\n"
              "spec's Huawei rule for the operator (ARN allclose 0.005, MoE allclose 0.001 or the explained bound\n"
              "of fp32 accumulation, LP ref_compare).\n");
  if (decoder_code != 0 || moe_code != 0) {
    std::printf("mc2 demo: FAILED\n");
    return 1;
  }
  return 0;
}

}  // namespace

CLI::App* AddDemo(CLI::App& app, int* exit_code) {
  static DemoOptions o;
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "One step of a tensor-parallel Llama-style decoder layer and a MoE layer with the fused operators,\n"
      "checked against the golden model; prints fused vs unfused-chain times. Exit 1 if any row fails.");
  cmd->add_option("-n,--ranks", o.ranks, "ranks of the decoder layer (tensor-parallel size): 2, 4 or 8")
      ->capture_default_str()
      ->check(CLI::IsMember({2, 4, 8}));
  cmd->add_flag("--threads", o.threads, "ranks as threads of this process (default: processes)");
  cmd->add_option("--preset", o.preset,
                  "sizes: tiny (seconds on 2 cores); 7b (hidden 4096, MLP 11008: 43 MiB weights per rank, ~4 min "
                  "and 0.4 GB per process on a loaded 2-core machine); 70b (8192, 28672: 224 MiB per rank, 2.1 GB per process, 20 min on a loaded 2-core machine, mostly the golden model); "
                  "moe (16 experts, hidden 4096, M 2048: 64 MiB per rank, ~3 min, up to 1.5 GB with --threads)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tiny", "7b", "70b", "moe"}));
  cmd->add_option("--iters", o.iters, "timed calls per operator (default: the preset's)")->check(CLI::Range(1, 1000));
  cmd->add_option("--job", o.job, "internal: the part a re-executed rank runs")
      ->check(CLI::IsMember({"decoder", "moe"}))
      ->group("");
  cmd->add_option("--corrupt-output", o.corrupt,
                  "test hook: make one element of the last rank's fused output of the rows whose operator "
                  "contains this text wrong before the check (docs/cli.md)")
      ->group("");
  cmd->callback([exit_code] { *exit_code = RunDemo(o); });
  return cmd;
}

}  // namespace mc2::cli
