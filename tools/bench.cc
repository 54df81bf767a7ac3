// `mc2 bench kernels|collectives|ops`: the benchmark binaries of bench/ in one place.
//
// Each suite runs its binaries (found next to this executable, in the build tree, or in the
// install's libexec/mc2), reads what they write (google-benchmark JSON for the kernels, the JSON
// records of collectives_bench and of the operator benchmarks), and turns every measurement into
// one record of a common schema (docs/bench.md):
//   suite, case, implementation, shape, ranks, median_us, min_us, max_us, gbps, gflops
// The table on stdout puts the implementations measured on the same case and shape side by side,
// each with its time relative to mc2's (> 1: slower than mc2). --json writes the records,
// --plot draws them with gnuplot, --trace writes the Chrome/Perfetto timeline of one fused
// operator run. The peers (OpenBLAS, OpenMPI, Gloo, the unfused chains) always run in the same
// process run as mc2, so ratios are comparable on a loaded machine even when absolute times are not.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli.h"
#include "core/status_or.h"
#include "core/trace.h"
#include "rank_op.h"
#include "ranks.h"
#include "reference/cases.h"

namespace mc2::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BenchOptions {
  std::string suite;
  std::string json_path, plot_path, trace_path;
  bool quick = false;
  int ranks = 2;
};

struct Record {
  std::string suite, case_name, implementation, shape;
  int ranks = 1;
  double median_us = 0, min_us = 0, max_us = 0;
  double gbps = -1, gflops = -1;  // -1: not meaningful for this measurement
};

json ToJson(const Record& r) {
  json j = {{"suite", r.suite},         {"case", r.case_name},   {"implementation", r.implementation},
            {"shape", r.shape},         {"ranks", r.ranks},      {"median_us", r.median_us},
            {"min_us", r.min_us},       {"max_us", r.max_us}};
  j["gbps"] = r.gbps >= 0 ? json(r.gbps) : json(nullptr);
  j["gflops"] = r.gflops >= 0 ? json(r.gflops) : json(nullptr);
  return j;
}

fs::path SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

// The benchmark binary `name` of `area` (kernels, collectives, ops).
StatusOr<fs::path> FindBench(const std::string& area, const std::string& name) {
  const fs::path dir = SelfDir();
  const fs::path candidates[] = {dir / name, dir / ".." / "bench" / area / name, dir / ".." / "libexec" / "mc2" / name};
  for (const fs::path& p : candidates) {
    if (access(p.c_str(), X_OK) == 0) return fs::weakly_canonical(p);
  }
  return AclError(acl::kErrFailure, "benchmark '", name, "' not found next to ", dir.string(), ", in ../bench/", area,
                  " or ../libexec/mc2 (build it: ninja ", name, ")");
}

