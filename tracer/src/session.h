// The tracer of one io_context: every run started on it, every task of those runs, and the pump
// that waits for their ptrace stops on the io_context's thread.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "context_info.h"
#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer {

struct RunHandle::State {
  explicit State(asio::io_context& c) : io(c) {}
  asio::io_context& io;
  std::atomic<bool> cancelled{false};
};

using Clock = std::chrono::steady_clock;

void detail_set_wakeup_signal(int sig);

// One process (thread group) of a run.
struct Process {
  std::int64_t cpu_ns = 0;     // latest sample; final once the process is gone
  std::uint64_t peak_rss = 0;  // latest VmHWM
  int live_tasks = 0;
  bool alive = true;
  // Once it has ended: its pid in the run's PID namespace (0: not read yet), and whether it is
  // known to be reaped by its parent (its pid then names nothing of the run).
  pid_t ns_pid = 0;
  bool reaped = false;
  // A POSIX timer on the process's CPU clock, armed to wake the tracer when the run's CPU budget
  // could be spent (the 10 ms tick alone would let a CPU-bound program overshoot by a tick).
  std::optional<timer_t> cpu_timer;
};

// A run stopped around one consistent syscall (a tag with kTagConsistent): every other task is
// held in a ptrace-stop from before the handler reads the tracee until the syscall returns.
struct Freeze {
  pid_t checker = 0;
  Context::Info info;                        // the stop being decided
  std::unordered_map<pid_t, bool> awaiting;  // tasks asked to stop, not stopped yet
  bool in_syscall = false;                   // allowed: the checked syscall is running
  // No other task could run when it began (each was held, a vfork parent or parked): the checker
  // runs its syscall without an exit stop, and the freeze lasts until its next stop (which a
  // tick forces with an interrupt when a task woke up meanwhile and waits for the thaw).
  bool lazy = false;
  bool interrupted = false;  // lazy: the checker was interrupted to end it (a held task waits)
  Clock::time_point since;
};

// A run waiting for admission.
struct Pending {
  std::shared_ptr<RunHandle::State> handle;
  Spec spec;
  std::shared_ptr<Handler> handler;
  std::function<void(Result)> completion;
  Clock::time_point queued_at;
  int caller_cpu = -1;  // where the thread that asked for the run was running then
};

struct Run {
  Spec spec;
  std::shared_ptr<Handler> handler;
  std::function<void(Result)> completion;
  std::shared_ptr<RunHandle::State> handle;
  std::uint64_t seq = 0;  // admission order: older runs are served first in a round
  std::chrono::microseconds queue_time{0};

  forkexec::Child child;
  pid_t main_pid = -1;
  // The run's PID namespace (Isolation::pid_namespace): its init is our child too, and must be
  // reaped before the run ends; ids the program names are in that namespace.
  bool pid_ns = false;
  bool init_reaped = true;
  // Placement::Mode::kAuto: pinned with the tracer to one CPU, and the stops served up to the
  // last tick (to see how syscall-heavy the run is).
  bool auto_pinned = false;
  // Pinned from its start (a lone run in the process, with the tracer on the CPU the run was
  // asked from), until its first full tick shows whether it is syscall-heavy.
  bool auto_provisional = false;
  // It had more than one task once (a fork, a thread): never pinned by Placement::kAuto again,
  // even when it is down to one task (a program that forked once is likely to fork again).
  bool multi_task = false;
  std::uint64_t stops_at_tick = 0;
  Clock::time_point start;
  Clock::time_point exec_time;
  bool exec_seen = false;

  Result result;
  bool cause_recorded = false;
  bool killing = false;
  Clock::time_point killing_since;
  bool main_reaped = false;

  std::unordered_map<pid_t, Process> processes;
  int live_tasks = 0;
  std::uint64_t peak_bytes = 0;
  // An allocation the memory limit refused (seen at a traced large mmap).
  bool allocation_refused = false;
  bool clone_allowed = false;  // the policy lets the program clone (threads, processes)
  // A thread's stack the memory limit was about to refuse, under a policy without clone: the
  // task that mapped it (0: none).
  pid_t thread_refused = 0;
  std::uint64_t data_limit = 0;  // RLIMIT_DATA of the run, 0 = none
  // Counting::kAll: the errno of each syscall whose rule denies it.
  std::unordered_map<std::string, int> errno_rules;

