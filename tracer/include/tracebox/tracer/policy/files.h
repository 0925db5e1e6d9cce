// File access policy: UOJ-style path sets, the syscalls that take paths, and how to resolve a
// tracee's path the way the kernel will.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tracebox/util/unique_fd.h"

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
  // The walk failed (`error`) inside a directory the program itself may not search, where the
  // kernel would have stopped with EACCES before learning what is missing: `error` is EACCES
  // and `path` the path as far as it was resolved, the rest as given, for the sets to decide
  // on as on any other (so that what exists there and what does not look alike).
  bool unreachable = false;
};

// A run's memory of what resolve() found, so that a path the program names again is not walked
// again (one read of pending changes instead of a syscall per component). What is remembered:
// absolute paths (as the program gave them) and their resolution, the directories and symlinks
// met on the way, and the tasks whose root and mount namespace are the tracer's. A name enters
// only when resolve() walked it from the tracer's own root (the task's root and mount namespace
// are the tracer's), through no /proc and no "..", and only through directories that
//   - are owned by root and writable by neither group nor others (ACLs show in the group bits),
//     so that no unprivileged process, in this run or another, can add, remove or swap an entry
//     in them, and
//   - the sets grant neither write nor names on any of their entries, directly or through a
//     tree entry above them (the run's own programs could change them, and so could those of
//     another run that runs as root);
// and each of those directories is watched (inotify) from before the walk looks a name up in it.
// Before anything is taken from it, the cache polls (one epoll_wait) for a change to a watched
// directory's entries or status by anyone, root included, and for a mount or unmount in the
// tracer's mount namespace (what /proc/thread-self/mountinfo signals): any drops everything.
// The judge also clears it whenever it lets a syscall write or change names, and disables it
// at a chroot. A task's root and mount namespace are checked at its first walk; afterwards they
// could only change by chroot (disables), setns, mount or pivot_root (never allowed), or unshare
// of the mount namespace where the policy lets the program make namespaces: a copy it cannot
// mount in. Not seen: a change on a filesystem whose changes inotify does not report (another
// NFS client, a FUSE server, sysfs's own entries), which only their owners and the kernel make.
//
// Its cost is bounded: the first kColdWalks walks of a run remember nothing (a short run would
// spend more setting it up, an inotify instance, an epoll set and a watch per directory, than it
// saves), and what it holds is at most kMaxBytes of names (a program naming ever new spellings
// of its paths, "/a/./b", "/a/././b"..., only makes it start over).
class PathCache {
 public:
  static constexpr int kColdWalks = 8;
  static constexpr std::size_t kMaxBytes = std::size_t{4} << 20;
  struct Entry {
    std::string path;  // resolve()'s Resolved::path (and host: the views are the same)
    // FileSets::allows(access, path) by Access, once asked: -1 unknown, 0 no, 1 yes.
    std::array<signed char, 4> allowed{-1, -1, -1, -1};
  };
  // A name met by a walk (a resolved path): a directory the walk may enter without looking at
  // it again, or a symlink and its target.
  struct Name {
    bool directory = false;
    std::string target;         // a symlink's
    bool others_search = true;  // a directory's mode lets anyone search it (S_IXOTH)
  };
  // `sets`: the run's sets, which must outlive the cache. `cold_walks`: the walks that remember
  // nothing (tests remember from the first).
  explicit PathCache(const FileSets& sets, int cold_walks = kColdWalks)
      : sets_(&sets), cold_walks_(cold_walks) {}
  PathCache(const PathCache&) = delete;
  PathCache& operator=(const PathCache&) = delete;
  // Drops everything if a watched directory or the mounts changed since the last poll (one
  // epoll_wait when anything is held). Then the entry of `path` (absolute, as the program gave
  // it) with that `follow_last`, or nullptr.
  Entry* find(std::string_view path, bool follow_last);
  // The same without polling: what is held now.
  Entry* peek(std::string_view path, bool follow_last);
  const Entry* peek(std::string_view path, bool follow_last) const;
  void insert(std::string_view path, bool follow_last, std::string resolved);
  // The entry of the path of the last resolve() given this cache, found or added; nullptr when
  // it is not remembered.
  Entry* last() const { return last_; }
  // The remembered name `path` (resolved), or nullptr; no polling.
  const Name* name(std::string_view path) const;
  void remember(std::string path, Name name);
  // Whether task `tid`'s root and mount namespace were seen to be the tracer's.
  bool view_is_ours(pid_t tid) const { return enabled_ && views_.count(tid) != 0; }
  void note_view_is_ours(pid_t tid);
  // Whether the sets grant write or names on an entry of directory `dir` (its children).
  bool changeable(std::string_view dir) const;
  // Watches directory `dir` (the tracer's name) for changes; false when it cannot (no inotify
  // instance or watch left, no mountinfo to poll): then nothing walked through it may be
  // remembered.
  bool watch(const std::string& dir);
  void clear();
  // From now on nothing is remembered nor found (the program's root may have changed).
  void disable();
  bool enabled() const { return enabled_; }
  std::size_t size() const { return entries_[0].size() + entries_[1].size(); }
  // How often a change by another hand (or a mount) dropped what it held; for tests.
  std::uint64_t drops() const { return drops_; }
  // How many paths find() found; for tests.
  std::uint64_t hits() const { return hits_; }
  // What its names take, about (keys, values and a node each); at most kMaxBytes.
  std::size_t bytes() const { return bytes_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using Map = std::unordered_map<std::string, V, Hash, std::equal_to<>>;
  // Polls for changes; any at all (an event, an overflow, a watch gone, a mount, an error)
  // clears.
  void poll();
  bool held() const { return size() != 0 || !names_.empty(); }
  friend Resolved resolve(pid_t, pid_t, int, std::string_view, bool, PathCache*);
  const FileSets* sets_;
  std::array<Map<Entry>, 2> entries_;  // [follow_last]
  Map<Name> names_;
  std::unordered_set<pid_t> views_;
  Entry* last_ = nullptr;
  int cold_walks_;
  int walks_ = 0;  // counted up to cold_walks_
  std::size_t bytes_ = 0;
  // Accounts for `n` more bytes; false (and everything dropped) past kMaxBytes.
  bool fits(std::size_t n);
  UniqueFd notify_;  // the inotify instance, made at the first watch
  UniqueFd mounts_;  // /proc/thread-self/mountinfo: EPOLLPRI at a mount or unmount
  UniqueFd poll_;    // epoll over both
  bool watch_failed_ = false;
  bool enabled_ = true;
  std::uint64_t drops_ = 0;
  std::uint64_t hits_ = 0;
};

// Resolves `path` for task `tid` of process `tgid` the way the kernel will: relative to its cwd,
// its root, or `dirfd` (via /proc), following symlinks before applying "..", at most 40 links,
// /proc/self and /proc/thread-self mapped to the task. The result names /proc/<tgid> as
// /proc/self. `follow_last`: whether a symlink in the last component is followed. With a
// `cache`, an absolute path found there is not walked, names it holds are not looked at again,
// and what was walked as PathCache allows is added to it.
Resolved resolve(pid_t tid, pid_t tgid, int dirfd, std::string_view path, bool follow_last,
                 PathCache* cache = nullptr);

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
