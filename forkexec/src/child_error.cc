#include "tracebox/forkexec/child_error.h"

#include <string>

namespace tracebox::forkexec {

std::string_view to_string(ErrorLocation location) {
  switch (location) {
    case ErrorLocation::kNone:
      return "unknown";
    case ErrorLocation::kClone:
      return "clone";
    case ErrorLocation::kIdMap:
      return "id_map";
    case ErrorLocation::kSyncCallback:
      return "sync_callback";
    case ErrorLocation::kSignals:
      return "signals";
    case ErrorLocation::kClose:
      return "close";
    case ErrorLocation::kUserNsSync:
      return "user_ns_sync";
    case ErrorLocation::kParentDeathSignal:
      return "parent_death_signal";
    case ErrorLocation::kSecurebits:
      return "securebits";
    case ErrorLocation::kSetGroups:
      return "setgroups";
    case ErrorLocation::kSetGid:
      return "setgid";
    case ErrorLocation::kSetUid:
      return "setuid";
    case ErrorLocation::kDup:
      return "dup";
    case ErrorLocation::kFcntl:
      return "fcntl";
    case ErrorLocation::kCloseRange:
      return "close_range";
    case ErrorLocation::kSetSid:
      return "setsid";
    case ErrorLocation::kIoctl:
      return "ioctl";
    case ErrorLocation::kMountRootPrivate:
      return "mount_root_private";
    case ErrorLocation::kMountTmpfs:
      return "mount_tmpfs";
    case ErrorLocation::kChdirRoot:
      return "chdir_root";
    case ErrorLocation::kMkdir:
      return "mkdir";
    case ErrorLocation::kMount:
      return "mount";
    case ErrorLocation::kPivotRoot:
      return "pivot_root";
    case ErrorLocation::kUmount:
      return "umount";
    case ErrorLocation::kRmdir:
      return "rmdir";
    case ErrorLocation::kRemountReadOnly:
      return "remount_read_only";
    case ErrorLocation::kSetHostname:
      return "sethostname";
    case ErrorLocation::kSetDomainname:
      return "setdomainname";
    case ErrorLocation::kChdir:
      return "chdir";
    case ErrorLocation::kRlimit:
      return "rlimit";
    case ErrorLocation::kNoNewPrivs:
      return "no_new_privs";
    case ErrorLocation::kCapabilities:
      return "capabilities";
    case ErrorLocation::kUnshareCgroup:
      return "unshare_cgroup";
    case ErrorLocation::kPtrace:
      return "ptrace";
    case ErrorLocation::kStop:
      return "stop";
    case ErrorLocation::kSeccomp:
      return "seccomp";
    case ErrorLocation::kSyncWrite:
      return "sync_write";
    case ErrorLocation::kSyncRead:
      return "sync_read";
    case ErrorLocation::kExec:
      return "execve";
    case ErrorLocation::kPidNamespace:
      return "pid_namespace";
    case ErrorLocation::kSetns:
      return "setns";
    case ErrorLocation::kNice:
      return "setpriority";
  }
  return "unknown";
}

bool is_indexed(ErrorLocation location) {
  switch (location) {
    case ErrorLocation::kIdMap:
    case ErrorLocation::kDup:
    case ErrorLocation::kFcntl:
    case ErrorLocation::kMkdir:
    case ErrorLocation::kMount:
    case ErrorLocation::kRlimit:
    case ErrorLocation::kSetns:
      return true;
    default:
      return false;
  }
}

std::string ChildError::message() const {
  std::string text(to_string(location));
  if (is_indexed(location)) text += "(" + std::to_string(index) + ")";
  return text + ": " + errno_text(err);
}

StartError::StartError(ChildError error) : Error(error.message()), error_(error) {}

}  // namespace tracebox::forkexec
