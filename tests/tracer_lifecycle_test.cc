// The lifecycle of runs on an io_context, as a grading service meets it: a context destroyed or
// stopped with runs in flight, run by another thread, by two threads at once, a service that is
// a subreaper; blocking runs with a stop token and a timeout; the metrics.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <stop_token>
#include <thread>

#include "support/support.h"
#include "tracebox/tracer/tracer.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

Policy base_policy() {
  Policy p;
  std::istringstream names(
      "read write close fstat newfstatat lseek mmap mprotect munmap brk rt_sigaction "
      "rt_sigprocmask rt_sigreturn ioctl pread64 access faccessat faccessat2 openat execve exit "
      "exit_group arch_prctl set_tid_address set_robust_list rseq prlimit64 getrandom futex clone "
      "wait4 madvise getpid gettid clock_gettime clock_nanosleep nanosleep readlink pipe pipe2 "
      "setsid pause fcntl tgkill uname mremap statx readlinkat sched_yield getppid kill");
  for (std::string name; names >> name;) p.allow(name);
  return p;
}

// A tracee run: `args` of tests/programs/tracee.c, its output discarded.
Spec spec_of(std::vector<std::string> args) {
  Spec s;
  s.process.args = {test::tracee()};
  s.process.args.insert(s.process.args.end(), args.begin(), args.end());
  s.process.files = {forkexec::kCloseFd, forkexec::kCloseFd, 2};
  s.policy = base_policy();
  s.limits.wall = 30s;
  return s;
}

// Processes (not threads) that are still there whose parent is this process or one of ours.
bool none_left() { return test::child_pids().empty(); }

}  // namespace

TEST_CASE("destroying an io_context with runs in flight completes them and kills everything",
          "[tracer][lifecycle]") {
  std::vector<Result> results;
  {
    asio::io_context io;
    configure(io, SessionOptions{3});  // three in flight, two waiting in the queue
    for (int i = 0; i < 5; ++i)
      async_run(io, spec_of({"sleep", "30000"}), nullptr,
                [&](Result r) { results.push_back(std::move(r)); });
    io.run_for(300ms);  // the programs are running (or queued) now
    CHECK(results.empty());
  }  // destroyed here
  REQUIRE(results.size() == 5);
  for (const Result& r : results) {
    CHECK(r.status == Status::kRunnerError);
    CHECK(r.error == "the io_context was destroyed with the run in flight");
  }
  CHECK(none_left());
}

TEST_CASE("runs go on when another thread takes over the io_context", "[tracer][lifecycle]") {
  // Runs are traced by the session's own thread: the io_context only delivers completions, so
  // it may be run by any thread, one after another.
  asio::io_context io;
  std::optional<Result> result;
  auto spec = spec_of({"sleep", "30000"});
  spec.limits.wall = 500ms;
  async_run(io, spec, nullptr, [&](Result r) { result = std::move(r); });
  io.run_for(200ms);  // served by this thread
  REQUIRE(!result);
  io.restart();
  std::thread other([&] { io.run(); });  // ... and now by another
  other.join();
  REQUIRE(result.has_value());
  CHECK(result->status == Status::kTimeLimitExceeded);
  CHECK(result->limit == LimitKind::kWall);
  CHECK(result->wall_time < 2s);
  CHECK(none_left());
  std::optional<Result> later;
  io.restart();
  async_run(io, spec_of({"exit", "0"}), nullptr, [&](Result r) { later = std::move(r); });
  std::thread third([&] { io.run(); });
  third.join();
  REQUIRE(later.has_value());
  CHECK(later->status == Status::kNormal);
}

TEST_CASE("two threads running one io_context complete every run", "[tracer][lifecycle]") {
  asio::io_context io;
  std::atomic<int> done{0}, normal{0};
  for (int i = 0; i < 20; ++i) {
    async_run(io, spec_of({"sleep", "200"}), nullptr, [&](Result r) {
      ++done;
      if (r.status == Status::kNormal)
        ++normal;
      else
        UNSCOPED_INFO("run ended " << to_string(r.status) << ": " << r.error);
    });
  }
  std::thread a([&] { io.run(); });
  std::thread b([&] { io.run(); });
  a.join();
  b.join();
  CHECK(done == 20);  // every run completed, none lost
  CHECK(normal == 20);
  CHECK(none_left());
}

