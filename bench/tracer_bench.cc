// The cost of one traced syscall with an allow decision: tracebox (tracer::run, a handler that
// allows) against the floor, a minimal seccomp tracer written here (SECCOMP_RET_TRACE stop +
// PTRACE_CONT, and a "+info" variant that also reads the stop with PTRACE_GET_SYSCALL_INFO, as
// any real tracer must), against `strace -f --seccomp-bpf -e trace=getppid`, and against the loop
// with no tracer at all. Every variant runs the same static program, tracer_loop, which calls
// getppid N times; each is measured co-located (tracer and tracee pinned to one CPU) and unpinned.
//
// The time is the wall time of the whole run (spawn, filter, exec, the N calls, exit, reap) divided
// by N: nothing is subtracted. N is large (TRACER_BENCH_N, default 20000) so that the start-up
// (well under 1 ms) is negligible against N stops of several microseconds each.
//
// Run with --benchmark_repetitions=20 --benchmark_enable_random_interleaving=true: the variants
// then take turns, so machine noise hits all alike. The summary after Google Benchmark's table
// gives, per variant, the median and range of ns/syscall and the median CPU time of this process
// per syscall (the tracer's, for floor and tracebox), then the ratios tracebox/floor,
// tracebox/floor+info and tracebox/strace per placement, of the medians and of the minima.
// Unpinned runs are bimodal: the scheduler mostly keeps the pair on one CPU, but a run that spends
// time on two CPUs pays a cross-CPU wakeup per stop (several times dearer), so their medians move
// a lot from one invocation to the next; the co-located ones are stable.
// TRACER_BENCH_CPU picks the CPU of the co-located runs (default: the last one this process may
// use).
//
// The "open/" variants measure a path-checked syscall: the static, libc-free openat_loop opens a
// file the default profile lets a program read (TRACER_BENCH_PATH, default
// /usr/share/zoneinfo/Etc/UTC) and closes it, TRACER_BENCH_OPEN_N times (default 5000), and
// reports its own loop time per openat + close, so that no tracer's start-up is in the figure.
//   open/baseline      the loop with no tracer;
//   open/floor         a minimal C checker: openat traced, at each stop PTRACE_GETREGS, one
//                      256-byte process_vm_readv of the path and a prefix compare, PTRACE_CONT;
//   open/tracebox      tracer::run with the default profile's JudgeHandler (runprog's policy);
//   open/go-sandbox    go-sandbox's runprog (its default policy, ptrace runner), only when
//                      TRACER_BENCH_GO_SANDBOX names its binary. It runs as nobody when this
//                      process is root: as root, the runprog of 2022 loads its filter before its
//                      PTRACE_TRACEME and dies of SIGSYS before the exec. Co-located, all of its
//                      threads share the one CPU.
// The summary gives open/tracebox over open/floor and over open/go-sandbox per placement.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

namespace {

const char* const kLoop = TRACEBOX_TRACER_LOOP;
const char* const kOpenLoop = TRACEBOX_OPENAT_LOOP;
const char* const kStrace = "/usr/bin/strace";
constexpr std::uint16_t kTag = 1;

long calls_per_run() {
  static const long n = [] {
    const char* env = std::getenv("TRACER_BENCH_N");
    const long v = env != nullptr ? std::strtol(env, nullptr, 10) : 0;
    return v > 0 ? v : 20000L;
  }();
  return n;
}

// The affinity this process started with; unpinned runs use it.
cpu_set_t& initial_affinity() {
  static cpu_set_t set = [] {
    cpu_set_t s;
    CPU_ZERO(&s);
    ::sched_getaffinity(0, sizeof s, &s);
    return s;
  }();
  return set;
}

int colocated_cpu() {
  static const int cpu = [] {
    if (const char* env = std::getenv("TRACER_BENCH_CPU")) return std::atoi(env);
    int last = 0;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &initial_affinity())) last = c;
    return last;
  }();
  return cpu;
}

enum class Place { kColocated, kUnpinned, kTracerCpu };

const char* place_name(Place p) {
  switch (p) {
    case Place::kColocated:
      return "colocated";
    case Place::kUnpinned:
      return "unpinned";
    case Place::kTracerCpu:
      return "default_tracer_cpu";
  }
  return "?";
}

