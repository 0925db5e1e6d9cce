// Path resolution as the kernel does it, from the tracer's side. The walk is component by
// component: each symlink is read and expanded *before* a following ".." is applied (so
// "allowed/link/../x" is "<link target>/../x", as the kernel opens it), ".." on an already
// resolved prefix is then its parent, and /proc/self is the tracee, not the tracer.
//
// The tracee's filesystem is reached through /proc/<tid>/root when its root or mount namespace
// differ from the tracer's; otherwise through plain paths (cheaper).
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "tracebox/tracer/policy/files.h"

namespace tracebox::tracer::policy {
namespace {

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

class Walker {
 public:
  Walker(pid_t tid, pid_t tgid) : tid_(tid), tgid_(tgid) { choose_view(); }

  Resolved run(int dirfd, std::string_view path, bool follow_last) {
    Resolved r;
    if (path.size() >= PATH_MAX) return error(ENAMETOOLONG);
    std::string cur;
    if (path[0] == '/') {
      cur = "/";
    } else {
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
      cur = base;
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
        cur = parent_of(cur);
        continue;
      }
      if (c.size() > NAME_MAX) return error(ENAMETOOLONG);
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
        struct stat st {};
        if (::lstat(host(next).c_str(), &st) != 0) {
          const int err = errno;
          if (err == ENOENT && last) {  // something to create
            cur = std::move(next);
            break;
          }
          return error(err);
        }
        if (S_ISLNK(st.st_mode)) {
          if (++links > kMaxLinks) return error(ELOOP);
          std::string target;
          if (int err = read_link(host(next), target); err != 0) return error(err);
          if (target.empty()) return error(ENOENT);
          if (target[0] == '/') cur = "/";
          push_components(todo, target);
          continue;
        }
        if (!S_ISDIR(st.st_mode) && (!last || trailing_slash)) return error(ENOTDIR);
      }
      cur = std::move(next);
    }
    r.path = view(cur);
    r.host = host(cur);
    return r;
  }

 private:
  static Resolved error(int err) {
    Resolved r;
    r.error = err;
    return r;
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
};

}  // namespace

Resolved resolve(pid_t tid, pid_t tgid, int dirfd, std::string_view path, bool follow_last) {
  if (path.empty()) {
    Resolved r;
    r.error = ENOENT;
    return r;
  }
  return Walker(tid, tgid).run(dirfd, path, follow_last);
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
