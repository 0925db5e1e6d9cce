// The tracer loop. Every run of an io_context is traced by that io_context's thread: it clones
// the programs (PTRACE_TRACEME makes the cloning thread their tracer) and waits for their stops.
//
// Waiting. The pump blocks in wait4(-1, __WCLONE | __WNOTHREAD):
//   - __WNOTHREAD: only children and tracees of this thread, so several tracer threads in one
//     process never see each other's events;
//   - __WCLONE: tracees are always eligible, but among real children only "clone" children
//     (exit signal other than SIGCHLD). Our main processes are cloned with exit signal 0, so an
//     ordinary child of the host forked from this thread is never reaped by us.
// A per-thread timer sends a real-time signal every tick; it interrupts the wait (EINTR), the
// pump checks the limits and yields to the io_context's other handlers, then resumes.
#include "session.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/audit.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "context_info.h"
#include "filter.h"
#include "io.h"
#include "namespaces.h"
#include "proc.h"
#include "tracebox/util/populate.h"
#include "tracee.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

namespace tracebox::tracer {

asio::execution_context::id Session::id;

namespace {

constexpr auto kTick = std::chrono::milliseconds(10);
// How long a consistent syscall may sleep before its freeze is released, and how long the other
// tasks may take to stop.
constexpr auto kBlockedCheck = std::chrono::milliseconds(50);
constexpr auto kFreezeTimeout = std::chrono::seconds(2);
// ... unless each task not stopped yet is runnable (starved of CPU on a busy machine, or a program
// that made itself SCHED_IDLE): it stops as soon as it runs, and the wait goes on this long.
constexpr auto kStarvedFreezeTimeout = std::chrono::seconds(30);
// How long a killed run's tasks may take to report their end before the run ends without them.
constexpr auto kKillTimeout = std::chrono::seconds(5);
// Placement::Mode::kAuto: the traced stops per tick from which a lone run is co-located with its
// tracer (a cross-CPU stop costs ~40 us more than one on a shared CPU: 20 of them, 8% of a tick).
constexpr std::uint64_t kAutoStops = 20;
// How long setting a run up (clone to first exec) may take before it is a runner error.
constexpr auto kSetupTimeout = std::chrono::seconds(30);
// A gap between ticks past which a limit found exceeded is reported as enforced late.
constexpr auto kLateTick = std::chrono::milliseconds(100);

std::atomic<int> g_wakeup_signal{0};
// Runs in flight in this process, every session's (Placement::Mode::kAuto starts a run pinned
// only when it is the only one).
std::atomic<int> g_runs_in_process{0};
// Held by the one run of the process pinned from its start (Placement::Mode::kAuto), until its
// first tick after its exec: two runs started at once cannot both take it.
std::atomic<bool> g_start_pin{false};
// Counts wakeup signals (ticks and wakes). wait4 returns EINTR only when no tracee event was
// ready; otherwise the signal is consumed silently while the pump handles events, so the pump
// compares this counter after each event.
std::atomic<unsigned> g_wakeups{0};
std::once_flag g_handler_once;
int g_handler_error = 0;

int wakeup_signal() {
  int sig = g_wakeup_signal.load();
  return sig != 0 ? sig : SIGRTMAX - 2;
}

void install_wakeup_handler() {
  std::call_once(g_handler_once, [] {
    const int sig = wakeup_signal();
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
      g_handler_error = EBUSY;
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_wakeups.fetch_add(1, std::memory_order_relaxed); };
    // No SA_RESTART: the signal must interrupt wait4.
    sigemptyset(&sa.sa_mask);
    if (::sigaction(sig, &sa, nullptr) != 0) g_handler_error = errno;
  });
  if (g_handler_error != 0) {
    throw Error(fmt::format(
        "signal {} is in use by the host; choose another with tracer::set_wakeup_signal()",
        wakeup_signal()));
  }
}

pid_t gettid_now() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

std::int64_t to_us(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

bool sets(const std::vector<rlimit::RLimit>& limits, int resource) {
  return std::any_of(limits.begin(), limits.end(),
                     [&](const rlimit::RLimit& l) { return l.resource == resource; });
}

// How to allow `syscall`: the policy's hint for it, else its unknown_hint with "{}" replaced.
std::string hint_for(const Policy& policy, std::string_view syscall) {
  if (auto it = policy.hints.find(std::string(syscall)); it != policy.hints.end())
    return it->second;
  std::string hint = policy.unknown_hint;
  if (auto at = hint.find("{}"); at != std::string::npos) hint.replace(at, 2, syscall);
  return hint;
}

// The program of `runner` opened for exec by fd, if it is an ELF file; empty otherwise (a script
// must be exec'd by path, and a missing or unreadable file is the exec's own error to report).
UniqueFd open_elf(const forkexec::Runner& runner) {
  std::string path = runner.path.empty() ? runner.args.at(0) : runner.path;
  if (path.empty()) return {};
  // A relative path is relative to the work directory, where the child execs it.
  if (path[0] != '/' && !runner.work_dir.empty()) path = runner.work_dir + "/" + path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  unsigned char magic[4] = {};
  if (::pread(fd.get(), magic, sizeof magic, 0) != sizeof magic || magic[0] != 0x7f ||
      magic[1] != 'E' || magic[2] != 'L' || magic[3] != 'F')
    return {};
  return fd;
}

Violation make_violation(pid_t tid, const tracee::SyscallInfo& s, std::string_view name,
                         std::string reason) {
  Violation v;
  v.pid = tid;
  v.syscall = std::string(name);
  v.nr = s.nr;
  v.arch = seccomp::arch_name(s.arch, s.nr);  // violations only: no cache needed
  v.args = s.args;
  v.reason = std::move(reason);
  return v;
}

}  // namespace

void detail_set_wakeup_signal(int sig) { g_wakeup_signal = sig; }

Session::Session(asio::execution_context& ctx)
    : asio::execution_context::service(ctx), io_(static_cast<asio::io_context&>(ctx)) {
  // A process that is PID 1, or a subreaper, inherits the orphans of every run that has no PID
  // namespace of its own: their zombies are then ours to reap.
  int subreaper = 0;
  ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
  reap_orphans_ = ::getpid() == 1 || subreaper != 0;
}

Session::~Session() { shutdown(); }

void Session::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  // What the io_context will never run now: called here, in order.
  std::deque<std::pair<std::function<void(Result)>, Result>> left;
  {
    std::lock_guard lock(mu_);
    left = std::move(undelivered_);
    undelivered_.clear();
  }
  for (auto& [completion, result] : left)
    if (completion) completion(std::move(result));
}

void Session::configure(const SessionOptions& options) {
  {
    std::lock_guard lock(mu_);
    options_ = options;
  }
  wake();
}

Metrics Session::metrics() const {
  Metrics m;
  m.runs_queued = counters_.queued;
  m.runs_in_flight = counters_.in_flight;
  m.runs_completed = counters_.completed;
  m.stops = counters_.stops;
  m.queue_delay_total = std::chrono::microseconds(counters_.queue_delay_total_us.load());
  m.queue_delay_max = std::chrono::microseconds(counters_.queue_delay_max_us.load());
  m.tracer_cpu = std::chrono::microseconds(counters_.tracer_cpu_ns.load() / 1000);
  return m;
}

void Session::submit(std::shared_ptr<RunHandle::State> handle, Spec spec,
                     std::shared_ptr<Handler> handler, std::function<void(Result)> completion) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      Result res;
      res.error = "the io_context is being destroyed";
      undelivered_.emplace_back(std::move(completion), std::move(res));
      return;
    }
    queue_.push_back(Pending{std::move(handle), std::move(spec), std::move(handler),
                             std::move(completion), Clock::now(), ::sched_getcpu()});
    ++counters_.queued;
    ensure_thread();
  }
  wake();
}

void Session::deliver(std::function<void(Result)> completion, Result result) {
  ++counters_.completed;
  if (here_) {  // the caller's own thread: called now
    if (completion) completion(std::move(result));
    return;
  }
  {
    std::lock_guard lock(mu_);
    undelivered_.emplace_back(std::move(completion), std::move(result));
  }
  // One handler per completion, each taking the oldest: whatever the io_context never runs is
  // still there for shutdown().
  asio::post(io_, [this] {
    std::pair<std::function<void(Result)>, Result> next;
    {
      std::lock_guard lock(mu_);
      if (undelivered_.empty()) return;
      next = std::move(undelivered_.front());
      undelivered_.pop_front();
    }
    if (next.first) next.first(std::move(next.second));
  });
}

void Session::wake() {
  {
    std::lock_guard lock(mu_);
    idle_.notify_all();
  }
  const pid_t tid = tracer_tid_.load();
  if (tid != 0) ::syscall(SYS_tgkill, ::getpid(), tid, wakeup_signal());
}

void Session::trace_here(const std::atomic<bool>* cancel) {
  std::lock_guard lock(mu_);
  here_ = true;
  here_cancel_ = cancel;
}

void Session::serve_here() {
  // The signals a write of the tracer's own raises (a handler's or an observer's, to a closed
  // pipe or past RLIMIT_FSIZE) are blocked, as on the library's tracer thread: the write fails
  // instead of the process ending with its runs.
  sigset_t own, mask;
  sigemptyset(&own);
  sigaddset(&own, SIGPIPE);
  sigaddset(&own, SIGXFSZ);
  ::pthread_sigmask(SIG_BLOCK, &own, &mask);
  cpu_set_t affinity;
  CPU_ZERO(&affinity);
  const bool has_affinity = ::sched_getaffinity(0, sizeof affinity, &affinity) == 0;
  install_wakeup_handler();
  thread_main();
  // What those writes raised is dropped, as with the thread, not delivered once unblocked.
  const timespec zero{};
  while (::sigtimedwait(&own, nullptr, &zero) > 0) {
  }
  if (own_nice_ && nice_now_ != own_nice_) ::setpriority(PRIO_PROCESS, 0, *own_nice_);
  if (has_affinity) ::sched_setaffinity(0, sizeof affinity, &affinity);
  ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
}

