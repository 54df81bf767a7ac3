// Fuzzes the .npy reader (src/core/npy.h): ParseNpy on the input bytes, and ReadNpy, which streams
// a file through its own code path, on the same bytes written to a memfd (read back through
// /proc/self/fd). The input is the whole file.
//
// Checks: both answer every input with a status or a tensor without reading outside the input or
// allocating more than it holds (ASan, -malloc_limit_mb); they agree (both fail, or both give the
// same dtype, dims and bytes); a parsed tensor has exactly the bytes its dims and dtype need;
// SerializeNpy of it parses back to the same dtype, dims and bytes; ConvertForOperator to every
// operator dtype returns a status or a tensor of the same dims.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/npy.h"
#include "fuzz_check.h"

namespace {

constexpr mc2::DType kWanted[] = {mc2::DType::kFloat16, mc2::DType::kBFloat16, mc2::DType::kFloat32,
                                  mc2::DType::kFloat64, mc2::DType::kInt4,     mc2::DType::kInt8,
                                  mc2::DType::kUInt8,   mc2::DType::kInt32,    mc2::DType::kInt64,
                                  mc2::DType::kUInt64};

// The input as a file: a memfd, rewritten for every input, and its /proc path.
std::string WriteFile(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("npy_fuzzer", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = mc2::ParseNpy(data, size);
  auto read = mc2::ReadNpy(WriteFile(data, size));
  FUZZ_CHECK(parsed.ok() == read.ok());
  if (!parsed.ok()) return 0;
  const mc2::HostTensor& t = *parsed;
  FUZZ_CHECK(read->dtype() == t.dtype() && read->dims() == t.dims() && read->bytes() == t.bytes());
  FUZZ_CHECK(t.bytes() == 0 || std::memcmp(read->data(), t.data(), t.bytes()) == 0);
  FUZZ_CHECK(t.bytes() == mc2::DTypeStorageBytes(t.dtype(), t.numel()));
  FUZZ_CHECK(t.bytes() <= size);

  const std::vector<uint8_t> again = mc2::SerializeNpy(t);
  auto reparsed = mc2::ParseNpy(again.data(), again.size());
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(reparsed->dtype() == t.dtype());
  FUZZ_CHECK(reparsed->dims() == t.dims());
  FUZZ_CHECK(reparsed->bytes() == t.bytes());
  FUZZ_CHECK(t.bytes() == 0 || std::memcmp(reparsed->data(), t.data(), t.bytes()) == 0);

  for (mc2::DType wanted : kWanted) {
    auto converted = mc2::ConvertForOperator(t, wanted, "x");
    if (converted.ok()) {
      FUZZ_CHECK(converted->dtype() == wanted);
      FUZZ_CHECK(converted->dims() == t.dims());
    }
  }
  return 0;
}