// Pins this thread (and the children it forks, which inherit it) to the co-located CPU until
// destroyed; then back to the initial affinity.
class Pin {
 public:
  explicit Pin(bool pin) : pinned_(pin) {
    if (!pinned_) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(colocated_cpu(), &one);
    ::sched_setaffinity(0, sizeof one, &one);
  }
  ~Pin() {
    if (pinned_) ::sched_setaffinity(0, sizeof(cpu_set_t), &initial_affinity());
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

 private:
  bool pinned_;
};

// argv of `tracer_loop N`, optionally behind a prefix (strace and its options).
struct Argv {
  std::vector<std::string> strings;
  std::vector<char*> ptrs;
  // `loop`: append tracer_loop and N; else `prefix` is the whole argv.
  explicit Argv(std::vector<std::string> prefix, bool loop = true) : strings(std::move(prefix)) {
    if (loop) {
      strings.push_back(kLoop);
      strings.push_back(std::to_string(calls_per_run()));
    }
    for (auto& s : strings) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
};

char* g_empty_env[] = {nullptr};

void set_per_syscall(benchmark::State& state) {
  // Seconds per syscall: iterations * N items over the real time.
  state.counters["per_syscall"] = benchmark::Counter(
      static_cast<double>(calls_per_run()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ---- No tracer: the loop alone (fork + exec + N getppid + wait).

void BM_Baseline(benchmark::State& state, Place place) {
  Argv argv({});
  for (auto _ : state) {
    const Pin pin(place == Place::kColocated);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execve(kLoop, argv.ptrs.data(), g_empty_env);
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("the loop failed");
      return;
    }
  }
  set_per_syscall(state);
}

// ---- The floor: the leanest equivalent seccomp tracer.

// getppid -> RET_TRACE, anything else -> ALLOW; a foreign arch -> KILL.
const sock_filter kFilter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | kTag),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

// One traced run; returns the number of getppid stops seen, or -1 on failure.
long run_floor(bool info, const Argv& argv) {
  const sock_fprog prog{static_cast<unsigned short>(std::size(kFilter)),
                        const_cast<sock_filter*>(kFilter)};
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // The tracer sets its options at this stop, before the filter exists.
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0 || ::raise(SIGSTOP) != 0 ||
        ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
      ::_exit(126);
    ::execve(kLoop, argv.ptrs.data(), g_empty_env);
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status)) return -1;
  ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
  long stops = 0;
  bool ok = true;
  int sig = 0;
  for (;;) {
    ::ptrace(PTRACE_CONT, pid, nullptr, sig);
    if (::waitpid(pid, &status, __WALL) != pid) return -1;
    if (!WIFSTOPPED(status)) break;
    sig = 0;
    if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
      ++stops;
      if (info) {
        __ptrace_syscall_info si{};
        if (::ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof si, &si) <= 0 ||
            si.op != PTRACE_SYSCALL_INFO_SECCOMP || si.seccomp.nr != SYS_getppid ||
            (si.seccomp.ret_data & 0xffff) != kTag)
          ok = false;
      }
    } else if (WSTOPSIG(status) != SIGTRAP) {  // the exec's SIGTRAP is swallowed
      sig = WSTOPSIG(status);
    }
  }
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return stops;
}

void BM_Floor(benchmark::State& state, bool info, Place place) {
  Argv argv({});
  for (auto _ : state) {
    const Pin pin(place == Place::kColocated);
    if (run_floor(info, argv) != calls_per_run()) {
      state.SkipWithError("the floor tracer failed");
      return;
    }
  }
  set_per_syscall(state);
}

// ---- tracebox.

class AllowHandler : public tracebox::tracer::Handler {
 public:
  tracebox::tracer::Decision on_syscall(tracebox::tracer::Context& ctx) override {
    if (ctx.tag() == kTag) ++calls;
    return tracebox::tracer::Decision::allow();
  }
  long calls = 0;
};