void Session::ensure_thread() {
  if (here_ || thread_.joinable()) return;
  install_wakeup_handler();
  // Every signal but the wakeup one blocked in the thread (it is no place for the host's
  // handlers), from its first instruction on.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  thread_ = std::thread([this] { thread_main(); });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Session::admit() {
  for (;;) {
    Pending p;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return;  // the common case, at every stop: no system call
      std::size_t limit = options_.max_in_flight;
      if (limit == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        const int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        limit = std::max<std::size_t>(2, 2 * static_cast<std::size_t>(cpus));
      }
      if (runs_.size() >= limit) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    --counters_.queued;
    start(std::move(p));
  }
}

void Session::check_cancelled() {
  if (here_cancel_ != nullptr && here_cancel_->load()) {
    for (auto& run : runs_) run->handle->cancelled = true;
    std::lock_guard lock(mu_);
    for (auto& p : queue_) p.handle->cancelled = true;
  }
  for (auto& run : runs_) {
    if (run->handle->cancelled && !run->killing) {
      record(*run, Status::kRunnerError, LimitKind::kNone, "cancelled");
      kill_run(*run);
    }
  }
  std::vector<Pending> cancelled;
  {
    std::lock_guard lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->handle->cancelled) {
        cancelled.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : cancelled) {
    --counters_.queued;
    Result res;
    res.status = Status::kRunnerError;
    res.error = "cancelled";
    res.queue_time = std::chrono::microseconds(to_us(Clock::now() - p.queued_at));
    deliver(std::move(p.completion), std::move(res));
  }
}

void Session::end_everything(const std::string& why) {
  for (auto& [tid, task] : tasks_) ::kill(task.tgid, SIGKILL);
  for (auto& run : runs_) run->child.kill();
  // A killed tracee still stops at its exit event, where its tracer (this thread) continues it
  // into its death; then it is reaped. The tracees first: a namespace's init, once killed, waits
  // in the kernel until every traced process of its namespace has been waited for by its tracer.
  const auto deadline = Clock::now() + kKillTimeout;
  for (bool inits : {false, true}) {
    for (auto& [tid, task] : tasks_) {
      if (task.init != inits) continue;
      for (;;) {
        int status;
        const pid_t r = ::waitpid(tid, &status, __WALL | WNOHANG);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (r == tid && !WIFSTOPPED(status))) {  // gone, or reaped now
          if (task.init && task.run != nullptr) task.run->child.init().reaped();
          break;
        }
        if (r == tid) {
          ::ptrace(PTRACE_CONT, tid, 0, 0);
          continue;
        }
        if (Clock::now() >= deadline) break;  // left to die on its own
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }
  for (auto& [tid, task] : tasks_)
    if (task.init && task.run != nullptr) task.run->child.init().abandon();
  tasks_.clear();
  std::vector<std::unique_ptr<Run>> runs = std::move(runs_);
  runs_.clear();
  for (auto& run : runs) {
    for (auto& [tgid, p] : run->processes) drop_cpu_timer(p);
    run->child.release();
    record(*run, Status::kRunnerError, LimitKind::kNone, why);
    Result res = std::move(run->result);
    res.queue_time = run->queue_time;
    if (run->exec_seen)
      res.wall_time = std::chrono::microseconds(to_us(Clock::now() - run->exec_time));
    --counters_.in_flight;
    --g_runs_in_process;
    if (run->auto_provisional) g_start_pin = false;
    deliver(std::move(run->completion), std::move(res));
  }
  std::deque<Pending> queue;
  {
    std::lock_guard lock(mu_);
    queue = std::move(queue_);
    queue_.clear();
  }
  for (auto& p : queue) {
    Result res;
    res.status = Status::kRunnerError;
    res.error = why;
    res.queue_time = std::chrono::microseconds(to_us(Clock::now() - p.queued_at));
    --counters_.queued;
    deliver(std::move(p.completion), std::move(res));
  }
}

void Session::start(Pending p) {
  auto run = std::make_unique<Run>();
  run->start = Clock::now();
  run->queue_time = std::chrono::microseconds(to_us(run->start - p.queued_at));
  run->seq = next_seq_++;
  run->handle = std::move(p.handle);
  run->handler = p.handler ? std::move(p.handler) : std::make_shared<Handler>();
  run->completion = std::move(p.completion);
  run->spec = std::move(p.spec);
  Run& r = *run;
  const auto queued_us = r.queue_time.count();
  counters_.queue_delay_total_us += queued_us;
  for (auto max = counters_.queue_delay_max_us.load(); queued_us > max;)
    if (counters_.queue_delay_max_us.compare_exchange_weak(max, queued_us)) break;

  auto fail = [&](Result result) {
    result.setup_time = std::chrono::microseconds(to_us(Clock::now() - r.start));
    result.queue_time = r.queue_time;
    deliver(std::move(r.completion), std::move(result));
  };
  auto runner_error = [&](std::string why) {
    Result res;
    res.status = Status::kRunnerError;
    res.error = std::move(why);
    fail(std::move(res));
  };
  if (r.handle->cancelled) return runner_error("cancelled");

  try {
    install_wakeup_handler();
    const Spec& s = r.spec;
    forkexec::Runner runner = s.process;
    runner.exit_signal = 0;  // see the top comment: waits with __WCLONE see only our children
    // The streams of Spec::io, held until the run's Result is made (which gets what they caught).
    if (auto io = OpenIo::open(s.io, runner, s.limits.output_bytes)) {
      r.completion = [io, c = std::move(r.completion)](Result res) {
        io->collect(res);
        if (c) c(std::move(res));
      };
    }
    // Attach with PTRACE_SEIZE while the child waits at its sync point, before it loads its
    // filter and execs: every option is set at once (no window), and PTRACE_INTERRUPT works.
    runner.ptrace = false;
    runner.stop_before_seccomp = false;
    if (!runner.kill_with_parent) runner.kill_with_parent = true;
    long options = PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC |
                   PTRACE_O_TRACEEXIT | PTRACE_O_TRACESYSGOOD;
    if (s.trace_fork)
      options |=
          PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEVFORKDONE;
    runner.return_after_sync = true;  // from here on the child needs its tracer: us
    runner.sync = [user = std::move(runner.sync), options](pid_t pid) -> int {
      if (user)
        if (int err = user(pid); err != 0) return err;
      return ::ptrace(PTRACE_SEIZE, pid, 0, options) == 0 ? 0 : errno;
    };

    // Backstop rlimits for the limits; the exact checks are the tracer's.
    if (s.limits.cpu && !sets(runner.rlimits, RLIMIT_CPU)) {
      // A backstop for a tracer that stopped serving, far enough above the limit that the
      // kernel's tick-sampled count (which overcounts on a busy machine) cannot reach it first:
      // the exact measure decides, and a SIGXCPU under the limit is not delivered (on_stop).
      rlimit::Limits l;
      l.cpu = 2 * *s.limits.cpu + std::chrono::seconds(1);
      l.cpu_hard = *l.cpu + std::chrono::seconds(1);
      l.disable_core = false;
      auto v = rlimit::prepare(l);
      runner.rlimits.insert(runner.rlimits.end(), v.begin(), v.end());
    }
    if (s.limits.memory_bytes && s.memory_rlimit && !sets(runner.rlimits, RLIMIT_DATA))
      runner.rlimits.push_back({RLIMIT_DATA, *s.limits.memory_bytes, *s.limits.memory_bytes});
    if (s.limits.output_bytes && !sets(runner.rlimits, RLIMIT_FSIZE))
      runner.rlimits.push_back({RLIMIT_FSIZE, *s.limits.output_bytes, *s.limits.output_bytes});
    for (const auto& l : runner.rlimits)
      if (l.resource == RLIMIT_DATA && l.cur != RLIM_INFINITY) r.data_limit = l.cur;

    const auto filter = filter_for(s, r.data_limit != 0);
    runner.seccomp = filter->program;
    r.clone_allowed = filter->clone_allowed;
    r.errno_rules = filter->errno_rules;

    // The program runs at the priority the thread had before it became a tracer.
    if (!runner.nice && own_nice_) runner.nice = *own_nice_;

    // The layers under the tracer's checks, where the tracer may set them up.
    const Isolation& iso = s.isolation;
    const bool root = ::geteuid() == 0;
    if (iso.drop_caps) runner.drop_caps = true;
    if (iso.pid_namespace && root && (runner.clone_flags & (CLONE_NEWPID | CLONE_NEWUSER)) == 0)
      runner.pid_namespace = true;
    if (iso.ipc_uts_namespaces && (runner.clone_flags & (CLONE_NEWIPC | CLONE_NEWUTS)) == 0) {
      if (root && runner.hostname.empty() && runner.domainname.empty() &&
          take_own_ipc_uts_namespaces()) {
        runner.clone_flags |= CLONE_NEWIPC | CLONE_NEWUTS;
        runner.hostname = runner.domainname = kRunHostname;
      } else {
        const auto& shared = shared_ipc_uts_namespaces();
        runner.join_namespaces.insert(runner.join_namespaces.end(), shared.begin(), shared.end());
      }
    }
    if (iso.user && root && !runner.credential) runner.credential = iso.user;
    UniqueFd exec_file;
    if (iso.exec_by_fd && runner.exec_fd < 0 && runner.credential &&
        (runner.credential->uid != ::geteuid() || runner.credential->gid != ::getegid())) {
      exec_file = open_elf(runner);
      if (exec_file) runner.exec_fd = exec_file.get();
    }

    // A second run in the session: a co-located lone run would share its tracer's CPU.
    for (auto& other : runs_) auto_unpin(*other);
    int cpu = -1;
    if (s.placement.mode == Placement::Mode::kCpu) cpu = s.placement.cpu;
    if (s.placement.mode == Placement::Mode::kTracerCpu) cpu = ::sched_getcpu();
    // kAuto: a run alone in the process starts where it was asked from, with its tracer (and so,
    // with one asked and waited for on one thread, runprog's, every hand-off of the run stays on
    // one CPU); a tick after its exec unpins it (auto_place).
    const bool provisional = s.placement.mode == Placement::Mode::kAuto && runs_.empty() &&
                             !pinned_ && g_runs_in_process.load() == 0 && p.caller_cpu >= 0 &&
                             !g_start_pin.exchange(true);
    if (provisional) cpu = p.caller_cpu;
    if (cpu >= 0) pin_tracer(cpu);
    if (provisional && !pinned_) cpu = -1;
    r.auto_pinned = r.auto_provisional = provisional && cpu >= 0;
    if (provisional && !r.auto_provisional) g_start_pin = false;

    r.child = runner.start();
    r.main_pid = r.child.pid();
    r.pid_ns = runner.pid_namespace;
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(r.main_pid, sizeof set, &set);
    }
  } catch (const forkexec::StartError& e) {
    Result res;
    res.status = Status::kRunnerError;
    res.error = e.what();
    res.child_error = e.child_error();
    if (r.auto_provisional) g_start_pin = false;
    if (runs_.empty()) unpin_tracer();
    return fail(std::move(res));
  } catch (const std::exception& e) {
    if (r.auto_provisional) g_start_pin = false;
    if (runs_.empty()) unpin_tracer();
    return runner_error(e.what());
  }
  add_task(r.main_pid, r.main_pid, &r);
  if (r.pid_ns) {
    // Not a tracee: only its exit is ours to see (it is our child), and it counts for nothing.
    const pid_t init = r.child.init().pid();
    Task& t = tasks_[init];
    t.tid = t.tgid = init;
    t.run = &r;
    t.init = true;
    r.init_reaped = false;
  }
  runs_.push_back(std::move(run));
  ++counters_.in_flight;
  ++g_runs_in_process;
}

