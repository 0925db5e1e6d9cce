// ChildError: where and why the child failed between clone and exec.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tracebox/util/error.h"

namespace tracebox::forkexec {

// The step that failed. The child reports each of its steps under its own location; some are
// indexed (the index says which mount, rlimit or fd table entry).
enum class ErrorLocation : std::uint32_t {
  kNone = 0,
  kClone,              // parent: clone3/clone
  kIdMap,              // parent: writing uid_map (0), setgroups (1) or gid_map (2)
  kSyncCallback,       // parent: the sync callback returned an error
  kSignals,            // child: resetting signal dispositions
  kClose,              // child: closing the parent's end of the sync socket
  kUserNsSync,         // child: waiting for the parent to write the id maps
  kParentDeathSignal,  // child: PR_SET_PDEATHSIG
  kSecurebits,
  kSetGroups,
  kSetGid,
  kSetUid,
  kDup,         // indexed: fd table entry
  kFcntl,       // indexed: fd table entry
  kCloseRange,  // closing every fd above the table
  kSetSid,
  kIoctl,             // TIOCSCTTY
  kMountRootPrivate,  // making "/" MS_REC|MS_PRIVATE
  kMountTmpfs,        // the tmpfs that becomes the new root
  kChdirRoot,
  kMkdir,  // indexed: mount (a mount point, a file to bind onto, or a device node)
  kMount,  // indexed: mount
  kPivotRoot,
  kUmount,           // detaching the old root
  kRmdir,            // removing the old root's mount point
  kRemountReadOnly,  // the new root
  kSetHostname,
  kSetDomainname,
  kChdir,
  kRlimit,  // indexed: rlimit
  kNoNewPrivs,
  kCapabilities,
  kUnshareCgroup,
  kPtrace,  // PTRACE_TRACEME
  kStop,    // the self-SIGSTOP for the tracer
  kSeccomp,
  kSyncWrite,
  kSyncRead,
  kExec,
  kPidNamespace,  // parent: the new PID namespace and its init
  kSetns,         // indexed: Runner::join_namespaces entry
  kNice,
};

// "mount", "execve", ... (snake_case, stable: used in JSON results).
std::string_view to_string(ErrorLocation location);
// Whether the location's index is meaningful (mkdir, mount, rlimit, dup, fcntl, id map).
bool is_indexed(ErrorLocation location);

// What the child (or the parent on its behalf) reports when a start fails.
struct ChildError {
  int err = 0;  // errno
  ErrorLocation location = ErrorLocation::kNone;
  std::int32_t index = 0;

  // "mount(2): Permission denied", "execve: No such file or directory".
  std::string message() const;
  friend bool operator==(const ChildError&, const ChildError&) = default;
};

// Thrown by Runner::start() when the child could not be started; the child is already killed
// and reaped.
class StartError : public Error {
 public:
  explicit StartError(ChildError error);
  const ChildError& child_error() const { return error_; }

 private:
  ChildError error_;
};

}  // namespace tracebox::forkexec