TEST_CASE("a stopped io_context delays the completion, never the enforcement of a limit",
          "[tracer][lifecycle]") {
  asio::io_context io;
  std::optional<Result> result;
  auto spec = spec_of({"sleep", "30000"});
  spec.limits.wall = 300ms;
  async_run(io, spec, nullptr, [&](Result r) { result = std::move(r); });
  io.run_for(100ms);
  io.stop();
  std::this_thread::sleep_for(1500ms);  // nobody serves the io_context meanwhile
  CHECK(none_left());                   // ... yet the program was killed at its limit
  CHECK(!result);                       // and its completion waits for the io_context
  io.restart();
  io.run();
  REQUIRE(result.has_value());
  CHECK(result->status == Status::kTimeLimitExceeded);
  CHECK(result->limit == LimitKind::kWall);
  CHECK(result->wall_time < 1s);
  CHECK(result->error.find("late") == std::string::npos);
}

TEST_CASE("a service that is a subreaper keeps no zombie of its runs", "[tracer][lifecycle]") {
  // Orphans of a run come to a subreaper (or PID 1), whose ordinary waits of a grading service
  // would never take them: with the run's PID namespace they are its init's, without one the
  // tracer reaps them.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    int bad = 0;
    for (bool pid_namespace : {true, false}) {
      for (int i = 0; i < 10; ++i) {
        TempDir dir;
        Spec s = spec_of({"orphan", dir.file("pid")});
        s.isolation.pid_namespace = pid_namespace;
        Handler h;
        Result r = tracer::run(s, h);
        if (r.status != Status::kNormal) ++bad;
      }
    }
    ::_exit(bad == 0 && test::child_pids().empty() ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a blocking run ends early by a stop request or a timeout", "[tracer][lifecycle]") {
  SECTION("timeout") {
    Handler h;
    const auto start = std::chrono::steady_clock::now();
    Result r = tracer::run(spec_of({"sleep", "30000"}), h, RunOptions{{}, 300ms});
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(r.status == Status::kRunnerError);
    CHECK(r.error == "timed out after 300 ms (RunOptions::timeout)");
  }
  SECTION("stop request from another thread") {
    std::stop_source stop;
    std::thread stopper([&] {
      std::this_thread::sleep_for(300ms);
      stop.request_stop();
    });
    Handler h;
    RunOptions options;
    options.stop = stop.get_token();
    const auto start = std::chrono::steady_clock::now();
    Result r = tracer::run(spec_of({"sleep", "30000"}), h, options);
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(r.status == Status::kRunnerError);
    CHECK(r.error == "cancelled");
  }
  SECTION("neither: the run ends on its own") {
    Handler h;
    std::stop_source stop;
    RunOptions options{stop.get_token(), 10s};
    CHECK(tracer::run(spec_of({"exit", "0"}), h, options).status == Status::kNormal);
  }
  CHECK(none_left());
}

TEST_CASE("metrics: runs queued, in flight and completed, stops, queue delay, tracer CPU",
          "[tracer][lifecycle]") {
  asio::io_context io;
  configure(io, SessionOptions{2});
  std::vector<Result> results;
  for (int i = 0; i < 6; ++i)
    async_run(io, spec_of({"calls", "getppid", "50"}), nullptr,
              [&](Result r) { results.push_back(std::move(r)); });
  io.run_one();  // admission happens on the io thread
  const Metrics before = metrics(io);
  io.run();
  const Metrics after = metrics(io);
  CHECK(before.runs_in_flight + before.runs_queued + before.runs_completed >= 1);
  CHECK(after.runs_completed == 6);
  CHECK(after.runs_in_flight == 0);
  CHECK(after.runs_queued == 0);
  CHECK(after.stops >= 6 * 3);
  CHECK(after.tracer_cpu.count() > 0);
  REQUIRE(results.size() == 6);
  std::uint64_t stops = 0;
  for (const Result& r : results) {
    CHECK(r.status == Status::kNormal);
    stops += r.stops;
  }
  CHECK(stops <= after.stops);
  // Two in flight at a time: the later runs waited.
  CHECK(after.queue_delay_max.count() > 0);
}

TEST_CASE("the stops of a run do not wake the host's other threads", "[tracer][lifecycle]") {
  // Each ptrace stop sends the tracer's process a SIGCHLD. The tracer thread must take it itself
  // (with the default disposition the kernel then drops it), or every stop interrupts a host
  // thread's epoll_wait, as an io_context's is.
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  REQUIRE(ep >= 0);
  const int done = ::eventfd(0, EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, done, &ev);
  std::atomic<int> interrupted{0};
  // This thread blocks SIGCHLD while it waits for the run: only `host` may take one.
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &chld, &old);
  std::thread host([&] {
    ::pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
    epoll_event out{};
    for (;;) {
      const int n = ::epoll_wait(ep, &out, 1, -1);
      if (n > 0) return;
      if (errno == EINTR) ++interrupted;
    }
  });
  Spec spec = spec_of({"calls", "getppid", "2000"});
  std::erase_if(spec.policy.rules, [](const Rule& rule) { return rule.syscall == "getppid"; });
  spec.policy.trace("getppid", 1);  // a stop each, allowed
  struct Allow : Handler {
    Decision on_syscall(Context&) override { return Decision::allow(); }
  } h;
  Result r = tracer::run(spec, h);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  const std::uint64_t one = 1;
  CHECK(::write(done, &one, sizeof one) == sizeof one);
  host.join();
  ::close(done);
  ::close(ep);
  CHECK(r.status == Status::kNormal);
  CHECK(r.stops >= 2000);
  INFO(interrupted.load() << " interruptions for " << r.stops << " stops");
  CHECK(interrupted.load() < 20);  // the wakeup signal ticks; stops never
}

