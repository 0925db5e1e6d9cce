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

  // A thread of the tracee's own process.
  bool own_task(pid_t pid) const {
    return pid == tgid_ || pid == tid_ || ::syscall(SYS_tgkill, tgid_, pid, 0) == 0;
  }

  // /proc/<tgid> is named /proc/self, as policies write it.
  std::string view(const std::string& path) const {
    const std::string own = "/proc/" + std::to_string(tgid_);
    if (path == own) return "/proc/self";
    if (path.starts_with(own + "/")) return "/proc/self" + path.substr(own.size());
    return path;
  }

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

}  // namespace tracebox::tracer::policy
