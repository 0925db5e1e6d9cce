// Namespaces the tracer's runs share.
#pragma once

#include <vector>

namespace tracebox::tracer {

// Fds of an IPC and a UTS namespace apart from the host's, made at first use and kept for the
// life of the process (every run joins them: one setns each instead of creating namespaces per
// run). Empty when they cannot be made (the process is not root).
const std::vector<int>& shared_ipc_uts_namespaces();

// The hostname (and domain name) of those namespaces.
inline constexpr char kRunHostname[] = "tracebox";

// True for the first caller only, as long as the shared namespaces were not made: the first run
// of a process then makes namespaces of its own with its clone flags (about 0.1 ms) instead of
// the shared ones (a thread, an unshare and two opens: about 0.5 ms), which a process that runs
// one program never needs. Later runs share theirs.
bool take_own_ipc_uts_namespaces();

}  // namespace tracebox::tracer
