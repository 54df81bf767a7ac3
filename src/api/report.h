// How the C entry points turn a Status into a CANN code: the message is kept as the thread's
// "recent error" (aclGetRecentErrMsg) and printed to stderr ("mc2: ...") unless MC2_API_QUIET=1,
// since CANN users look for the reason in the log, not in the code alone.
#pragma once

#include <cstdint>

#include "core/status.h"

namespace mc2::api {

void Report(const Status& status);
const char* RecentErrorMessage();

// ATB's log level (atb::Utils::SetLogLevel) for the atb:: entry points: -1 follows MC2_API_QUIET
// like the C entry points; 0..3 (DEBUG..ERROR) print errors; 4 (NONE) does not.
void SetAtbLogLevel(int level);
void ReportAtb(const Status& status);

inline int32_t AclCode(const Status& s) {
  if (!s.ok()) Report(s);
  return s.ToAcl();
}
inline int32_t HcclCode(const Status& s) {
  if (!s.ok()) Report(s);
  return s.ToHccl();
}
inline int32_t AclnnCode(const Status& s) {
  if (!s.ok()) Report(s);
  return s.ToAclnn();
}

}  // namespace mc2::api
