// The cost of a syscall under a 100-rule judge policy against no filter, side by side:
//  - allowed, constant (the kernel's per-syscall ALLOW bitmap skips the BPF),
//  - allowed after an argument check (the BPF runs: binary tree + comparison),
//  - traced: SECCOMP_RET_TRACE, a ptrace stop and PTRACE_CONT by a tiny tracer (this process),
// each pinned (tracer and tracee on one CPU) and unpinned, measured in a child that installs the
// filter; plus how long Builder::build() takes. A table of ratios follows Google Benchmark's.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tracebox/seccomp/filter.h"

namespace {

using tracebox::seccomp::Action;
using tracebox::seccomp::ArgCondition;
using tracebox::seccomp::Builder;
using tracebox::seccomp::Program;

// A judge-like policy of `count` rules (at most 100): the measured calls are among the first.
Builder judge_policy(std::size_t count) {
  static const char* const kAllowed[] = {
      "read",
      "write",
      "readv",
      "writev",
      "pread64",
      "pwrite64",
      "lseek",
      "close",
      "fstat",
      "newfstatat",
      "statx",
      "faccessat",
      "faccessat2",
      "getcwd",
      "getdents64",
      "brk",
      "munmap",
      "mremap",
      "mprotect",
      "madvise",
      "arch_prctl",
      "set_tid_address",
      "set_robust_list",
      "rseq",
      "prlimit64",
      "getrlimit",
      "rt_sigaction",
      "rt_sigprocmask",
      "rt_sigreturn",
      "sigaltstack",
      "getrandom",
      "futex",
      "clock_gettime",
      "clock_getres",
      "clock_nanosleep",
      "nanosleep",
      "gettimeofday",
      "time",
      "sched_yield",
      "sched_getaffinity",
      "getpid",
      "gettid",
      "geteuid",
      "getgid",
      "getegid",
      "uname",
      "sysinfo",
      "exit",
      "exit_group",
      "tgkill",
      "ioctl",
      "fcntl",
      "dup",
      "dup2",
      "dup3",
      "pipe",
      "pipe2",
      "poll",
      "ppoll",
      "select",
      "pselect6",
      "epoll_create1",
      "epoll_ctl",
      "epoll_wait",
      "epoll_pwait",
      "eventfd2",
      "wait4",
      "getrusage",
      "times",
      "umask",
      "membarrier",
      "sched_getparam",
      "sched_getscheduler",
      "msync",
      "mincore",
      "ftruncate",
      "fsync",
      "fdatasync",
      "getitimer",
      "setitimer",
      "alarm",
      "pause",
      "capget",
      "getresuid",
      "getresgid",
      "getgroups",
      "fadvise64",
      "readlinkat",
      "timerfd_create",
  };
  Builder b;
  b.default_action(Action::kill_process()).for_tracer(true);
  std::size_t n = 0;
  const auto room = [&] { return n++ < count; };
  if (room()) b.add("getppid", Action::allow());
  if (room()) b.add("getpgid", Action::allow(), {ArgCondition::lt(0, 1)});
  if (room()) b.add("getpgid", Action::error(EPERM), {ArgCondition::ge(0, 1)});
  if (room()) b.add("getuid", Action::trace(1));
  if (room()) b.add("mmap", Action::allow(), {ArgCondition::lt(1, 1 << 30)});
  if (room()) b.add("mmap", Action::trace(2), {ArgCondition::ge(1, 1 << 30)});
  if (room()) b.add("clone", Action::allow(), {ArgCondition::masked_eq(0, 0x10000, 0x10000)});
  if (room()) b.add("openat", Action::trace(3));
  if (room()) b.add("execve", Action::trace(4));
  if (room()) b.add("prctl", Action::allow(), {ArgCondition::eq(0, PR_SET_NAME)});
  for (const char* name : kAllowed)
    if (room()) b.add(name, Action::allow());
  return b;
}

const Program& judge_program() {
  static const Program program = judge_policy(100).build();
  return program;
}

enum class Mode { kNoFilter, kFilter, kTraced };

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Pins this thread (and the children it forks) to one CPU until destroyed.
class Pin {
 public:
  explicit Pin(bool pin) : pinned_(pin && ::sched_getaffinity(0, sizeof saved_, &saved_) == 0) {
    if (!pinned_) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &saved_)) {
        CPU_SET(cpu, &one);
        break;
      }
    ::sched_setaffinity(0, sizeof one, &one);
  }
  ~Pin() {
    if (pinned_) ::sched_setaffinity(0, sizeof saved_, &saved_);
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

 private:
  cpu_set_t saved_{};
  bool pinned_;
};

