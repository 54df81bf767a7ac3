// W8A8 on every compiled SIMD target against the scalar reference. The int32 accumulation is
// exact and the dequantization is the same fp32 operations in the same order in both, so every
// output must match bit for bit; no tolerance is involved.
// The kernel compiles Highway's AVX3_DL target (VNNI) too; so must the target loop below.
#define HWY_WANT_AVX3_DL 1
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/cpu_features.h"
#include "kernels/w8a8.h"

namespace mc2::kernels {
namespace {

template <typename F>
void ForEachTarget(F f) {
  const int64_t supported = hwy::SupportedTargets();
  for (int64_t left = supported & HWY_TARGETS; left != 0; left &= left - 1) {
    const int64_t target = left & -left;
    // The target and every lesser one (higher bits): code that compiles fewer targets than the W8A8
    // kernel (AVX3_DL is compiled there only) then runs its best target below this one.
    hwy::SetSupportedTargetsForTest(supported & ~(target - 1));
    SCOPED_TRACE(hwy::TargetName(target));
    f(target);
  }
  hwy::SetSupportedTargetsForTest(0);
}

enum class Layout { kKN, kNK, kNzKN, kNzNK, kKNStrided };

// Stores the logical (k, n) matrix `w` in `layout`; fills `desc`.
std::vector<int8_t> Store(const std::vector<int8_t>& w, int64_t k, int64_t n, Layout layout, W8A8Weight* desc) {
  desc->k = k;
  desc->n = n;
  desc->transposed = layout == Layout::kNK || layout == Layout::kNzNK;
  desc->nz = layout == Layout::kNzKN || layout == Layout::kNzNK;
  desc->ld = 0;
  const int64_t rows = desc->transposed ? n : k, cols = desc->transposed ? k : n;
  std::vector<int8_t> out;
  auto at = [&](int64_t r, int64_t c) { return desc->transposed ? w[c * n + r] : w[r * n + c]; };
  if (desc->nz) {
    const int64_t rows_pad = (rows + 15) / 16 * 16, c1 = (cols + 31) / 32;
    out.assign(static_cast<size_t>(std::max<int64_t>(c1 * rows_pad * 32, 1)), 99);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) out[((c / 32) * rows_pad + r) * 32 + c % 32] = at(r, c);
    }
  } else {
    const int64_t ld = layout == Layout::kKNStrided ? cols + 7 : cols;
    if (layout == Layout::kKNStrided) desc->ld = ld;
    out.assign(static_cast<size_t>(std::max<int64_t>(rows * ld, 1)), 77);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) out[r * ld + c] = at(r, c);
    }
  }
  desc->data = out.data();
  return out;
}

struct Case {
  int64_t m, k, n;
  Layout layout;
  DType out;
  DType scale_dtype;
  bool per_channel, bias, token;
};

void Check(const Case& c, ThreadPool* pool = nullptr) {
  SCOPED_TRACE(::testing::Message() << "m=" << c.m << " k=" << c.k << " n=" << c.n << " layout="
                                    << static_cast<int>(c.layout) << " out=" << DTypeName(c.out) << " scale="
                                    << DTypeName(c.scale_dtype) << " pc=" << c.per_channel << " bias=" << c.bias
                                    << " token=" << c.token);
  std::mt19937 rng(static_cast<uint32_t>(c.m * 131 + c.k * 7 + c.n));
  std::uniform_int_distribution<int> i8(-128, 127);
  const int64_t ldx = c.k + 3;  // strided activations
  std::vector<int8_t> x(static_cast<size_t>(std::max<int64_t>(c.m * ldx, 1))), w(static_cast<size_t>(c.k * c.n));
  for (auto& v : x) v = static_cast<int8_t>(i8(rng));
  for (auto& v : w) v = static_cast<int8_t>(i8(rng));
  W8A8Weight desc;
  const std::vector<int8_t> stored = Store(w, c.k, c.n, c.layout, &desc);
  const int64_t scales = c.per_channel ? c.n : 1;
  std::vector<int32_t> bias(static_cast<size_t>(std::max<int64_t>(scales, 1)));
  for (auto& b : bias) b = static_cast<int32_t>(rng() % 2000001) - 1000000;
  std::vector<float> scale_f(bias.size());
  std::vector<int64_t> scale_i(bias.size());
  std::uniform_real_distribution<float> sd(1e-4f, 2e-3f);
  for (size_t j = 0; j < scale_f.size(); ++j) {
    scale_f[j] = sd(rng);
    scale_i[j] = static_cast<int64_t>(FloatBits(scale_f[j]));  // high 32 bits zero
  }
  std::vector<float> token(static_cast<size_t>(std::max<int64_t>(c.m, 1)));
  for (auto& t : token) t = sd(rng) * 500;
  W8A8Quant q;
  q.bias = c.bias ? bias.data() : nullptr;
  q.bias_count = scales;
  q.scale = c.scale_dtype == DType::kInt64 ? static_cast<const void*>(scale_i.data()) : scale_f.data();
  q.scale_dtype = c.scale_dtype;
  q.scale_count = scales;
  q.out_dtype = c.out;
  const int64_t ldo = c.n + 1;
  const size_t eo = c.out == DType::kFloat32 ? 4 : 2;
  std::vector<char> got(static_cast<size_t>(std::max<int64_t>(c.m * ldo, 1)) * eo, 0x11), want(got);
  StatusOr<W8A8Plan> plan = W8A8Plan::Create(desc, q);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::vector<char> ws(plan->WorkspaceBytes(c.m));
  const float* ts = c.token ? token.data() : nullptr;
  ASSERT_TRUE(plan->Execute(x.data(), c.m, ldx, ts, got.data(), ldo, ws.data(), ws.size(), pool).ok());
  ASSERT_TRUE(W8A8Scalar(desc, q, x.data(), c.m, ldx, ts, want.data(), ldo).ok());
  ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
}

