// Traced runs: a Spec in, a Result out, blocking or with a completion on an asio io_context.
#pragma once

#include <array>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/forkexec/runner.h"
#include "tracebox/seccomp/filter.h"
#include "tracebox/tracer/handler.h"
#include "tracebox/tracer/result.h"
#include "tracebox/util/unique_fd.h"

namespace tracebox::tracer {

// A user tag with this bit set asks for a consistent decision: before Handler::on_syscall runs,
// every other task of the run is stopped, and stays stopped until the syscall returns (or is
// denied). What the handler reads from the tracee's memory and filesystem is then what the kernel
// will see: no other thread or process of the run can rewrite a path or swap a symlink between
// the check and the use. A run with a single task pays nothing for it. A task asleep in a wait4
// or waitid (traced for this when the program may have other tasks) counts as stopped: it runs
// nothing before its wait returns, which the tracer sees, unless the wait could end during the
// check (a child of the run dying or stopping, or already handed to it: the kernel would write
// its status into the task's memory); then it is stopped too. When no other task can run, the
// freeze lasts until the checker's next stop instead of its syscall's exit stop.
inline constexpr std::uint16_t kTagConsistent = 0x8000;

// One rule of a run's syscall policy. Trace rules with a user tag (< seccomp::kReservedTagBase)
// go to Handler::on_syscall; kill rules end the run with disallowed_syscall.
struct Rule {
  std::string syscall;
  seccomp::Action action;
  std::vector<seccomp::ArgCondition> conditions;
};

// The syscall policy of a run. The tracer adds its fail-closed defaults around it (see
// seccomp::Builder::for_tracer) and reports every refused syscall by name.
struct Policy {
  std::vector<Rule> rules;
  seccomp::Action default_action = seccomp::Action::kill_process();
  // Enforce the rules for the compat ABIs (i386, x32) too; otherwise any syscall from them is a
  // violation naming the ABI.
  bool enforce_compat_abis = false;
  // Appended to the violation of a syscall no rule names, to say how to allow it; "{}" becomes
  // the syscall's name.
  std::string unknown_hint;
  // Per syscall, how to allow it (e.g. "runprog -allow-proc allows it"), in place of
  // unknown_hint, when the policy refuses it.
  std::map<std::string, std::string> hints;
  // Let the program make namespaces of its own (clone's CLONE_NEW* flags, unshare), where the
  // rules allow them; by default they are violations whatever the rules say.
  bool allow_new_namespaces = false;

