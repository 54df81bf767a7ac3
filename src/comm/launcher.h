// The rank launcher behind `mc2 launch -n N PROGRAM ARGS...`.
#pragma once

#include <string>
#include <vector>

namespace mc2::comm {

// Starts `nranks` copies of argv[0] (searched in PATH) with argv as arguments, each with
// MC2_RANK, MC2_LOCAL_RANK, MC2_WORLD_SIZE and MC2_ROOT_INFO in its environment, so that
// InitFromEnv() in the program joins them into one communicator. SIGINT and SIGTERM are
// forwarded to the ranks; when one rank fails (non-zero exit or killed by a signal) the others
// get SIGTERM, then SIGKILL after 2 s. Returns the first non-zero exit code (128 + signal for a
// rank killed by a signal), 0 when all succeeded, or 127 when a rank could not be started.
// Ranks also die with the launcher (PR_SET_PDEATHSIG).
int RunLauncher(int nranks, const std::vector<std::string>& argv);

}  // namespace mc2::comm