void Session::thread_main() {
  tracer_tid_ = gettid_now();
  // The top of this thread's stack, where the tracer's frames live, mapped in one call rather
  // than a page fault at a time (tracebox/util/populate.h).
  populate_stack_below(__builtin_frame_address(0), 32 * 1024);
  // The wakeup signal, and SIGCHLD: every ptrace stop sends this process a SIGCHLD (its tracer
  // is this thread). With SIGCHLD's default disposition the kernel drops it at once, unless the
  // thread it is sent to (this one) blocks it: then it is queued and wakes another thread of the
  // process, which finds nothing to do (a host's epoll_wait interrupted at every stop: measured
  // 20,000 wakeups, and as many switches, for one compile traced with -count). A host's own
  // SIGCHLD handler may run here as on any of its threads.
  sigset_t wakeup;
  sigemptyset(&wakeup);
  sigaddset(&wakeup, wakeup_signal());
  sigaddset(&wakeup, SIGCHLD);
  ::pthread_sigmask(SIG_UNBLOCK, &wakeup, nullptr);
  // Its nice value: raised (when the thread may) so that the programs it traces, or other work
  // on the machine, cannot starve it; its programs get the one it had (Runner::nice).
  errno = 0;
  const int own = ::getpriority(PRIO_PROCESS, 0);
  if (errno == 0) own_nice_ = nice_now_ = own;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) break;
      if (runs_.empty() && tasks_.empty() && queue_.empty() && here_) break;  // all served
      if (runs_.empty() && tasks_.empty() && queue_.empty()) {
        // Nothing to trace: no timer, no pinning, until a run or the end comes.
        if (ticking_) {
          itimerspec off{};
          ::timer_settime(*timer_, 0, &off, nullptr);
          ticking_ = false;
        }
        lock.unlock();
        unpin_tracer();
        if (own_nice_ && nice_now_ != *own_nice_ && ::setpriority(PRIO_PROCESS, 0, *own_nice_) == 0)
          nice_now_ = *own_nice_;
        lock.lock();
        idle_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
      }
      const int nice = options_.tracer_nice;
      if (!pinned_ && options_.cpus != home_cpus_) {
        // SessionOptions::cpus: this thread's own set, which the runs it starts inherit.
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : options_.cpus)
          if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
        if (options_.cpus.empty() || ::sched_setaffinity(0, sizeof set, &set) == 0)
          home_cpus_ = options_.cpus;
      }
      lock.unlock();
      // Once, not at every stop: the thread keeps it until it is idle.
      if (nice != 0 && own_nice_ && nice_now_ != nice && ::setpriority(PRIO_PROCESS, 0, nice) == 0)
        nice_now_ = nice;
    }
    if (!ticking_) {
      if (!timer_) {
        sigevent sev{};
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = wakeup_signal();
        sev._sigev_un._tid = tracer_tid_;
        timer_t t;
        if (::timer_create(CLOCK_MONOTONIC, &sev, &t) == 0) timer_ = t;
      }
      if (timer_) {
        itimerspec spec{};
        spec.it_interval.tv_nsec = std::chrono::nanoseconds(kTick).count();
        spec.it_value = spec.it_interval;
        ::timer_settime(*timer_, 0, &spec, nullptr);
        ticking_ = true;
        last_tick_ = Clock::now();
      }
    }
    try {
      check_cancelled();
      admit();
    } catch (const std::exception& e) {
      fail_all(std::string("tracer error: ") + e.what());
    }
    if (tasks_.empty() && runs_.empty()) continue;
    int status = 0;
    pid_t pid = ::wait4(-1, &status, __WCLONE | __WNOTHREAD, nullptr);
    if (pid > 0) {
      batch_.clear();
      batch_.emplace_back(pid, status);
      if (runs_.size() > 1) {
        // Every other stop ready now too, to be served in turn: wait4 returns the newest tracee
        // first, and serving one stop at a time would let a busy run starve the older ones.
        while ((pid = ::wait4(-1, &status, __WCLONE | __WNOTHREAD | WNOHANG, nullptr)) > 0)
          batch_.emplace_back(pid, status);
        pid = batch_.front().first;
      }
      try {
        serve(batch_);
      } catch (const std::exception& e) {
        fail_all(std::string("tracer error: ") + e.what());
      }
      if (g_wakeups.load(std::memory_order_relaxed) == seen_signals_) continue;
    }
    if (pid > 0 || errno == EINTR) {
      seen_signals_ = g_wakeups.load(std::memory_order_relaxed);
      // A tick, a CPU timer, or a wake: the limits, the cancellations, the queue.
      try {
        on_tick();
      } catch (const std::exception& e) {
        fail_all(std::string("tracer error: ") + e.what());
      }
      timespec cpu{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
      counters_.tracer_cpu_ns = cpu.tv_sec * 1'000'000'000LL + cpu.tv_nsec;
      continue;
    }
    // ECHILD: nothing of ours is left to wait for, yet runs remain.
    fail_all("lost track of the run's processes");
    tasks_.clear();
    for (auto& run : runs_) {
      run->main_reaped = true;
      run->init_reaped = true;
      run->live_tasks = 0;
    }
    while (!runs_.empty()) maybe_finish(*runs_.front());
  }
  // The end: every run killed, reaped, completed with a runner error.
  end_everything("the io_context was destroyed with the run in flight");
  orphan_inits_.clear();
  if (timer_) ::timer_delete(*timer_);
  timer_.reset();
  unpin_tracer(true);
  tracer_tid_ = 0;
}

void Session::serve(std::vector<std::pair<pid_t, int>>& batch) {
  counters_.stops += batch.size();
  if (batch.size() == 1) return handle_status(batch[0].first, batch[0].second);
  // Round-robin over the runs, oldest run first in each round; each run's stops in the order
  // the kernel gave them. (Events of tasks no run owns yet go first.)
  struct Item {
    std::size_t round;
    std::uint64_t seq;
    std::size_t index;
  };
  std::vector<Item> order;
  order.reserve(batch.size());
  std::unordered_map<const Run*, std::size_t> seen;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto it = tasks_.find(batch[i].first);
    const Run* run = it == tasks_.end() ? nullptr : it->second.run;
    order.push_back({seen[run]++, run == nullptr ? 0 : run->seq + 1, i});
  }
  std::sort(order.begin(), order.end(), [](const Item& a, const Item& b) {
    return a.round != b.round ? a.round < b.round : a.seq < b.seq;
  });
  for (const Item& item : order) handle_status(batch[item.index].first, batch[item.index].second);
}

pid_t Session::task_named(Run& run, pid_t pid) {
  if (pid <= 0) return 0;
  if (!run.pid_ns) {
    auto it = tasks_.find(pid);
    if (it != tasks_.end()) return it->second.run == &run && !it->second.init ? pid : 0;
    return zombie_named(run, pid);
  }
  // Ids in the run's namespace: each task's is read once from /proc (only signal syscalls ask).
  for (auto& [tid, t] : tasks_) {
    if (t.run != &run || t.init) continue;
    if (t.ns_tid == 0)
      if (auto ids = proc::ns_ids(tid)) t.ns_tid = ids->pid;
    if (t.ns_tid == pid) return tid;
  }
  return zombie_named(run, pid);
}