  Policy& allow(std::string_view syscall);
  Policy& trace(std::string_view syscall, std::uint16_t tag);
  Policy& deny(std::string_view syscall, int err);
  Policy& kill(std::string_view syscall);
};

// The limits of a run; an empty field is not enforced.
struct Limits {
  std::optional<std::chrono::nanoseconds> cpu;   // user+sys of the whole tree, exact
  std::optional<std::chrono::nanoseconds> wall;  // from the program's first exec
  // An absolute end on the steady clock, setup included (a run group's wall clock: every program
  // of the group is killed at the same tick, so that none sees its peer die first and ends on
  // its own). A wall_limit verdict like `wall`.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::optional<std::uint64_t> memory_bytes;  // peak of the tree
  std::optional<std::uint64_t> output_bytes;  // RLIMIT_FSIZE: files the program writes
  // Processes and threads alive at once. RLIMIT_NPROC cannot do this: it counts every process
  // of the user and does not bind root. Exceeding it is a violation of the fork that did it.
  std::optional<int> tasks;
  // The exit status with which the program's runtime reports running out of its own memory
  // (the JVM with -XX:+ExitOnOutOfMemoryError exits with 3): a memory limit verdict.
  std::optional<int> memory_exit_status;
};

// Where the run's processes execute. A traced syscall costs a context switch between tracee and
// tracer; across CPUs that is several times dearer than on one (about 50 against 8 us on a
// 2-CPU VM). Pinning a tracee to its tracer's CPU makes its stops cheap, but a pinned run cannot
// use the other CPUs, and two runs pinned to one CPU share it: placement must not cost more
// than it saves.
struct Placement {
  enum class Mode {
    // A run that is the only one of its process starts pinned with its tracer to the CPU it was
    // asked from, and is unpinned a tick after its exec (SessionOptions::cpus). Later, a run alone
    // in its session, with one task, making many traced stops
    // (20 or more in a 10 ms tick) is pinned, with its tracer, to the CPU the scheduler put it
    // on. Its first fork or thread unpins it for good; a second run in the session, until it is
    // alone again.
    kAuto,
    kTracerCpu,  // the tracee on the CPU the tracer thread runs on; the tracer pinned there too
    kCpu,        // both on `cpu`
    kNone,       // no pinning
  };
  Mode mode = Mode::kAuto;
  int cpu = -1;
};

// The layers under the tracer's own checks (see the README's security model), on by default.
// Each applies where the tracer may use it: the namespaces and the change of user need root
// (CAP_SYS_ADMIN, CAP_SETUID); a tracer that is not root runs the program as its own user, in
// its own namespaces, and gets the seccomp and tracer layers only.
struct Isolation {
  // A PID namespace of the run's own (forkexec::Runner::pid_namespace): no pid outside the run
  // can be named (kill, fcntl owners, prlimit, pidfd_open...), and processes the program leaves
  // behind die with it. The program is pid 2 there, not the namespace's init. Context::in_run()
  // and group_in_run() then take ids as the program names them.
  bool pid_namespace = true;
  // An IPC and a UTS namespace apart from the host's (hostname and domain name "tracebox"): the
  // process's first run makes its own with its clone flags; the later ones share one pair (joined
  // with setns, which costs less than making them per run).
  bool ipc_uts_namespaces = true;
  // When the tracer is root and `process.credential` is unset, the program runs as this user
  // and group with no supplementary groups, so the kernel's own permission checks apply to it.
  // nullopt: it keeps the tracer's user (root).
  std::optional<forkexec::Credential> user = forkexec::Credential{65534, 65534, {}, false};
  // No capability at all (forkexec::Runner::drop_caps), whoever the user.
  bool drop_caps = true;
  // When the program runs as another user than the tracer and is an ELF file: exec it through
  // an fd opened here, so that it needs no access to the directories leading to it. (A script
  // is still exec'd by path: its interpreter opens it by name.)
  bool exec_by_fd = true;
};

enum class Counting {
  kNone,
  kTraced,  // count every traced syscall by name
  kAll,     // trace every syscall the policy allows, and count them all
};

// One traced syscall and what was decided, for logs and research (Spec::observer).
struct TraceEvent {
  pid_t pid = 0;
  std::string_view syscall;
  long nr = -1;
  std::string_view arch;
  std::array<std::uint64_t, 6> args{};
  Decision::Kind decision = Decision::Kind::kAllow;
  int error = 0;                      // kDeny: the errno returned
  const std::string* path = nullptr;  // the checked path, if the handler reported one
  std::string_view reason;            // kKill: why
};

// Where a run's standard input comes from. What names a file by fd is duplicated when the value
// is made, so that the caller may close or reuse its fd at once; what names a file by path is
// opened when the run starts. Copies share what they hold; each run gets its own offset in a
// Input::bytes or Input::file, and shares the offset of an Input::fd with the caller.
class Input {
 public:
  enum class Kind { kUnset, kNull, kBytes, kFile, kFd };
  // Unset: fd 0 is Spec::process.files[0], as without an Io.
  Input() = default;
  // /dev/null.
  static Input null();
  // `data`, in a sealed memory file made now (no run can change it); each run reads it from its
  // start through a file of its own (a regular file: it may seek, stat or map it). Throws
  // SystemError.
  static Input bytes(std::string_view data);
  // `path`, opened read-only when the run starts (a failure is a runner_error naming it).
  static Input file(std::string path);
  // A duplicate of `fd` (F_DUPFD_CLOEXEC), made now: the run reads what `fd` names at this
  // call, whatever the caller then does with the number. Throws SystemError (EBADF...).
  static Input fd(int fd);