// Runs argv with stdout and stderr appended to `log`; returns the exit code (-1: could not start).
int RunLogged(const std::vector<std::string>& argv, const fs::path& log) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::FILE* f = std::fopen(log.c_str(), "a");
    if (f != nullptr) {
      dup2(fileno(f), STDOUT_FILENO);
      dup2(fileno(f), STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

StatusOr<json> ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return AclError(acl::kErrFailure, path.string(), ": no output written");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return AclError(acl::kErrFailure, path.string(), ": not valid JSON");
  return j;
}

Status RunTool(const std::vector<std::string>& argv, const fs::path& log) {
  const int code = RunLogged(argv, log);
  if (code != 0) {
    return AclError(acl::kErrFailure, argv[0], " exited with ", code, " (its output: ", log.string(), ")");
  }
  return Status::Ok();
}

double ToUs(double t, const std::string& unit) {
  if (unit == "ns") return t / 1e3;
  if (unit == "ms") return t * 1e3;
  if (unit == "s") return t * 1e6;
  return t;
}

// ---- kernels: google-benchmark binaries ----

Status RunKernels(const BenchOptions& o, const fs::path& tmp, std::vector<Record>* out) {
  struct Binary {
    const char* name;
    const char* quick_filter;  // nullptr: skipped by --quick
  };
  const Binary binaries[] = {{"wq_matmul_bench", nullptr},
                             {"w8a8_bench", nullptr},
                             {"float_matmul_bench", nullptr},
                             {"rows_bench", "BM_AddRmsNorm/16"}};
  for (const Binary& b : binaries) {
    if (o.quick && b.quick_filter == nullptr) continue;
    MC2_ASSIGN_OR_RETURN(fs::path bin, FindBench("kernels", b.name));
    const fs::path result = tmp / (std::string(b.name) + ".json");
    std::vector<std::string> argv = {bin.string(), "--benchmark_out=" + result.string(),
                                     "--benchmark_out_format=json"};
    if (o.quick) argv.push_back(std::string("--benchmark_filter=") + b.quick_filter);
    std::printf("running %s ...\n", b.name);
    MC2_RETURN_IF_ERROR(RunTool(argv, tmp / "kernels.log"));
    MC2_ASSIGN_OR_RETURN(json j, ReadJson(result));
    for (const json& m : j.value("benchmarks", json::array())) {
      if (m.value("run_type", "iteration") == "aggregate" && m.value("aggregate_name", "") != "median") continue;
      const std::string name = m.value("run_name", m.value("name", ""));
      const size_t slash = name.find('/');
      std::string fn = name.substr(0, slash);
      if (fn.rfind("BM_", 0) == 0) fn = fn.substr(3);
      Record r;
      r.suite = "kernels";
      r.case_name = std::string(b.name).substr(0, std::string(b.name).size() - 6);  // minus "_bench"
      r.implementation = fn == "Sgemm" ? "openblas_sgemm" : fn == "ReadBandwidth" ? "read_bandwidth"
                         : fn == "Copy" ? "memcpy" : "mc2_" + fn;
      r.shape = slash == std::string::npos ? "" : name.substr(slash + 1);
      const double t = ToUs(m.value("real_time", 0.0), m.value("time_unit", "ns"));
      r.median_us = r.min_us = r.max_us = t;
      if (m.contains("GFLOPs")) r.gflops = m["GFLOPs"].get<double>();
      if (m.contains("GBps")) r.gbps = m["GBps"].get<double>();
      out->push_back(r);
    }
  }
  return Status::Ok();
}

// ---- collectives: collectives_bench under mpirun ----

Status RunCollectives(const BenchOptions& o, const fs::path& tmp, std::vector<Record>* out) {
  MC2_ASSIGN_OR_RETURN(fs::path bin, FindBench("collectives", "collectives_bench"));
  const fs::path result = tmp / "collectives.json";
  std::vector<std::string> argv = {"mpirun", "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(o.ranks),
                                   bin.string(), "--json", result.string()};
  if (o.quick) {
    for (const char* a : {"--sizes", "8192", "--collectives", "allreduce", "--impls", "mc2,openmpi", "--reps", "3"}) {
      argv.push_back(a);
    }
  }
  std::printf("running collectives_bench on %d ranks under mpirun ...\n", o.ranks);
  MC2_RETURN_IF_ERROR(RunTool(argv, tmp / "collectives.log"));
  MC2_ASSIGN_OR_RETURN(json j, ReadJson(result));
  for (const json& m : j) {
    Record r;
    r.suite = "collectives";
    r.case_name = m.value("case", "");
    r.implementation = m.value("implementation", "");
    r.shape = StrCat(m.value("bytes", 0), " B ", m.value("dtype", ""));
    r.ranks = m.value("ranks", 0);
    r.median_us = m.value("median_us", 0.0);
    r.min_us = m.value("min_us", 0.0);
    r.max_us = m.value("max_us", 0.0);
    r.gbps = m.value("busbw_gbps", -1.0);
    out->push_back(r);
  }
  return Status::Ok();
}

// ---- ops: the fused-operator benchmarks (threads) ----

std::string ShapeOf(const json& m) {
  if (m.contains("E")) {
    return StrCat("E", m.value("E", 0), " C", m.value("C", 0), " H", m.value("H", 0), " M", m.value("M", 0));
  }
  std::string s = StrCat("m", m.value("m", 0), " k", m.value("k_per_rank", 0), " n", m.value("n", 0));
  if (m.contains("weight")) s += " " + m["weight"].get<std::string>();
  return s;
}

// 2 m k n flops of the local product, when the record says m, k and n and times a matmul (not a
// collective alone).
double OpGflops(const json& m, double us) {
  if (!m.contains("m") || !m.contains("k_per_rank") || !m.contains("n") || us <= 0) return -1;
  const std::string variant = m.value("variant", "");
  if (variant.find("allreduce") != std::string::npos || variant.find("collective") != std::string::npos) return -1;
  return 2.0 * m["m"].get<double>() * m["k_per_rank"].get<double>() * m["n"].get<double>() / (us * 1e3);
}

Status RunOps(const BenchOptions& o, const fs::path& tmp, std::vector<Record>* out) {
  struct Binary {
    const char* name;
    const char* label;
    std::vector<std::string> quick_args;
  };
  // --quick: one small shape per operator, one weight copy, a few samples (seconds in all; the
  // full suite rotates several weight copies of the Llama-2 shapes and takes many minutes).
  const Binary binaries[] = {
      {"arn_bench", "WeightQuantMatmulAllReduceAddRmsNorm",
       {"--m", "1", "--k", "256", "--n", "512", "--copies", "1", "--iters", "5"}},
      {"linear_parallel_bench", "LinearParallel", {"--m", "16", "--k", "256", "--n", "512", "--copies", "1", "--iters", "5"}},
      {"moe_bench", "AlltoAllAllGatherBatchMatMul", {"--c", "8", "--m", "64", "--iters", "3", "--warmup", "1"}}};
  for (const Binary& b : binaries) {
    MC2_ASSIGN_OR_RETURN(fs::path bin, FindBench("ops", b.name));
    const fs::path result = tmp / (std::string(b.name) + ".json");
    std::vector<std::string> argv = {bin.string(), "--out", result.string()};
    if (o.quick) argv.insert(argv.end(), b.quick_args.begin(), b.quick_args.end());
    std::printf("running %s ...\n", b.name);
    MC2_RETURN_IF_ERROR(RunTool(argv, tmp / "ops.log"));
    MC2_ASSIGN_OR_RETURN(json j, ReadJson(result));
    if (j.is_object() && j.contains("records")) j = j["records"];
    for (const json& m : j) {
      Record r;
      r.suite = "ops";
      r.case_name = m.contains("type") ? StrCat(b.label, " ", m["type"].get<std::string>()) : b.label;
      r.implementation = m.value("variant", "");
      r.shape = ShapeOf(m);
      r.ranks = m["ranks"].is_number() ? m["ranks"].get<int>() : m.value("ep", 1) * m.value("tp", 1);
      r.median_us = m.value("median_us", 0.0);
      r.min_us = m.value("min_us", 0.0);
      r.max_us = m.value("max_us", r.median_us);
      r.gflops = OpGflops(m, r.median_us);
      out->push_back(r);
    }
  }
  return Status::Ok();
}

// ---- output ----

bool IsMc2(const std::string& impl) { return impl == "mc2" || impl == "fused" || impl.rfind("mc2_", 0) == 0; }

void PrintTable(const std::vector<Record>& records) {
  // mc2's time per (suite, case, shape), to put each peer's ratio beside it.
  std::map<std::string, double> mc2_us;
  for (const Record& r : records) {
    const std::string key = r.suite + "|" + r.case_name + "|" + r.shape;
    if (IsMc2(r.implementation) && !mc2_us.count(key)) mc2_us[key] = r.median_us;
  }
  std::printf("\n%-12s %-44s %-26s %-22s %5s %11s %11s %9s %9s %8s\n", "suite", "case", "shape", "implementation",
              "ranks", "median us", "min us", "GB/s", "GFLOP/s", "vs mc2");
  for (const Record& r : records) {
    const std::string key = r.suite + "|" + r.case_name + "|" + r.shape;
    char ratio[16] = "-";
    if (mc2_us.count(key) && mc2_us[key] > 0) std::snprintf(ratio, sizeof(ratio), "%.2fx", r.median_us / mc2_us[key]);
    char gbps[16] = "-", gflops[16] = "-";
    if (r.gbps >= 0) std::snprintf(gbps, sizeof(gbps), "%.2f", r.gbps);
    if (r.gflops >= 0) std::snprintf(gflops, sizeof(gflops), "%.1f", r.gflops);
    std::printf("%-12s %-44s %-26s %-22s %5d %11.1f %11.1f %9s %9s %8s\n", r.suite.c_str(), r.case_name.c_str(),
                r.shape.c_str(), r.implementation.c_str(), r.ranks, r.median_us, r.min_us, gbps, gflops, ratio);
  }
  std::printf("\nvs mc2: this implementation's median time / mc2's on the same case and shape (> 1: mc2 is faster).\n");
}

// A clustered bar chart: one cluster per (case, shape), one bar per implementation, log time axis.
Status Plot(const std::vector<Record>& records, const std::string& png, const fs::path& tmp) {
  std::vector<std::string> impls, groups;
  std::map<std::pair<std::string, std::string>, double> us;
  std::set<std::string> cases;
  for (const Record& r : records) cases.insert(r.case_name);
  for (const Record& r : records) {
    const std::string g = cases.size() == 1 ? r.shape : r.case_name + " " + r.shape;
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
    if (std::find(impls.begin(), impls.end(), r.implementation) == impls.end()) impls.push_back(r.implementation);
    us[{g, r.implementation}] = r.median_us;
  }
  if (records.empty()) return AclError(acl::kErrInvalidParam, "--plot: no records to draw");
  const fs::path data = tmp / "plot.dat", script = tmp / "plot.gp";
  {
    std::ofstream d(data);
    d << "group";
    for (const auto& i : impls) d << "\t\"" << i << "\"";
    d << "\n";
    for (const auto& g : groups) {
      d << "\"" << g << "\"";
      for (const auto& i : impls) {
        auto it = us.find({g, i});
        d << "\t" << (it == us.end() ? std::string("NaN") : std::to_string(it->second));
      }
      d << "\n";
    }
  }
  {
    std::ofstream s(script);
    s << "set terminal pngcairo size " << std::max<size_t>(900, 60 * groups.size() * std::max<size_t>(1, impls.size() / 2))
      << ",600 noenhanced\n";
    s << "set output '" << png << "'\n";
    s << "set title '" << (cases.size() == 1 ? *cases.begin() + ": " : std::string())
      << "mc2 against its peers (median time per call, same run)'\n";
    s << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n";
    s << "set logscale y\nset ylabel 'microseconds (log)'\nset xtics rotate by -30 font ',8'\n";
    s << "set key outside right top\nset datafile separator '\\t'\nset datafile missing 'NaN'\n";
    s << "plot for [i=2:" << impls.size() + 1 << "] '" << data.string() << "' using i:xtic(1) title columnheader(i)\n";
  }
  return RunTool({"gnuplot", script.string()}, tmp / "gnuplot.log");
}

// One fused operator run (ArnOp, the demo's decoder shapes at the tiny size) on 2 thread ranks with
// tracing on; the spans are those of the operators and the communicator, plus one per call here.
Status WriteTrace(const std::string& path) {
  reference::ArnShape s;
  s.world_size = 2;
  s.s = 16;
  s.k = 512;
  s.n = 1024;
  s.weight = DType::kInt4;
  s.scale = reference::ScaleKind::kPerGroup;
  s.group_size = 128;
  s.transposed_weight = true;
  s.offset = false;
  s.bias = false;
  reference::ArnCase cs = reference::MakeArnCase(s);
  (void)trace::TakeEvents();
  const int code = RunRanks(2, true, [&](comm::Communicator& c, ThreadPool& pool) {
    auto op = MakeArnRankOp(cs.ranks[static_cast<size_t>(c.rank())], cs.attrs, ops::OpContext{&c, &pool}, {});
    if (!op.ok()) {
      std::fprintf(stderr, "mc2 bench --trace: rank %d: %s\n", c.rank(), op.status().ToString().c_str());
      return 1;
    }
    if (!(*op)->Execute().ok()) return 1;  // warm-up, untraced
    trace::Enable();
    for (int i = 0; i < 3; ++i) {
      {
        MC2_TRACE_SCOPE("barrier", kWait);
        if (!c.Barrier().ok()) return 1;
      }
      if (!(*op)->Execute().ok()) return 1;  // the operator records its own spans
    }
    return 0;
  });
  trace::Disable();
  std::vector<trace::Event> events = trace::TakeEvents();
  if (code != 0) return AclError(acl::kErrFailure, "--trace: the traced run failed");
  MC2_RETURN_IF_ERROR(trace::WriteChromeJson(path, events));
  std::printf("trace: %zu spans of 2 ranks written to %s (open in ui.perfetto.dev or chrome://tracing)\n",
              events.size(), path.c_str());
  return Status::Ok();
}

int RunBench(const BenchOptions& o) {
  char tmpl[] = "/tmp/mc2-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "mc2 bench: cannot create a temporary directory\n");
    return 1;
  }
  const fs::path tmp = tmpl;
  std::vector<Record> records;
  Status s;
  if (o.suite == "kernels") s = RunKernels(o, tmp, &records);
  else if (o.suite == "collectives") s = RunCollectives(o, tmp, &records);
  else s = RunOps(o, tmp, &records);
  if (!s.ok()) {
    std::fprintf(stderr, "mc2 bench %s: %s\n", o.suite.c_str(), s.ToString().c_str());
    return 1;
  }
  PrintTable(records);
  if (!o.json_path.empty()) {
    json all = json::array();
    for (const Record& r : records) all.push_back(ToJson(r));
    std::ofstream out(o.json_path);
    out << all.dump(1) << "\n";
    if (!out) {
      std::fprintf(stderr, "mc2 bench: --json %s: cannot write\n", o.json_path.c_str());
      return 1;
    }
    std::printf("%zu records written to %s\n", records.size(), o.json_path.c_str());
  }
  if (!o.plot_path.empty()) {
    Status p = Plot(records, o.plot_path, tmp);
    if (!p.ok()) {
      std::fprintf(stderr, "mc2 bench: --plot: %s\n", p.ToString().c_str());
      return 1;
    }
    std::printf("plot written to %s\n", o.plot_path.c_str());
  }
  if (!o.trace_path.empty()) {
    Status t = WriteTrace(o.trace_path);
    if (!t.ok()) {
      std::fprintf(stderr, "mc2 bench: %s\n", t.ToString().c_str());
      return 1;
    }
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}

}  // namespace

CLI::App* AddBench(CLI::App& app, int* exit_code) {
  static BenchOptions o;
  CLI::App* cmd = app.add_subcommand(
      "bench", "Run a benchmark suite with its peers in the same run: a table with ratios, JSON records\n"
               "(schema: docs/bench.md), a gnuplot chart, a Perfetto timeline of one fused operator run");
  cmd->add_option("suite", o.suite, "kernels | collectives | ops")
      ->required()
      ->check(CLI::IsMember({"kernels", "collectives", "ops"}));
  cmd->add_option("--json", o.json_path, "write one JSON record per measurement to FILE");
  cmd->add_option("--plot", o.plot_path, "draw mc2 against its peers into FILE.png (gnuplot)");
  cmd->add_option("--trace", o.trace_path, "write the Chrome/Perfetto trace of one fused operator run to FILE.json");
  cmd->add_flag("--quick", o.quick, "tiny sizes and few repetitions (for tests)");
  cmd->add_option("-n,--ranks", o.ranks, "ranks of the collectives suite (mpirun -np)")
      ->capture_default_str()
      ->check(CLI::Range(2, 8));
  cmd->callback([exit_code] { *exit_code = RunBench(o); });
  return cmd;
}

}  // namespace mc2::cli
