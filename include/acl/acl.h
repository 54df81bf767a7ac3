/* mc2's CANN-compatible ACL entry header: aclInit / aclFinalize plus the runtime (acl_rt.h).
 * aclInit accepts a config path for compatibility and ignores it (nothing to configure on a CPU);
 * a second aclInit without aclFinalize returns ACL_ERROR_REPEAT_INITIALIZE, a second aclFinalize
 * ACL_ERROR_REPEAT_FINALIZE. Plain C. */
#ifndef MC2_ACL_ACL_H_
#define MC2_ACL_ACL_H_

#include "acl/acl_base.h"
#include "acl/acl_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclError aclInit(const char *configPath);
ACL_FUNC_VISIBILITY aclError aclFinalize(void);
/* The message of the last error the calling thread got from any mc2 API call ("" if none). */
ACL_FUNC_VISIBILITY const char *aclGetRecentErrMsg(void);

#ifdef __cplusplus
}
#endif

#endif /* MC2_ACL_ACL_H_ */