  Kind kind() const { return kind_; }
  const std::string& path() const { return path_; }
  // The held fd (kBytes, kFd), or -1.
  int held_fd() const { return fd_ ? fd_->get() : -1; }

 private:
  Kind kind_ = Kind::kUnset;
  std::string path_;
  std::shared_ptr<const UniqueFd> fd_;
};

// Where a run's standard output or error goes. An fd is duplicated when the value is made; a path
// is opened (created or truncated, mode 0644) when the run starts; a capture is a memory file
// made for each run, whose bytes the Result carries.
class Output {
 public:
  enum class Kind { kUnset, kNull, kFile, kFd, kCapture };
  // Unset: the fd is Spec::process.files[1] or [2], as without an Io.
  Output() = default;
  static Output null();
  static Output file(std::string path);
  // A duplicate of `fd`, made now (see Input::fd). Limits::output_bytes binds it only where the
  // kernel's RLIMIT_FSIZE does: a regular file, not a pipe or a socket. Throws SystemError.
  static Output fd(int fd);
  // Collected into Result::stdout_data / stderr_data, at most `max_bytes`. A capture that grows
  // past max_bytes makes the verdict output_limit_exceeded (its first max_bytes are kept), where
  // a pipe would have no bound at all: the capture is a regular file (a memfd) for each run, so
  // RLIMIT_FSIZE stops the program. The run's RLIMIT_FSIZE becomes the smaller of
  // Limits::output_bytes and the largest capture's max_bytes + 1 (it binds every file the program
  // writes); a smaller capture is held to its own maximum when the run ends.
  static Output capture(std::uint64_t max_bytes);

  Kind kind() const { return kind_; }
  const std::string& path() const { return path_; }
  int held_fd() const { return fd_ ? fd_->get() : -1; }
  std::uint64_t max_bytes() const { return max_bytes_; }