tracebox::tracer::Spec tracebox_spec(Place place) {
  using namespace tracebox::tracer;
  Spec spec;
  spec.process.args = {kLoop, std::to_string(calls_per_run())};
  spec.process.files = {tracebox::forkexec::kCloseFd, tracebox::forkexec::kCloseFd, 2};
  // Exactly what the static loop calls (found with strace -f), and getppid traced.
  for (const char* s : {"execve", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
                        "prlimit64", "readlink", "getrandom", "mprotect", "exit_group"})
    spec.policy.allow(s);
  spec.policy.trace("getppid", kTag);
  switch (place) {
    case Place::kColocated:
      spec.placement.mode = Placement::Mode::kCpu;
      spec.placement.cpu = colocated_cpu();
      break;
    case Place::kUnpinned:
      spec.placement.mode = Placement::Mode::kNone;
      break;
    case Place::kTracerCpu:
      spec.placement.mode = Placement::Mode::kTracerCpu;
      break;
  }
  return spec;
}

void BM_Tracebox(benchmark::State& state, Place place) {
  const tracebox::tracer::Spec spec = tracebox_spec(place);
  for (auto _ : state) {
    AllowHandler handler;
    const tracebox::tracer::Result r = tracebox::tracer::run(spec, handler);
    if (r.status != tracebox::tracer::Status::kNormal || handler.calls != calls_per_run()) {
      state.SkipWithError(("tracebox run failed: " + r.error).c_str());
      return;
    }
  }
  set_per_syscall(state);
}

// ---- strace.

void BM_Strace(benchmark::State& state, Place place) {
  if (::access(kStrace, X_OK) != 0) {
    state.SkipWithError("no /usr/bin/strace");
    return;
  }
  Argv argv({kStrace, "-f", "--seccomp-bpf", "-e", "trace=getppid", "-o", "/dev/null"});
  for (auto _ : state) {
    const Pin pin(place == Place::kColocated);  // strace and its tracee inherit it
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execve(kStrace, argv.ptrs.data(), g_empty_env);
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("strace failed");
      return;
    }
  }
  set_per_syscall(state);
}

// ---- Path-checked openat (the "open/" variants).

long open_calls_per_run() {
  static const long n = [] {
    const char* env = std::getenv("TRACER_BENCH_OPEN_N");
    const long v = env != nullptr ? std::strtol(env, nullptr, 10) : 0;
    return v > 0 ? v : 5000L;
  }();
  return n;
}

const std::string& open_path() {
  static const std::string path = [] {
    const char* env = std::getenv("TRACER_BENCH_PATH");
    return std::string(env != nullptr && *env != '\0' ? env : "/usr/share/zoneinfo/Etc/UTC");
  }();
  return path;
}

// What the floor allows: the prefix of open_path() up to its last '/'.
const std::string& open_prefix() {
  static const std::string prefix = open_path().substr(0, open_path().rfind('/') + 1);
  return prefix;
}

const char* go_sandbox() {
  const char* env = std::getenv("TRACER_BENCH_GO_SANDBOX");
  return env != nullptr && *env != '\0' ? env : nullptr;
}

std::vector<std::string> open_args() {
  return {kOpenLoop, std::to_string(open_calls_per_run()), open_path()};
}

// The loop's own figure: what it wrote on `fd` (ns per openat + close), or -1.
double read_loop_ns(int fd) {
  char buf[64];
  std::size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    if (got == sizeof buf - 1) break;
  }
  buf[got] = '\0';
  char* end = nullptr;
  const double v = std::strtod(buf, &end);
  return end != buf && *end == '\n' ? v : -1;
}

// Pipe for the loop's stdout; closes both ends when destroyed.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fds, O_CLOEXEC) != 0) fds[0] = fds[1] = -1;
  }
  ~Pipe() {
    close_write();
    if (fds[0] >= 0) ::close(fds[0]);
  }
  void close_write() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

// The loop's figures over a benchmark's iterations, as counters: "loop" is the mean ns per
// openat + close as the loop measured it.
void set_loop(benchmark::State& state, double total_ns, long runs) {
  state.counters["loop"] = runs > 0 ? total_ns / static_cast<double>(runs) : 0;
}

