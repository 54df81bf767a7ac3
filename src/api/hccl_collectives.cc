// HCCL collectives on streams (hccl/hccl.h). Each entry point checks its arguments at once (bad
// handles, null buffers, data types and reduce ops mc2 cannot run -> the HCCL code right away),
// then enqueues the collective on the stream; failures while it runs (timeouts, a dead peer)
// surface at the stream's synchronize. A null stream runs the collective on the calling thread and
// returns its result. Every entry point is a few lines into Launch.
#include <vector>

#include "api/hccl_comm.h"
#include "api/report.h"
#include "api/streams.h"
#include "hccl/hccl.h"

namespace mc2::api {
namespace {

using comm::Communicator;
using comm::ReduceOp;

StatusOr<DType> ToDType(HcclDataType t, const char* fn) {
  switch (t) {
    case HCCL_DATA_TYPE_INT8: return DType::kInt8;
    case HCCL_DATA_TYPE_INT32: return DType::kInt32;
    case HCCL_DATA_TYPE_FP16: return DType::kFloat16;
    case HCCL_DATA_TYPE_FP32: return DType::kFloat32;
    case HCCL_DATA_TYPE_INT64: return DType::kInt64;
    case HCCL_DATA_TYPE_UINT64: return DType::kUInt64;
    case HCCL_DATA_TYPE_UINT8: return DType::kUInt8;
    case HCCL_DATA_TYPE_FP64: return DType::kFloat64;
    case HCCL_DATA_TYPE_BFP16: return DType::kBFloat16;
    case HCCL_DATA_TYPE_INT16: case HCCL_DATA_TYPE_UINT16: case HCCL_DATA_TYPE_UINT32: case HCCL_DATA_TYPE_INT128:
      return HcclError(hccl::kENotSupport, fn, ": data type ", static_cast<int>(t), " is not supported by mc2");
    default:
      return HcclError(hccl::kEPara, fn, ": data type ", static_cast<int>(t), " is not an HcclDataType");
  }
}

StatusOr<ReduceOp> ToReduceOp(HcclReduceOp op, const char* fn) {
  if (op < HCCL_REDUCE_SUM || op > HCCL_REDUCE_MIN) {
    return HcclError(hccl::kEPara, fn, ": reduce op ", static_cast<int>(op), " is not an HcclReduceOp");
  }
  return static_cast<ReduceOp>(op);
}

using Body = std::function<Status(Communicator&)>;

int32_t Launch(const char* fn, HcclComm comm, aclrtStream stream, Status precheck, Body body) {
  if (!precheck.ok()) return HcclCode(precheck);
  CommHandle* h = FindComm(comm);
  if (h == nullptr) return HcclCode(HcclError(hccl::kEPtr, fn, ": comm is null or stale"));
  if (stream == nullptr) return HcclCode(body(*h->comm));
  Stream* s = FindStream(stream);
  if (s == nullptr) return HcclCode(HcclError(hccl::kEPara, fn, ": stream is not a live stream"));
  Communicator* c = h->comm.get();
  s->Enqueue([c, body = std::move(body), fn]() {
    Status st = body(*c);
    if (!st.ok()) st.Prepend(fn);
    return st;
  });
  return HCCL_SUCCESS;
}

Status NeedBuffers(const char* fn, const void* a, const void* b, uint64_t count) {
  if (count > 0 && (a == nullptr || b == nullptr)) return HcclError(hccl::kEPtr, fn, ": a buffer is null");
  return Status::Ok();
}

}  // namespace
}  // namespace mc2::api

using mc2::Status;
using mc2::api::Launch;
using mc2::api::NeedBuffers;