 private:
  Kind kind_ = Kind::kUnset;
  std::string path_;
  std::shared_ptr<const UniqueFd> fd_;
  std::uint64_t max_bytes_ = 0;
};

// The standard streams of a run, as owned data (in place of raw fds in Spec::process.files).
struct Io {
  Input in = {};
  Output out = {};
  Output err = {};
};

class PreparedPolicy;

// A whole run, as plain data.
struct Spec {
  // The program and its environment: args, env, files, work_dir, rlimits, namespaces, mounts...
  // The tracer sets ptrace, seccomp and exit_signal itself, and adds the rlimit backstops of
  // `limits` (CPU seconds rounded up, data = memory, file size = output) where the process does
  // not set that resource. process.files are plain numbers, duplicated when the run starts (on
  // the io_context's thread, maybe much later): they must stay open, and name the same files,
  // until then. `io` owns its files instead.
  forkexec::Runner process;
  // Standard input, output and error; a set stream replaces process.files[0], [1] or [2].
  Io io;
  Policy policy;
  // A policy prepared once for many runs (PreparedPolicy::prepare): when set, it is the run's
  // policy and `policy` must have no rules (a runner_error otherwise). Its filter is used where
  // this Spec's counting and trace_fork are those it was prepared for (PrepareOptions);
  // otherwise the run builds one as without it.
  std::shared_ptr<const PreparedPolicy> prepared_policy;
  // Makes the handler of each run, when async_run or run is given none (a judge Spec made by
  // policy::PreparedProfile::spec makes a JudgeHandler). A copied Spec makes a new one per run.
  std::function<std::shared_ptr<Handler>()> make_handler;
  Limits limits;
  Isolation isolation;
  Counting counting = Counting::kNone;
  Placement placement;
  // Memory limit through RLIMIT_DATA as well as by measurement (off for runtimes that reserve
  // large heaps up front, e.g. the JVM).
  bool memory_rlimit = true;
  // Trace children and exec (ptrace options). Without trace_fork, fork/vfork/clone are
  // violations: an untraced process would escape the run's accounting.
  bool trace_fork = true;
  // Where built seccomp filters are kept between runs ("" for none; see
  // seccomp::Builder::cache_dir): a run whose filter was built before reads it instead of
  // building it again (~0.3 ms saved with the default profile). The filter is the same either way.
  std::string filter_cache_dir;
  // Called on the tracer thread after each traced syscall of the program is decided (not for
  // the child's own syscalls before its first exec). Unset: no cost.
  std::function<void(const TraceEvent&)> observer;
};

// What changes a run's filter, besides its Policy.
struct PrepareOptions {
  Counting counting = Counting::kNone;  // as Spec::counting: kAll traces every allowed syscall
  bool trace_fork = true;               // as Spec::trace_fork
  // Where built filters are kept between processes ("": none; see Spec::filter_cache_dir).
  std::string filter_cache_dir;
  // Whether the runs will have an RLIMIT_DATA, when known: only that filter is built (nullopt:
  // both).
  std::optional<bool> data_rlimit;
};

// A Policy with its seccomp filters built once: for runs with the given options, with and
// without an RLIMIT_DATA (Spec::memory_rlimit with a memory limit, or one in process.rlimits:
// the filter then traces large allocations). Immutable after prepare(): one instance serves any
// number of runs on any threads and io_contexts at once (Spec::prepared_policy). Building a
// filter costs about half a millisecond, which each run otherwise pays.
class PreparedPolicy;
namespace detail {
// A prepared policy as bytes and back (a cache of prepared profiles keeps them): filter.cc.
std::string to_bytes(const PreparedPolicy& policy);
std::shared_ptr<const PreparedPolicy> from_bytes(std::string_view bytes, PrepareOptions options);
}  // namespace detail

class PreparedPolicy {
 public:
  struct Filter;  // a built filter and what the tracer derives from the policy with it

  // Throws ConfigError (or seccomp::BuildError) where a run of `policy` would fail to start.
  static std::shared_ptr<const PreparedPolicy> prepare(Policy policy, PrepareOptions options = {});

  const Policy& policy() const { return policy_; }
  const PrepareOptions& options() const { return options_; }
  // The filter for runs with an RLIMIT_DATA or without (null where PrepareOptions::data_rlimit
  // left it out).
  const std::shared_ptr<const Filter>& filter(bool data_rlimit) const {
    return data_rlimit ? with_rlimit_ : without_rlimit_;
  }

 private:
  friend std::shared_ptr<const PreparedPolicy> detail::from_bytes(std::string_view, PrepareOptions);
  PreparedPolicy() = default;
  Policy policy_;
  PrepareOptions options_;
  std::shared_ptr<const Filter> with_rlimit_, without_rlimit_;
};

// Cancels a run (it ends as runner_error "cancelled"); safe from any thread, any time.
class RunHandle {
 public:
  struct State;  // shared with the tracer
  RunHandle() = default;
  explicit RunHandle(std::shared_ptr<State> s) : state_(std::move(s)) {}
  void cancel() const;

