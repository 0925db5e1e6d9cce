// File access policy: UOJ-style path sets, the syscalls that take paths, and how to resolve a
// tracee's path the way the kernel will.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tracebox::tracer::policy {

// A set of paths with UOJ's matching rules, and one more:
//   "/a/b"    exactly that path;
//   "/a/b/"   /a/b and everything below it;
//   "/a/b/*"  the direct children of /a/b (not /a/b itself);
//   "/a/b/**" everything below /a/b (not /a/b itself);
//   "/"       the root directory itself (nothing below it).
// Paths are absolute and normalised (no "//", ".", ".." or trailing slash), as resolve() gives.
// A set may have a base: a shared set whose entries it holds as well as its own, never copied
// (a prepared profile's entries, under those of one run).
class FileSet {
 public:
  FileSet() = default;
  explicit FileSet(std::shared_ptr<const FileSet> base) : base_(std::move(base)) {}
  void add(std::string entry);
  bool contains(std::string_view path) const;
  // Whether every path strictly below `path` is in the set through a "/tree/" or "/tree/**"
  // entry at `path` or above it (the grant a directory's contents keep wherever they are).
  bool covers_below(std::string_view path) const;
  // Whether an entry names something strictly below `path` ("/p/x", "/p/*", "/p/**"...), so that
  // what is below `path` may be granted more than covers_below() says.
  bool has_entry_below(std::string_view path) const;
  bool empty() const { return entries_.empty() && (!base_ || base_->empty()); }
  // Its own entries (not its base's).
  const std::unordered_set<std::string>& entries() const { return entries_; }
  const std::shared_ptr<const FileSet>& base() const { return base_; }
  // Whether `entry` is one of its entries or its base's.
  bool has(const std::string& entry) const {
    return entries_.count(entry) != 0 || (base_ && base_->has(entry));
  }
  // Calls `f` with each entry, its base's included.
  template <typename F>
  void for_each(F&& f) const {
    if (base_) base_->for_each(f);
    for (const auto& e : entries_) f(e);
  }

 private:
  std::unordered_set<std::string> entries_;
  std::shared_ptr<const FileSet> base_;
};

// What a syscall does to a path. kWrite is the file's contents (open for writing, O_CREAT,
// O_TRUNC, truncate); kName is its directory entry and metadata: unlink, rename, link, mkdir,
// mknod, symlink, rmdir, chmod, chown, utime. A program allowed to write /dev/null must not be
// able to delete, replace or chmod it: writing never implies kName, nor kName writing.
enum class Access { kStat, kRead, kWrite, kName };
std::string_view to_string(Access access);

// The sets of a policy. Writable implies readable implies statable; names (entries that may be
// created, removed, renamed, linked and have their metadata changed) implies statable only. The
// directories leading to a readable, writable or names entry are statable (a program must be able
// to walk to what it may open: realpath(), getcwd() and runtimes do).
struct FileSets {
  FileSet readable;
  FileSet writable;
  FileSet names;
  FileSet statable;
  FileSet soft_banned;  // refused with EACCES instead of ending the run

  // Sets whose bases are the sets of `base` (FileSet's base), with no entries of their own yet.
  static FileSets on_top_of(std::shared_ptr<const FileSets> base);

  bool allows(Access access, std::string_view path) const;
  // The first of kRead, kWrite, kName that the name `to` grants and `from` does not: giving the
  // file (or, for a `directory`, the tree) now named `from` the name `to` would grant it. nullopt
  // when a rename or hard link from `from` to `to` grants nothing new.
  std::optional<Access> gained(std::string_view from, std::string_view to, bool directory) const;
};