pid_t Session::zombie_named(Run& run, pid_t pid) {
  // A process of the run that ended and that its parent has not waited for: a zombie, whose pid
  // is still its own (nothing can take it), and which its parent may signal (a kill of a child
  // that already ended succeeds). Each ended process is looked at until it is found reaped.
  for (auto& [tgid, p] : run.processes) {
    if (p.alive || p.reaped || (!run.pid_ns && tgid != pid)) continue;
    if (run.pid_ns && p.ns_pid == 0) {
      if (auto ids = proc::ns_ids(tgid)) p.ns_pid = ids->pid;
      if (p.ns_pid == 0) p.reaped = true;
    }
    if (p.reaped || (run.pid_ns && p.ns_pid != pid)) continue;
    // Still a zombie whose parent is of the run (the pid is not another process's by now).
    const auto ids = proc::ids(tgid);
    const auto parent = ids ? tasks_.find(ids->ppid) : tasks_.end();
    if (!proc::finished(tgid) || parent == tasks_.end() || parent->second.run != &run) {
      p.reaped = true;
      continue;
    }
    return tgid;
  }
  return 0;
}

bool Session::group_named(Run& run, pid_t pgid) {
  if (pgid <= 0) return false;
  for (const auto& [tgid, p] : run.processes) {
    if (!p.alive || p.live_tasks <= 0) continue;
    if (!run.pid_ns) {
      if (::getpgid(tgid) == pgid) return true;
    } else if (auto ids = proc::ns_ids(tgid); ids && ids->pgid == pgid) {
      return true;
    }
  }
  return false;
}

Task& Session::add_task(pid_t tid, pid_t tgid, Run* run) {
  Task& t = tasks_[tid];
  t.tid = tid;
  t.tgid = tgid;
  t.run = run;
  if (run != nullptr) {
    ++run->live_tasks;
    Process& p = run->processes[tgid];
    ++p.live_tasks;
    if (run->killing) ::kill(tgid, SIGKILL);
  }
  return t;
}

namespace {
// The stop PTRACE_INTERRUPT causes, which is also how a new child of a seized tracee starts.
bool is_trap_stop(int status) {
  return WSTOPSIG(status) == SIGTRAP && (status >> 16) == PTRACE_EVENT_STOP;
}

// A wait4 or waitid that may sleep (no WNOHANG): worth parking (Task::parked).
bool blocking_wait(const Context::Info& info) {
  if (info.name == "wait4") return (info.syscall.args[2] & WNOHANG) == 0;
  if (info.name == "waitid") return (info.syscall.args[3] & WNOHANG) == 0;
  return false;
}
}  // namespace

void Session::handle_status(pid_t pid, int status) {
  auto it = tasks_.find(pid);
  if (it == tasks_.end()) {
    // A new child of a tracee whose first stop came before its parent's fork event.
    if (WIFSTOPPED(status)) on_new_task(pid, status);
    return;
  }
  Task& task = it->second;
  if (WIFEXITED(status) || WIFSIGNALED(status)) return on_exit(task, status);
  if (!WIFSTOPPED(status)) return;
  task.parked = false;  // whatever stopped it, it is out of its wait
  if (task.run != nullptr) ++task.run->result.stops;
  if (Run* run = task.run; run != nullptr && run->freeze) {
    if (pid == run->freeze->checker && run->freeze->in_syscall) {
      release(*run);  // the checked syscall is over: it returned, or the checker is leaving
      if (!run->freeze) return on_stop(task, status);
      // A held task's replayed stop froze the run again: this stop is one of a frozen run's.
    }
    Freeze& f = *run->freeze;
    const int event = (status >> 16) & 0xff;
    if (!f.in_syscall && !is_trap_stop(status)) {
      // Not just the stop we asked for: an exit, a group-stop, an event. Its parent may learn of
      // it and end a wait, writing the status into memory: parked tasks stop too, before the
      // path is read.
      stop_parked(*run);
    }
    if (WSTOPSIG(status) == SIGTRAP && event == PTRACE_EVENT_EXIT) {
      // A task on its way out runs no more code of the program: holding it would only block
      // what waits for it (an exec waits for every other thread to die).
      task.held = false;
      f.awaiting.erase(pid);
      std::erase_if(run->deferred, [&](const auto& d) { return d.first == pid; });
      on_stop(task, status);
      if (run->freeze && run->freeze->awaiting.empty() && !run->freeze->in_syscall)
        decide(*run, run->freeze->info, true);
      return;
    }
    if (WSTOPSIG(status) == SIGTRAP && event == PTRACE_EVENT_EXEC && pid != f.checker) {
      if (auto checker = tasks_.find(f.checker);
          checker != tasks_.end() && checker->second.tgid == task.tgid) {
        // The checked syscall was an execve from a thread other than the leader: it completed,
        // and the thread now has the leader's id. Whatever stopped the old leader is gone.
        task.held = false;
        std::erase_if(run->deferred, [&](const auto& d) { return d.first == pid; });
        release(*run);
        return on_stop(task, status);
      }
    }
    if (pid != f.checker) {
      // Another task of a frozen run: keep it stopped; what stopped it waits for the thaw.
      task.held = true;
      if (!is_trap_stop(status)) run->deferred.emplace_back(pid, status);
      f.awaiting.erase(pid);
      if (f.awaiting.empty() && !f.in_syscall) decide(*run, f.info, true);
      return;
    }
  }
  on_stop(task, status);
}

void Session::stop_parked(Run& run) {
  for (auto& [tid, t] : tasks_)
    if (t.run == &run && t.parked && !t.held && ::ptrace(PTRACE_INTERRUPT, tid, 0, 0) == 0)
      run.freeze->awaiting[tid] = true;
}

bool Session::handoff_pending(const Run& run, pid_t tgid) const {
  bool pending = false;
  for (const auto& [tid, t] : tasks_) {
    if (t.run != &run || t.tgid != tgid || pending) continue;
    // A child we no longer trace was reaped by us and handed to this process to wait for.
    const bool read = proc::for_each_child(tgid, tid, [&](pid_t child) {
      if (tasks_.count(child) == 0) pending = true;
    });
    if (!read) pending = true;
  }
  return pending;
}

void Session::park(pid_t tid) {
  auto it = tasks_.find(tid);
  if (it == tasks_.end()) return cont(tid, 0);
  it->second.parked = ::ptrace(PTRACE_SYSCALL, tid, 0, 0) == 0;
}

void Session::on_new_task(pid_t tid, int status) {
  // Find its run: a thread of a known process, or a child of one.
  Run* run = nullptr;
  pid_t tgid = tid;
  if (auto ids = proc::ids(tid)) {
    tgid = ids->tgid;
    if (auto t = tasks_.find(tgid); t != tasks_.end() && tgid != tid) run = t->second.run;
    if (run == nullptr)
      if (auto p = tasks_.find(ids->ppid); p != tasks_.end()) run = p->second.run;
  }
  Task& t = add_task(tid, tgid, run);
  t.announced = false;  // until its parent's fork event
  if (run == nullptr || run->killing) {
    ::kill(tid, SIGKILL);  // nobody would account for it: it must not run
    return cont(tid, 0);   // and it must not stay stopped either
  }
  // Its first stop may come before its parent's fork event: it must not run a step pinned.
  run->multi_task = true;
  auto_unpin(*run);
  if (run->freeze) {
    t.held = true;
    if (!is_trap_stop(status)) run->deferred.emplace_back(tid, status);
    return;
  }
  if (is_trap_stop(status)) return cont(tid, 0);
  on_stop(t, status);
}

