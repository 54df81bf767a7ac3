// collectives_bench: an nccl-tests-style table per collective for mc2, OpenMPI and Gloo, measured
// in the same run on the same sizes and ranks. Run under mpirun (ranks are processes):
//   mpirun --allow-run-as-root -np 2 collectives_bench [--json out.json] [--sizes 8192,65536]
//          [--collectives allreduce,allgather] [--impls mc2,openmpi,gloo] [--reps 15]
// Bytes are the whole buffer in nccl-tests' convention (AllReduce/Broadcast: the buffer;
// ReduceScatter: the input; AllGather: the output; AllToAll: the send buffer). Each sample is a
// batch of back-to-back calls between two MPI barriers; its time per call is the slowest rank's.
// algbw = bytes / time; busbw = algbw x 2(n-1)/n (AllReduce), (n-1)/n (ReduceScatter, AllGather,
// AllToAll), 1 (Broadcast).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "peers.h"

namespace mc2::bench {
namespace {

struct CollectiveInfo {
  Collective id;
  const char* name;
};
constexpr CollectiveInfo kCollectives[] = {
    {Collective::kAllReduce, "allreduce"},   {Collective::kReduceScatter, "reduce_scatter"},
    {Collective::kAllGather, "allgather"},   {Collective::kAllToAll, "alltoall"},
    {Collective::kBroadcast, "broadcast"}};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double BusFactor(Collective c, int n) {
  const double r = static_cast<double>(n);
  switch (c) {
    case Collective::kAllReduce: return 2 * (r - 1) / r;
    case Collective::kBroadcast: return 1;
    default: return (r - 1) / r;
  }
}

struct Measurement {
  double median_us = 0, min_us = 0, max_us = 0;
  bool ok = false;
};

Measurement Measure(Impl& impl, Collective c, size_t bytes, int n, int reps) {
  size_t count = bytes / 4;
  size_t src_elems = count, dst_elems = count;
  if (c == Collective::kReduceScatter) { count /= static_cast<size_t>(n); src_elems = count * static_cast<size_t>(n); dst_elems = count; }
  if (c == Collective::kAllGather) { count /= static_cast<size_t>(n); src_elems = count; dst_elems = count * static_cast<size_t>(n); }
  if (c == Collective::kAllToAll) { count /= static_cast<size_t>(n); src_elems = dst_elems = count * static_cast<size_t>(n); }
  std::vector<float> src(std::max<size_t>(src_elems, 1), 1.0f), dst(std::max<size_t>(dst_elems, 1), 0.0f);
  Measurement m;
  if (count == 0 || !impl.Supports(c)) return m;
  const int iters = static_cast<int>(std::clamp<size_t>((size_t{2} << 20) / bytes, 1, 200));
  for (int i = 0; i < 3; ++i) {
    if (!impl.Run(c, src.data(), dst.data(), count)) return m;
  }
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    bool ok = true;
    for (int i = 0; i < iters && ok; ++i) ok = impl.Run(c, src.data(), dst.data(), count);
    double us = (MPI_Wtime() - t0) * 1e6 / iters;
    int all_ok = ok ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &us, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (!all_ok) return m;
    samples.push_back(us);
  }
  std::sort(samples.begin(), samples.end());
  m.median_us = samples[samples.size() / 2];
  m.min_us = samples.front();
  m.max_us = samples.back();
  m.ok = true;
  return m;
}

}  // namespace
}  // namespace mc2::bench

int main(int argc, char** argv) {
  using namespace mc2::bench;
  MPI_Init(&argc, &argv);
  int rank = 0, n = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  std::string json_path, sizes_arg = "2048,8192,32768,65536,262144,1048576,4194304,16777216";
  std::string colls_arg = "allreduce,reduce_scatter,allgather,alltoall,broadcast";
  std::string impls_arg = "mc2,openmpi,gloo";
  int reps = 15;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--json") json_path = argv[i + 1];
    else if (a == "--sizes") sizes_arg = argv[i + 1];
    else if (a == "--collectives") colls_arg = argv[i + 1];
    else if (a == "--impls") impls_arg = argv[i + 1];
    else if (a == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
  }
  // Gloo's TCP device adds a background thread per process that disturbs the shared-memory
  // implementations' microsecond timings, so Gloo is created and measured after the others.
  std::vector<std::string> names = Split(impls_arg);
  std::stable_partition(names.begin(), names.end(), [](const std::string& n) { return n != "gloo"; });
  const std::vector<std::string> colls = Split(colls_arg);
  std::vector<size_t> sizes;
  for (const std::string& s : Split(sizes_arg)) {
    const size_t bytes = std::strtoull(s.c_str(), nullptr, 10);
    if (bytes > 0) sizes.push_back(bytes);
  }
  std::map<std::tuple<int, size_t, std::string>, Measurement> results;
  std::vector<std::string> measured;
  for (const std::string& name : names) {
    std::unique_ptr<Impl> impl;
    if (name == "mc2") impl = MakeMc2(rank, n);
    if (name == "openmpi") impl = MakeMpi();
    if (name == "gloo") impl = MakeGloo(rank, n);
    if (!impl) {
      if (rank == 0) std::fprintf(stderr, "implementation %s unavailable\n", name.c_str());
      continue;
    }
    measured.push_back(name);
    for (const CollectiveInfo& info : kCollectives) {
      if (std::find(colls.begin(), colls.end(), info.name) == colls.end()) continue;
      for (size_t bytes : sizes) {
        results[{static_cast<int>(info.id), bytes, name}] =
            Measure(*impl, info.id, bytes, n, bytes >= (size_t{4} << 20) ? std::max(3, reps / 2) : reps);
      }
    }
  }
  nlohmann::json records = nlohmann::json::array();
  for (const CollectiveInfo& info : kCollectives) {
    if (rank != 0 || std::find(colls.begin(), colls.end(), info.name) == colls.end()) continue;
    std::printf("\n# %s, float, %d ranks (time in us, bandwidth in GB/s)\n#%11s", info.name, n, "bytes");
    for (const std::string& name : measured) std::printf(" | %8s %9s %7s %7s", name.c_str(), "time", "algbw", "busbw");
    std::printf(" | mc2/openmpi\n");
    for (size_t bytes : sizes) {
      double mc2_us = 0, mpi_us = 0;
      std::printf("%12zu", bytes);
      for (const std::string& name : measured) {
        const Measurement& m = results[{static_cast<int>(info.id), bytes, name}];
        if (!m.ok) {
          std::printf(" | %8s %9s %7s %7s", "", "-", "-", "-");
          continue;
        }
        const double algbw = static_cast<double>(bytes) / (m.median_us * 1e3);
        const double busbw = algbw * BusFactor(info.id, n);
        std::printf(" | %8s %9.2f %7.2f %7.2f", "", m.median_us, algbw, busbw);
        if (name == "mc2") mc2_us = m.median_us;
        if (name == "openmpi") mpi_us = m.median_us;
        records.push_back({{"suite", "collectives"}, {"case", info.name}, {"implementation", name},
                           {"dtype", "float32"}, {"bytes", bytes}, {"ranks", n},
                           {"median_us", m.median_us}, {"min_us", m.min_us}, {"max_us", m.max_us},
                           {"algbw_gbps", algbw}, {"busbw_gbps", busbw}});
      }
      if (mc2_us > 0 && mpi_us > 0) std::printf(" | %6.2fx", mc2_us / mpi_us);
      std::printf("\n");
    }
  }
  if (rank == 0 && !json_path.empty()) {
    std::ofstream out(json_path);
    out << records.dump(1) << "\n";
  }
  MPI_Finalize();
  return 0;
}
