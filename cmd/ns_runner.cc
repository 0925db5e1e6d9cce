// The ns runner: the program in fresh namespaces on a read-only root, a seccomp filter that kills
// on anything the profile does not allow, and no tracer.
//
// As root the program runs as the sandbox user (65534, no supplementary groups, no
// capabilities) as pid 2 of its PID namespace beside an init of ours, with device nodes of its
// own. Without root a user namespace gives the privilege to set up the namespaces; the program is
// then its user namespace's root (runprog's user outside) and its PID namespace's init.
//
// Limits: CPU time and memory are sampled every 10 ms over every process of the run's PID
// namespace (read through the run's own /proc, so orphans and unwaited children count) plus the
// run's tmpfs /w and /tmp; the final CPU time is the rusage of the program and of the
// namespace's init (which reaped the orphans and, at the end, every process left).
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <time.h>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "output.h"
#include "run.h"
#include "tracebox/rlimit/rlimit.h"

namespace tracebox::cmd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHostname = "run_program";
// The default read-only binds, as go-sandbox's runprog has them (those that exist).
constexpr const char* kSystemTrees[] = {
    "/usr", "/bin", "/lib", "/lib64", "/etc/alternatives", "/etc/fpc.cfg", "/var/lib/ghc"};
// The devices a program may use, all readable and writable (as on any Linux system).
struct DeviceNode {
  const char* name;
  unsigned major, minor;
};
constexpr DeviceNode kDevices[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"random", 1, 8}, {"urandom", 1, 9}};
// The user the program runs as when runprog is root (tracer::Isolation's default user).
constexpr uid_t kSandboxUid = 65534;  // unless -user says otherwise
constexpr gid_t kSandboxGid = 65534;
constexpr auto kTick = std::chrono::milliseconds(10);