void Session::on_exit(Task& task, int status) {
  Run* run = task.run;
  const pid_t tid = task.tid;
  const pid_t tgid = task.tgid;
  const bool init = task.init;
  if (!task.announced && run != nullptr) run->gone_unannounced.insert(tid);
  tasks_.erase(tid);
  if (run == nullptr) {
    if (init)  // an abandoned run's init: its stack can go now
      std::erase_if(orphan_inits_, [&](forkexec::NamespaceInit& i) {
        if (i.pid() != tid) return false;
        i.reaped();
        return true;
      });
    return;
  }
  if (init) {
    // The namespace's init: its death killed whatever was left in the namespace.
    run->init_reaped = true;
    run->child.init().reaped();
    if (!run->killing) {
      record(*run, Status::kRunnerError, LimitKind::kNone,
             fmt::format("the init of the run's PID namespace died (wait status {:#x})", status));
      kill_run(*run);
    }
    return maybe_finish(*run);
  }
  --run->live_tasks;
  Process& p = run->processes[tgid];
  --p.live_tasks;
  std::erase_if(run->deferred, [&](const auto& d) { return d.first == tid; });
  if (run->freeze) {
    Freeze& f = *run->freeze;
    if (f.checker == tid) {
      release(*run);
    } else {
      // Reaped before the decision: its parent may now end a wait with it, writing the status
      // into memory. Parked tasks are then asked to stop too, and the path is read after.
      if (!f.in_syscall) stop_parked(*run);
      f.awaiting.erase(tid);
      if (f.awaiting.empty() && !f.in_syscall) decide(*run, f.info, true);
    }
  }
  if (tid == tgid) {
    run->handoff_unchecked = true;  // its parent may now wait for it (start_freeze)
    // A leader's exit is reported after all its threads': the process is gone. Until its
    // parent reaps it, its CPU clock still reads its final total.
    if (auto ns = proc::cpu_ns(tgid)) p.cpu_ns = std::max(p.cpu_ns, *ns);
    p.alive = false;
    drop_cpu_timer(p);
    try {
      run->handler->on_exit(tgid, status);
    } catch (const std::exception& e) {
      record(*run, Status::kRunnerError, LimitKind::kNone,
             std::string("handler threw in on_exit: ") + e.what());
      kill_run(*run);
    }
    if (reap_orphans_ && !run->pid_ns && tgid != run->main_pid) {
      // An orphan of the run whose new parent is this process (PID 1, or a subreaper): our
      // wait as its tracer handed its zombie to us as its parent, and the pump's waits (for
      // clone children) would never take it.
      siginfo_t info{};
      ::waitid(P_PID, static_cast<id_t>(tgid), &info, WEXITED | WNOHANG | __WALL);
    }
    if (tgid == run->main_pid) {
      run->main_reaped = true;
      Result& res = run->result;
      const bool memory_limited = run->spec.limits.memory_bytes || run->data_limit != 0;
      if (!run->exec_seen) {
        auto err = run->child.read_exec_result();
        const bool killed_in_exec = !err && WIFSIGNALED(status) &&
                                    (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGKILL);
        if (err && err->location == forkexec::ErrorLocation::kExec && err->err == ENOMEM &&
            memory_limited) {
          res.child_error = *err;
          record(*run, Status::kMemoryLimitExceeded, LimitKind::kMemory,
                 "memory limit: the program could not be loaded (execve: ENOMEM)");
        } else if (err) {
          res.child_error = *err;
          record(*run, Status::kRunnerError, LimitKind::kNone, err->message());
        } else if (killed_in_exec && memory_limited && !run->killing) {
          // Past its point of no return an exec that cannot map the program (its code, data
          // and bss under the memory limits) ends the process with SIGSEGV.
          res.signal = WTERMSIG(status);
          res.exit_status = WTERMSIG(status);
          record(*run, Status::kMemoryLimitExceeded, LimitKind::kMemory,
                 "memory limit: the program's image did not fit (killed during its exec)");
        } else {
          record(
              *run, Status::kRunnerError, LimitKind::kNone,
              fmt::format("the program ended before it was executed (wait status {:#x})", status));
        }
      } else if (WIFEXITED(status)) {
        res.exit_status = WEXITSTATUS(status);
        const auto& oom = run->spec.limits.memory_exit_status;
        if (oom && res.exit_status == *oom && res.exit_status != 0) {
          record(*run, Status::kMemoryLimitExceeded, LimitKind::kMemory,
                 fmt::format("memory limit: the runtime reported running out of memory (exit "
                             "status {})",
                             res.exit_status));
        }
        record(*run, res.exit_status == 0 ? Status::kNormal : Status::kNonzeroExitStatus,
               LimitKind::kNone, "");
      } else {
        const int sig = WTERMSIG(status);
        res.exit_status = sig;
        res.signal = sig;
        if (sig == SIGXCPU) {
          record(*run, Status::kTimeLimitExceeded, LimitKind::kCpu, "CPU time limit (SIGXCPU)");
        } else if (sig == SIGXFSZ) {
          record(*run, Status::kOutputLimitExceeded, LimitKind::kOutput, "output limit (SIGXFSZ)");
        } else if (sig == SIGSYS) {
          record(*run, Status::kDisallowedSyscall, LimitKind::kNone, "killed by SIGSYS");
        } else {
          record(*run, Status::kSignalled, LimitKind::kNone,
                 fmt::format("killed by signal {} ({})", sig, ::sigabbrev_np(sig)));
        }
      }
      run->child.release(true);  // reaped: nothing left for its destructor
      kill_run(*run);            // the run ends with its main process
    }
  }
  maybe_finish(*run);
}

void Session::on_stop(Task& task, int status) {
  const int sig = WSTOPSIG(status);
  const int event = (status >> 16) & 0xff;
  Run* run = task.run;
  const pid_t tid = task.tid;
  if (run == nullptr) {
    ::kill(tid, SIGKILL);
    return cont(tid, 0);
  }
  if (sig == (SIGTRAP | 0x80)) return cont(tid, 0);  // the exit of a syscall run under a freeze
  if (sig == SIGTRAP && event != 0) return on_event(task, event);
  if (event == PTRACE_EVENT_STOP) {
    // A group-stop (SIGSTOP, SIGTSTP...): resume, a program may not freeze itself while its
    // wall clock runs. Its parent may still wait for it (WUNTRACED) at any time: no parked task
    // of this run is trusted to sleep from now on.
    if (sig != SIGTRAP) run->stopped_child = true;
    return cont(tid, 0);
  }
  if (sig == SIGXCPU && run->spec.limits.cpu) {
    // The kernel's RLIMIT_CPU samples at ticks and overcounts under contention: the exact
    // clock of the tree decides. Under the limit the signal is not delivered.
    sample(*run, false);
    std::int64_t cpu = 0;
    for (auto& [tgid, p] : run->processes) cpu += p.cpu_ns;
    if (cpu < run->spec.limits.cpu->count()) return cont(tid, 0);
    record(*run, Status::kTimeLimitExceeded, LimitKind::kCpu, "CPU time limit");
    return kill_run(*run);
  }
  if (sig == SIGXFSZ) {
    record(*run, Status::kOutputLimitExceeded, LimitKind::kOutput, "output limit (SIGXFSZ)");
    return kill_run(*run);
  }
  if (sig == SIGSEGV && !run->cause_recorded) {
    // A fault just below the main stack when it has grown to its limit: a stack overflow, which
    // the stack limit (part of the memory the judge gives) ended. The signal is delivered.
    siginfo_t si{};
    if (::ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0 && si.si_code > 0)
      if (auto limit = proc::stack_overflow(tid, reinterpret_cast<std::uint64_t>(si.si_addr)))
        record(
            *run, Status::kMemoryLimitExceeded, LimitKind::kMemory,
            fmt::format("memory limit: stack overflow at the stack limit ({} KiB)", *limit / 1024));
  }
  if (sig == SIGSYS) {
    siginfo_t si{};
    if (::ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0 && si.si_code == SYS_SECCOMP) {
      tracee::SyscallInfo s;
      s.nr = si.si_syscall;
      s.arch = si.si_arch;
      auto name = syscall_name(s.arch, s.nr);
      if (!run->cause_recorded)
        run->result.violation =
            make_violation(tid, s, name, "refused by the seccomp filter (SIGSYS)");
      record(*run, Status::kDisallowedSyscall, LimitKind::kNone,
             fmt::format("disallowed syscall {} (SIGSYS)", name));
      return kill_run(*run);
    }
  }
  try {
    run->handler->on_signal(tid, sig);
  } catch (const std::exception& e) {
    record(*run, Status::kRunnerError, LimitKind::kNone,
           std::string("handler threw in on_signal: ") + e.what());
    return kill_run(*run);
  }
  cont(tid, sig);
}

void Session::on_event(Task& task, int event) {
  Run* run = task.run;
  const pid_t tid = task.tid;
  if (event == PTRACE_EVENT_SECCOMP) return on_seccomp(task);
  unsigned long msg = 0;
  ::ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
  const pid_t other = static_cast<pid_t>(msg);

  switch (event) {
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
      // A vfork parent blocks until its child execs or exits (VFORK_DONE): it cannot run, and
      // it cannot be interrupted either.
      if (event == PTRACE_EVENT_VFORK) task.vfork_parent = true;
      if (other <= 0) break;
      const pid_t tgid = task.tgid;
      bool thread;
      if (auto known = tasks_.find(other); known != tasks_.end()) {
        // Its first stop came before this event and registered it already.
        thread = known->second.tgid == tgid;
        known->second.announced = true;
      } else if (run->gone_unannounced.erase(other) != 0) {
        // It ran to its end, and was reaped, before its parent stopped for this event (a busy
        // CPU can delay the parent that long): adding it now would count a task for ever.
        break;
      } else {
        // tgkill(tgid, tid, 0) succeeds only for a thread of that process.
        thread = event == PTRACE_EVENT_CLONE && ::syscall(SYS_tgkill, tgid, other, 0) == 0;
        add_task(other, thread ? tgid : other, run);
      }
      // More than one task: the run may use every CPU again (the child inherited the pinning).
      run->multi_task = true;
      auto_unpin(*run);
      if (run->spec.limits.tasks && run->live_tasks > *run->spec.limits.tasks && !run->killing) {
        const char* call = event == PTRACE_EVENT_VFORK  ? "vfork"
                           : event == PTRACE_EVENT_FORK ? "fork"
                                                        : "clone";
        Violation v;
        v.pid = tid;
        v.syscall = call;
        v.nr = seccomp::syscall_number(seccomp::native_arch(), call);
        v.arch = seccomp::arch_name(seccomp::native_arch());
        v.reason =
            fmt::format("more than {} processes and threads at once", *run->spec.limits.tasks);
        if (!run->cause_recorded) run->result.violation = v;
        record(*run, Status::kDisallowedSyscall, LimitKind::kNone, v.reason);
        return kill_run(*run);
      }
      if (!run->killing) {
        ForkKind kind = thread                        ? ForkKind::kThread
                        : event == PTRACE_EVENT_VFORK ? ForkKind::kVfork
                        : event == PTRACE_EVENT_CLONE ? ForkKind::kClone
                                                      : ForkKind::kFork;
        try {
          run->handler->on_fork(tgid, other, kind);
        } catch (const std::exception& e) {
          record(*run, Status::kRunnerError, LimitKind::kNone,
                 std::string("handler threw in on_fork: ") + e.what());
          return kill_run(*run);
        }
      }
      break;
    }
    case PTRACE_EVENT_VFORK_DONE:
      task.vfork_parent = false;
      break;
    case PTRACE_EVENT_EXEC: {
      if (other != tid) {
        // A non-leader thread exec'd: it now has the leader's tid; its old tid is gone.
        if (auto it = tasks_.find(other); it != tasks_.end()) {
          if (it->second.run != nullptr) {
            --it->second.run->live_tasks;
            --it->second.run->processes[it->second.tgid].live_tasks;
          }
          tasks_.erase(it);
        }
      }
      if (!run->exec_seen && task.tgid == run->main_pid) {
        run->exec_seen = true;
        run->exec_time = Clock::now();
        run->result.setup_time = std::chrono::microseconds(to_us(run->exec_time - run->start));
        (void)run->child.read_exec_result();  // EOF: the socket closed on exec
      }
      try {
        run->handler->on_exec(task.tgid);
      } catch (const std::exception& e) {
        record(*run, Status::kRunnerError, LimitKind::kNone,
               std::string("handler threw in on_exec: ") + e.what());
        return kill_run(*run);
      }
      break;
    }
    case PTRACE_EVENT_EXIT: {
      task.exiting = true;
      Process& p = run->processes[task.tgid];
      if (auto ns = proc::cpu_ns(task.tgid)) p.cpu_ns = std::max(p.cpu_ns, *ns);
      if (auto rss = proc::peak_memory_bytes(tid)) p.peak_rss = std::max(p.peak_rss, *rss);
      update_peak(*run);
      break;
    }
    default:  // PTRACE_EVENT_STOP (a new child's first stop, a spent interrupt)
      break;
  }
  cont(tid, 0);
}

