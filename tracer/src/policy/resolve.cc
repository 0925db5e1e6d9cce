// Path resolution as the kernel does it, from the tracer's side. The walk is component by
// component: each symlink is read and expanded *before* a following ".." is applied (so
// "allowed/link/../x" is "<link target>/../x", as the kernel opens it), ".." on an already
// resolved prefix is then its parent, and /proc/self is the tracee, not the tracer.
//
// The tracee's filesystem is reached through /proc/<tid>/root when its root or mount namespace
// differ from the tracer's; otherwise through plain paths (cheaper).
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/tracer/policy/files.h"

#include "../proc.h"

namespace tracebox::tracer::policy {
namespace {

// Whether the POSIX ACL of the directory at `path` (status `st`) lets credentials `c`, not its
// owner, search it: the kernel's rule (fs/posix_acl.c, posix_acl_permission) on the
// system.posix_acl_access attribute (a version word 2, then entries of {tag, perm, id}, 8 bytes
// each, little-endian, in the kernel's order: the owner, named users, the owning group, named
// groups, the mask, others). nullopt when it has none: the mode bits decide. The kernel reads an
// ACL only when the group bits (its mask) are not all clear.
std::optional<bool> acl_allows_search(const std::string& path, const struct stat& st,
                                      const proc::Credentials& c) {
  if ((st.st_mode & S_IRWXG) == 0) return std::nullopt;
  // Its size, then itself: none (ENODATA, ENOTSUP) or changed meanwhile (ERANGE) leaves it to
  // the mode bits.
  const ssize_t size = ::getxattr(path.c_str(), "system.posix_acl_access", nullptr, 0);
  if (size < 4) return std::nullopt;
  std::vector<unsigned char> acl(static_cast<std::size_t>(size));
  const ssize_t n = ::getxattr(path.c_str(), "system.posix_acl_access", acl.data(), acl.size());
  if (n < 4 || (n - 4) % 8 != 0) return std::nullopt;
  auto word = [&](std::size_t at, int bytes) {
    std::uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | acl[at + static_cast<std::size_t>(i)];
    return v;
  };
  if (word(0, 4) != 2) return std::nullopt;
  struct Entry {
    std::uint32_t tag, perm, id;
  };
  std::vector<Entry> entries;
  for (std::size_t at = 4; at + 8 <= static_cast<std::size_t>(n); at += 8)
    entries.push_back({word(at, 2), word(at + 2, 2), word(at + 4, 4)});
  // Tags (the owner's entry, 0x01, is not read: the mode's owner bits decide for the owner).
  constexpr std::uint32_t kUser = 0x02, kGroupObj = 0x04, kGroup = 0x08, kMask = 0x10,
                          kOther = 0x20, kExec = 0x01;
  // A named user's or a group's entry grants only what the mask entry (after it) grants too.
  auto masked = [&](std::size_t i) {
    for (std::size_t m = i; m < entries.size(); ++m)
      if (entries[m].tag == kMask) return (entries[i].perm & entries[m].perm & kExec) != 0;
    return (entries[i].perm & kExec) != 0;
  };
  bool group_found = false;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    switch (e.tag) {
      case kUser:
        if (e.id == c.fsuid) return masked(i);
        break;
      case kGroupObj:
      case kGroup:
        if (c.in_group(e.tag == kGroupObj ? st.st_gid : e.id)) {
          group_found = true;
          if ((e.perm & kExec) != 0) return masked(i);
        }
        break;
      case kOther:
        return !group_found && (e.perm & kExec) != 0;
      default:
        break;
    }
  }
  return std::nullopt;  // malformed: the kernel would answer EIO; the mode bits decide here
}

constexpr int kMaxLinks = 40;

// readlink(2) into a string; errno on failure.
int read_link(const std::string& path, std::string& out) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return errno;
  if (n == static_cast<ssize_t>(sizeof buf)) return ENAMETOOLONG;
  out.assign(buf, static_cast<std::size_t>(n));
  return 0;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

// /proc/<tgid> is named /proc/self, as policies write it.
std::string proc_view(const std::string& path, pid_t tgid) {
  const std::string own = "/proc/" + std::to_string(tgid);
  if (path == own) return "/proc/self";
  if (path.starts_with(own + "/")) return "/proc/self" + path.substr(own.size());
  return path;
}

// A file descriptor number as /proc writes it ("0", "17"), or -1.
int fd_number(std::string_view s) {
  // The kernel's fd names have no leading zeros ("00" is no fd).
  if (!all_digits(s) || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return -1;
  return std::atoi(std::string(s).c_str());
}

// The first line of `path` starting with `key`, without the key; "" when there is none.
std::string field(const std::string& path, std::string_view key) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return {};
  std::string_view text(buf, static_cast<std::size_t>(n));
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (line.starts_with(key)) return std::string(line.substr(key.size()));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return {};
}

// Entries of a /proc/<pid> (or task/<tid>) directory that open memory, other files, namespaces
// or another root: never through the file policy.
bool refused_proc_entry(std::string_view entry) {
  static constexpr std::string_view kRefused[] = {"mem",         "fd",
                                                  "fdinfo",      "map_files",
                                                  "cwd",         "root",
                                                  "ns",          "pagemap",
                                                  "attr",        "syscall",
                                                  "stack",       "timers",
                                                  "clear_refs",  "coredump_filter",
                                                  "oom_adj",     "oom_score_adj",
                                                  "uid_map",     "gid_map",
                                                  "setgroups",   "projid_map",
                                                  "loginuid",    "sessionid",
                                                  "personality", "timerslack_ns"};
  for (auto r : kRefused)
    if (entry == r) return true;
  return false;
}

// Whether the entries of a directory with this status can change only by a privileged hand:
// owned by root, writable by neither its group nor others.
bool root_only(const struct stat& st) {
  return S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// Whether every change to the directory `dir` goes through this kernel's VFS, so that inotify
// reports it: local disk filesystems, tmpfs, overlayfs (the layers are only the host's to
// change), and read-only images. Not NFS, CIFS, FUSE, 9p (another machine or a server process
// changes them), nor sysfs, procfs, cgroupfs (the kernel adds and removes their entries).
bool notifies_every_change(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return false;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case EXT4_SUPER_MAGIC:  // ext2, ext3, ext4
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case F2FS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case RAMFS_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:
    case SQUASHFS_MAGIC:
    case EROFS_SUPER_MAGIC_V1:
    case ISOFS_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

class Walker {
 public:
  Walker(pid_t tid, pid_t tgid, PathCache* cache) : tid_(tid), tgid_(tgid), cache_(cache) {
    if (cache_ != nullptr && !cache_->enabled()) cache_ = nullptr;
    // A task whose view was seen to be the tracer's keeps it (see PathCache).
    if (cache_ != nullptr && cache_->view_is_ours(tid_)) return;
    choose_view();
    // Only the tracer's own view of the filesystem is remembered.
    if (!prefix_.empty()) {
      cache_ = nullptr;
    } else if (cache_ != nullptr) {
      cache_->note_view_is_ours(tid_);
    }
  }

  bool cached_view() const { return cache_ != nullptr; }

  Resolved run(int dirfd, std::string_view path, bool follow_last) {
    Resolved r = walk(dirfd, path, follow_last);
    if (cache_ != nullptr && stable_ && r.error == 0 && r.fd < 0 && !r.proc_refused)
      cache_->insert(path, follow_last, r.path);
    return r;
  }

 private:
  Resolved walk(int dirfd, std::string_view path, bool follow_last) {
    Resolved r;
    if (path.size() >= PATH_MAX) return error(ENAMETOOLONG);
    std::string cur;
    // Where the kernel's lookup starts (and restarts, at an absolute symlink): the directories
    // it searches from there are the ones a permission check must follow.
    std::string start = "/";
    if (path[0] == '/') {
      cur = "/";
      if (cache_ != nullptr) enter_root();
    } else {
      stable_ = false;
      std::string base;
      const std::string link =
          dirfd == AT_FDCWD ? "/proc/" + std::to_string(tid_) + "/cwd"
                            : "/proc/" + std::to_string(tid_) + "/fd/" + std::to_string(dirfd);
      if (int err = read_link(link, base); err != 0) return error(dirfd == AT_FDCWD ? err : EBADF);
      if (base.empty() || base[0] != '/') return error(ENOTDIR);  // a pipe, a socket...
      if (base.ends_with(" (deleted)")) return error(ENOENT);
      struct stat st {};
      if (::stat(host(base).c_str(), &st) != 0) return error(errno);
      if (!S_ISDIR(st.st_mode)) return error(ENOTDIR);
      if ((st.st_mode & S_IXOTH) == 0) dark_ = true;
      cur = base;
      start = base;
    }
    // Components still to walk, last first (a symlink's target is pushed in front of the rest).
    std::vector<std::string> todo;
    push_components(todo, path);
    const bool trailing_slash = path.size() > 1 && path.back() == '/';
    int links = 0;
    while (!todo.empty()) {
      std::string c = std::move(todo.back());
      todo.pop_back();
      const bool last = todo.empty();
      if (c == ".") continue;
      if (c == "..") {
        stable_ = false;
        cur = parent_of(cur);
        continue;
      }
      if (c.size() > NAME_MAX) return error(ENAMETOOLONG);
      // What /proc shows depends on the task that looks.
      if (cur == "/proc" || cur.starts_with("/proc/")) stable_ = false;
      if (cur == "/proc") {
        if (c == "self") {
          cur = "/proc/" + std::to_string(tgid_);
          continue;
        }
        if (c == "thread-self") {
          cur = "/proc/" + std::to_string(tgid_) + "/task/" + std::to_string(tid_);
          continue;
        }
      }
      std::string next = join(cur, c);
      // /proc/self/fd/N and /proc/thread-self/fd/N, followed as the last component: the kernel
      // reopens the task's fd N (what /dev/stdin and /dev/fd/N lead to). Whether that is allowed
      // is fd_reopen_error()'s to say; the path goes no further.
      if (const int fd = todo.size() == 1 ? fd_number(todo.back()) : -1;
          fd >= 0 && follow_last && !trailing_slash && is_own_fd_dir(next)) {
        r.path = view(join(next, todo.back()));
        r.fd = fd;
        r.fd_table = next.substr(0, next.size() - 3);  // the tracer's /proc/<tgid>[/task/<tid>]
        return r;
      }
      if (proc_refused(next)) {
        r.path = next;
        r.proc_refused = true;
        return r;
      }
      if (!last || follow_last || trailing_slash) {
        // A name remembered while its directory has not changed needs no look.
        const PathCache::Name* known = stable_ && cache_ != nullptr ? cache_->name(next) : nullptr;
        bool link = known != nullptr && !known->directory;
        if (known != nullptr && known->directory && !known->others_search) dark_ = true;
        std::string target;
        if (link) {
          target = known->target;
        } else if (known == nullptr) {
          struct stat st {};
          if (::lstat(host(next).c_str(), &st) != 0) {
            const int err = errno;
            if (err == ENOENT && last) {  // something to create
              stable_ = false;
              cur = std::move(next);
              break;
            }
            return lookup_error(err, start, cur, c, todo);
          }
          link = S_ISLNK(st.st_mode);
          if (S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH) == 0) dark_ = true;
          if (link) {
            if (int err = read_link(host(next), target); err != 0)
              return lookup_error(err, start, cur, c, todo);
            // Its directory cannot change unseen: neither can the link (a symlink's target is
            // never rewritten in place).
            if (stable_ && cache_ != nullptr) cache_->remember(next, {false, target});
          } else if (!S_ISDIR(st.st_mode) && (!last || trailing_slash)) {
            return lookup_error(ENOTDIR, start, cur, c, todo);
          } else if (stable_ && cache_ != nullptr && S_ISDIR(st.st_mode)) {
            if (stable_dir(next, st)) {
              cache_->remember(next, {true, {}, (st.st_mode & S_IXOTH) != 0});
            } else {
              stable_ = false;
            }
          }
        }
        if (link) {
          if (++links > kMaxLinks) return lookup_error(ELOOP, start, cur, c, todo);
          if (target.empty()) return lookup_error(ENOENT, start, cur, c, todo);
          if (target[0] == '/') {
            cur = "/";
            start = "/";
            if (stable_ && cache_ != nullptr) enter_root();
          }
          push_components(todo, target);
          continue;
        }
      }
      cur = std::move(next);
    }
    r.path = view(cur);
    r.host = host(cur);
    return r;
  }

  // The walk (re)starts at the root: are its names only root's to change?
  void enter_root() {
    if (const PathCache::Name* known = cache_->name("/"); known != nullptr && known->directory)
      return;
    struct stat st {};
    if (::lstat("/", &st) == 0 && stable_dir("/", st)) {
      cache_->remember("/", {true, {}, (st.st_mode & S_IXOTH) != 0});
    } else {
      stable_ = false;
    }
  }

  // Whether directory `dir` (the tracer's name; `st` its lstat) is PathCache's kind: only root
  // may change it, the sets let no program change it, and any change from now on is seen. The
  // watch comes before its status is read again and before any name is looked up in it.
  bool stable_dir(const std::string& dir, struct stat& st) const {
    return root_only(st) && !cache_->changeable(dir) && notifies_every_change(dir) &&
           cache_->watch(dir) && ::lstat(dir.c_str(), &st) == 0 && root_only(st);
  }

  static Resolved error(int err) {
    Resolved r;
    r.error = err;
    return r;
  }

  // A lookup of `c` in `cur` failed with `err`, `todo` left to walk. The tracer looks as root:
  // where the program could not have searched its way to `cur` (the kernel's EACCES comes
  // first), what is missing there is not the program's to learn. Checked only when a directory
  // of the walk denies others the search by its mode bits (the program's own view only); then
  // each directory's ACL decides where it has one. A directory whose mode lets others search it
  // but whose ACL denies the program is not noticed (reading every directory's ACL would cost
  // each failed lookup a getxattr per component): the sets decide there, as everywhere.
  Resolved lookup_error(int err, const std::string& start, const std::string& cur,
                        const std::string& c, const std::vector<std::string>& todo) {
    if (!dark_ || !prefix_.empty() || program_can_search(start, cur)) return error(err);
    std::string rest = join(cur, c);
    for (auto it = todo.rbegin(); it != todo.rend(); ++it) {
      if (*it == ".") continue;
      rest = *it == ".." ? parent_of(rest) : join(rest, *it);
    }
    Resolved r;
    r.error = EACCES;
    r.unreachable = true;
    r.path = view(rest);
    r.host = host(rest);
    return r;
  }

  // Whether the program's credentials (fsuid, fsgid, groups; CAP_DAC_OVERRIDE or
  // CAP_DAC_READ_SEARCH search anything) let it search every directory from `start` down to
  // `cur`, by their mode bits and POSIX ACLs.
  bool program_can_search(const std::string& start, const std::string& cur) {
    if (!creds_) creds_ = proc::credentials(tid_);
    if (!*creds_ || (*creds_)->dac_exempt) return true;
    const proc::Credentials& c = **creds_;
    // From where the walk started, unless ".." took it above there: then from the root.
    const std::string from =
        start == "/" || cur == start || cur.starts_with(start + "/") ? start : std::string("/");
    std::string dir = from;
    std::size_t at = from == "/" ? 1 : from.size() + 1;
    for (;;) {
      struct stat st {};
      const std::string path = host(dir);
      if (::stat(path.c_str(), &st) != 0) return true;  // the kernel decides
      const unsigned bit = st.st_uid == c.fsuid    ? S_IXUSR
                           : c.in_group(st.st_gid) ? S_IXGRP
                                                   : S_IXOTH;
      const std::optional<bool> acl =
          st.st_uid == c.fsuid ? std::nullopt : acl_allows_search(path, st, c);
      if (!(acl ? *acl : (st.st_mode & bit) != 0)) return false;
      if (dir == cur || at > cur.size()) return true;
      const std::size_t slash = cur.find('/', at);
      dir = cur.substr(0, slash);
      at = slash == std::string::npos ? cur.size() + 1 : slash + 1;
    }
  }

  static void push_components(std::vector<std::string>& todo, std::string_view path) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      if (end > start) parts.emplace_back(path.substr(start, end - start));
      start = end + 1;
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(std::move(*it));
  }

  void choose_view() {
    std::string root;
    if (read_link("/proc/" + std::to_string(tid_) + "/root", root) != 0 || root != "/") {
      prefix_ = "/proc/" + std::to_string(tid_) + "/root";
      return;
    }
    struct stat mine {
    }, theirs{};
    if (::stat("/proc/self/ns/mnt", &mine) != 0 ||
        ::stat(("/proc/" + std::to_string(tid_) + "/ns/mnt").c_str(), &theirs) != 0 ||
        mine.st_ino != theirs.st_ino) {
      prefix_ = "/proc/" + std::to_string(tid_) + "/root";
    }
  }

  // The tracer's name for a path of the tracee's view.
  std::string host(const std::string& path) const {
    return prefix_.empty() ? path : prefix_ + path;
  }

  // Whether `path` (being walked) reaches another process's /proc, or a refused entry of ours.
  bool proc_refused(const std::string& path) const {
    if (!path.starts_with("/proc/")) return false;
    std::vector<std::string_view> parts;
    std::string_view rest(path);
    rest.remove_prefix(6);
    while (!rest.empty()) {
      auto slash = rest.find('/');
      parts.push_back(rest.substr(0, slash));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    if (parts.empty() || !all_digits(parts[0])) return false;  // /proc/meminfo, /proc/sys/...
    const pid_t pid = std::atoi(std::string(parts[0]).c_str());
    if (!own_task(pid)) return true;
    std::size_t i = 1;
    if (parts.size() > 2 && parts[1] == "task") {
      if (!all_digits(parts[2]) || !own_task(std::atoi(std::string(parts[2]).c_str()))) return true;
      i = 3;
    }
    return parts.size() > i && refused_proc_entry(parts[i]);
  }

  // The fd directory of the process (/proc/<tgid>/fd) or of the calling thread
  // (/proc/<tgid>/task/<tid>/fd): what /proc/self/fd and /proc/thread-self/fd walk to.
  bool is_own_fd_dir(const std::string& path) const {
    const std::string own = "/proc/" + std::to_string(tgid_);
    return path == own + "/fd" || path == own + "/task/" + std::to_string(tid_) + "/fd";
  }

  // A thread of the tracee's own process.
  bool own_task(pid_t pid) const {
    return pid == tgid_ || pid == tid_ || ::syscall(SYS_tgkill, tgid_, pid, 0) == 0;
  }

  std::string view(const std::string& path) const { return proc_view(path, tgid_); }

  pid_t tid_;
  pid_t tgid_;
  std::string prefix_;
  PathCache* cache_;
  bool stable_ = true;  // every directory the walk looked a name up in is PathCache's kind
  bool dark_ = false;   // a directory of the walk does not let others search it
  std::optional<std::optional<proc::Credentials>> creds_;  // the program's, read when needed
};

}  // namespace

PathCache::Entry* PathCache::find(std::string_view path, bool follow_last) {
  if (!enabled_) return nullptr;
  if (held()) poll();
  Entry* e = peek(path, follow_last);
  if (e != nullptr) ++hits_;
  return e;
}

PathCache::Entry* PathCache::peek(std::string_view path, bool follow_last) {
  Map<Entry>& map = entries_[follow_last ? 1 : 0];
  auto it = map.find(path);
  return it == map.end() ? nullptr : &it->second;
}

const PathCache::Entry* PathCache::peek(std::string_view path, bool follow_last) const {
  const Map<Entry>& map = entries_[follow_last ? 1 : 0];
  auto it = map.find(path);
  return it == map.end() ? nullptr : &it->second;
}

bool PathCache::fits(std::size_t n) {
  // A node of an unordered_map, its hash and bucket: about 64 bytes besides the strings.
  bytes_ += n + 64;
  if (bytes_ <= kMaxBytes) return true;
  clear();
  return false;
}

void PathCache::insert(std::string_view path, bool follow_last, std::string resolved) {
  if (!enabled_ || path.empty() || path[0] != '/') return;
  if (!fits(path.size() + resolved.size())) return;
  Entry& e = entries_[follow_last ? 1 : 0][std::string(path)];
  e.path = std::move(resolved);
  e.allowed = {-1, -1, -1, -1};
  last_ = &e;
}

const PathCache::Name* PathCache::name(std::string_view path) const {
  auto it = names_.find(path);
  return it == names_.end() ? nullptr : &it->second;
}

void PathCache::remember(std::string path, Name name) {
  if (enabled_ && fits(path.size() + name.target.size())) names_[std::move(path)] = std::move(name);
}

void PathCache::note_view_is_ours(pid_t tid) {
  // One per task of the run; a run that makes ever new tasks starts over now and then.
  if (views_.size() >= 65536) views_.clear();
  if (enabled_) views_.insert(tid);
}

bool PathCache::changeable(std::string_view dir) const {
  for (const FileSet* set : {&sets_->writable, &sets_->names}) {
    // A tree entry at `dir` or above grants its children.
    if (set->covers_below(dir)) return true;
    // The directory whose children an entry grants: "/d/*" and "/d/**" grant those of /d;
    // "/d/x" and "/d/x/" grant /d/x itself, a child of /d (an open with O_CREAT creates it, a
    // names grant removes or replaces it). Its base's entries too (a prepared profile's, under
    // the run's own).
    bool found = false;
    set->for_each([&](std::string_view e) {
      std::string_view parent;
      if (e.ends_with("/**") || e.ends_with("/*")) {
        parent = e.substr(0, e.rfind('/'));
      } else {
        if (e.size() > 1 && e.ends_with('/')) e.remove_suffix(1);
        parent = e.substr(0, e.rfind('/'));
      }
      if (parent.empty()) parent = "/";
      found = found || parent == dir;
    });
    if (found) return true;
  }
  return false;
}

bool PathCache::watch(const std::string& dir) {
  if (!enabled_ || watch_failed_) return false;
  if (!poll_) {
    // One epoll set over the inotify instance (EPOLLIN: events queued) and the tracer thread's
    // mountinfo (EPOLLPRI: a mount or unmount in its mount namespace, propagated ones too).
    UniqueFd notify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    UniqueFd mounts(::open("/proc/thread-self/mountinfo", O_RDONLY | O_CLOEXEC));
    UniqueFd poll(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event in{}, pri{};
    in.events = EPOLLIN;
    pri.events = EPOLLPRI;
    if (!notify || !mounts || !poll ||
        ::epoll_ctl(poll.get(), EPOLL_CTL_ADD, notify.get(), &in) != 0 ||
        ::epoll_ctl(poll.get(), EPOLL_CTL_ADD, mounts.get(), &pri) != 0) {
      watch_failed_ = true;  // EMFILE: the user's inotify instances are all taken...
      return false;
    }
    notify_ = std::move(notify);
    mounts_ = std::move(mounts);
    poll_ = std::move(poll);
  }
  // Entries added, removed, renamed in or out; the directory's own status (mode, owner, ACL),
  // removal or move; its filesystem unmounted (IN_UNMOUNT comes unasked). The path has no
  // symlink (the walk resolved it): IN_DONT_FOLLOW to be sure.
  constexpr std::uint32_t kChanges = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                                     IN_DONT_FOLLOW;
  return ::inotify_add_watch(notify_.get(), dir.c_str(), kChanges) >= 0;
}

void PathCache::poll() {
  if (!poll_) return;
  epoll_event ready[2];
  const int n = ::epoll_wait(poll_.get(), ready, 2, 0);
  if (n == 0) return;  // nothing changed: the common case, one syscall
  // Read what inotify queued, so that the same changes are not seen again.
  alignas(inotify_event) char buf[4096];
  while (::read(notify_.get(), buf, sizeof buf) > 0 || errno == EINTR) {
  }
  ++drops_;
  clear();
}

void PathCache::clear() {
  last_ = nullptr;
  bytes_ = 0;
  for (auto& m : entries_) m.clear();
  names_.clear();
}

void PathCache::disable() {
  clear();
  views_.clear();
  enabled_ = false;
}

Resolved resolve(pid_t tid, pid_t tgid, int dirfd, std::string_view path, bool follow_last,
                 PathCache* cache) {
  Resolved r;
  if (path.empty()) {
    r.error = ENOENT;
    return r;
  }
  if (cache != nullptr) {
    cache->last_ = nullptr;
    // A short run's walks are not worth remembering (kColdWalks).
    if (cache->walks_ < cache->cold_walks_) {
      ++cache->walks_;
      cache = nullptr;
    }
  }
  Walker walker(tid, tgid, cache);
  if (walker.cached_view() && path[0] == '/') {
    if (PathCache::Entry* e = cache->find(path, follow_last)) {
      cache->last_ = e;
      r.path = e->path;
      r.host = e->path;
      return r;
    }
  }
  return walker.run(dirfd, path, follow_last);
}

Resolved resolve_fd(pid_t tid, pid_t tgid, int fd) {
  Resolved r;
  const std::string link = fd == AT_FDCWD
                               ? "/proc/" + std::to_string(tid) + "/cwd"
                               : "/proc/" + std::to_string(tid) + "/fd/" + std::to_string(fd);
  std::string target;
  if (fd < 0 && fd != AT_FDCWD) {
    r.error = EBADF;
    return r;
  }
  if (int err = read_link(link, target); err != 0) {
    r.error = fd == AT_FDCWD ? err : EBADF;
    return r;
  }
  // pipe:[N], socket:[N], anon_inode:[eventfd], /memfd:x (deleted), a deleted file: no name
  // the file sets could grant.
  if (target.empty() || target[0] != '/' || target.ends_with(" (deleted)")) {
    r.path = target;
    r.not_a_file = true;
    return r;
  }
  r.path = proc_view(target, tgid);
  r.host = link;  // opening the magic link from the tracer reaches the same file
  return r;
}

int fd_reopen_error(const Resolved& r, std::uint64_t open_flags, const FileSets& files) {
  const std::string n = std::to_string(r.fd);
  // The fd's own open flags, in octal ("flags:\t0100002"): its access mode and O_PATH.
  const std::string flags_text = field(r.fd_table + "/fdinfo/" + n, "flags:");
  if (flags_text.empty()) return ENOENT;  // no such fd (the kernel says the same)
  const unsigned long fd_flags = std::strtoul(flags_text.c_str(), nullptr, 8);
  struct stat st {};
  if (::stat((r.fd_table + "/fd/" + n).c_str(), &st) != 0) return ENOENT;
  if (S_ISDIR(st.st_mode)) return EACCES;       // a directory fd reopened is a walk from it
  if ((fd_flags & O_PATH) != 0) return EACCES;  // an O_PATH fd was opened for no access
  const unsigned long fd_mode = fd_flags & O_ACCMODE;
  const bool fd_reads = fd_mode == O_RDONLY || fd_mode == O_RDWR;
  const bool fd_writes = fd_mode == O_WRONLY || fd_mode == O_RDWR;
  const std::uint64_t mode = open_flags & O_ACCMODE;
  bool reads = (open_flags & O_PATH) != 0 || mode != O_WRONLY;
  bool writes = (open_flags & O_PATH) == 0 && (mode != O_RDONLY || (open_flags & O_TRUNC) != 0);
  if ((reads && !fd_reads) || (writes && !fd_writes)) return EACCES;
  // O_TRUNC truncates, and O_CREAT asks to create: on a regular file, only one the program may
  // write by the sets (a pipe, a terminal or /dev/null is not truncated).
  if ((open_flags & O_PATH) == 0 && (open_flags & (O_TRUNC | O_CREAT)) != 0 &&
      S_ISREG(st.st_mode)) {
    std::string target;
    if (read_link(r.fd_table + "/fd/" + n, target) != 0 || target.empty() || target[0] != '/' ||
        target.ends_with(" (deleted)"))
      return EACCES;
    const std::string tgid = r.fd_table.substr(6, r.fd_table.find('/', 6) - 6);
    if (!files.allows(Access::kWrite, proc_view(target, std::atoi(tgid.c_str())))) return EACCES;
  }
  return 0;
}

}  // namespace tracebox::tracer::policy