// Runs `calls` syscalls `nr(arg)` in a child set up as `mode` says, and returns the time they took.
// The tracer for kTraced is this thread: it resumes every stop with PTRACE_CONT.
double run_child_seconds(Mode mode, long nr, long arg, std::int64_t calls, bool pinned) {
  const Pin pin(pinned);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  const sock_fprog prog = judge_program().fprog();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (mode == Mode::kTraced) {
      ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      ::raise(SIGSTOP);
    }
    if (mode != Mode::kNoFilter && (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                                    ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0))
      ::_exit(1);
    for (int i = 0; i < 100; ++i) ::syscall(nr, arg);  // warm up
    const std::int64_t start = now_ns();
    for (std::int64_t i = 0; i < calls; ++i) ::syscall(nr, arg);
    const std::int64_t elapsed = now_ns() - start;
    ::_exit(::write(fds[1], &elapsed, sizeof elapsed) == sizeof elapsed ? 0 : 2);
  }
  ::close(fds[1]);
  int status = 0;
  if (mode == Mode::kTraced) {
    ::waitpid(pid, &status, 0);  // the SIGSTOP
    ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
    int signal = 0;
    while (::ptrace(PTRACE_CONT, pid, nullptr, signal) == 0 && ::waitpid(pid, &status, 0) == pid &&
           WIFSTOPPED(status)) {
      const bool event = status >> 16 != 0;
      signal = event || WSTOPSIG(status) == SIGTRAP ? 0 : WSTOPSIG(status);
    }
  }
  std::int64_t elapsed = -1;
  const bool reported = ::read(fds[0], &elapsed, sizeof elapsed) == sizeof elapsed;
  ::close(fds[0]);
  if (mode != Mode::kTraced) ::waitpid(pid, &status, 0);
  return reported ? static_cast<double>(elapsed) * 1e-9 : -1;
}

void BM_Syscall(benchmark::State& state, Mode mode, long nr, long arg) {
  const bool pinned = state.range(0) != 0;
  const double seconds = run_child_seconds(mode, nr, arg, state.max_iterations, pinned);
  if (seconds < 0) {
    state.SkipWithError("the measuring child failed");
    return;
  }
  for (auto _ : state) state.SetIterationTime(seconds / static_cast<double>(state.max_iterations));
}

void BM_Build(benchmark::State& state, bool compat) {
  Builder builder = judge_policy(static_cast<std::size_t>(state.range(0)));
  builder.enforce_compat_abis(compat);
  std::size_t size = 0;
  for (auto _ : state) {
    const Program p = builder.build();
    size = p.instructions.size();
    benchmark::DoNotOptimize(size);
  }
  state.counters["instructions"] = static_cast<double>(size);
}

void register_all() {
  struct Case {
    const char* name;
    long nr;
    long arg;
    Mode filtered;
  };
  const Case cases[] = {
      {"getppid/allowed", SYS_getppid, 0, Mode::kFilter},
      {"getpgid/allowed_after_arg_check", SYS_getpgid, 0, Mode::kFilter},
      {"getuid/traced", SYS_getuid, 0, Mode::kTraced},
  };
  for (const Case& c : cases) {
    for (const Mode mode : {Mode::kNoFilter, c.filtered}) {
      const std::string name = std::string("BM_Syscall/") + c.name +
                               (mode == Mode::kNoFilter ? "/no_filter" : "/judge100");
      benchmark::RegisterBenchmark(name.c_str(), BM_Syscall, mode, c.nr, c.arg)
          ->ArgName("pinned")
          ->Arg(1)
          ->Arg(0)
          ->UseManualTime();
    }
  }
  benchmark::RegisterBenchmark("BM_Build/native", BM_Build, false)->Arg(60)->Arg(100);
  benchmark::RegisterBenchmark("BM_Build/with_compat_abis", BM_Build, true)->Arg(60)->Arg(100);
}

// Prints Google Benchmark's table, then each filtered syscall's time as a multiple of the same
// syscall without a filter.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs)
      if (!run.error_occurred) times_[run.benchmark_name()] = run.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nper-syscall cost against no filter (ns; ratio)\n");
    for (const auto& [name, ns] : times_) {
      const auto at = name.find("/judge100");
      if (at == std::string::npos || name.ends_with("_stddev") || name.ends_with("_cv")) continue;
      std::string bare = name;
      bare.replace(at, 9, "/no_filter");
      const auto base = times_.find(bare);
      if (base == times_.end() || base->second <= 0) continue;
      std::printf("  %-58s %9.0f vs %6.0f  x%.2f\n", name.c_str(), ns, base->second,
                  ns / base->second);
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
