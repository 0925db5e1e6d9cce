// Namespaces the tracer's runs share.
#pragma once

#include <vector>

namespace tracebox::tracer {

// Fds of an IPC and a UTS namespace apart from the host's, made at first use and kept for the
// life of the process (every run joins them: one setns each instead of creating namespaces per
// run). Empty when they cannot be made (the process is not root).
const std::vector<int>& shared_ipc_uts_namespaces();

}  // namespace tracebox::tracer