// The end of a forked loop run writing its time to `out`: that time per call, or -1 when the
// run did not exit 0.
double finish_loop(pid_t pid, Pipe& out) {
  out.close_write();
  const double ns = read_loop_ns(out.fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ns : -1;
}

void BM_OpenBaseline(benchmark::State& state, Place place) {
  Argv argv(open_args(), false);
  double total = 0;
  long runs = 0;
  for (auto _ : state) {
    const Pin pin(place == Place::kColocated);
    Pipe out;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out.fds[1], 1);
      ::execve(kOpenLoop, argv.ptrs.data(), g_empty_env);
      ::_exit(127);
    }
    const double ns = finish_loop(pid, out);
    if (ns < 0) {
      state.SkipWithError("the open loop failed");
      return;
    }
    total += ns;
    ++runs;
  }
  set_loop(state, total, runs);
}

// openat -> RET_TRACE, anything else -> ALLOW; a foreign arch -> KILL.
const sock_filter kOpenFilter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | kTag),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

// The minimal checker: one run; the loop's ns per call, or -1 on failure (a refused path, a
// stop count that is not N, a failed loop).
double run_open_floor(const Argv& argv) {
  const sock_fprog prog{static_cast<unsigned short>(std::size(kOpenFilter)),
                        const_cast<sock_filter*>(kOpenFilter)};
  Pipe out;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::dup2(out.fds[1], 1);
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0 || ::raise(SIGSTOP) != 0 ||
        ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
      ::_exit(126);
    ::execve(kOpenLoop, argv.ptrs.data(), g_empty_env);
    ::_exit(127);
  }
  out.close_write();
  int status = 0;
  if (::waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status)) return -1;
  ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
  const std::string& prefix = open_prefix();
  long stops = 0;
  int sig = 0;
  for (;;) {
    ::ptrace(PTRACE_CONT, pid, nullptr, sig);
    if (::waitpid(pid, &status, __WALL) != pid) return -1;
    if (!WIFSTOPPED(status)) break;
    sig = 0;
    if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
      ++stops;
      user_regs_struct regs{};
      char path[256];
      ::ptrace(PTRACE_GETREGS, pid, nullptr, &regs);
      iovec local{path, sizeof path};
      iovec remote{reinterpret_cast<void*>(regs.rsi), sizeof path};
      const ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
      if (n < static_cast<ssize_t>(prefix.size()) ||
          std::memcmp(path, prefix.data(), prefix.size()) != 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, __WALL);
        return -1;
      }
    } else if (WSTOPSIG(status) != SIGTRAP) {
      sig = WSTOPSIG(status);
    }
  }
  const double ns = read_loop_ns(out.fds[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stops != open_calls_per_run()) return -1;
  return ns;
}

void BM_OpenFloor(benchmark::State& state, Place place) {
  Argv argv(open_args(), false);
  double total = 0;
  long runs = 0;
  for (auto _ : state) {
    const Pin pin(place == Place::kColocated);
    const double ns = run_open_floor(argv);
    if (ns < 0) {
      state.SkipWithError("the minimal checker failed");
      return;
    }
    total += ns;
    ++runs;
  }
  set_loop(state, total, runs);
}

// The default profile, as runprog -type default gives it.
tracebox::tracer::policy::JudgePolicy default_judge() {
  namespace policy = tracebox::tracer::policy;
  const policy::Profile profile =
      policy::load_profile("default", {std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles"});
  return policy::to_judge_policy(profile, {"/tmp", kOpenLoop, policy::multiarch()}, false);
}

void BM_OpenTracebox(benchmark::State& state, Place place) {
  using namespace tracebox::tracer;
  const policy::JudgePolicy judge = default_judge();
  Spec spec = tracebox_spec(place);
  spec.process.args = open_args();
  spec.policy = policy::make_policy(judge);
  double total = 0;
  long runs = 0;
  for (auto _ : state) {
    Pipe out;
    spec.process.files = {tracebox::forkexec::kCloseFd, out.fds[1], 2};
    policy::JudgeHandler handler(judge);
    const Result r = run(spec, handler);
    out.close_write();
    const double ns = read_loop_ns(out.fds[0]);
    if (r.status != Status::kNormal || ns < 0) {
      state.SkipWithError(("tracebox run failed: " + r.error).c_str());
      return;
    }
    total += ns;
    ++runs;
  }
  set_loop(state, total, runs);
}

void BM_OpenGoSandbox(benchmark::State& state, Place place) {
  std::vector<std::string> args = {go_sandbox(), "-res", "/dev/null", "-work-path", "/tmp"};
  for (std::string& a : open_args()) args.push_back(std::move(a));
  Argv argv(std::move(args), false);
  double total = 0;
  long runs = 0;
  for (auto _ : state) {
    const Pin pin(place == Place::kColocated);  // runprog's threads and its tracee inherit it
    Pipe out;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out.fds[1], 1);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
      if (::geteuid() == 0 &&
          (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
           ::setresuid(65534, 65534, 65534) != 0))
        ::_exit(126);
      ::execve(argv.ptrs[0], argv.ptrs.data(), g_empty_env);
      ::_exit(127);
    }
    const double ns = finish_loop(pid, out);
    if (ns < 0) {
      state.SkipWithError("go-sandbox's runprog failed");
      return;
    }
    total += ns;
    ++runs;
  }
  set_loop(state, total, runs);
}