extern "C" {

HcclResult HcclAllReduce(void* sendBuf, void* recvBuf, uint64_t count, HcclDataType dataType, HcclReduceOp op,
                         HcclComm comm, aclrtStream stream) {
  const char* fn = "HcclAllReduce";
  auto dt = mc2::api::ToDType(dataType, fn);
  auto rop = mc2::api::ToReduceOp(op, fn);
  Status pre = !dt.ok() ? dt.status() : !rop.ok() ? rop.status() : NeedBuffers(fn, sendBuf, recvBuf, count);
  if (!pre.ok()) return static_cast<HcclResult>(Launch(fn, comm, stream, pre, nullptr));
  return static_cast<HcclResult>(Launch(fn, comm, stream, pre, [=, d = *dt, r = *rop](mc2::comm::Communicator& c) {
    return c.AllReduce(sendBuf, recvBuf, count, d, r);
  }));
}

HcclResult HcclAllGather(void* sendBuf, void* recvBuf, uint64_t sendCount, HcclDataType dataType, HcclComm comm,
                         aclrtStream stream) {
  const char* fn = "HcclAllGather";
  auto dt = mc2::api::ToDType(dataType, fn);
  Status pre = !dt.ok() ? dt.status() : NeedBuffers(fn, sendBuf, recvBuf, sendCount);
  if (!pre.ok()) return static_cast<HcclResult>(Launch(fn, comm, stream, pre, nullptr));
  return static_cast<HcclResult>(Launch(fn, comm, stream, pre, [=, d = *dt](mc2::comm::Communicator& c) {
    return c.AllGather(sendBuf, recvBuf, sendCount, d);
  }));
}

HcclResult HcclReduceScatter(void* sendBuf, void* recvBuf, uint64_t recvCount, HcclDataType dataType,
                             HcclReduceOp op, HcclComm comm, aclrtStream stream) {
  const char* fn = "HcclReduceScatter";
  auto dt = mc2::api::ToDType(dataType, fn);
  auto rop = mc2::api::ToReduceOp(op, fn);
  Status pre = !dt.ok() ? dt.status() : !rop.ok() ? rop.status() : NeedBuffers(fn, sendBuf, recvBuf, recvCount);
  if (!pre.ok()) return static_cast<HcclResult>(Launch(fn, comm, stream, pre, nullptr));
  return static_cast<HcclResult>(Launch(fn, comm, stream, pre, [=, d = *dt, r = *rop](mc2::comm::Communicator& c) {
    return c.ReduceScatter(sendBuf, recvBuf, recvCount, d, r);
  }));
}

HcclResult HcclAlltoAll(const void* sendBuf, uint64_t sendCount, HcclDataType sendType, const void* recvBuf,
                        uint64_t recvCount, HcclDataType recvType, HcclComm comm, aclrtStream stream) {
  const char* fn = "HcclAlltoAll";
  auto dt = mc2::api::ToDType(sendType, fn);
  Status pre = !dt.ok() ? dt.status() : NeedBuffers(fn, sendBuf, recvBuf, sendCount);
  if (pre.ok() && (sendType != recvType || sendCount != recvCount)) {
    pre = mc2::HcclError(mc2::hccl::kEPara, fn, ": send and receive types and counts must match");
  }
  if (!pre.ok()) return static_cast<HcclResult>(Launch(fn, comm, stream, pre, nullptr));
  void* dst = const_cast<void*>(recvBuf);
  return static_cast<HcclResult>(Launch(fn, comm, stream, pre, [=, d = *dt](mc2::comm::Communicator& c) {
    return c.AllToAll(sendBuf, dst, sendCount, d);
  }));
}

HcclResult HcclAlltoAllV(const void* sendBuf, const void* sendCounts, const void* sdispls, HcclDataType sendType,
                         const void* recvBuf, const void* recvCounts, const void* rdispls, HcclDataType recvType,
                         HcclComm comm, aclrtStream stream) {
  const char* fn = "HcclAlltoAllV";
  auto dt = mc2::api::ToDType(sendType, fn);
  Status pre = dt.ok() ? Status::Ok() : dt.status();
  if (pre.ok() && sendType != recvType) pre = mc2::HcclError(mc2::hccl::kEPara, fn, ": sendType != recvType");
  if (pre.ok() && (sendCounts == nullptr || sdispls == nullptr || recvCounts == nullptr || rdispls == nullptr)) {
    pre = mc2::HcclError(mc2::hccl::kEPtr, fn, ": a count or displacement array is null");
  }
  mc2::api::CommHandle* h = mc2::api::FindComm(comm);
  if (!pre.ok() || h == nullptr) return static_cast<HcclResult>(Launch(fn, comm, stream, pre, nullptr));
  // The arrays are copied now: the caller may reuse them once the call returns.
  const int n = h->comm->world_size();
  auto copy = [n](const void* p) {
    const auto* u = static_cast<const uint64_t*>(p);
    return std::vector<int64_t>(u, u + n);
  };
  std::vector<int64_t> sc = copy(sendCounts), sd = copy(sdispls), rc = copy(recvCounts), rd = copy(rdispls);
  void* dst = const_cast<void*>(recvBuf);
  return static_cast<HcclResult>(
      Launch(fn, comm, stream, pre, [=, d = *dt](mc2::comm::Communicator& c) {
        return c.AllToAllV(sendBuf, sc, sd, dst, rc, rd, d);
      }));
}

HcclResult HcclBroadcast(void* buf, uint64_t count, HcclDataType dataType, uint32_t root, HcclComm comm,
                         aclrtStream stream) {
  const char* fn = "HcclBroadcast";
  auto dt = mc2::api::ToDType(dataType, fn);
  Status pre = !dt.ok() ? dt.status() : NeedBuffers(fn, buf, buf, count);
  mc2::api::CommHandle* h = mc2::api::FindComm(comm);
  if (pre.ok() && h != nullptr && root >= static_cast<uint32_t>(h->comm->world_size())) {
    pre = mc2::HcclError(mc2::hccl::kEPara, fn, ": root ", root, " is not a rank of the ", h->comm->world_size());
  }
  if (!pre.ok()) return static_cast<HcclResult>(Launch(fn, comm, stream, pre, nullptr));
  return static_cast<HcclResult>(Launch(fn, comm, stream, pre, [=, d = *dt](mc2::comm::Communicator& c) {
    return c.Broadcast(buf, count, d, static_cast<int>(root));
  }));
}

HcclResult HcclBarrier(HcclComm comm, aclrtStream stream) {
  return static_cast<HcclResult>(
      Launch("HcclBarrier", comm, stream, Status::Ok(), [](mc2::comm::Communicator& c) { return c.Barrier(); }));
}

}  // extern "C"
