// Shared by the comm tests (threads, forked processes, launcher, MPI): deterministic inputs, a
// plain reference for every collective, and checks that return "" on success or a description of
// the first mismatch (so forked children can report without GoogleTest).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/float16.h"

namespace mc2::comm::testing {

using Bytes = std::vector<uint8_t>;

inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// count elements of dtype, a function of (seed, index) only.
inline Bytes Pattern(DType dtype, size_t count, uint64_t seed) {
  const size_t elem = CommElementBytes(dtype);
  Bytes out(count * elem);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t r = Mix(seed * 1000003u + i);
    const float f = static_cast<float>(static_cast<int64_t>(r % 20001) - 10000) / 1237.0f;
    uint8_t* p = out.data() + i * elem;
    switch (dtype) {
      case DType::kFloat32: std::memcpy(p, &f, 4); break;
      case DType::kFloat64: { const double d = f * 1.000001; std::memcpy(p, &d, 8); break; }
      case DType::kFloat16: { const uint16_t h = FloatToHalf(f); std::memcpy(p, &h, 2); break; }
      case DType::kBFloat16: { const uint16_t h = FloatToBf16(f); std::memcpy(p, &h, 2); break; }
      default: std::memcpy(p, &r, elem); break;  // integers: the low bytes
    }
  }
  return out;
}

// The reduction of inputs[0..R) in rank order, element by element, the obvious way.
inline Bytes RefReduce(DType dtype, ReduceOp op, const std::vector<Bytes>& inputs, size_t count) {
  const size_t elem = CommElementBytes(dtype);
  Bytes out(count * elem);
  for (size_t i = 0; i < count; ++i) {
    auto load = [&](size_t r) -> double {
      const uint8_t* p = inputs[r].data() + i * elem;
      switch (dtype) {
        case DType::kFloat32: { float f; std::memcpy(&f, p, 4); return f; }
        case DType::kFloat16: { uint16_t h; std::memcpy(&h, p, 2); return HalfToFloat(h); }
        case DType::kBFloat16: { uint16_t h; std::memcpy(&h, p, 2); return Bf16ToFloat(h); }
        default: return 0;
      }
    };
    uint8_t* o = out.data() + i * elem;
    if (dtype == DType::kFloat32 || dtype == DType::kFloat16 || dtype == DType::kBFloat16) {
      float acc = static_cast<float>(load(0));
      for (size_t r = 1; r < inputs.size(); ++r) {
        const float x = static_cast<float>(load(r));
        if (op == ReduceOp::kSum) acc = acc + x;
        if (op == ReduceOp::kProd) acc = acc * x;
        if (op == ReduceOp::kMax) acc = x > acc ? x : acc;
        if (op == ReduceOp::kMin) acc = x < acc ? x : acc;
      }
      if (dtype == DType::kFloat32) std::memcpy(o, &acc, 4);
      if (dtype == DType::kFloat16) { const uint16_t h = FloatToHalf(acc); std::memcpy(o, &h, 2); }
      if (dtype == DType::kBFloat16) { const uint16_t h = FloatToBf16(acc); std::memcpy(o, &h, 2); }
      continue;
    }
    // Integers: sign-extend, combine in 64-bit two's complement, keep the low bytes.
    auto loadi = [&](size_t r) -> int64_t {
      const uint8_t* p = inputs[r].data() + i * elem;
      if (elem == 1) return static_cast<int8_t>(p[0]);
      if (elem == 4) { int32_t v; std::memcpy(&v, p, 4); return v; }
      int64_t v; std::memcpy(&v, p, 8); return v;
    };
    uint64_t acc = static_cast<uint64_t>(loadi(0));
    for (size_t r = 1; r < inputs.size(); ++r) {
      const int64_t x = loadi(r);
      // Max/min compare in the element's own width.
      const int64_t a = elem == 1 ? static_cast<int8_t>(acc) : elem == 4 ? static_cast<int32_t>(acc) : static_cast<int64_t>(acc);
      if (op == ReduceOp::kSum) acc += static_cast<uint64_t>(x);
      if (op == ReduceOp::kProd) acc *= static_cast<uint64_t>(x);
      if (op == ReduceOp::kMax) acc = static_cast<uint64_t>(x > a ? x : a);
      if (op == ReduceOp::kMin) acc = static_cast<uint64_t>(x < a ? x : a);
    }
    std::memcpy(o, &acc, elem);
  }
  return out;
}

