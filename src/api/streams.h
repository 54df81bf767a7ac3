// The live streams, for the HCCL and aclnn entry points that take an aclrtStream.
#pragma once

#include "api/handles.h"
#include "api/stream.h"

namespace mc2::api {

HandleSet<Stream>& Streams();
// The stream behind a handle, or null when it is not a live stream.
Stream* FindStream(const void* handle);

}  // namespace mc2::api