  std::optional<Freeze> freeze;
  // A process of the run was reaped since start_freeze last found no parked task's process with
  // a child to wait for.
  bool handoff_unchecked = false;
  // A task of the run entered a group-stop, which its parent may report to a wait at any time.
  bool stopped_child = false;
  // Tasks reaped before their parent's fork event was seen: that event must not add them again.
  std::unordered_set<pid_t> gone_unannounced;
  // Stops of held tasks, handled once the freeze ends (in order).
  std::deque<std::pair<pid_t, int>> deferred;
};

// One traced thread.
struct Task {
  pid_t tid = 0;
  pid_t tgid = 0;
  Run* run = nullptr;         // nullptr: an orphan being killed (its run is gone)
  bool held = false;          // in a stop we keep it in while its run is frozen
  bool vfork_parent = false;  // blocked in vfork until its child execs or exits
  // In a blocking wait4 or waitid it was continued into with PTRACE_SYSCALL: it runs no code of
  // the program before its exit stop, so a freeze need not interrupt it, unless the wait could
  // end during the check (the kernel writes the status into memory a checked path may be in):
  // see Session::start_freeze.
  bool parked = false;
  bool exiting = false;  // past its exit event: it runs no more code, and is reaped soon
  // Its parent's fork event was seen (or it has none: the run's first task). A child's first
  // stop, even its exit, can come before that event.
  bool announced = true;
  bool init = false;  // the init of its run's PID namespace (not traced)
  pid_t ns_tid = 0;   // its id in the run's PID namespace (0: not read yet)
};

// The tracer of one io_context: a thread of its own, started with the first run and ended with
// the io_context, does every ptrace request, clone and wait of every run (ptrace ties a tracee
// to the thread that attached it); the io_context only receives the completions. So it does not
// matter which thread runs the io_context, how many do, or whether it is stopped for a while:
// limits are enforced all the same.
class Session : public asio::execution_context::service {
 public:
  using key_type = Session;
  static asio::execution_context::id id;

  explicit Session(asio::execution_context& ctx);
  ~Session() override;

  // From any thread: queues a run; the tracer thread starts it when it may (never throws;
  // failures complete the run).
  void submit(std::shared_ptr<RunHandle::State> handle, Spec spec, std::shared_ptr<Handler> handler,
              std::function<void(Result)> completion);
  // From any thread: the tracer thread looks at its runs' and queue's cancel flags now.
  void wake();
  void configure(const SessionOptions& options);
  Metrics metrics() const;

  // The calling thread is the tracer of this session, which makes no thread of its own
  // (run_on_this_thread): call before the first submit(), then serve_here(). `cancel`, if given,
  // cancels every run once it reads true (it is read at each wakeup: a stop, the tick, a signal).
  void trace_here(const std::atomic<bool>* cancel);
  // Traces on the calling thread until no run is queued or in flight; completions are called
  // on it as the runs end. Its signal mask, nice value and CPU affinity are the tracer's
  // meanwhile, restored at the end.
  void serve_here();

 private:
  // The io_context is being destroyed: the thread ends every run (killed, reaped) and stops;
  // every completion not delivered yet is called here.
  void shutdown() override;
  void ensure_thread();
  void thread_main();
  // Hands a completion to the io_context (in order); kept for shutdown() if never delivered.
  void deliver(std::function<void(Result)> completion, Result result);

  // The tracer thread's own.
  void admit();
  void start(Pending p);
  void check_cancelled();
  void end_everything(const std::string& why);
  void serve(std::vector<std::pair<pid_t, int>>& batch);
  void handle_status(pid_t pid, int status);
  void on_exit(Task& task, int status);
  void on_stop(Task& task, int status);
  void on_event(Task& task, int event);
  void on_seccomp(Task& task);
  void on_new_task(pid_t tid, int status);
  void on_tick();
  void decide(Run& run, Context::Info& info, bool frozen);
  void start_freeze(Run& run, Context::Info& info);
  void release(Run& run);
  void notify(Run& run, Context::Info& info, const Decision& d);