inline std::string Describe(const char* what, DType dtype, size_t count, int rank, int size) {
  return StrCat(what, " dtype=", DTypeName(dtype), " count=", count, " rank=", rank, "/", size);
}

inline std::string Compare(const Bytes& got, const Bytes& want, size_t elem, const std::string& what) {
  if (got.size() != want.size()) return StrCat(what, ": size ", got.size(), " vs ", want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) return StrCat(what, ": first difference at element ", i / elem);
  }
  return "";
}

#define MC2_CHECK_STATUS(expr)                                              \
  do {                                                                     \
    ::mc2::Status s_ = (expr);                                             \
    if (!s_.ok()) return StrCat(#expr, " failed: ", s_.ToString());        \
  } while (0)
#define MC2_CHECK_EMPTY(expr)                                              \
  do {                                                                     \
    std::string e_ = (expr);                                               \
    if (!e_.empty()) return e_;                                            \
  } while (0)


inline uint64_t RankSeed(uint64_t seed, int rank) { return seed * 131 + static_cast<uint64_t>(rank) * 7919 + 1; }

inline std::string CheckAllReduce(Communicator& c, DType dtype, ReduceOp op, size_t count,
                                  uint64_t seed, bool in_place) {
  const size_t elem = CommElementBytes(dtype);
  std::vector<Bytes> inputs;
  for (int r = 0; r < c.world_size(); ++r) inputs.push_back(Pattern(dtype, count, RankSeed(seed, r)));
  const Bytes want = RefReduce(dtype, op, inputs, count);
  Bytes src = inputs[static_cast<size_t>(c.rank())];
  Bytes dst(count * elem, 0xee);
  Bytes& out = in_place ? src : dst;
  MC2_CHECK_STATUS(c.AllReduce(src.data(), out.data(), count, dtype, op));
  return Compare(out, want, elem, StrCat(Describe("AllReduce", dtype, count, c.rank(), c.world_size()),
                                         " op=", ReduceOpName(op), in_place ? " in-place" : ""));
}

inline std::string CheckReduceScatter(Communicator& c, DType dtype, size_t count, uint64_t seed,
                                      bool in_place) {
  const size_t elem = CommElementBytes(dtype);
  const size_t n = static_cast<size_t>(c.world_size());
  std::vector<Bytes> inputs;
  for (size_t r = 0; r < n; ++r) inputs.push_back(Pattern(dtype, count * n, RankSeed(seed, static_cast<int>(r))));
  const Bytes full = RefReduce(dtype, ReduceOp::kSum, inputs, count * n);
  const size_t me = static_cast<size_t>(c.rank());
  const Bytes want(full.begin() + static_cast<std::ptrdiff_t>(me * count * elem),
                   full.begin() + static_cast<std::ptrdiff_t>((me + 1) * count * elem));
  Bytes src = inputs[me];
  Bytes dst(count * elem, 0xee);
  uint8_t* out = in_place ? src.data() + me * count * elem : dst.data();
  MC2_CHECK_STATUS(c.ReduceScatter(src.data(), out, count, dtype));
  const Bytes got(out, out + count * elem);
  return Compare(got, want, elem, Describe("ReduceScatter", dtype, count, c.rank(), c.world_size()));
}

inline std::string CheckAllGather(Communicator& c, DType dtype, size_t count, uint64_t seed,
                                  bool in_place) {
  const size_t elem = CommElementBytes(dtype);
  const size_t n = static_cast<size_t>(c.world_size());
  Bytes want;
  for (size_t r = 0; r < n; ++r) {
    const Bytes b = Pattern(dtype, count, RankSeed(seed, static_cast<int>(r)));
    want.insert(want.end(), b.begin(), b.end());
  }
  const size_t me = static_cast<size_t>(c.rank());
  const Bytes src = Pattern(dtype, count, RankSeed(seed, c.rank()));
  Bytes dst(count * elem * n, 0xee);
  const void* from = src.data();
  if (in_place) {
    std::memcpy(dst.data() + me * count * elem, src.data(), count * elem);
    from = dst.data() + me * count * elem;
  }
  MC2_CHECK_STATUS(c.AllGather(from, dst.data(), count, dtype));
  return Compare(dst, want, elem, Describe("AllGather", dtype, count, c.rank(), c.world_size()));
}

inline std::string CheckAllToAll(Communicator& c, DType dtype, size_t count, uint64_t seed) {
  const size_t elem = CommElementBytes(dtype);
  const size_t n = static_cast<size_t>(c.world_size());
  const size_t me = static_cast<size_t>(c.rank());
  Bytes want;
  for (size_t r = 0; r < n; ++r) {
    const Bytes b = Pattern(dtype, count * n, RankSeed(seed, static_cast<int>(r)));
    want.insert(want.end(), b.begin() + static_cast<std::ptrdiff_t>(me * count * elem),
                b.begin() + static_cast<std::ptrdiff_t>((me + 1) * count * elem));
  }
  const Bytes src = Pattern(dtype, count * n, RankSeed(seed, c.rank()));
  Bytes dst(count * elem * n, 0xee);
  MC2_CHECK_STATUS(c.AllToAll(src.data(), dst.data(), count, dtype));
  return Compare(dst, want, elem, Describe("AllToAll", dtype, count, c.rank(), c.world_size()));
}

// Rank s sends (s + 2 d) * scale % 7 * scale + (s == d) elements to rank d, packed with gaps.
inline int64_t VCount(int s, int d, size_t scale) {
  return static_cast<int64_t>(((static_cast<size_t>(s) + 2 * static_cast<size_t>(d)) % 7) * scale + (s == d ? 1 : 0));
}

inline std::string CheckAllToAllV(Communicator& c, DType dtype, size_t scale, uint64_t seed) {
  const size_t elem = CommElementBytes(dtype);
  const int n = c.world_size();
  const int me = c.rank();
  std::vector<int64_t> sc(static_cast<size_t>(n)), sd(static_cast<size_t>(n)),
      rc(static_cast<size_t>(n)), rd(static_cast<size_t>(n));
  int64_t stotal = 0, rtotal = 0;
  for (int p = 0; p < n; ++p) {
    sc[static_cast<size_t>(p)] = VCount(me, p, scale);
    sd[static_cast<size_t>(p)] = stotal + 1;  // a gap of one element before each block
    stotal += sc[static_cast<size_t>(p)] + 1;
    rc[static_cast<size_t>(p)] = VCount(p, me, scale);
    rd[static_cast<size_t>(p)] = rtotal + 2;
    rtotal += rc[static_cast<size_t>(p)] + 2;
  }
  const Bytes src = Pattern(dtype, static_cast<size_t>(stotal), RankSeed(seed, me));
  Bytes dst(static_cast<size_t>(rtotal) * elem, 0xee);
  Bytes want = dst;
  for (int p = 0; p < n; ++p) {
    // Sender p's layout: its displacement for `me` is sum over q < me of (VCount(p,q)+1) + 1.
    int64_t off = 0;
    for (int q = 0; q < me; ++q) off += VCount(p, q, scale) + 1;
    off += 1;
    int64_t total = 0;
    for (int q = 0; q < n; ++q) total += VCount(p, q, scale) + 1;
    const Bytes psrc = Pattern(dtype, static_cast<size_t>(total), RankSeed(seed, p));
    std::memcpy(want.data() + static_cast<size_t>(rd[static_cast<size_t>(p)]) * elem,
                psrc.data() + static_cast<size_t>(off) * elem,
                static_cast<size_t>(rc[static_cast<size_t>(p)]) * elem);
  }
  MC2_CHECK_STATUS(c.AllToAllV(src.data(), sc, sd, dst.data(), rc, rd, dtype));
  return Compare(dst, want, elem, Describe("AllToAllV", dtype, scale, me, n));
}

inline std::string CheckBroadcast(Communicator& c, DType dtype, size_t count, int root,
                                  uint64_t seed) {
  const size_t elem = CommElementBytes(dtype);
  const Bytes want = Pattern(dtype, count, RankSeed(seed, root));
  Bytes buf = c.rank() == root ? want : Bytes(count * elem, 0xee);
  MC2_CHECK_STATUS(c.Broadcast(buf.data(), count, dtype, root));
  return Compare(buf, want, elem, StrCat(Describe("Broadcast", dtype, count, c.rank(), c.world_size()), " root=", root));
}

// Fused-operator style use of the symmetric buffers: each rank writes tiles into its own buffer
// and signals each; every rank reduces tile t of all ranks once all signalled it.
inline std::string CheckSymmetric(Communicator& c, uint64_t seed) {
  const size_t tile = 1024;  // floats
  const int tiles = 4;
  if (c.symmetric_bytes() < tile * 4 * tiles) return "symmetric buffer too small";
  std::vector<Bytes> all;
  for (int r = 0; r < c.world_size(); ++r) all.push_back(Pattern(DType::kFloat32, tile * tiles, RankSeed(seed, r)));
  for (uint32_t round = 1; round <= 3; ++round) {
    // Reuse of the buffer: wait until every peer consumed the previous round's tiles.
    if (round > 1) MC2_CHECK_STATUS(c.Barrier());
    for (int t = 0; t < tiles; ++t) {
      std::memcpy(c.SymmetricBuffer(c.rank()) + static_cast<size_t>(t) * tile * 4,
                  all[static_cast<size_t>(c.rank())].data() + static_cast<size_t>(t) * tile * 4, tile * 4);
      MC2_CHECK_STATUS(c.Signal(t, round));
    }
    for (int t = tiles - 1; t >= 0; --t) {
      const void* srcs[kMaxRanks];
      std::vector<Bytes> ins;
      for (int p = 0; p < c.world_size(); ++p) {
        MC2_CHECK_STATUS(c.WaitSignal(p, t, round));
        srcs[p] = c.SymmetricBuffer(p) + static_cast<size_t>(t) * tile * 4;
        ins.push_back(Bytes(all[static_cast<size_t>(p)].begin() + static_cast<std::ptrdiff_t>(t * tile * 4),
                            all[static_cast<size_t>(p)].begin() + static_cast<std::ptrdiff_t>((t + 1) * tile * 4)));
      }
      Bytes got(tile * 4);
      MC2_CHECK_STATUS(ReduceSum(got.data(), srcs, c.world_size(), tile, DType::kFloat32));
      MC2_CHECK_EMPTY(Compare(got, RefReduce(DType::kFloat32, ReduceOp::kSum, ins, tile), 4, "symmetric tile"));
    }
  }
  return c.Barrier().ok() ? "" : "final barrier failed";
}

// An EP x TP grid like the MoE operators build: TP groups of consecutive ranks, EP groups strided.
inline std::string CheckGrid(Communicator& c, int tp) {
  const int n = c.world_size();
  if (n % tp != 0) return "";
  const int me = c.rank();
  std::vector<int> tp_ranks, ep_ranks;
  for (int i = 0; i < tp; ++i) tp_ranks.push_back(me / tp * tp + i);
  for (int i = 0; i < n / tp; ++i) ep_ranks.push_back(i * tp + me % tp);
  auto tp_comm = c.CreateSub(tp_ranks);
  if (!tp_comm.ok()) return tp_comm.status().ToString();
  auto ep_comm = c.CreateSub(ep_ranks);
  if (!ep_comm.ok()) return ep_comm.status().ToString();
  Communicator& t = **tp_comm;
  Communicator& e = **ep_comm;
  if (t.rank() != me % tp || t.world_size() != tp) return "tp sub-communicator has the wrong rank/size";
  if (e.rank() != me / tp || e.world_size() != n / tp) return "ep sub-communicator has the wrong rank/size";
  for (int i = 0; i < 3; ++i) {
    MC2_CHECK_EMPTY(CheckAllReduce(t, DType::kFloat32, ReduceOp::kSum, 1000 + static_cast<size_t>(i), 50u + static_cast<uint64_t>(me / tp), false));
    MC2_CHECK_EMPTY(CheckAllToAll(e, DType::kBFloat16, 33, 60u + static_cast<uint64_t>(me % tp)));
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kFloat16, ReduceOp::kSum, 77, 70, false));
  }
  // A rank list that is not a group of every member is refused on every rank.
  std::vector<int> bad = {me, (me + 1) % n};
  if (n > 2) {
    auto refused = c.CreateSub(bad);
    if (refused.ok()) return "CreateSub accepted inconsistent rank lists";
  }
  return "";
}

