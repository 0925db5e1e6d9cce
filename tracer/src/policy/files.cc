#include <algorithm>
#include <array>

#include "tracebox/tracer/policy/files.h"

namespace tracebox::tracer::policy {

void FileSet::add(std::string entry) { entries_.insert(std::move(entry)); }

bool FileSet::contains(std::string_view path) const {
  if (empty() || path.empty()) return false;
  if (has(std::string(path))) return true;  // exact (also "/" for the root)
  if (path == "/") return false;
  // "/a/b/" grants /a/b and below: look for every ancestor (and the path itself) with a slash.
  std::string prefix(path);
  prefix.push_back('/');
  for (;;) {
    if (has(prefix)) return true;
    prefix.pop_back();  // drop the trailing '/'
    auto slash = prefix.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    prefix.resize(slash + 1);
  }
  // "/a/**" grants everything below /a: look for every proper ancestor (the root's is "/**").
  std::string deep;
  for (auto slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    deep.assign(path.substr(0, slash));
    deep += "/**";
    if (has(deep)) return true;
  }
  // "/a/b/*" grants the direct children of /a/b.
  auto slash = path.rfind('/');
  std::string parent_star(path.substr(0, slash == 0 ? 1 : slash));
  parent_star += parent_star == "/" ? "*" : "/*";
  return has(parent_star);
}

bool FileSet::covers_below(std::string_view path) const {
  if (empty() || path.empty()) return false;
  // `path` itself and each ancestor: "/a/" (not for the root, whose "/" is itself alone) and
  // "/a/**" ("/**" for the root).
  std::string dir(path);
  for (;;) {
    if (dir != "/" && has(dir + "/")) return true;
    if (has(dir == "/" ? std::string("/**") : dir + "/**")) return true;
    if (dir == "/") return false;
    const auto slash = dir.rfind('/');
    dir.resize(slash == 0 ? 1 : slash);
  }
}

bool FileSet::has_entry_below(std::string_view path) const {
  const std::string prefix = path == "/" ? std::string("/") : std::string(path) + "/";
  bool found = false;
  for_each([&](const std::string& e) {
    if (found || e.size() <= prefix.size() || e.compare(0, prefix.size(), prefix) != 0) return;
    if (e.size() == prefix.size() + 2 && e.ends_with("**")) return;  // "/p/**": covers_below
    found = true;
  });
  return found;
}

std::string_view to_string(Access access) {
  switch (access) {
    case Access::kStat:
      return "stat";
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
    case Access::kName:
      return "names";
  }
  return "?";
}

namespace {
// Whether `dir` is a proper ancestor of an entry of `set` ("/a" of "/a/b/c", "/a/b/", "/a/b/*").
bool leads_to(const FileSet& set, std::string_view dir) {
  std::string prefix(dir);
  if (prefix != "/") prefix.push_back('/');
  bool found = false;
  set.for_each([&](const std::string& e) {
    found = found || (e.size() > prefix.size() && e.compare(0, prefix.size(), prefix) == 0);
  });
  return found;
}
}  // namespace

FileSets FileSets::on_top_of(std::shared_ptr<const FileSets> base) {
  FileSets sets;
  if (!base) return sets;
  // Aliasing pointers: each set keeps the whole `base` alive.
  sets.readable = FileSet(std::shared_ptr<const FileSet>(base, &base->readable));
  sets.writable = FileSet(std::shared_ptr<const FileSet>(base, &base->writable));
  sets.names = FileSet(std::shared_ptr<const FileSet>(base, &base->names));
  sets.statable = FileSet(std::shared_ptr<const FileSet>(base, &base->statable));
  sets.soft_banned = FileSet(std::shared_ptr<const FileSet>(base, &base->soft_banned));
  return sets;
}

bool FileSets::allows(Access access, std::string_view path) const {
  if (access == Access::kName) return names.contains(path);
  if (writable.contains(path)) return true;
  if (access == Access::kWrite) return false;
  if (readable.contains(path)) return true;
  if (access == Access::kRead) return false;
  return statable.contains(path) || names.contains(path) || leads_to(readable, path) ||
         leads_to(writable, path) || leads_to(names, path);
}

std::optional<Access> FileSets::gained(std::string_view from, std::string_view to,
                                       bool directory) const {
  for (Access a : {Access::kRead, Access::kWrite, Access::kName})
    if (allows(a, to) && !allows(a, from)) return a;
  if (!directory) return std::nullopt;
  // A directory takes its whole tree along: below `to`, what the tree entries at `to` and above
  // grant must already be granted below `from`, and no entry may name something below `to` (it
  // could grant more to one file of the tree than it had).
  struct Grant {
    Access access;
    const FileSet* a;
    const FileSet* b;
  };
  for (const Grant& g :
       {Grant{Access::kRead, &readable, &writable}, Grant{Access::kWrite, &writable, &writable},
        Grant{Access::kName, &names, &names}}) {
    if (g.a->has_entry_below(to) || g.b->has_entry_below(to)) return g.access;
    const bool to_covered = g.a->covers_below(to) || g.b->covers_below(to);
    const bool from_covered = g.a->covers_below(from) || g.b->covers_below(from);
    if (to_covered && !from_covered) return g.access;
  }
  return std::nullopt;
}

namespace {

using K = PathSyscall::Kind;
constexpr Access R = Access::kRead;
constexpr Access W = Access::kWrite;
constexpr Access S = Access::kStat;
constexpr Access N = Access::kName;

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
  PathOperand o = op(0, 1, N, false, 4);  // linkat follows only with AT_SYMLINK_FOLLOW
  o.at_follow = true;
  return o;
}

// utimensat(fd, NULL, times, 0) and futimesat(fd, NULL, times) act on the fd itself.
PathOperand fd_or_path(int dirfd, int path, int flags) {
  PathOperand o = op(dirfd, path, N, true, flags);
  o.null_ok = true;
  return o;
}

// readlinkat(fd, "", ...) reads the link an O_PATH|O_NOFOLLOW fd refers to (no flag needed).
PathOperand readlinkat_path() {
  PathOperand o = op(0, 1, S, false);
  o.empty_ok = true;
  return o;
}

// fchmod(fd, ...) and the like: the operand is the fd.
PathOperand fd_itself() { return op(0, -1, N, true); }

std::vector<PathSyscall> make_table() {
  std::vector<PathSyscall> t = {
      {"open", K::kOpen, 1, {op(-1, 0, R, true)}},
      {"openat", K::kOpen, 2, {op(0, 1, R, true)}},
      {"openat2", K::kOpenat2, -1, {op(0, 1, R, true)}},
      {"creat", K::kOpen, -1, {op(-1, 0, W, true)}},
      // readlink only returns where a link points (EINVAL for anything else): metadata, as
      // stat. glibc's realpath() calls it on every ancestor of a path.
      {"readlink", K::kPlain, -1, {op(-1, 0, S, false)}},
      {"readlinkat", K::kPlain, -1, {readlinkat_path()}},
      // Directory entries: names, never write (write is the contents).
      {"unlink", K::kPlain, -1, {op(-1, 0, N, false)}},
      {"unlinkat", K::kPlain, -1, {op(0, 1, N, false)}},
      {"rmdir", K::kPlain, -1, {op(-1, 0, N, false)}},
      {"mkdir", K::kPlain, -1, {op(-1, 0, N, false)}},
      {"mkdirat", K::kPlain, -1, {op(0, 1, N, false)}},
      {"mknod", K::kPlain, -1, {op(-1, 0, N, false)}},
      {"mknodat", K::kPlain, -1, {op(0, 1, N, false)}},
      // symlink(target, linkpath), symlinkat(target, newdirfd, linkpath): the target is only
      // text stored in the link; it is checked when something is opened through it.
      {"symlink", K::kPlain, -1, {op(-1, 1, N, false)}},
      {"symlinkat", K::kPlain, -1, {op(1, 2, N, false)}},
      // A hard link gives a new name to an inode: both names are names operations, and the new
      // name may not grant more than the old one (a read-only file linked into a writable
      // directory would become writable).
      {"link", K::kLink, -1, {op(-1, 0, N, false), op(-1, 1, N, false)}},
      {"linkat", K::kLink, -1, {link_source(), op(2, 3, N, false)}},
      {"rename", K::kRename, -1, {op(-1, 0, N, false), op(-1, 1, N, false)}},
      {"renameat", K::kRename, -1, {op(0, 1, N, false), op(2, 3, N, false)}},
      {"renameat2", K::kRename, 4, {op(0, 1, N, false), op(2, 3, N, false)}},
      // Metadata: names.
      {"chmod", K::kPlain, -1, {op(-1, 0, N, true)}},
      {"fchmodat", K::kPlain, -1, {op(0, 1, N, true)}},
      {"fchmodat2", K::kPlain, -1, {op(0, 1, N, true, 3)}},
      {"chown", K::kPlain, -1, {op(-1, 0, N, true)}},
      {"chown32", K::kPlain, -1, {op(-1, 0, N, true)}},
      {"lchown", K::kPlain, -1, {op(-1, 0, N, false)}},
      {"lchown32", K::kPlain, -1, {op(-1, 0, N, false)}},
      {"fchownat", K::kPlain, -1, {op(0, 1, N, true, 4)}},
      {"utime", K::kPlain, -1, {op(-1, 0, N, true)}},
      {"utimes", K::kPlain, -1, {op(-1, 0, N, true)}},
      {"futimesat", K::kPlain, -1, {fd_or_path(0, 1, -1)}},
      {"utimensat", K::kPlain, -1, {fd_or_path(0, 1, 3)}},
      {"utimensat_time64", K::kPlain, -1, {fd_or_path(0, 1, 3)}},
      // The same through an fd: the fd's file, by the name /proc shows for it.
      {"fchmod", K::kPlain, -1, {fd_itself()}},
      {"fchown", K::kPlain, -1, {fd_itself()}},
      {"fchown32", K::kPlain, -1, {fd_itself()}},
      {"fsetxattr", K::kPlain, -1, {fd_itself()}},
      {"fremovexattr", K::kPlain, -1, {fd_itself()}},
      // Contents: write.
      {"truncate", K::kPlain, -1, {op(-1, 0, W, true)}},
      {"truncate64", K::kPlain, -1, {op(-1, 0, W, true)}},
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
      // What the kernel runs is checked too: #! interpreters, PT_INTERP, the ELF's ABI.
      {"execve", K::kExec, -1, {op(-1, 0, R, true)}},
      {"execveat", K::kExec, -1, {op(0, 1, R, true, 4)}},
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
  // At every path check: a hash, not a walk through the table.
  static const std::unordered_map<std::string_view, const PathSyscall*> by_name = [] {
    std::unordered_map<std::string_view, const PathSyscall*> m;
    for (const PathSyscall& s : path_syscalls()) m.emplace(s.name, &s);
    return m;
  }();
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : it->second;
}

bool takes_path(std::string_view name) {
  return find_path_syscall(name) != nullptr ||
         std::find(kUncheckedPathSyscalls.begin(), kUncheckedPathSyscalls.end(), name) !=
             kUncheckedPathSyscalls.end();
}

}  // namespace tracebox::tracer::policy
