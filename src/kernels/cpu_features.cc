#include "kernels/cpu_features.h"

#include <sstream>

#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/epilogue.h"
#include "kernels/reduce.h"
#include "kernels/rms_norm.h"
#include "kernels/w8a8.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace mc2::kernels {

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512_vnni = (c >> 11) & 1;
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    f.avx_vnni = (a >> 4) & 1;
    f.avx512_bf16 = (a >> 5) & 1;
  }
#elif defined(__aarch64__) && defined(__linux__)
  const unsigned long caps = getauxval(AT_HWCAP);
  f.neon = (caps & HWCAP_ASIMD) != 0;
  f.sve = (caps & HWCAP_SVE) != 0;
  f.dotprod = (caps & HWCAP_ASIMDDP) != 0;
#endif
  for (int64_t left = HWY_TARGETS; left != 0; left &= left - 1) {
    const int64_t t = left & -left;
    f.compiled_targets.emplace_back(hwy::TargetName(t));
    if (hwy::SupportedTargets() & t) f.supported_targets.emplace_back(hwy::TargetName(t));
  }
  return f;
}

std::vector<KernelDispatch> KernelDispatchTargets() {
  return {{"w8a8", W8A8Target()},
          {"epilogue", EpilogueTarget()},
          {"add_rms_norm", AddRmsNormTarget()},
          {"reduce_sum", ReduceSumTarget()}};
}

std::string DescribeCpuFeatures() {
  const CpuFeatures f = DetectCpuFeatures();
  std::ostringstream os;
  os << "cpu features:";
  const std::pair<const char*, bool> flags[] = {
      {"avx2", f.avx2},         {"fma", f.fma},         {"f16c", f.f16c},
      {"avx512f", f.avx512f},   {"avx512bw", f.avx512bw}, {"avx512_vnni", f.avx512_vnni},
      {"avx_vnni", f.avx_vnni}, {"avx512_bf16", f.avx512_bf16}, {"neon", f.neon}, {"sve", f.sve},
      {"dotprod", f.dotprod}};
  for (const auto& [name, on] : flags) {
    if (on) os << ' ' << name;
  }
  os << "\nsimd targets compiled:";
  for (const auto& t : f.compiled_targets) os << ' ' << t;
  os << "\nsimd targets supported:";
  for (const auto& t : f.supported_targets) os << ' ' << t;
  os << "\nkernel dispatch:";
  for (const auto& k : KernelDispatchTargets()) os << ' ' << k.kernel << '=' << k.target;
  os << '\n';
  return os.str();
}

}  // namespace mc2::kernels