void Session::on_seccomp(Task& task) {
  Run& run = *task.run;
  const pid_t tid = task.tid;
  Context::Info info;
  info.tid = tid;
  info.tgid = task.tgid;
  if (int err = tracee::syscall_info(tid, info.syscall); err != 0) {
    if (err == ESRCH) return;  // killed meanwhile (e.g. a sibling's exit_group): not a violation
    record(run, Status::kRunnerError, LimitKind::kNone,
           fmt::format("PTRACE_GET_SYSCALL_INFO: {}", errno_text(err)));
    return kill_run(run);
  }
  // Before the program's first exec the only traced syscall is the child's own execve: the
  // handler judges it like any exec (what it runs, its ELF interpreter), the rest is not judged.
  if (!run.exec_seen) {
    const std::uint16_t tag = info.syscall.ret_data;
    if (tid != run.main_pid || tag >= seccomp::kReservedTagBase) return cont(tid, 0);
    info.name = syscall_name(info.syscall.arch, info.syscall.nr);
    if (info.name != "execve" && info.name != "execveat") return cont(tid, 0);
    info.arch_name = arch_name(info.syscall.arch, info.syscall.nr);
    info.first_exec = true;
    if (run.spec.counting != Counting::kNone) ++run.result.syscall_counts[std::string(info.name)];
    return decide(run, info, false);
  }

  const tracee::SyscallInfo& s = info.syscall;
  info.name = syscall_name(s.arch, s.nr);
  // A wait traced only to park it (kTagWait) is an allowed syscall: counted with every syscall.
  if (run.spec.counting == Counting::kAll ||
      (run.spec.counting == Counting::kTraced && s.ret_data != kTagWait)) {
    std::string counted = info.name.empty() ? fmt::format("nr{}", s.nr) : std::string(info.name);
    ++run.result.syscall_counts[counted];
  }

  Decision d = Decision::allow();
  const std::uint16_t tag = s.ret_data;
  // For messages only (not built on the common path).
  auto display = [&] {
    return info.name.empty() ? fmt::format("syscall {}", s.nr) : std::string(info.name);
  };
  switch (tag) {
    case seccomp::kTagDefault: {
      const std::string name = display();
      const std::string hint = hint_for(policy_of(run.spec), name);
      d = Decision::kill(
          fmt::format("{} is not allowed by the policy{}{}", name, hint.empty() ? "" : "; ", hint));
      break;
    }
    case seccomp::kTagViolation:
      d = Decision::kill(seccomp::violation_reason(display(), s.arch, s.args));
      break;
    case seccomp::kTagBadArch:
      d = Decision::kill(
          fmt::format("syscalls of the {} ABI are not allowed", arch_name(s.arch, s.nr)));
      break;
    case kTagCountAllow:
    case kTagWait:
      break;
    case kTagCountErrno: {
      auto it = run.errno_rules.find(std::string(info.name));
      d = Decision::deny(it != run.errno_rules.end() ? it->second : ENOSYS);
      break;
    }
    case kTagMemory: {
      // Will the kernel refuse this mapping because of RLIMIT_DATA? Then a later crash is the
      // memory limit's doing.
      auto data = proc::data_bytes(tid);
      if (data && run.data_limit != 0 && *data + s.args[1] > run.data_limit)
        run.allocation_refused = true;
      break;
    }
    case kTagStack: {
      // A thread's stack (glibc reserves the stack limit's size), which RLIMIT_DATA is about to
      // refuse, under a policy with no clone for the thread anyway: if the program then fails,
      // what it met is the refused capability, threads, not an allocation failure (maybe_finish).
      // A runtime that copes (fibers, an optional helper thread) is left to cope.
      auto data = proc::data_bytes(tid);
      if (!run.clone_allowed && data && run.data_limit != 0 && *data + s.args[1] > run.data_limit)
        run.thread_refused = tid;
      break;
    }
    default:
      if (tag >= seccomp::kReservedTagBase) {
        d = Decision::kill(fmt::format("{} traced with an unknown tag {:#x}", display(), tag));
        break;
      }
      info.arch_name = arch_name(s.arch, s.nr);
      info.in_run = [this, r = &run](pid_t pid) { return task_named(*r, pid) != 0; };
      info.group_in_run = [this, r = &run](pid_t pgid) { return group_named(*r, pgid); };
      if ((tag & kTagConsistent) != 0) return start_freeze(run, info);
      return decide(run, info, false);
  }
  notify(run, info, d);
  if (d.kind == Decision::Kind::kKill) {
    if (!run.cause_recorded) run.result.violation = make_violation(tid, s, info.name, d.reason);
    record(run, Status::kDisallowedSyscall, LimitKind::kNone, d.reason);
    return kill_run(run);
  }
  if (d.kind == Decision::Kind::kDeny) tracee::skip_syscall(tid, d.error);
  if (d.kind == Decision::Kind::kAllow && tag == kTagWait) return park(tid);
  cont(tid, 0);
}

void Session::start_freeze(Run& run, Context::Info& info) {
  // Every other task that can run is interrupted; those already held, and vfork parents (which
  // cannot run until their child execs), are frozen as they are.
  Freeze f;
  f.checker = info.tid;
  f.since = Clock::now();
  bool others = false, running = false;
  // A task past its exit event is about to be reaped, which hands it to a waiting parent: a
  // parked waiter could then write its status during the check. Then parked tasks are stopped.
  bool dying = false, parked = false;
  for (const auto& [tid, t] : tasks_) {
    if (t.run != &run) continue;
    dying = dying || (t.exiting && !t.init);
    parked = parked || t.parked;
  }
  // Nor may a parked task whose process has a child we reaped and handed to it (its wait can end
  // at any moment), or that is awake (it may be ending its wait with one right now). Checked
  // after each such reap, until every parked task sleeps and no process has such a child: then
  // none can wake with one before we reap another.
  std::vector<pid_t> awake;  // parked tasks that may not sleep as they are
  if (!dying && parked && run.handoff_unchecked) {
    // The state first: a task asleep now, with no child to take after, stays asleep. (Its
    // state reads S while it scans its children, maybe taking one: only off the CPU, in the
    // wait's sleep, is it asleep.)
    for (const auto& [tid, t] : tasks_)
      if (t.run == &run && t.parked && !proc::asleep_in(tid, "do_wait")) awake.push_back(tid);
    // Every process of the run, parked or not (one may park later).
    std::vector<pid_t> seen, handed;
    for (const auto& [tid, t] : tasks_) {
      if (t.run != &run || t.init || std::find(seen.begin(), seen.end(), t.tgid) != seen.end())
        continue;
      seen.push_back(t.tgid);
      if (handoff_pending(run, t.tgid)) handed.push_back(t.tgid);
    }
    for (const auto& [tid, t] : tasks_)
      if (t.run == &run && t.parked &&
          std::find(handed.begin(), handed.end(), t.tgid) != handed.end())
        awake.push_back(tid);
    run.handoff_unchecked = !awake.empty();
  }
  for (auto& [tid, t] : tasks_) {
    // The PID namespace's init is the tracer's own code (it shares the tracer's memory, not the
    // program's, and never writes the program's): it cannot race the check. Counting it would
    // freeze every check of a single-threaded program (an exit stop more per syscall).
    if (t.run != &run || tid == info.tid || t.init) continue;
    others = true;
    const bool asleep = t.parked && !dying && !run.stopped_child &&
                        std::find(awake.begin(), awake.end(), tid) == awake.end();
    // A task past its exit event still writes its clear_child_tid word into the program's
    // memory: it is awaited until reaped, or until it is a zombie (done, and a leader with
    // threads left stays one: it never stops again).
    if (t.held || t.vfork_parent || asleep || (t.exiting && proc::finished(tid))) continue;
    running = true;
    if (::ptrace(PTRACE_INTERRUPT, tid, 0, 0) == 0) f.awaiting[tid] = true;
  }
  if (!others) return decide(run, info, false);  // alone: nothing can race it
  // Nothing could run (a compiler driver waiting for cc1plus): none of them can run before a stop
  // we hold, so the checker need not stop again at its syscall's exit.
  f.lazy = !running;
  f.info = std::move(info);
  tasks_[f.checker].held = true;
  run.freeze = std::move(f);
  if (run.freeze->awaiting.empty()) decide(run, run.freeze->info, true);
}

