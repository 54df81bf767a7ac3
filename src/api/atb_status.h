// How the atb:: entry points turn a Status into an atb::Status (ErrorType), reporting the message
// like the other CANN entry points do (report.h).
#pragma once

#include "api/report.h"
#include "atb/types.h"
#include "core/status.h"

namespace mc2::api {

inline ::atb::Status AtbCode(const Status& s) {
  if (!s.ok()) ReportAtb(s);
  return s.ToAtb();
}

}  // namespace mc2::api