// Fixed iteration counts: a co-located run of 20000 stops takes about 0.15 s, an unpinned one
// (a cross-CPU wakeup per stop) about 1 s or more.
benchmark::IterationCount iterations(Place place) {
  const long scale = std::max(1L, 20000L / calls_per_run());
  return place == Place::kUnpinned ? 2 * scale : 5 * scale;
}

void register_all() {
  for (Place place : {Place::kColocated, Place::kUnpinned}) {
    const std::string p = std::string("/") + place_name(place);
    auto reg = [&](const std::string& name, auto fn) {
      benchmark::RegisterBenchmark((name + p).c_str(), fn)
          ->Iterations(iterations(place))
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    };
    reg("baseline", [place](benchmark::State& s) { BM_Baseline(s, place); });
    reg("floor", [place](benchmark::State& s) { BM_Floor(s, false, place); });
    reg("floor+info", [place](benchmark::State& s) { BM_Floor(s, true, place); });
    reg("tracebox", [place](benchmark::State& s) { BM_Tracebox(s, place); });
    reg("strace", [place](benchmark::State& s) { BM_Strace(s, place); });
  }
  for (Place place : {Place::kColocated, Place::kUnpinned}) {
    const std::string p = std::string("/") + place_name(place);
    // A run of 5000 path-checked opens takes about 0.1 s co-located, 0.5 s apart.
    auto reg = [&](const std::string& name, auto fn) {
      benchmark::RegisterBenchmark((name + p).c_str(), fn)
          ->Iterations(place == Place::kUnpinned ? 2 : 3)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    };
    reg("open/baseline", [place](benchmark::State& s) { BM_OpenBaseline(s, place); });
    reg("open/floor", [place](benchmark::State& s) { BM_OpenFloor(s, place); });
    reg("open/tracebox", [place](benchmark::State& s) { BM_OpenTracebox(s, place); });
    if (go_sandbox() != nullptr)
      reg("open/go-sandbox", [place](benchmark::State& s) { BM_OpenGoSandbox(s, place); });
  }
  // What a caller gets without choosing: the tracee on the tracer thread's CPU.
  benchmark::RegisterBenchmark("tracebox/default_tracer_cpu",
                               [](benchmark::State& s) { BM_Tracebox(s, Place::kTracerCpu); })
      ->Iterations(iterations(Place::kColocated))
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// Google Benchmark's table, then the median ns/syscall of every variant over the repetitions and
// the ratios the goal is about.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      if (auto loop = run.counters.find("loop");
          loop != run.counters.end() && run.run_type == Run::RT_Iteration) {
        open_[run.run_name.function_name].push_back(loop->second.value);
        continue;
      }
      auto it = run.counters.find("per_syscall");
      if (it == run.counters.end()) continue;
      const double ns = it->second.value * 1e9;
      if (run.run_type == Run::RT_Iteration) {
        samples_[run.run_name.function_name].push_back(ns);
        // This process's CPU time: the tracer's for floor and tracebox (strace is a child).
        cpu_[run.run_name.function_name].push_back(
            run.cpu_accumulated_time * 1e9 /
            (static_cast<double>(run.iterations) * static_cast<double>(calls_per_run())));
      } else if (run.aggregate_name == "median")
        medians_[run.run_name.function_name] = ns;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::map<std::string, double> med = medians_;
    std::map<std::string, std::pair<double, double>> range;
    auto median = [](std::vector<double>& v) {
      std::sort(v.begin(), v.end());
      const std::size_t n = v.size();
      return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    };
    for (auto& [name, v] : samples_) {
      med[name] = median(v);
      range[name] = {v.front(), v.back()};
    }
    std::printf("\nN = %ld getppid per run; wall time of the whole run / N; co-located CPU %d\n",
                calls_per_run(), colocated_cpu());
    std::printf("%-30s %5s %10s %27s %14s\n", "variant", "reps", "median ns", "min .. max ns",
                "tracer cpu ns");
    for (const auto& [name, ns] : med) {
      auto r = range.find(name);
      if (r != range.end())
        std::printf("%-30s %5zu %10.0f %12.0f .. %-12.0f %14.0f\n", name.c_str(),
                    samples_[name].size(), ns, r->second.first, r->second.second,
                    median(cpu_[name]));
      else
        std::printf("%-32s %6s %12.0f\n", name.c_str(), "-", ns);
    }
    std::printf(
        "\nratios (goal: tracebox/floor <= 1.15, tracebox/strace < 1); of the medians, and of the\n"
        "minima (the least disturbed runs: noise only ever adds time)\n");
    for (const char* p : {"colocated", "unpinned"}) {
      auto get = [&](const std::string& v, bool minimum) {
        const std::string name = v + "/" + p;
        if (minimum) {
          auto it = range.find(name);
          return it == range.end() ? 0.0 : it->second.first;
        }
        auto it = med.find(name);
        return it == med.end() ? 0.0 : it->second;
      };
      for (const char* what : {"floor", "floor+info", "strace"}) {
        const double tb = get("tracebox", false), d = get(what, false);
        const double tb_min = get("tracebox", true), d_min = get(what, true);
        if (tb <= 0 || d <= 0) continue;
        std::printf("  %-10s tracebox/%-11s median %5.2f", p, what, tb / d);
        if (tb_min > 0 && d_min > 0) std::printf("   min %5.2f", tb_min / d_min);
        std::printf("\n");
      }
    }
    if (!open_.empty()) finalize_open(median);
  }

 private:
  // The path-checked openat table: the loop's own ns per openat + close.
  template <typename Median>
  void finalize_open(const Median& median) {
    std::printf("\nopenat + close of %s, %ld per run; the loop's own time per call\n",
                open_path().c_str(), open_calls_per_run());
    std::printf("%-30s %5s %10s %27s\n", "variant", "reps", "median ns", "min .. max ns");
    std::map<std::string, std::pair<double, double>> stats;  // median, minimum
    for (auto& [name, v] : open_) {
      const double m = median(v);
      stats[name] = {m, v.front()};
      std::printf("%-30s %5zu %10.0f %12.0f .. %-12.0f\n", name.c_str(), v.size(), m, v.front(),
                  v.back());
    }
    std::printf(
        "\nratios (goal: co-located tracebox/floor <= 1.15; tracebox/go-sandbox <= 0.6 both "
        "ways);\n"
        "of the medians, and of the minima\n");
    for (const char* p : {"colocated", "unpinned"}) {
      auto get = [&](const std::string& v) {
        auto it = stats.find("open/" + v + "/" + p);
        return it == stats.end() ? std::pair<double, double>{0, 0} : it->second;
      };
      const auto tb = get("tracebox");
      for (const char* what : {"floor", "go-sandbox"}) {
        const auto d = get(what);
        if (tb.first <= 0 || d.first <= 0) continue;
        std::printf("  %-10s tracebox/%-11s median %5.2f   min %5.2f\n", p, what,
                    tb.first / d.first, tb.second / d.second);
      }
    }
  }

  std::map<std::string, std::vector<double>> open_;
  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, std::vector<double>> cpu_;
  std::map<std::string, double> medians_;
};

}  // namespace

int main(int argc, char** argv) {
  initial_affinity();
  register_all();
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