void Session::decide(Run& run, Context::Info& info, bool frozen) {
  const pid_t tid = info.tid;
  if (run.killing) {
    if (frozen) release(run);
    return;
  }
  Decision d;
  try {
    Context ctx(info);
    d = run.handler->on_syscall(ctx);
  } catch (const std::exception& e) {
    record(run, Status::kRunnerError, LimitKind::kNone,
           std::string("handler threw in on_syscall: ") + e.what());
    return kill_run(run);
  }
  notify(run, info, d);
  switch (d.kind) {
    case Decision::Kind::kAllow:
      if (frozen) {
        // Keep the others stopped until the kernel has read what we checked: run the syscall
        // to its exit stop (lazy: to the checker's next stop, whatever it is).
        run.freeze->in_syscall = true;
        run.freeze->since = Clock::now();
        if (run.freeze->lazy) return cont(tid, 0);
        ::ptrace(PTRACE_SYSCALL, tid, 0, 0);
        return;
      }
      if (blocking_wait(info)) return park(tid);
      return cont(tid, 0);
    case Decision::Kind::kDeny:
      if (int err = tracee::skip_syscall(tid, d.error); err != 0 && err != ESRCH) {
        record(run, Status::kRunnerError, LimitKind::kNone,
               fmt::format("skipping a syscall: {}", errno_text(err)));
        return kill_run(run);
      }
      cont(tid, 0);
      if (frozen) release(run);
      return;
    case Decision::Kind::kKill: {
      if (!run.cause_recorded) {
        Violation v = make_violation(tid, info.syscall, info.name, d.reason);
        v.path = info.path;
        run.result.violation = std::move(v);
      }
      record(run, Status::kDisallowedSyscall, LimitKind::kNone, d.reason);
      return kill_run(run);
    }
  }
}

void Session::notify(Run& run, Context::Info& info, const Decision& d) {
  if (!run.spec.observer) return;
  if (info.arch_name.empty()) info.arch_name = arch_name(info.syscall.arch, info.syscall.nr);
  TraceEvent e;
  e.pid = info.tid;
  e.syscall = info.name;
  e.nr = info.syscall.nr;
  e.arch = info.arch_name;
  e.args = info.syscall.args;
  e.decision = d.kind;
  e.error = d.error;
  e.path = info.path ? &*info.path : nullptr;
  e.reason = d.reason;
  try {
    run.spec.observer(e);
  } catch (const std::exception& ex) {
    record(run, Status::kRunnerError, LimitKind::kNone,
           std::string("the observer threw: ") + ex.what());
    kill_run(run);
  }
}

void Session::release(Run& run) {
  if (!run.freeze) return;
  const pid_t checker = run.freeze->checker;
  run.freeze.reset();
  if (auto it = tasks_.find(checker); it != tasks_.end()) it->second.held = false;
  for (auto& [tid, t] : tasks_) {
    if (t.run != &run || !t.held) continue;
    const bool has_event = std::any_of(run.deferred.begin(), run.deferred.end(),
                                       [&, id = tid](const auto& d) { return d.first == id; });
    if (has_event) continue;  // handled below, in order
    t.held = false;
    cont(tid, 0);
  }
  // Replay what stopped the held tasks; one of them may freeze the run again.
  while (!run.freeze && !run.deferred.empty()) {
    auto [pid, status] = run.deferred.front();
    run.deferred.pop_front();
    auto it = tasks_.find(pid);
    if (it == tasks_.end()) continue;
    it->second.held = false;
    handle_status(pid, status);
  }
}

void Session::on_tick() {
  const auto now = Clock::now();
  std::vector<Run*> abandoned;
  for (auto& ptr : runs_) {
    Run& run = *ptr;
    if (run.killing) {
      // Whatever is still there is killed again and, if it sits in a stop, continued into its
      // death; past kKillTimeout the run ends without it (the session goes on reaping it).
      for (auto& [tid, t] : tasks_) {
        if (t.run != &run || t.init) continue;
        ::syscall(SYS_tgkill, t.tgid, tid, SIGKILL);
        cont(tid, 0);
      }
      run.child.kill();
      if (now - run.killing_since >= kKillTimeout) abandoned.push_back(&run);
      continue;
    }
    if (run.freeze) {
      Freeze& f = *run.freeze;
      if (f.lazy && f.in_syscall && !run.deferred.empty() && !f.interrupted) {
        // A lazy freeze holds a task that woke up (a signal ended its wait) while the checker
        // runs on without a stop: interrupt the checker, whose stop ends the freeze (a checked
        // syscall it breaks is restarted, and checked again).
        f.interrupted = ::ptrace(PTRACE_INTERRUPT, f.checker, 0, 0) == 0;
      }
      if (f.in_syscall && now - f.since >= kBlockedCheck && proc::sleeping(f.checker)) {
        // The checked syscall sleeps (a FIFO open waiting for a writer that may be one of the
        // frozen tasks): the kernel has long resolved its path. Thaw, or it would wait forever.
        release(run);
      } else if (!f.in_syscall &&
                 std::erase_if(f.awaiting,
                               [&](const auto& a) {
                                 auto t = tasks_.find(a.first);
                                 return t != tasks_.end() && t->second.exiting &&
                                        proc::finished(a.first);
                               }) > 0 &&
                 f.awaiting.empty()) {
        // What it waited for were exiting tasks that are done: they never stop again.
        decide(run, f.info, true);
        continue;
      } else if (!f.in_syscall && now - f.since >= kFreezeTimeout &&
                 (now - f.since >= kStarvedFreezeTimeout ||
                  !std::all_of(f.awaiting.begin(), f.awaiting.end(),
                               [](const auto& a) { return proc::runnable(a.first); }))) {
        record(run, Status::kRunnerError, LimitKind::kNone,
               "a task of the run did not stop for a checked syscall");
        kill_run(run);
        continue;
      }
    }
    const Limits& lim = run.spec.limits;
    if (run.handle->cancelled) {
      record(run, Status::kRunnerError, LimitKind::kNone, "cancelled");
      kill_run(run);
      continue;
    }
    if (lim.deadline && now >= *lim.deadline) {
      record(run, Status::kTimeLimitExceeded, LimitKind::kWall, "wall clock limit (deadline)");
      kill_run(run);
      continue;
    }
    // The wall clock starts at the program's first exec; setting the run up is not graded.
    if (!run.exec_seen) {
      if (now - run.start >= kSetupTimeout) {
        record(
            run, Status::kRunnerError, LimitKind::kNone,
            fmt::format("the program was not started within {} s",
                        std::chrono::duration_cast<std::chrono::seconds>(kSetupTimeout).count()));
        kill_run(run);
      }
      continue;
    }
    // A tracer that did not run for a while (an io_context stopped, a starved thread) finds
    // limits exceeded late: the verdict says so.
    const std::string late =
        now - last_tick_ > kLateTick
            ? fmt::format(
                  " (enforced {} ms late: the tracer was not running)",
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_).count())
            : std::string();
    if (lim.wall && now - run.exec_time >= *lim.wall) {
      record(run, Status::kTimeLimitExceeded, LimitKind::kWall, "wall clock limit" + late);
      kill_run(run);
      continue;
    }
    if (!lim.cpu && !lim.memory_bytes) {
      auto_place(run);
      continue;
    }
    sample(run, lim.memory_bytes.has_value());
    std::int64_t cpu = 0;
    for (auto& [tgid, p] : run.processes) cpu += p.cpu_ns;
    if (lim.cpu && cpu >= lim.cpu->count()) {
      record(run, Status::kTimeLimitExceeded, LimitKind::kCpu, "CPU time limit" + late);
      kill_run(run);
    } else if (lim.memory_bytes && run.peak_bytes > *lim.memory_bytes) {
      record(run, Status::kMemoryLimitExceeded, LimitKind::kMemory, "memory limit" + late);
      kill_run(run);
    } else if (lim.cpu) {
      arm_cpu_timers(run, cpu);
    }
    if (!run.killing) auto_place(run);
  }
  for (Run* run : abandoned) abandon(*run);
  last_tick_ = now;
}

void Session::arm_cpu_timers(Run& run, std::int64_t used_ns) {
  const std::int64_t left = run.spec.limits.cpu->count() - used_ns;
  int live = 0;
  for (auto& [tgid, p] : run.processes) live += p.alive && p.live_tasks > 0;
  if (live == 0 || left <= 0) return;
  // Each process may spend its share before the tracer looks again: together they cannot pass
  // the limit unseen. (The kernel checks CPU timers at its own tick, a few ms.)
  const std::int64_t share = std::max<std::int64_t>(left / live, 1'000'000);
  for (auto& [tgid, p] : run.processes) {
    if (!p.alive || p.live_tasks <= 0) continue;
    if (!p.cpu_timer) {
      sigevent sev{};
      sev.sigev_notify = SIGEV_THREAD_ID;
      sev.sigev_signo = wakeup_signal();
      sev._sigev_un._tid = tracer_tid_;
      timer_t t;
      // MAKE_PROCESS_CPUCLOCK(tgid, CPUCLOCK_SCHED), as proc::cpu_ns reads it.
      const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned>(tgid) << 3) | 2);
      if (::timer_create(clock, &sev, &t) != 0) continue;  // gone: the tick still looks
      p.cpu_timer = t;
    }
    itimerspec at{};
    const std::int64_t when = p.cpu_ns + share;
    at.it_value.tv_sec = when / 1'000'000'000;
    at.it_value.tv_nsec = when % 1'000'000'000;
    ::timer_settime(*p.cpu_timer, TIMER_ABSTIME, &at, nullptr);
  }
}

