// The ns runner: the program in fresh namespaces on a read-only root, a seccomp filter that kills
// on anything the profile does not allow, and no tracer. Time and memory come from the rusage of
// the ended child; the limits from rlimits and a wall-clock poll on the child's pidfd.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "output.h"
#include "run.h"
#include "tracebox/rlimit/rlimit.h"

namespace tracebox::cmd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHostname = "run_program";
// The default read-only binds, as go-sandbox's runprog has them (those that exist), and the
// devices a program may use: /dev/null read-write, the others read-only.
constexpr const char* kSystemTrees[] = {
    "/usr",         "/bin",         "/lib",      "/lib64",      "/etc/alternatives",
    "/etc/fpc.cfg", "/var/lib/ghc", "/dev/zero", "/dev/random", "/dev/urandom"};
constexpr const char* kWritableDevices[] = {"/dev/null"};

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

}  // namespace

mount::Builder ns_mounts(const Prepared& p) {
  mount::Builder b;
  std::vector<std::string> covered;
  for (const char* tree : kSystemTrees) {
    b.with_bind(tree, std::string(tree).substr(1), true);
    covered.push_back(real_or_empty(tree));
  }
  for (const char* dev : kWritableDevices) b.with_bind(dev, std::string(dev).substr(1), false);
  b.filter_not_exist();
  b.with_proc(true);
  const auto mib = static_cast<long long>(std::ceil(std::max(8.0, p.options.ol)));
  const std::string tmpfs = "size=" + std::to_string(mib) + "m,nr_inodes=4k";
  b.with_tmpfs("w", tmpfs);
  b.with_tmpfs("tmp", tmpfs);
  auto bind = [&](const std::string& option, const std::string& path, bool read_only) {
    if (path == "/") throw UsageError(option + ": /: the ns runner cannot bind the whole root");
    if (path == "/proc" || path.starts_with("/proc/"))
      throw UsageError(option + ": " + path + ": the ns runner mounts its own /proc");
    b.with_bind(path, path.substr(1), read_only);
    covered.push_back(path);
  };
  for (const auto& w : p.writable) bind("-add-writable", w, false);
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
  for (const auto& s : p.judge.allow) {
    b.add(s, seccomp::Action::allow());
    named_clone3 = named_clone3 || s == "clone3";
  }
  // Budgets need a tracer to count them: here they are allowed outright.
  for (const auto& [s, n] : p.judge.budgets) {
    b.add(s, seccomp::Action::allow());
    named_clone3 = named_clone3 || s == "clone3";
  }
  for (const auto& [s, err] : p.judge.deny) {
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

  forkexec::Runner runner = std::move(p.spec.process);
  std::unique_ptr<TempRoot> root;
  try {
    root = std::make_unique<TempRoot>();
    runner.clone_flags =
        CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    // As root the namespaces need no user namespace; otherwise it provides the privilege.
    if (::geteuid() != 0) runner.clone_flags |= CLONE_NEWUSER;
    runner.pivot_root = root->path();
    mount::Builder mounts = ns_mounts(p);
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

    rlimit::Limits l;
    l.cpu = p.spec.limits.cpu;
    l.cpu_hard = *p.spec.limits.cpu + std::chrono::seconds(1);
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
    r.error = e.what();
    r.child_error = e.child_error();
    r.setup_time = since(start);
    return r;
  } catch (const std::exception& e) {
    r.error = e.what();
    r.setup_time = since(start);
    return r;
  }
  // start() returned after the exec (the child shares our memory until then).
  const auto exec_time = Clock::now();
  r.setup_time = std::chrono::duration_cast<std::chrono::microseconds>(exec_time - start);

  // The program is pid 1 of its PID namespace, and the kernel does not deliver signals such as
  // SIGXCPU and SIGXFSZ to a namespace's init (only SIGKILL and faults): the CPU limit is ours to
  // enforce (the process's CPU clock, checked while we wait on the pidfd), RLIMIT_CPU's hard
  // limit is a SIGKILL backstop, and an output limit shows as EFBIG to the program.
  const auto cpu_limit = std::chrono::duration_cast<std::chrono::microseconds>(*p.spec.limits.cpu);
  clockid_t cpu_clock{};
  const bool have_clock = ::clock_getcpuclockid(child.pid(), &cpu_clock) == 0;
  auto cpu_used = [&]() -> std::optional<std::chrono::microseconds> {
    timespec ts{};
    if (!have_clock || ::clock_gettime(cpu_clock, &ts) != 0) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  };
  // Without RLIMIT_DATA (-allow-proc, or a profile without memory_rlimit) the memory limit is
  // enforced by sampling the program's resident set.
  const bool sample_memory = !p.spec.memory_rlimit;
  const std::string statm = "/proc/" + std::to_string(child.pid()) + "/statm";
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  auto resident_bytes = [&]() -> std::uint64_t {
    UniqueFd fd(::open(statm.c_str(), O_RDONLY | O_CLOEXEC));
    char buf[128];
    ssize_t n = fd ? ::read(fd.get(), buf, sizeof buf - 1) : -1;
    if (n <= 0) return 0;
    buf[n] = '\0';
    unsigned long long size = 0, resident = 0;
    if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
    return resident * page;
  };
  constexpr auto kTick = std::chrono::microseconds(10000);
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
    auto wait = wall_left;
    if (auto used = cpu_used()) {
      if (*used >= cpu_limit) {
        cpu_exceeded = true;
        break;
      }
      // It cannot use more CPU than wall time per thread: check again when a single thread could
      // have reached the limit, at least every 10 ms.
      wait = std::min(wait, std::max(cpu_limit - *used, kTick));
    }
    if (sample_memory) {
      if (resident_bytes() > *p.spec.limits.memory_bytes) {
        memory_exceeded = true;
        break;
      }
      wait = std::min(wait, kTick);
    }
    pollfd pfd{child.pidfd(), POLLIN, 0};
    const int ms = static_cast<int>(std::min<long long>((wait.count() + 999) / 1000, INT_MAX));
    int n = ::poll(&pfd, 1, ms);
    if (n > 0) break;
    if (n < 0 && errno != EINTR) {
      r.error = std::string("poll: ") + errno_text(errno);
      return r;  // the child is killed and reaped by its destructor
    }
  }
  const bool cancelled = g_cancelled != 0;
  // The program is pid 1 of its namespace: killing it kills everything in the namespace.
  if (wall_exceeded || cpu_exceeded || memory_exceeded || cancelled) child.kill();
  forkexec::Child::Exit exit = child.wait();
  r.wall_time = since(exec_time);
  r.cpu_time = timeval_us(exit.usage.ru_utime) + timeval_us(exit.usage.ru_stime);
  r.memory_kib = static_cast<std::uint64_t>(exit.usage.ru_maxrss);

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
  // The output files the program could not grow: RLIMIT_FSIZE refused a write (EFBIG).
  if (r.status == tracer::Status::kNormal || r.status == tracer::Status::kNonzeroExitStatus ||
      r.status == tracer::Status::kSignalled) {
    for (const UniqueFd* f : {&p.out, &p.err}) {
      struct stat st {};
      if (*f && ::fstat(f->get(), &st) == 0 && S_ISREG(st.st_mode) &&
          static_cast<std::uint64_t>(st.st_size) >= *p.spec.limits.output_bytes) {
        verdict(tracer::Status::kOutputLimitExceeded, tracer::LimitKind::kOutput,
                "output limit (the output file reached its size limit)");
      }
    }
  }
  // Limits seen only in the totals; a wall-clock kill stays a wall-clock TLE.
  const bool ended_by_program = r.status == tracer::Status::kNormal ||
                                r.status == tracer::Status::kNonzeroExitStatus ||
                                r.status == tracer::Status::kSignalled;
  if (ended_by_program && r.cpu_time > *p.spec.limits.cpu) {
    verdict(tracer::Status::kTimeLimitExceeded, tracer::LimitKind::kCpu, "CPU time limit");
  } else if (ended_by_program && r.memory_kib * 1024 > *p.spec.limits.memory_bytes) {
    verdict(tracer::Status::kMemoryLimitExceeded, tracer::LimitKind::kMemory, "memory limit");
  }
  return r;
}

}  // namespace tracebox::cmd