  Task& add_task(pid_t tid, pid_t tgid, Run* run);
  // The task of `run` that the program names `pid` (its PID namespace's view), or 0.
  pid_t task_named(Run& run, pid_t pid);
  // The ended process of `run` not yet waited for by its parent that the program names `pid`.
  pid_t zombie_named(Run& run, pid_t pid);
  bool group_named(Run& run, pid_t pgid);
  void record(Run& run, Status status, LimitKind limit, std::string error);
  void kill_run(Run& run);
  // Ends a killed run whose tasks do not report their end: they become orphans of the session.
  void abandon(Run& run);
  void maybe_finish(Run& run);
  void sample(Run& run, bool memory);
  // Arms every live process's CPU timer for the run's remaining CPU budget, shared out.
  void arm_cpu_timers(Run& run, std::int64_t used_ns);
  void drop_cpu_timer(Process& p);
  void update_peak(Run& run);
  void cont(pid_t tid, int sig);
  // Continues a task allowed into wait4 or waitid to the syscall's exit stop (Task::parked).
  void park(pid_t tid);
  // Asks every parked task of the frozen `run` to stop, and waits for them before deciding.
  void stop_parked(Run& run);
  // Whether process `tgid` has a child we reaped (handed to it) that it has not waited for.
  bool handoff_pending(const Run& run, pid_t tgid) const;
  std::string_view syscall_name(std::uint32_t arch, long nr);
  std::string_view arch_name(std::uint32_t arch, long nr);
  void fail_all(const std::string& why);
  void pin_tracer(int cpu);
  // Restores the tracer thread's own affinity (when no run needs it pinned, unless `now`).
  void unpin_tracer(bool now = false);
  // Placement::Mode::kAuto: co-locates a syscall-heavy lone run, or undoes it.
  void auto_place(Run& run);
  void auto_unpin(Run& run);

  asio::io_context& io_;

  // Shared with the other threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable idle_;  // the tracer thread waits on it with nothing to trace
  std::deque<Pending> queue_;
  SessionOptions options_;
  bool stopping_ = false;
  std::deque<std::pair<std::function<void(Result)>, Result>> undelivered_;
  std::thread thread_;
  bool here_ = false;  // trace_here(): no thread_, the caller's thread serves
  const std::atomic<bool>* here_cancel_ = nullptr;
  std::atomic<pid_t> tracer_tid_{0};
  struct Counters {
    std::atomic<std::uint64_t> queued{0}, in_flight{0}, completed{0}, stops{0};
    std::atomic<std::int64_t> queue_delay_total_us{0}, queue_delay_max_us{0};
    std::atomic<std::int64_t> tracer_cpu_ns{0};
  } counters_;

  // The tracer thread's alone.
  std::uint64_t next_seq_ = 0;
  bool reap_orphans_ = false;  // we are PID 1 or a subreaper: orphans of runs come to us
  std::vector<std::pair<pid_t, int>> batch_;
  Clock::time_point last_tick_;  // the last on_tick (a gap: the thread was starved)
  std::vector<std::unique_ptr<Run>> runs_;
  std::unordered_map<pid_t, Task> tasks_;
  // Inits of abandoned runs, kept (with their stacks) until reaped.
  std::vector<forkexec::NamespaceInit> orphan_inits_;
  std::unordered_map<std::uint64_t, std::string> names_;       // (arch << 32 | nr) -> name
  std::unordered_map<std::uint64_t, std::string> arch_names_;  // (arch << 1 | x32) -> name
  unsigned seen_signals_ = 0;                                  // wakeup signals already acted on
  std::optional<timer_t> timer_;
  bool ticking_ = false;
  bool pinned_ = false;
  std::optional<int> own_nice_;  // the thread's nice value before it became the tracer
  std::optional<int> nice_now_;  // the nice value this thread was last given (or had)
  std::vector<unsigned char> saved_affinity_;
  std::vector<int> home_cpus_;  // SessionOptions::cpus, once applied to this thread
};

}  // namespace tracebox::tracer
