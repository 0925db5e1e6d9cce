#include <algorithm>
#include <array>

#include "tracebox/tracer/policy/files.h"

namespace tracebox::tracer::policy {

void FileSet::add(std::string entry) { entries_.insert(std::move(entry)); }

bool FileSet::contains(std::string_view path) const {
  if (entries_.empty() || path.empty()) return false;
  if (entries_.count(std::string(path)) != 0) return true;  // exact (also "/" for the root)
  if (path == "/") return false;
  // "/a/b/" grants /a/b and below: look for every ancestor (and the path itself) with a slash.
  std::string prefix(path);
  prefix.push_back('/');
  for (;;) {
    if (entries_.count(prefix) != 0) return true;
    prefix.pop_back();  // drop the trailing '/'
    auto slash = prefix.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    prefix.resize(slash + 1);
  }
  // "/a/b/*" grants the direct children of /a/b.
  auto slash = path.rfind('/');
  std::string parent_star(path.substr(0, slash == 0 ? 1 : slash));
  parent_star += parent_star == "/" ? "*" : "/*";
  return entries_.count(parent_star) != 0;
}

std::string_view to_string(Access access) {
  switch (access) {
    case Access::kStat:
      return "stat";
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
  }
  return "?";
}

namespace {
// Whether `dir` is a proper ancestor of an entry of `set` ("/a" of "/a/b/c", "/a/b/", "/a/b/*").
bool leads_to(const FileSet& set, std::string_view dir) {
  std::string prefix(dir);
  if (prefix != "/") prefix.push_back('/');
  for (const auto& e : set.entries())
    if (e.size() > prefix.size() && e.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}
}  // namespace

bool FileSets::allows(Access access, std::string_view path) const {
  if (writable.contains(path)) return true;
  if (access == Access::kWrite) return false;
  if (readable.contains(path)) return true;
  if (access == Access::kRead) return false;
  return statable.contains(path) || leads_to(readable, path) || leads_to(writable, path);
}

namespace {

using K = PathSyscall::Kind;
constexpr Access R = Access::kRead;
constexpr Access W = Access::kWrite;
constexpr Access S = Access::kStat;

PathOperand op(int dirfd, int path, Access a, bool follow, int flags = -1) {
  PathOperand o;
  o.dirfd_arg = dirfd;
  o.path_arg = path;
  o.access = a;
  o.follow = follow;
  o.flags_arg = flags;
  return o;
}

PathOperand link_source() {
  PathOperand o = op(0, 1, W, false, 4);  // linkat follows only with AT_SYMLINK_FOLLOW
  o.at_follow = true;
  return o;
}

PathOperand utimens() {
  PathOperand o = op(0, 1, W, true, 3);
  o.null_ok = true;
  return o;
}

std::vector<PathSyscall> make_table() {
  std::vector<PathSyscall> t = {
      {"open", K::kOpen, 1, {op(-1, 0, R, true)}},
      {"openat", K::kOpen, 2, {op(0, 1, R, true)}},
      {"openat2", K::kOpenat2, -1, {op(0, 1, R, true)}},
      {"creat", K::kOpen, -1, {op(-1, 0, W, true)}},
      // readlink only returns where a link points (EINVAL for anything else): metadata, as
      // stat. glibc's realpath() calls it on every ancestor of a path.
      {"readlink", K::kPlain, -1, {op(-1, 0, S, false)}},
      {"readlinkat", K::kPlain, -1, {op(0, 1, S, false)}},
      {"unlink", K::kPlain, -1, {op(-1, 0, W, false)}},
      {"unlinkat", K::kPlain, -1, {op(0, 1, W, false)}},
      {"rmdir", K::kPlain, -1, {op(-1, 0, W, false)}},
      {"mkdir", K::kPlain, -1, {op(-1, 0, W, false)}},
      {"mkdirat", K::kPlain, -1, {op(0, 1, W, false)}},
      {"mknod", K::kPlain, -1, {op(-1, 0, W, false)}},
      {"mknodat", K::kPlain, -1, {op(0, 1, W, false)}},
      // symlink(target, linkpath), symlinkat(target, newdirfd, linkpath): the target is only
      // text stored in the link; it is checked when something is opened through it.
      {"symlink", K::kPlain, -1, {op(-1, 1, W, false)}},
      {"symlinkat", K::kPlain, -1, {op(1, 2, W, false)}},
      // A hard link gives a new name to an inode: both names must be writable.
      {"link", K::kPlain, -1, {op(-1, 0, W, false), op(-1, 1, W, false)}},
      {"linkat", K::kPlain, -1, {link_source(), op(2, 3, W, false)}},
      {"rename", K::kPlain, -1, {op(-1, 0, W, false), op(-1, 1, W, false)}},
      {"renameat", K::kPlain, -1, {op(0, 1, W, false), op(2, 3, W, false)}},
      {"renameat2", K::kPlain, -1, {op(0, 1, W, false), op(2, 3, W, false)}},
      {"chmod", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"fchmodat", K::kPlain, -1, {op(0, 1, W, true)}},
      {"fchmodat2", K::kPlain, -1, {op(0, 1, W, true, 3)}},
      {"chown", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"chown32", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"lchown", K::kPlain, -1, {op(-1, 0, W, false)}},
      {"lchown32", K::kPlain, -1, {op(-1, 0, W, false)}},
      {"fchownat", K::kPlain, -1, {op(0, 1, W, true, 4)}},
      {"truncate", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"truncate64", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"utime", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"utimes", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"futimesat", K::kPlain, -1, {op(0, 1, W, true)}},
      {"utimensat", K::kPlain, -1, {utimens()}},
      {"utimensat_time64", K::kPlain, -1, {utimens()}},
      {"access", K::kPlain, -1, {op(-1, 0, S, true)}},
      {"faccessat", K::kPlain, -1, {op(0, 1, S, true)}},
      {"faccessat2", K::kPlain, -1, {op(0, 1, S, true, 3)}},
      {"stat", K::kPlain, -1, {op(-1, 0, S, true)}},
      {"stat64", K::kPlain, -1, {op(-1, 0, S, true)}},
      {"oldstat", K::kPlain, -1, {op(-1, 0, S, true)}},
      {"lstat", K::kPlain, -1, {op(-1, 0, S, false)}},
      {"lstat64", K::kPlain, -1, {op(-1, 0, S, false)}},
      {"oldlstat", K::kPlain, -1, {op(-1, 0, S, false)}},
      {"newfstatat", K::kPlain, -1, {op(0, 1, S, true, 3)}},
      {"fstatat64", K::kPlain, -1, {op(0, 1, S, true, 3)}},
      {"statx", K::kPlain, -1, {op(0, 1, S, true, 2)}},
      {"execve", K::kPlain, -1, {op(-1, 0, R, true)}},
      {"execveat", K::kPlain, -1, {op(0, 1, R, true, 4)}},
      {"chdir", K::kPlain, -1, {op(-1, 0, S, true)}},
      {"chroot", K::kPlain, -1, {op(-1, 0, W, true)}},
  };
  return t;
}

// Syscalls that take a path (or a file handle) and that the policy does not check.
constexpr std::array<std::string_view, 41> kUncheckedPathSyscalls = {
    "statfs",
    "statfs64",
    "getxattr",
    "lgetxattr",
    "setxattr",
    "lsetxattr",
    "listxattr",
    "llistxattr",
    "removexattr",
    "lremovexattr",
    "getxattrat",
    "setxattrat",
    "listxattrat",
    "removexattrat",
    "inotify_add_watch",
    "fanotify_mark",
    "name_to_handle_at",
    "open_by_handle_at",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "swapon",
    "swapoff",
    "acct",
    "uselib",
    "quotactl",
    "mount_setattr",
    "open_tree",
    "open_tree_attr",
    "move_mount",
    "fspick",
    "fsconfig",
    "mq_open",
    "mq_unlink",
    "file_getattr",
    "file_setattr",
    "bind",
    "connect",
    "socketcall",
    "sendto",
};

}  // namespace

const std::vector<PathSyscall>& path_syscalls() {
  static const std::vector<PathSyscall> table = make_table();
  return table;
}

const PathSyscall* find_path_syscall(std::string_view name) {
  const auto& t = path_syscalls();
  auto it = std::find_if(t.begin(), t.end(), [&](const PathSyscall& s) { return s.name == name; });
  return it == t.end() ? nullptr : &*it;
}

bool takes_path(std::string_view name) {
  return find_path_syscall(name) != nullptr ||
         std::find(kUncheckedPathSyscalls.begin(), kUncheckedPathSyscalls.end(), name) !=
             kUncheckedPathSyscalls.end();
}

}  // namespace tracebox::tracer::policy