void Session::drop_cpu_timer(Process& p) {
  if (p.cpu_timer) ::timer_delete(*p.cpu_timer);
  p.cpu_timer.reset();
}

void Session::abandon(Run& run) {
  int left = 0;
  for (auto& [tid, t] : tasks_) {
    if (t.run != &run) continue;
    t.run = nullptr;  // an orphan: killed again and reaped when it reports
    if (t.init) {
      orphan_inits_.push_back(std::move(run.child.init()));
    } else {
      ++left;
    }
  }
  run.init_reaped = true;
  run.live_tasks = 0;
  run.main_reaped = true;
  run.result.error +=
      fmt::format(" ({} task(s) had not ended {} s after being killed)", left,
                  std::chrono::duration_cast<std::chrono::seconds>(kKillTimeout).count());
  maybe_finish(run);
}

void Session::sample(Run& run, bool memory) {
  for (auto& [tgid, p] : run.processes) {
    if (!p.alive) continue;
    if (auto ns = proc::cpu_ns(tgid)) p.cpu_ns = std::max(p.cpu_ns, *ns);
    if (memory)
      if (auto rss = proc::peak_memory_bytes(tgid)) p.peak_rss = std::max(p.peak_rss, *rss);
  }
  if (memory) update_peak(run);
}

void Session::update_peak(Run& run) {
  // Each live process contributes its own high-water mark: an upper bound of the tree's
  // simultaneous peak, exact for a single process.
  std::uint64_t sum = 0;
  for (auto& [tgid, p] : run.processes)
    if (p.alive) sum += p.peak_rss;
  run.peak_bytes = std::max(run.peak_bytes, sum);
}

void Session::record(Run& run, Status status, LimitKind limit, std::string error) {
  if (run.cause_recorded) return;
  run.cause_recorded = true;
  run.result.status = status;
  run.result.limit = limit;
  run.result.error = std::move(error);
}

void Session::kill_run(Run& run) {
  if (!run.killing) {
    run.killing = true;
    run.killing_since = Clock::now();
    sample(run, true);  // the last look at the processes' usage
  }
  for (auto& [tgid, p] : run.processes)
    if (p.alive && p.live_tasks > 0) ::kill(tgid, SIGKILL);
  run.child.kill();
}

void Session::maybe_finish(Run& run) {
  if (!run.main_reaped || run.live_tasks > 0 || !run.init_reaped) return;
  Result res = std::move(run.result);
  const auto end = Clock::now();
  std::int64_t cpu = 0;
  for (auto& [tgid, p] : run.processes) cpu += p.cpu_ns;
  res.cpu_time = std::chrono::microseconds(cpu / 1000);
  res.queue_time = run.queue_time;
  res.wall_time = std::chrono::microseconds(run.exec_seen ? to_us(end - run.exec_time) : 0);
  if (!run.exec_seen) res.setup_time = std::chrono::microseconds(to_us(end - run.start));
  res.memory_kib = run.peak_bytes / 1024;
  if (!run.cause_recorded) {
    res.status = Status::kRunnerError;
    res.error = "the run ended without a verdict";
  }
  // Causes seen only in the totals: they happened before the main process ended.
  const Limits& lim = run.spec.limits;
  const bool ended_by_program = res.status == Status::kNormal ||
                                res.status == Status::kNonzeroExitStatus ||
                                res.status == Status::kSignalled;
  if (ended_by_program && lim.cpu && cpu > lim.cpu->count()) {
    res.status = Status::kTimeLimitExceeded;
    res.limit = LimitKind::kCpu;
    res.error = "CPU time limit";
  } else if (ended_by_program && res.status != Status::kNormal && run.thread_refused != 0) {
    const std::string hint = hint_for(policy_of(run.spec), "clone");
    res.status = Status::kDisallowedSyscall;
    res.limit = LimitKind::kNone;
    res.error = fmt::format(
        "clone is not allowed by the policy (the program's thread stack could not be mapped, and "
        "it then failed){}{}",
        hint.empty() ? "" : "; ", hint);
    Violation v;
    v.pid = run.thread_refused;
    v.syscall = "clone";
    v.nr = seccomp::syscall_number(seccomp::native_arch(), "clone");
    v.arch = seccomp::arch_name(seccomp::native_arch());
    v.reason = res.error;
    res.violation = std::move(v);
  } else if (ended_by_program && lim.memory_bytes &&
             (run.peak_bytes > *lim.memory_bytes ||
              (run.allocation_refused && res.status != Status::kNormal))) {
    res.status = Status::kMemoryLimitExceeded;
    res.limit = LimitKind::kMemory;
    res.error = run.peak_bytes > *lim.memory_bytes
                    ? "memory limit"
                    : "memory limit (an allocation was refused, then the program failed)";
  }
  for (auto& [tgid, p] : run.processes) drop_cpu_timer(p);
  auto completion = std::move(run.completion);
  if (run.auto_provisional) g_start_pin = false;
  std::erase_if(runs_, [&](const std::unique_ptr<Run>& p) { return p.get() == &run; });
  --counters_.in_flight;
  --g_runs_in_process;
  deliver(std::move(completion), std::move(res));
}

void Session::fail_all(const std::string& why) {
  for (auto& run : runs_) {
    record(*run, Status::kRunnerError, LimitKind::kNone, why);
    kill_run(*run);
  }
}

void Session::cont(pid_t tid, int sig) { ::ptrace(PTRACE_CONT, tid, 0, sig); }

std::string_view Session::syscall_name(std::uint32_t arch, long nr) {
  const std::uint64_t slot =
      (static_cast<std::uint64_t>(arch) << 32) | static_cast<std::uint32_t>(nr);
  auto it = names_.find(slot);
  if (it == names_.end()) it = names_.emplace(slot, seccomp::syscall_name(arch, nr)).first;
  return it->second;
}

std::string_view Session::arch_name(std::uint32_t arch, long nr) {
  const bool x32 = arch == AUDIT_ARCH_X86_64 && (nr & 0x40000000) != 0;
  const std::uint64_t slot = (static_cast<std::uint64_t>(arch) << 1) | (x32 ? 1 : 0);
  auto it = arch_names_.find(slot);
  if (it == arch_names_.end()) it = arch_names_.emplace(slot, seccomp::arch_name(arch, nr)).first;
  return it->second;
}

void Session::pin_tracer(int cpu) {
  if (pinned_) return;
  cpu_set_t old;
  CPU_ZERO(&old);
  if (::sched_getaffinity(0, sizeof old, &old) != 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) return;
  saved_affinity_.assign(reinterpret_cast<unsigned char*>(&old),
                         reinterpret_cast<unsigned char*>(&old) + sizeof old);
  pinned_ = true;
}

void Session::unpin_tracer(bool now) {
  if (!pinned_ || (!now && !runs_.empty())) return;
  ::sched_setaffinity(0, saved_affinity_.size(),
                      reinterpret_cast<const cpu_set_t*>(saved_affinity_.data()));
  pinned_ = false;
}

void Session::auto_place(Run& run) {
  if (run.auto_provisional) {
    // Pinned since its start, until a full tick after its exec (a set-up slowed by a busy
    // machine does not use it up). Then unpinned whatever it does: the CPU it started on was
    // chosen for its start, not against the load (another process's run may have started there
    // too); a syscall-heavy run is pinned again at a later tick where the scheduler puts it.
    if (!run.exec_seen || Clock::now() - run.exec_time < kTick) return;
    run.stops_at_tick = run.result.stops;
    auto_unpin(run);
    return;
  }
  const std::uint64_t stops = run.result.stops - run.stops_at_tick;
  run.stops_at_tick = run.result.stops;
  if (run.spec.placement.mode != Placement::Mode::kAuto || run.auto_pinned || run.multi_task ||
      runs_.size() != 1 || run.live_tasks != 1 || !run.exec_seen || stops < kAutoStops)
    return;
  // Where the scheduler runs it now: chosen against the machine's load, and apart from other
  // runs' tracees (two runs started together each keep their own CPU).
  const int cpu = proc::last_cpu(run.main_pid);
  if (cpu < 0) return;
  pin_tracer(cpu);
  if (!pinned_) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  for (auto& [tid, t] : tasks_)
    if (t.run == &run && !t.init) ::sched_setaffinity(tid, sizeof set, &set);
  run.auto_pinned = true;
}

void Session::auto_unpin(Run& run) {
  if (!run.auto_pinned) return;
  if (run.auto_provisional) g_start_pin = false;
  run.auto_pinned = run.auto_provisional = false;
  // Back to every CPU the tracer thread may use (its own affinity before the pinning); new
  // tasks inherited the pinning too.
  if (!saved_affinity_.empty())
    for (auto& [tid, t] : tasks_)
      if (t.run == &run && !t.init)
        ::sched_setaffinity(tid, saved_affinity_.size(),
                            reinterpret_cast<const cpu_set_t*>(saved_affinity_.data()));
  unpin_tracer(true);
}

}  // namespace tracebox::tracer
