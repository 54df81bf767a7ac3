// Minimal native C++ program (README): WeightQuantMatmulAllReduceAddRmsNorm on 2 ranks as threads.
#include <cstdio>
#include <thread>
#include <vector>

#include "comm/thread_transport.h"
#include "ops/arn/arn_op.h"
#include "reference/accuracy.h"
#include "reference/arn.h"
#include "reference/cases.h"

int main() {
  using namespace mc2;
  reference::ArnShape shape;  // per rank: x1 (1, 4, 256) fp16, x2 (256, 128) int8, per-channel scales
  shape.world_size = 2;
  reference::ArnCase c = reference::MakeArnCase(shape);  // random inputs of both ranks
  auto comms = comm::InitThreads(2);                      // one communicator per rank
  if (!comms.ok()) return 1;
  std::vector<HostTensor> y(2), norm_out(2);
  std::vector<Status> status(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      ThreadPool pool(1);
      ops::ArnTensors t;
      t.in = c.ranks[r];
      y[r] = HostTensor(t.in.residual.dtype, t.in.residual.dims);
      norm_out[r] = HostTensor(t.in.residual.dtype, t.in.residual.dims);
      t.y = y[r].view();
      t.norm_out = norm_out[r].view();
      // Plan: validate, agree with the peers, pack the weight, book the workspace (collective).
      auto op = ops::ArnOp::Create(t, c.attrs, ops::OpContext{(*comms)[r].get(), &pool});
      if (!op.ok()) {
        status[r] = op.status();
        return;
      }
      std::vector<uint8_t> workspace((*op)->workspace_bytes());
      // Run: matmul, all-reduce, + residual, RMSNorm, fused (collective).
      status[r] = (*op)->Execute(t, workspace.data(), workspace.size());
    });
  }
  for (auto& t : ranks) t.join();
  auto golden = reference::WeightQuantMatmulAllReduceAddRmsNorm(c.ranks, c.attrs, reference::Mode::kCann);
  if (!golden.ok()) return 1;
  const auto rule = reference::DefaultRule(reference::AccuracyOp::kMatmulAllReduceAddRmsNorm, DType::kFloat16);
  bool pass = true;
  for (int r = 0; r < 2; ++r) {
    if (!status[r].ok()) std::printf("rank %d: %s\n", r, status[r].ToString().c_str());
    pass = pass && status[r].ok() && reference::Check(rule, y[r], (*golden)[r].y).pass &&
           reference::Check(rule, norm_out[r], (*golden)[r].norm_out).pass;
  }
  std::printf("%s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