 private:
  std::shared_ptr<State> state_;
};

// Starts `spec` under the tracer of `io`: a thread of the library's own, started with the
// first run and kept while runs are queued or in flight, which traces every process of the runs
// (ptrace ties a tracee to the thread that attached it, so no caller's thread can be it).
// `completion` is posted to `io` with the Result: the io_context only delivers completions, so
// any thread, or several, may run it, and a stopped or busy io_context delays a completion but
// never the enforcement of a limit. Many runs may share one io_context. Runs wait in a queue,
// first come first served, while SessionOptions::max_in_flight are in flight. Never throws for a
// bad spec: that is a runner_error Result. Destroying the io_context with runs queued or in
// flight kills and reaps every process of theirs and calls their completions, from the
// destructor, with a runner_error; completions already done but not yet delivered are called
// there too, with their own Result.
RunHandle async_run(asio::io_context& io, Spec spec, std::shared_ptr<Handler> handler,
                    std::function<void(Result)> completion);
// The same with the handler spec.make_handler makes (none: every traced syscall is allowed).
RunHandle async_run(asio::io_context& io, Spec spec, std::function<void(Result)> completion);

// Options of the tracer of one io_context.
struct SessionOptions {
  // Runs in flight at once (started, not yet completed); later ones wait in a queue, which
  // neither their wall clock nor their setup time counts (Result::queue_time does). 0: twice
  // the CPUs this thread may run on, and at least 2.
  std::size_t max_in_flight = 0;
  // The nice value of the tracer thread while it serves runs (restored when it has none), where
  // the thread may set it (CAP_SYS_NICE, or raising it): the programs it traces must not starve
  // it, or a fork bomb's or a busy machine's runs are served late (0: leave it as it is).
  int tracer_nice = -10;
  // The CPUs the tracer thread, and so the programs it starts, may run on when not pinned
  // (Placement); empty: the thread's own affinity, inherited from the thread that made it. A host
  // that pins its own thread before its first run, so that its hand-offs with the tracer stay on
  // one CPU (runprog does), gives the set it had here.
  std::vector<int> cpus = {};
};
// Sets the options of `io`'s tracer; takes effect for the runs admitted from then on.
void configure(asio::io_context& io, SessionOptions options);

// What the tracer of one io_context has done so far: cheap to read, from any thread.
struct Metrics {
  std::uint64_t runs_queued = 0;     // waiting for admission now
  std::uint64_t runs_in_flight = 0;  // admitted, not completed
  std::uint64_t runs_completed = 0;
  std::uint64_t stops = 0;                         // ptrace stops served
  std::chrono::microseconds queue_delay_total{0};  // summed over admitted runs
  std::chrono::microseconds queue_delay_max{0};
  std::chrono::microseconds tracer_cpu{0};  // CPU time of the tracer thread so far
};
Metrics metrics(asio::io_context& io);

// How a blocking run may end early.
struct RunOptions {
  // Requesting a stop cancels the run (runner_error "cancelled"); any thread may request it.
  std::stop_token stop;
  // The longest the call may take, queueing and setup included: then it is cancelled
  // (runner_error "timed out after ...").
  std::optional<std::chrono::nanoseconds> timeout;
};

// The blocking form: the calling thread waits for the run, which a thread of its own traces.
Result run(Spec spec, Handler& handler, RunOptions options = {});
// The same with the handler spec.make_handler makes.
Result run(Spec spec, RunOptions options = {});

// The blocking form on the calling thread itself, for a process that runs one program at a time
// and waits for it (runprog): the thread is the run's tracer, so no thread is made and no stop
// crosses threads. Meanwhile the thread's CPU affinity and nice value are the tracer's
// (SessionOptions), the wakeup signal and SIGCHLD are unblocked in it and SIGPIPE and SIGXFSZ
// blocked (a handler's write to a closed pipe fails with EPIPE); all are restored before the
// call returns. It must not be a thread that already traces (a run of this library
// on it, a debugger's), nor have children of its own it waits for with __WCLONE or __WALL.
// `cancel`, if given, is read whenever the tracer wakes (a stop, the 10 ms tick, a signal that
// interrupts its wait): once it is true the run ends as a runner_error "cancelled". A handler of
// SIGINT installed without SA_RESTART may set it (the wait is interrupted at once).
Result run_on_this_thread(Spec spec, std::shared_ptr<Handler> handler,
                          const std::atomic<bool>* cancel = nullptr, SessionOptions options = {});

// The real-time signal the tracer thread uses to bound its waits (default SIGRTMAX - 2). The
// library installs a no-op handler for it; call before the first run to choose another one.
void set_wakeup_signal(int sig);

}  // namespace tracebox::tracer