TEST_CASE("runs that fail before their exec leave nothing behind in the host",
          "[tracer][lifecycle]") {
  // A child shares the tracer's memory until its exec, on a stack of its own: a child that
  // never execs must give it back once reaped (200 such stacks would be 50 MiB of address space).
  auto vm_size_kib = [] {
    const std::string status = test::read_file("/proc/self/status");
    const auto at = status.find("\nVmSize:");
    return at == std::string::npos ? 0L : std::strtol(status.c_str() + at + 8, nullptr, 10);
  };
  auto failing = [] {
    Spec s = spec_of({"exit", "0"});
    s.process.args = {"/nonexistent/program"};
    s.isolation.exec_by_fd = false;  // the child's own exec fails (ENOENT)
    return s;
  };
  Handler h;
  for (int i = 0; i < 10; ++i) tracer::run(failing(), h);  // warm-up: arenas, the session
  const long before = vm_size_kib();
  for (int i = 0; i < 200; ++i) {
    Result r = tracer::run(failing(), h);
    REQUIRE(r.status == Status::kRunnerError);
    REQUIRE(r.child_error.has_value());
    REQUIRE(r.child_error->location == forkexec::ErrorLocation::kExec);
  }
  const long grown = vm_size_kib() - before;
  INFO("VmSize grew by " << grown << " KiB");
  CHECK(grown < 16 * 1024);
  CHECK(none_left());
}

namespace {

// The calling thread's signal mask, nice value and CPU affinity.
struct ThreadState {
  sigset_t mask;
  int nice;
  cpu_set_t cpus;
  ThreadState() {
    ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    errno = 0;
    nice = ::getpriority(PRIO_PROCESS, 0);
    CPU_ZERO(&cpus);
    ::sched_getaffinity(0, sizeof cpus, &cpus);
  }
  bool operator==(const ThreadState& o) const {
    for (int sig = 1; sig < NSIG; ++sig)
      if (sigismember(&mask, sig) != sigismember(&o.mask, sig)) return false;
    return nice == o.nice && CPU_EQUAL(&cpus, &o.cpus);
  }
};

std::atomic<bool> g_alarm_cancel{false};

}  // namespace