inline std::string CheckEverything(Communicator& c, bool quick) {
  const std::vector<size_t> sizes = quick ? std::vector<size_t>{0, 1, 5, 1027, 40000}
                                          : std::vector<size_t>{0, 1, 3, 64, 257, 1027, 8192, 40000, 300001};
  const std::vector<DType> dtypes = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                     DType::kInt8, DType::kInt32, DType::kInt64};
  uint64_t seed = 1;
  for (size_t count : sizes) {
    for (DType dt : dtypes) {
      MC2_CHECK_EMPTY(CheckAllReduce(c, dt, ReduceOp::kSum, count, ++seed, false));
    }
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kFloat32, ReduceOp::kSum, count, ++seed, true));
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kBFloat16, ReduceOp::kSum, count, ++seed, true));
    const size_t small = count / 4 + 1;
    MC2_CHECK_EMPTY(CheckReduceScatter(c, DType::kFloat32, small, ++seed, false));
    MC2_CHECK_EMPTY(CheckReduceScatter(c, DType::kFloat16, small, ++seed, true));
    MC2_CHECK_EMPTY(CheckAllGather(c, DType::kFloat32, small, ++seed, false));
    MC2_CHECK_EMPTY(CheckAllGather(c, DType::kInt8, small, ++seed, true));
    MC2_CHECK_EMPTY(CheckAllToAll(c, DType::kFloat32, small, ++seed));
    MC2_CHECK_EMPTY(CheckAllToAll(c, DType::kInt8, small, ++seed));
    MC2_CHECK_EMPTY(CheckBroadcast(c, DType::kFloat16, count, static_cast<int>(count % static_cast<size_t>(c.world_size())), ++seed));
  }
  for (ReduceOp op : {ReduceOp::kProd, ReduceOp::kMax, ReduceOp::kMin}) {
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kFloat32, op, 3001, ++seed, false));
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kInt32, op, 3001, ++seed, false));
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kBFloat16, op, 3001, ++seed, false));
  }
  for (size_t scale : {size_t{0}, size_t{1}, size_t{100}, quick ? size_t{700} : size_t{9000}}) {
    MC2_CHECK_EMPTY(CheckAllToAllV(c, DType::kFloat32, scale, ++seed));
  }
  for (int root = 0; root < c.world_size(); ++root) {
    MC2_CHECK_EMPTY(CheckBroadcast(c, DType::kInt32, 999, root, ++seed));
  }
  for (int i = 0; i < 20; ++i) MC2_CHECK_STATUS(c.Barrier());
  // Back-to-back collectives of different kinds with no barrier in between.
  for (int i = 0; i < 30; ++i) {
    MC2_CHECK_EMPTY(CheckAllReduce(c, DType::kFloat32, ReduceOp::kSum, static_cast<size_t>(1 + i * 97), ++seed, i % 2 == 0));
    MC2_CHECK_EMPTY(CheckAllGather(c, DType::kInt32, static_cast<size_t>(1 + i), ++seed, false));
  }
  bool all_mapped = c.symmetric_bytes() > 0;
  for (int p = 0; p < c.world_size(); ++p) all_mapped = all_mapped && c.SymmetricBuffer(p) != nullptr;
  if (all_mapped) MC2_CHECK_EMPTY(CheckSymmetric(c, ++seed));
  return "";
}

// Broadcast from every root over sizes that hit the staged path, the single-copy path (head read
// from the root's buffer, tail staged) and several slots.
inline std::string CheckBroadcasts(Communicator& c, uint64_t seed) {
  for (size_t count : {size_t{1}, size_t{5}, size_t{4097}, size_t{100003}, size_t{300001}}) {
    for (int root = 0; root < c.world_size(); ++root) {
      MC2_CHECK_EMPTY(CheckBroadcast(c, DType::kFloat32, count, root, ++seed));
    }
    MC2_CHECK_EMPTY(CheckBroadcast(c, DType::kBFloat16, count, c.world_size() - 1, ++seed));
  }
  return "";
}

inline std::string FingerprintAllReduce(Communicator& c, size_t count, Bytes* out,
                                        DType dtype = DType::kFloat32, ReduceOp op = ReduceOp::kSum) {
  const Bytes src = Pattern(dtype, count, RankSeed(99 + count, c.rank()));
  out->assign(count * CommElementBytes(dtype), 0);
  MC2_CHECK_STATUS(c.AllReduce(src.data(), out->data(), count, dtype, op));
  return "";
}

}  // namespace mc2::comm::testing