TEST(W8A8, BitExactOnEveryTargetAndLayout) {
  ForEachTarget([](int64_t target) {
    // NEON on a CPU with the dot-product extension runs the SDOT tile on int8 quads.
    const bool sdot = target == HWY_NEON && kernels::DetectCpuFeatures().dotprod;
    EXPECT_EQ(std::string(W8A8Target()), std::string(hwy::TargetName(target)) + (sdot ? "+SDOT" : ""));
    for (Layout layout : {Layout::kKN, Layout::kNK, Layout::kNzKN, Layout::kNzNK, Layout::kKNStrided}) {
      for (int64_t m : {0, 1, 5, 13}) {
        for (int64_t k : {0, 1, 31, 64, 133}) {
          for (int64_t n : {0, 1, 17, 48}) {
            Check({m, k, n, layout, DType::kFloat16, DType::kInt64, true, true, m % 2 == 1});
          }
        }
      }
      Check({7, 65, 33, layout, DType::kBFloat16, DType::kFloat32, false, true, true});
      Check({7, 65, 33, layout, DType::kBFloat16, DType::kInt64, true, false, false});
      Check({7, 65, 33, layout, DType::kFloat32, DType::kFloat32, true, true, true});
      Check({25, 300, 70, layout, DType::kFloat16, DType::kInt64, false, true, true});
    }
  });
}

TEST(W8A8, ThreadedMatchesReference) {
  ThreadPool pool(2);
  Check({37, 200, 100, Layout::kKN, DType::kFloat16, DType::kInt64, true, true, true}, &pool);  // panels split
  Check({37, 200, 20, Layout::kNK, DType::kBFloat16, DType::kFloat32, true, true, false}, &pool);  // rows split
}

// All -128 x -128: every pair product is the extreme 16384 (a saturating vpmaddubsw scheme would
// clip at 32767 per pair); k = 1001 gives 16400384, above 2^24, so the fp32 conversion rounds; and
// k = 140000 passes 2^31 and wraps like the hardware's int32 accumulator.
TEST(W8A8, IntegerAccumulationIsExact) {
  ForEachTarget([](int64_t) {
    for (int64_t k : {2, 1001, 140000}) {
      std::vector<int8_t> x(k, -128), w(k * 3, -128);
      W8A8Weight desc{w.data(), k, 3, false, false, 0};
      const float one = 1.0f;
      W8A8Quant q{nullptr, 0, &one, DType::kFloat32, 1, DType::kFloat32};
      StatusOr<W8A8Plan> plan = W8A8Plan::Create(desc, q);
      ASSERT_TRUE(plan.ok());
      std::vector<char> ws(plan->WorkspaceBytes(1));
      float out[3];
      ASSERT_TRUE(plan->Execute(x.data(), 1, 0, nullptr, out, 0, ws.data(), ws.size()).ok());
      const int32_t acc = static_cast<int32_t>(static_cast<uint32_t>(k) * 16384u);
      for (float v : out) EXPECT_EQ(v, static_cast<float>(acc)) << "k = " << k;
    }
  });
}

// fp16 output with an int64 deqScale uses the scale with its low 13 mantissa bits cleared.
TEST(W8A8, Int64ScaleTruncatedForFp16) {
  std::vector<int8_t> x = {1, 0}, w = {64, 0};  // acc = 64
  W8A8Weight desc{w.data(), 2, 1, false, false, 0};
  const int64_t scale = 0x3f801fffLL;  // 1 + 8191 * 2^-23
  for (DType out : {DType::kFloat16, DType::kFloat32}) {
    W8A8Quant q{nullptr, 0, &scale, DType::kInt64, 1, out};
    StatusOr<W8A8Plan> plan = W8A8Plan::Create(desc, q);
    ASSERT_TRUE(plan.ok());
    std::vector<char> ws(plan->WorkspaceBytes(1));
    uint32_t bits = 0;
    ASSERT_TRUE(plan->Execute(x.data(), 1, 0, nullptr, &bits, 0, ws.data(), ws.size()).ok());
    if (out == DType::kFloat16) {
      EXPECT_EQ(bits & 0xffffu, FloatToHalf(64.0f));
    } else {
      EXPECT_EQ(BitsToFloat(bits), 64.0f * BitsToFloat(0x3f801fffu));
    }
  }
}

TEST(W8A8, RejectsBadArguments) {
  std::vector<int8_t> w(8);
  const float s = 1;
  W8A8Weight desc{w.data(), 2, 4, false, false, 0};
  EXPECT_FALSE(W8A8Plan::Create(desc, {nullptr, 0, &s, DType::kFloat16, 1, DType::kFloat16}).ok());
  EXPECT_FALSE(W8A8Plan::Create(desc, {nullptr, 0, &s, DType::kFloat32, 3, DType::kFloat16}).ok());
  EXPECT_FALSE(W8A8Plan::Create(desc, {nullptr, 0, &s, DType::kFloat32, 1, DType::kInt8}).ok());
  W8A8Weight strided = desc;
  strided.ld = 2;
  EXPECT_FALSE(W8A8Plan::Create(strided, {nullptr, 0, &s, DType::kFloat32, 1, DType::kFloat16}).ok());
  StatusOr<W8A8Plan> plan = W8A8Plan::Create(desc, {nullptr, 0, &s, DType::kFloat32, 1, DType::kFloat16});
  ASSERT_TRUE(plan.ok());
  std::vector<int8_t> x(6);
  uint16_t out[12];
  char ws[8];
  const Status st = plan->Execute(x.data(), 3, 0, nullptr, out, 0, ws, sizeof(ws));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("workspace"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace mc2::kernels