TEST_CASE("a run traced on the caller's own thread", "[tracer][lifecycle]") {
  const ThreadState before;
  SECTION("its stops are served on the calling thread, and the thread is as it was after") {
    struct OnThisThread : Handler {
      pid_t tid = ::gettid();
      int stops = 0, elsewhere = 0;
      Decision on_syscall(Context&) override {
        ++stops;
        if (::gettid() != tid) ++elsewhere;
        return Decision::allow();
      }
    };
    auto h = std::make_shared<OnThisThread>();
    Spec s = spec_of({"call", "getppid"});
    s.policy.trace("getppid", 1);
    std::erase_if(s.policy.rules, [](const Rule& r) {
      return r.syscall == "getppid" && r.action.kind == seccomp::Action::Kind::kAllow;
    });
    SessionOptions o;
    o.tracer_nice = -5;
    Result r = run_on_this_thread(std::move(s), h, nullptr, o);
    INFO(r.error);
    CHECK(r.status == Status::kNormal);
    CHECK(h->stops == 1);
    CHECK(h->elsewhere == 0);
    CHECK(ThreadState() == before);
  }
  SECTION("a flag set by a signal handler cancels it at once") {
    g_alarm_cancel = false;
    struct sigaction on_alarm {
    }, old{};
    on_alarm.sa_handler = [](int) { g_alarm_cancel = true; };
    sigemptyset(&on_alarm.sa_mask);  // no SA_RESTART: the tracer's wait is interrupted
    REQUIRE(::sigaction(SIGALRM, &on_alarm, &old) == 0);
    itimerval in300ms{};
    in300ms.it_value.tv_usec = 300'000;
    ::setitimer(ITIMER_REAL, &in300ms, nullptr);
    const auto start = std::chrono::steady_clock::now();
    Result r = run_on_this_thread(spec_of({"sleep", "30000"}), nullptr, &g_alarm_cancel);
    ::sigaction(SIGALRM, &old, nullptr);
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(r.status == Status::kRunnerError);
    CHECK(r.error == "cancelled");
    CHECK(ThreadState() == before);
  }
  SECTION("a flag set by another thread cancels it at the tracer's next tick") {
    std::atomic<bool> cancel{false};
    std::thread canceller([&] {
      std::this_thread::sleep_for(300ms);
      cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    Result r = run_on_this_thread(spec_of({"sleep", "30000"}), nullptr, &cancel);
    canceller.join();
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(r.error == "cancelled");
  }
  SECTION("a handler's write to a closed pipe fails, and the process goes on") {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    ::close(pipe_fds[0]);
    struct Writer : Handler {
      int fd;
      int error = 0;
      explicit Writer(int f) : fd(f) {}
      Decision on_syscall(Context&) override {
        if (::write(fd, "x", 1) < 0) error = errno;
        return Decision::allow();
      }
    };
    auto h = std::make_shared<Writer>(pipe_fds[1]);
    Spec s = spec_of({"call", "getppid"});
    std::erase_if(s.policy.rules, [](const Rule& r) { return r.syscall == "getppid"; });
    s.policy.trace("getppid", 1);
    Result r = run_on_this_thread(std::move(s), h);
    ::close(pipe_fds[1]);
    CHECK(r.status == Status::kNormal);
    CHECK(h->error == EPIPE);
    sigset_t pending;
    ::sigpending(&pending);
    CHECK_FALSE(sigismember(&pending, SIGPIPE));
    CHECK(ThreadState() == before);
  }
  SECTION("the thread's own children are left to it") {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t mine = ::fork();
    REQUIRE(mine >= 0);
    if (mine == 0) {
      char c;
      ::close(pipe_fds[1]);
      (void)!::read(pipe_fds[0], &c, 1);  // until the test closes its end
      ::_exit(7);
    }
    ::close(pipe_fds[0]);
    Result r = run_on_this_thread(spec_of({"exit", "3"}), nullptr);
    CHECK(r.status == Status::kNonzeroExitStatus);
    CHECK(r.exit_status == 3);
    int status = 0;
    CHECK(::waitpid(mine, &status, WNOHANG) == 0);  // still running, not reaped by the tracer
    ::close(pipe_fds[1]);
    REQUIRE(::waitpid(mine, &status, 0) == mine);
    CHECK(WEXITSTATUS(status) == 7);
  }
  SECTION("make_handler's handler is used when none is given") {
    struct Counting : Handler {
      std::atomic<int>* stops;
      explicit Counting(std::atomic<int>* s) : stops(s) {}
      Decision on_syscall(Context&) override {
        ++*stops;
        return Decision::deny(EPERM);
      }
    };
    std::atomic<int> stops{0};
    Spec s = spec_of({"call", "getppid"});
    std::erase_if(s.policy.rules, [](const Rule& r) { return r.syscall == "getppid"; });
    s.policy.trace("getppid", 1);
    s.make_handler = [&] { return std::make_shared<Counting>(&stops); };
    Result r = run_on_this_thread(std::move(s), nullptr);
    CHECK(r.status == Status::kNormal);
    CHECK(stops == 1);
  }
  CHECK(none_left());
}
