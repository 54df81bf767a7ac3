// What this CPU offers the kernels, and which SIMD target each kernel dispatches to (for
// `mc2 info` and benchmark labels). Detection is CPUID on x86 and the auxiliary vector on Arm;
// the dispatch names come from each kernel's own Highway dispatch table, so they are what runs.
#pragma once

#include <string>
#include <vector>

namespace mc2::kernels {

struct CpuFeatures {
  // x86
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512_vnni = false, avx_vnni = false, avx512_bf16 = false;
  // Arm
  bool neon = false, sve = false, dotprod = false;
  std::vector<std::string> compiled_targets;   // Highway targets built into this binary
  std::vector<std::string> supported_targets;  // of those, the ones this CPU runs
};

CpuFeatures DetectCpuFeatures();

struct KernelDispatch {
  std::string kernel;  // "w8a8", "add_rms_norm", ...
  std::string target;  // "AVX2", ...
};

// The kernels of this file's owner (W8A8, epilogues, row kernels) and their dispatch targets.
std::vector<KernelDispatch> KernelDispatchTargets();

// A few human-readable lines: features, targets, kernel -> target.
std::string DescribeCpuFeatures();

}  // namespace mc2::kernels