std::string real_or_empty(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

bool within(const std::string& path, const std::string& tree) {
  if (tree.empty()) return false;
  if (tree == "/") return true;
  return path == tree || (path.starts_with(tree) && path[tree.size()] == '/');
}

// Removes the (empty) directory the child pivots into; its tmpfs lives only in the child's
// mount namespace, so the host directory stays empty.
class TempRoot {
 public:
  TempRoot() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/runprog-ns.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw SystemError(errno, "mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempRoot() { ::rmdir(path_.c_str()); }
  TempRoot(const TempRoot&) = delete;
  TempRoot& operator=(const TempRoot&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// SIGINT or SIGTERM while waiting: the run is cancelled (go-sandbox's runprog does the same).
volatile sig_atomic_t g_cancelled = 0;

void on_cancel_signal(int) { g_cancelled = 1; }

std::chrono::microseconds timeval_us(const timeval& tv) {
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

std::chrono::microseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// `fd` opened again through /proc/self/fd with `flags` (its own open file description, on the
// same inode), or `fd` itself when that fails.
UniqueFd reopened(UniqueFd fd, int flags) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
  UniqueFd again(::open(path.c_str(), flags | O_CLOEXEC));
  return again ? std::move(again) : std::move(fd);
}

// The program's fds 0, 1 and 2, kept off the judge's files. Through /proc/self/fd/N (or
// /dev/stdin) a program reopens the file behind an fd with any access its credentials allow,
// and with fcntl(F_SETFL) it clears O_APPEND: a regular file given to it is within reach as a
// whole. So a regular file never is:
//  - input (fd 0, or any fd opened read-only): a sealed memfd copy of the file (at the same
//    offset), which nothing can write, truncate or grow;
//  - output: an empty memfd, copied through the judge's fd (at its offset, or appended with
//    O_APPEND) once every process of the run is gone: the program can rewrite or truncate only
//    what it wrote itself, never what the file held before (a ">>"-opened log) nor runprog's
//    result written after it. RLIMIT_FSIZE applies to the memfd as to the file.
// Pipes, terminals and devices are passed as they are.
class Stdio {
 public:
  // Replaces the regular files among `files` (fds 0, 1, 2) with memfds; throws SystemError.
  void substitute(std::vector<int>& files) {
    struct Seen {
      dev_t dev;
      ino_t ino;
      int fd;  // the substitute
    };
    std::vector<Seen> outputs;
    for (std::size_t i = 0; i < files.size() && i < 3; ++i) {
      const int fd = files[i];
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) continue;
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0) throw SystemError(errno, "fcntl F_GETFL");
      if (i == 0 || (flags & O_ACCMODE) == O_RDONLY) {
        UniqueFd copy = reopened(sealed_copy(fd, "runprog-stdin"), O_RDONLY);
        const off_t at = ::lseek(fd, 0, SEEK_CUR);
        if (at > 0) ::lseek(copy.get(), std::min<off_t>(at, st.st_size), SEEK_SET);
        files[i] = copy.get();
        keep_.push_back(std::move(copy));
        continue;
      }
      // Two fds on one file (2>&1, or -err naming -out's file): one memfd, so that the
      // program's writes to both keep their order.
      bool shared = false;
      for (const Seen& s : outputs) {
        if (s.dev == st.st_dev && s.ino == st.st_ino) {
          files[i] = s.fd;
          shared = true;
        }
      }
      if (shared) continue;
      UniqueFd mem(::memfd_create("runprog-output", MFD_CLOEXEC));
      if (!mem) throw SystemError(errno, "memfd_create");
      Capture c;
      c.target = fd;
      c.memfd.reset(::fcntl(mem.get(), F_DUPFD_CLOEXEC, 3));
      if (!c.memfd) throw SystemError(errno, "dup");
      UniqueFd program = reopened(std::move(mem), (flags & O_ACCMODE) | (flags & O_APPEND));
      outputs.push_back({st.st_dev, st.st_ino, program.get()});
      files[i] = program.get();
      keep_.push_back(std::move(program));
      captures_.push_back(std::move(c));
    }
  }

  // The largest output the program wrote to a captured file, in bytes.
  std::uint64_t largest_output() const {
    std::uint64_t largest = 0;
    for (const Capture& c : captures_) {
      struct stat st {};
      if (::fstat(c.memfd.get(), &st) == 0)
        largest = std::max(largest, static_cast<std::uint64_t>(st.st_size));
    }
    return largest;
  }

  // Writes each captured output through the judge's fd; "" or what failed.
  std::string copy_back() {
    std::string error;
    for (Capture& c : captures_) {
      struct stat st {};
      if (::fstat(c.memfd.get(), &st) != 0 || st.st_size == 0) continue;
      const auto size = static_cast<std::size_t>(st.st_size);
      void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, c.memfd.get(), 0);
      if (map == MAP_FAILED || !write_all(c.target, static_cast<const char*>(map), size)) {
        if (error.empty())
          error = "writing the program's output to fd " + std::to_string(c.target) + ": " +
                  errno_text(errno);
      }
      if (map != MAP_FAILED) ::munmap(map, size);
    }
    captures_.clear();
    keep_.clear();
    return error;
  }

  // Gives up the substitutes once the program has them (the captures stay).
  void close_program_ends() { keep_.clear(); }

 private:
  struct Capture {
    int target = -1;
    UniqueFd memfd;
  };
  std::vector<UniqueFd> keep_;  // the fds the program gets, until it has them
  std::vector<Capture> captures_;
};

// The run's processes and tmpfs as runprog sees them: the run's own /proc (the procfs mounted
// in its PID namespace, which lists exactly the namespace's processes, orphans included) and
// its /w and /tmp, opened through the child's root at its sync point, before the exec: the fds
// keep those mounts readable after the program exited, however soon that is.
class Probe {
 public:
  // 0 or the errno of what failed.
  int open(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    const std::string root = base + "/root/";
    UniqueFd proc(::open((root + "proc").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc) return errno;
    for (const char* dir : {"w", "tmp"}) {
      UniqueFd fd(::open((root + dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd) return errno;
      tmpfs_.push_back(std::move(fd));
    }
    // Our procfs is the host's: NSpid's last field is the program's pid in its namespace.
    char buf[4096];
    if (read_file(AT_FDCWD, (base + "/status").c_str(), buf, sizeof buf) < 0) return errno;
    const char* ns = std::strstr(buf, "\nNSpid:");
    if (ns == nullptr) return ENOENT;
    ns += 7;
    for (;;) {
      while (*ns == ' ' || *ns == '\t') ++ns;
      if (*ns < '0' || *ns > '9') break;
      char* end = nullptr;
      program_ = static_cast<int>(std::strtol(ns, &end, 10));
      ns = end;
    }
    dir_ = ::fdopendir(proc.release());
    if (dir_ == nullptr) return errno;
    return 0;
  }
  ~Probe() {
    if (dir_ != nullptr) ::closedir(dir_);
  }

  struct Sample {
    std::chrono::nanoseconds cpu{0};
    std::uint64_t memory_bytes = 0;
  };
  // Every process of the namespace: its CPU time, with what it reaped (utime, stime, cutime,
  // cstime), and its peak resident set plus page tables (VmHWM + VmPTE, as the ptrace runner
  // counts them; a process that shares memory counts it again: an upper bound), plus the bytes
  // the tmpfs hold. `program_cpu` replaces the program's own user+system ticks with its CPU
  // clock (nanoseconds). With `own_init`, pid 1 is our init: its memory is runprog's.
  Sample sample(std::optional<std::chrono::nanoseconds> program_cpu, bool own_init) const {
    Sample s;
    static const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    const std::int64_t tick_ns = 1'000'000'000 / (ticks_per_second > 0 ? ticks_per_second : 100);
    if (dir_ != nullptr) {
      ::rewinddir(dir_);
      const int fd = ::dirfd(dir_);
      char path[64];
      char buf[4096];
      while (const dirent* e = ::readdir(dir_)) {
        char* end = nullptr;
        const long pid = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || pid <= 0) continue;
        std::snprintf(path, sizeof path, "%ld/stat", pid);
        if (read_file(fd, path, buf, sizeof buf) > 0) {
          // After the command name (which may hold anything): state is field 3; utime, stime,
          // cutime and cstime are fields 14 to 17.
          const char* p = std::strrchr(buf, ')');
          unsigned long long utime = 0, stime = 0;
          long long cutime = 0, cstime = 0;
          if (p != nullptr &&
              std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                          &utime, &stime, &cutime, &cstime) == 4) {
            std::int64_t own = static_cast<std::int64_t>(utime + stime) * tick_ns;
            if (pid == program_ && program_cpu) own = program_cpu->count();
            s.cpu += std::chrono::nanoseconds(own + (cutime + cstime) * tick_ns);
          }
        }
        if (own_init && pid == 1) continue;
        std::snprintf(path, sizeof path, "%ld/status", pid);
        if (read_file(fd, path, buf, sizeof buf) > 0) {
          s.memory_bytes += (field(buf, "\nVmHWM:") + field(buf, "\nVmPTE:")) * 1024;
        }
      }
    }
    for (const UniqueFd& t : tmpfs_) {
      struct statfs st {};
      if (::fstatfs(t.get(), &st) == 0)
        s.memory_bytes += static_cast<std::uint64_t>(st.f_blocks - st.f_bfree) *
                          static_cast<std::uint64_t>(st.f_bsize);
    }
    return s;
  }

 private:
  // Reads `path` (relative to `dir`) into `buf`, NUL-terminated; the length or -1.
  static ssize_t read_file(int dir, const char* path, char* buf, std::size_t size) {
    UniqueFd fd(::openat(dir, path, O_RDONLY | O_CLOEXEC));
    if (!fd) return -1;
    const ssize_t n = ::read(fd.get(), buf, size - 1);
    if (n < 0) return -1;
    buf[n] = '\0';
    return n;
  }
  static std::uint64_t field(const char* text, const char* key) {
    const char* at = std::strstr(text, key);
    if (at == nullptr) return 0;
    return std::strtoull(at + std::strlen(key), nullptr, 10);
  }

  DIR* dir_ = nullptr;
  std::vector<UniqueFd> tmpfs_;
  int program_ = -1;  // the program's pid in its namespace
};

}  // namespace

mount::Builder ns_mounts(const Prepared& p, bool root) {
  mount::Builder b;
  std::vector<std::string> covered;
  for (const char* tree : kSystemTrees) {
    b.with_bind(tree, std::string(tree).substr(1), true);
    covered.push_back(real_or_empty(tree));
  }
  if (root) {
    std::vector<mount::Device> devices;
    for (const DeviceNode& d : kDevices) devices.push_back({d.name, d.major, d.minor, 0666});
    b.with_devices("dev", std::move(devices));
  } else {
    // mknod is refused in a user namespace: the host's nodes, bound read-only. A read-only
    // mount refuses every change to a node (EROFS) but not reading or writing the device, and
    // the nodes belong to a user the namespace does not map, whose files its root cannot
    // chmod or chown either.
    for (const DeviceNode& d : kDevices)
      b.with_bind(std::string("/dev/") + d.name, std::string("dev/") + d.name, true);
  }
  // Already there, readable and writable: an -add-readable or -add-writable of one of them
  // must not bind the host's node over it.
  for (const DeviceNode& d : kDevices) covered.push_back(std::string("/dev/") + d.name);
  b.filter_not_exist();
  b.with_proc(true);
  // Each tmpfs may hold at most the memory limit and a page (its contents count as the run's
  // memory too: a full one is over the limit on its own), /w belonging to the program's user,
  // /tmp everyone's as usual.
  const auto kib = (*p.spec.limits.memory_bytes + 1023) / 1024 + 4;
  const std::string size = "size=" + std::to_string(kib) + "k,nr_inodes=4k";
  const uid_t sandbox_uid = p.options.user ? p.options.user->first : kSandboxUid;
  const gid_t sandbox_gid = p.options.user ? p.options.user->second : kSandboxGid;
  const std::string owner = root ? std::to_string(sandbox_uid) : "0";
  const std::string group = root ? std::to_string(sandbox_gid) : "0";
  b.with_tmpfs("w", size + ",mode=0755,uid=" + owner + ",gid=" + group);
  b.with_tmpfs("tmp", size + ",mode=1777");
  auto bind = [&](const std::string& option, const std::string& path, bool read_only) {
    if (path == "/") throw UsageError(option + ": /: the ns runner cannot bind the whole root");
    if (path == "/proc" || path.starts_with("/proc/"))
      throw UsageError(option + ": " + path + ": the ns runner mounts its own /proc");
    b.with_bind(path, path.substr(1), read_only);
    covered.push_back(path);
  };
  for (const auto& w : p.writable) {
    bool device = false;
    for (const DeviceNode& d : kDevices) device = device || w == std::string("/dev/") + d.name;
    if (!device) bind("-add-writable", w, false);
  }
  for (const auto& r : p.readable) {
    bool inside = false;
    for (const auto& c : covered) inside = inside || within(r, c);
    if (!inside) bind("-add-readable", r, true);
  }
  if (!p.memfd) {
    struct stat st {};
    bool inside = false;
    for (const auto& c : covered) inside = inside || within(p.program_real, c);
    // A missing program is not bound: its exec then fails with ENOENT, a runner error.
    if (!inside && ::stat(p.program_real.c_str(), &st) == 0)
      b.with_bind(p.program_real, p.program_real.substr(1), true);
  }
  return b;
}

seccomp::Builder ns_filter(const Prepared& p) {
  seccomp::Builder b;
  b.default_action(p.options.unsafe ? seccomp::Action::error(EACCES)
                                    : seccomp::Action::kill_process());
  bool named_clone3 = false;
  for (const auto& s : p.judge().allow) {
    b.add(s, seccomp::Action::allow());
    named_clone3 = named_clone3 || s == "clone3";
  }
  // Budgets need a tracer to count them: here they are allowed outright.
  for (const auto& [s, n] : p.judge().budgets) {
    b.add(s, seccomp::Action::allow());
    named_clone3 = named_clone3 || s == "clone3";
  }
  for (const auto& [s, err] : p.judge().deny) {
    b.add(s, seccomp::Action::error(static_cast<std::uint16_t>(err)));
    named_clone3 = named_clone3 || s == "clone3";
  }
  if (!named_clone3) b.add("clone3", seccomp::Action::error(ENOSYS));
  return b;
}

tracer::Result run_ns(Prepared& p) {
  const auto start = Clock::now();
  tracer::Result r;
  r.status = tracer::Status::kRunnerError;
  const Options& o = p.options;
  const bool root = ::geteuid() == 0;

  forkexec::Runner runner = std::move(p.spec.process);
  std::unique_ptr<TempRoot> temp_root;
  Stdio stdio;
  Probe probe;
  try {
    temp_root = std::make_unique<TempRoot>();
    runner.clone_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    if (root) {
      // The program as pid 2 beside our init, as an unprivileged user (no capabilities:
      // drop_caps below).
      runner.pid_namespace = true;
      runner.credential =
          forkexec::Credential{p.options.user ? p.options.user->first : kSandboxUid,
                               p.options.user ? p.options.user->second : kSandboxGid,
                               {},
                               false};
    } else {
      // A user namespace provides the privilege; an init of ours needs CAP_SYS_ADMIN in the
      // host's, so the program is the PID namespace's init.
      runner.clone_flags |= CLONE_NEWPID | CLONE_NEWUSER;
    }
    runner.pivot_root = temp_root->path();
    mount::Builder mounts = ns_mounts(p, root);
    runner.mounts = mounts.build();
    runner.work_dir = "/w";
    runner.hostname = kHostname;
    runner.domainname = kHostname;
    runner.no_new_privs = true;
    runner.drop_caps = true;
    runner.kill_with_parent = true;
    // The program runs from the same absolute path inside (bound there), whatever its argv[0].
    if (runner.exec_fd < 0) runner.path = p.program_real;
    runner.seccomp = std::make_shared<const seccomp::Program>(ns_filter(p).build());
    // The run's /proc and tmpfs are held before the program can write to them and exit (a
    // program that fills /tmp and exits at once takes its mount namespace with it).
    runner.sync = [&probe](pid_t pid) { return probe.open(pid); };
    stdio.substitute(runner.files);

    rlimit::Limits l;
    // RLIMIT_CPU is a backstop over each process, a second past the limit (SIGXCPU, then
    // SIGKILL a second later): the limit is the namespace's total, sampled. At the bare limit it
    // would kill a child the program leaves spinning just as the total reaches the limit, which
    // then stops growing short of it.
    l.cpu = *p.spec.limits.cpu + std::chrono::seconds(1);
    l.cpu_hard = *p.spec.limits.cpu + std::chrono::seconds(2);
    if (p.spec.memory_rlimit) l.data_bytes = p.spec.limits.memory_bytes;
    l.file_size_bytes = p.spec.limits.output_bytes;
    l.disable_core = false;  // already in the process's own rlimits
    auto extra = rlimit::prepare(l);
    runner.rlimits.insert(runner.rlimits.begin(), extra.begin(), extra.end());

    if (o.show_trace_details) {
      std::string text = "runprog: ns runner: " + mounts.to_string() +
                         "\nrunprog: ns runner: " + rlimit::to_string(runner.rlimits) + "\n";
      (void)!::write(2, text.data(), text.size());
    }
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    r.error = e.what();
    r.setup_time = since(start);
    return r;
  }

  struct sigaction cancel {};
  cancel.sa_handler = on_cancel_signal;  // no SA_RESTART: poll() returns EINTR
  sigemptyset(&cancel.sa_mask);
  ::sigaction(SIGINT, &cancel, nullptr);
  ::sigaction(SIGTERM, &cancel, nullptr);

  forkexec::Child child;
  try {
    child = runner.start();
  } catch (const forkexec::StartError& e) {
    r.error = e.child_error().location == forkexec::ErrorLocation::kSyncCallback
                  ? "reading the run's /proc and tmpfs: " + errno_text(e.child_error().err)
                  : e.what();
    r.child_error = e.child_error();
    r.setup_time = since(start);
    return r;
  } catch (const std::exception& e) {
    r.error = e.what();
    r.setup_time = since(start);
    return r;
  }
  stdio.close_program_ends();
  // start() returned after the exec (the child shares our memory until then).
  const auto exec_time = Clock::now();
  r.setup_time = std::chrono::duration_cast<std::chrono::microseconds>(exec_time - start);
  // The limits over the whole namespace, sampled every tick: CPU time (also of the processes
  // the program never waits for, and of those it left to our init) and memory (every process,
  // the tmpfs). RLIMIT_CPU, RLIMIT_DATA and RLIMIT_FSIZE bound each process on their own (as
  // root the program is not its namespace's init, so SIGXCPU and SIGXFSZ reach it).
  const auto cpu_limit = std::chrono::duration_cast<std::chrono::nanoseconds>(*p.spec.limits.cpu);
  const std::uint64_t memory_limit = *p.spec.limits.memory_bytes;
  clockid_t cpu_clock{};
  const bool have_clock = ::clock_getcpuclockid(child.pid(), &cpu_clock) == 0;
  auto program_cpu = [&]() -> std::optional<std::chrono::nanoseconds> {
    timespec ts{};
    if (!have_clock || ::clock_gettime(cpu_clock, &ts) != 0) return std::nullopt;
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  std::uint64_t peak_bytes = 0;
  std::chrono::nanoseconds sampled_cpu{0};
  auto sample = [&] {
    Probe::Sample s = probe.sample(program_cpu(), runner.pid_namespace);
    peak_bytes = std::max(peak_bytes, s.memory_bytes);
    sampled_cpu = std::max(sampled_cpu, s.cpu);
    return s;
  };
  bool wall_exceeded = false, cpu_exceeded = false, memory_exceeded = false;
  const auto deadline = exec_time + *p.spec.limits.wall;
  for (;;) {
    if (g_cancelled) break;
    const auto wall_left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
    if (wall_left.count() <= 0) {
      wall_exceeded = true;
      break;
    }
    const Probe::Sample s = sample();
    if (s.cpu >= cpu_limit) {
      cpu_exceeded = true;
      break;
    }
    if (s.memory_bytes > memory_limit) {
      memory_exceeded = true;
      break;
    }
    const auto wait = std::min<std::chrono::microseconds>(wall_left, kTick);
    pollfd pfd{child.pidfd(), POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>((wait.count() + 999) / 1000));
    if (n > 0) {
      // The program ended: what it left (processes, files) still counts.
      if (sample().memory_bytes > memory_limit) memory_exceeded = true;
      break;
    }
    if (n < 0 && errno != EINTR) {
      r.error = std::string("poll: ") + errno_text(errno);
      return r;  // the child is killed and reaped by its destructor
    }
  }
  const bool cancelled = g_cancelled != 0;
  // Killing the program and our init kills every process in the namespace.
  if (wall_exceeded || cpu_exceeded || memory_exceeded || cancelled) child.kill();
  forkexec::Child::Exit exit = child.wait();
  r.wall_time = since(exec_time);
  // The program's own rusage holds what it waited for; the init's, the orphans it reaped. The
  // processes still there at the end are killed with the namespace, and reaped without a trace
  // in anyone's rusage (the dying init ignores SIGCHLD): the last sample holds their time.
  r.cpu_time =
      std::max(timeval_us(exit.usage.ru_utime) + timeval_us(exit.usage.ru_stime) +
                   timeval_us(exit.init_usage.ru_utime) + timeval_us(exit.init_usage.ru_stime),
               std::chrono::duration_cast<std::chrono::microseconds>(sampled_cpu));
  r.memory_kib =
      std::max(peak_bytes / 1024, static_cast<std::uint64_t>(std::max(0L, exit.usage.ru_maxrss)));
  const std::uint64_t largest_output = stdio.largest_output();
  const std::string copy_error = stdio.copy_back();

  auto verdict = [&](tracer::Status s, tracer::LimitKind limit, std::string why) {
    r.status = s;
    r.limit = limit;
    r.error = std::move(why);
  };
  if (exit.info.si_code == CLD_EXITED) {
    r.exit_status = exit.info.si_status;
    verdict(r.exit_status == 0 ? tracer::Status::kNormal : tracer::Status::kNonzeroExitStatus,
            tracer::LimitKind::kNone, "");
  } else {
    const int sig = exit.info.si_status;
    r.exit_status = sig;
    r.signal = sig;
    if (cpu_exceeded) {
      verdict(tracer::Status::kTimeLimitExceeded, tracer::LimitKind::kCpu, "CPU time limit");
    } else if (memory_exceeded) {
      verdict(tracer::Status::kMemoryLimitExceeded, tracer::LimitKind::kMemory, "memory limit");
    } else if (wall_exceeded) {
      verdict(tracer::Status::kTimeLimitExceeded, tracer::LimitKind::kWall, "wall clock limit");
    } else if (sig == SIGXCPU || (sig == SIGKILL && r.cpu_time >= cpu_limit)) {
      verdict(tracer::Status::kTimeLimitExceeded, tracer::LimitKind::kCpu, "CPU time limit");
    } else if (sig == SIGXFSZ) {
      verdict(tracer::Status::kOutputLimitExceeded, tracer::LimitKind::kOutput,
              "output limit (SIGXFSZ)");
    } else if (sig == SIGSYS) {
      verdict(tracer::Status::kDisallowedSyscall, tracer::LimitKind::kNone,
              "killed by SIGSYS: a syscall the profile does not allow (the ns runner cannot tell "
              "which; -runner ptrace names it)");
    } else {
      const char* abbrev = ::sigabbrev_np(sig);
      verdict(tracer::Status::kSignalled, tracer::LimitKind::kNone,
              "killed by signal " + std::to_string(sig) + " (" + (abbrev ? abbrev : "?") + ")");
    }
  }
  if (cancelled) {
    verdict(tracer::Status::kRunnerError, tracer::LimitKind::kNone, "cancelled");
    return r;
  }
  if (!copy_error.empty()) {
    verdict(tracer::Status::kRunnerError, tracer::LimitKind::kNone, copy_error);
    return r;
  }
  // The output files the program could not grow: RLIMIT_FSIZE refused a write (EFBIG; the
  // program, as its namespace's init without root, gets no SIGXFSZ, or handled it).
  const bool ended_by_program = r.status == tracer::Status::kNormal ||
                                r.status == tracer::Status::kNonzeroExitStatus ||
                                r.status == tracer::Status::kSignalled;
  if (ended_by_program && largest_output >= *p.spec.limits.output_bytes) {
    verdict(tracer::Status::kOutputLimitExceeded, tracer::LimitKind::kOutput,
            "output limit (the output file reached its size limit)");
  }
  // Limits seen only in the totals; a wall-clock kill stays a wall-clock TLE.
  if (ended_by_program && r.cpu_time > cpu_limit) {
    verdict(tracer::Status::kTimeLimitExceeded, tracer::LimitKind::kCpu, "CPU time limit");
  } else if (ended_by_program && r.memory_kib * 1024 > memory_limit) {
    verdict(tracer::Status::kMemoryLimitExceeded, tracer::LimitKind::kMemory, "memory limit");
  }
  return r;
}

}  // namespace tracebox::cmd