// How one path argument of a syscall is read. The operand is "the fd itself" (dirfd_arg, or the
// cwd for AT_FDCWD) when path_arg is -1 (fchmod...), when the path is NULL and null_ok is set
// (utimensat, futimesat), when the path is "" and empty_ok is set (readlinkat), and when the
// path is "" or NULL with AT_EMPTY_PATH in the flags.
struct PathOperand {
  int dirfd_arg = -1;  // argument holding the dirfd (or the fd); -1: relative to the cwd
  int path_arg = 0;    // -1: no path, the operand is the fd in dirfd_arg
  Access access = Access::kRead;
  bool follow = true;      // the last component's symlink is followed (before flags)
  int flags_arg = -1;      // AT_* flags (AT_SYMLINK_NOFOLLOW / AT_SYMLINK_FOLLOW / AT_EMPTY_PATH)
  bool at_follow = false;  // flags hold AT_SYMLINK_FOLLOW (linkat) instead of _NOFOLLOW
  bool null_ok = false;    // a NULL path means "the fd itself" (utimensat, futimesat)
  bool empty_ok = false;   // "" means the fd itself without AT_EMPTY_PATH (readlinkat)
};

// A syscall the file policy checks, and its path operands in their true positions.
struct PathSyscall {
  std::string_view name;
  enum class Kind {
    kPlain,    // operands as listed
    kOpen,     // open/openat/creat: access and following come from the open flags
    kOpenat2,  // openat2: flags and resolve come from struct open_how
    kExec,     // execve/execveat: also what the kernel will run (see exec.h)
    kLink,     // link/linkat: operand 1 must not grant more than operand 0 (FileSets::gained)
    kRename    // rename*: likewise; both ways with RENAME_EXCHANGE
  } kind = Kind::kPlain;
  int open_flags_arg = -1;  // kOpen: the flags argument (-1 for creat: O_CREAT|O_WRONLY|O_TRUNC);
                            // kRename: renameat2's flags argument (-1: none)
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
  std::string path;  // as the tracee names it (/proc/<its pid> as /proc/self)
  std::string host;  // the tracer's name for the same file (to read or stat it)
  int error = 0;
  // Refused whatever the sets say: another process's /proc entry, or a /proc/self entry that
  // reaches memory, fds, namespaces or the root (mem, fd, fdinfo, map_files, cwd, root, ns...).
  bool proc_refused = false;
  // /proc/self/fd/N or /proc/thread-self/fd/N as the last component, followed (what /dev/stdin,
  // /dev/fd/N lead to): the kernel reopens the task's fd N. `fd` is N (-1 otherwise) and
  // `fd_table` the tracer's /proc directory of the task whose fds those are. Only an open may use
  // it, under fd_reopen_error()'s rules; for anything else it is refused like proc_refused.
  int fd = -1;
  std::string fd_table;
  // Only from resolve_fd(): the fd is no file the sets can name (a pipe, socket, anon inode,
  // memfd or deleted file); `path` is what /proc shows for it.
  bool not_a_file = false;
};

// Resolves `path` for task `tid` of process `tgid` the way the kernel will: relative to its cwd,
// its root, or `dirfd` (via /proc), following symlinks before applying "..", at most 40 links,
// /proc/self and /proc/thread-self mapped to the task. The result names /proc/<tgid> as
// /proc/self. `follow_last`: whether a symlink in the last component is followed.
Resolved resolve(pid_t tid, pid_t tgid, int dirfd, std::string_view path, bool follow_last);

// The file an fd of task `tid` refers to (AT_FDCWD: its cwd), as resolve() would name it, for a
// syscall that acts on the fd itself (AT_EMPTY_PATH, a NULL path, fchmod). EBADF when it is not
// open; not_a_file when it names no path (pipe:[...], socket:[...], anon_inode:..., deleted).
Resolved resolve_fd(pid_t tid, pid_t tgid, int fd);

// Whether opening `r` (a Resolved with fd >= 0) with `open_flags` may reopen that fd: 0 when the
// fd is open, is not a directory and was itself opened for every access the new open asks
// (from /proc/<tid>/fdinfo: an O_PATH fd grants none), and O_TRUNC or O_CREAT on a regular file
// are asked only of a file `files` lets the program write. Else the errno to fail with (ENOENT:
// no such fd; EACCES). The grant comes from the fd, not from the sets: reopening stdin for
// writing stays impossible, reading /dev/stdin works.
int fd_reopen_error(const Resolved& r, std::uint64_t open_flags, const FileSets& files);

}  // namespace tracebox::tracer::policy
