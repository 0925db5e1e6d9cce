// File access policy: UOJ-style path sets, the syscalls that take paths, and how to resolve a
// tracee's path the way the kernel will.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tracebox::tracer::policy {

// A set of paths with UOJ's matching rules:
//   "/a/b"    exactly that path;
//   "/a/b/"   /a/b and everything below it;
//   "/a/b/*"  the direct children of /a/b (not /a/b itself);
//   "/"       the root directory itself (nothing below it).
// Paths are absolute and normalised (no "//", ".", ".." or trailing slash), as resolve() gives.
class FileSet {
 public:
  void add(std::string entry);
  bool contains(std::string_view path) const;
  bool empty() const { return entries_.empty(); }
  const std::unordered_set<std::string>& entries() const { return entries_; }

 private:
  std::unordered_set<std::string> entries_;
};

enum class Access { kStat, kRead, kWrite };
std::string_view to_string(Access access);

// The four sets of a policy. Writable implies readable implies statable, and the directories
// leading to a readable or writable entry are statable (a program must be able to walk to what
// it may open: realpath(), getcwd() and runtimes do).
struct FileSets {
  FileSet readable;
  FileSet writable;
  FileSet statable;
  FileSet soft_banned;  // refused with EACCES instead of ending the run

  bool allows(Access access, std::string_view path) const;
};

// How one path argument of a syscall is read.
struct PathOperand {
  int dirfd_arg = -1;  // argument holding the dirfd; -1: relative to the cwd
  int path_arg = 0;
  Access access = Access::kRead;
  bool follow = true;      // the last component's symlink is followed (before flags)
  int flags_arg = -1;      // AT_* flags (AT_SYMLINK_NOFOLLOW / AT_SYMLINK_FOLLOW / AT_EMPTY_PATH)
  bool at_follow = false;  // flags hold AT_SYMLINK_FOLLOW (linkat) instead of _NOFOLLOW
  bool null_ok = false;    // a NULL path means "the fd itself" (utimensat)
};

// A syscall the file policy checks, and its path operands in their true positions.
struct PathSyscall {
  std::string_view name;
  enum class Kind {
    kPlain,   // operands as listed
    kOpen,    // open/openat/creat: access and following come from the open flags
    kOpenat2  // openat2: flags and resolve come from struct open_how
  } kind = Kind::kPlain;
  int open_flags_arg = -1;  // kOpen: the flags argument (-1 for creat: O_CREAT|O_WRONLY|O_TRUNC)
  std::vector<PathOperand> operands;
};

// The checked syscall `name` (as libseccomp names it, any ABI), or nullptr.
const PathSyscall* find_path_syscall(std::string_view name);
// Every syscall this policy checks.
const std::vector<PathSyscall>& path_syscalls();
// Whether `name` takes a path (or a file name) the kernel resolves: checked or not. A policy
// that allows such a syscall without checking it has a hole.
bool takes_path(std::string_view name);

// A resolved path: absolute, normalised, symlinks followed as the kernel would; or an errno.
struct Resolved {
  std::string path;
  int error = 0;
  // Refused whatever the sets say: another process's /proc entry, or a /proc/self entry that
  // reaches memory, fds, namespaces or the root (mem, fd, fdinfo, map_files, cwd, root, ns...).
  bool proc_refused = false;
};

// Resolves `path` for task `tid` of process `tgid` the way the kernel will: relative to its cwd,
// its root, or `dirfd` (via /proc), following symlinks before applying "..", at most 40 links,
// /proc/self and /proc/thread-self mapped to the task. The result names /proc/<tgid> as
// /proc/self. `follow_last`: whether a symlink in the last component is followed.
Resolved resolve(pid_t tid, pid_t tgid, int dirfd, std::string_view path, bool follow_last);

}  // namespace tracebox::tracer::policy
