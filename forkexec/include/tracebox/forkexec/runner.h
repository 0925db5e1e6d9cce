// forkexec::Runner: the whole configuration of a child, and start(), which clones it, runs the
// child's setup steps and execs the program, reporting any failure as a located ChildError.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tracebox/forkexec/child_error.h"
#include "tracebox/mount/mount.h"
#include "tracebox/rlimit/rlimit.h"
#include "tracebox/seccomp/filter.h"
#include "tracebox/util/unique_fd.h"

namespace tracebox::forkexec {

// Marks an fd table entry whose fd is closed in the child.
inline constexpr int kCloseFd = -1;

// One line of /proc/<pid>/uid_map or gid_map.
struct IdMap {
  std::uint32_t inside = 0;
  std::uint32_t outside = 0;
  std::uint32_t count = 1;
};

// Credentials the child switches to before exec.
struct Credential {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool no_setgroups = false;  // keep the supplementary groups as they are
};

// The parent's callback while the child waits just before exec (or before PTRACE_TRACEME in
// ptrace mode). Returns 0, or an errno that fails the start.
using SyncCallback = std::function<int(pid_t pid)>;

// The init of a Runner::pid_namespace run: pid 1 of the program's PID namespace. It shares the
// caller's memory and runs on a stack of its own, which lives as long as this object.
class NamespaceInit {
 public:
  NamespaceInit() = default;
  NamespaceInit(NamespaceInit&& other) noexcept;
  NamespaceInit& operator=(NamespaceInit&& other) noexcept;
  ~NamespaceInit();

  explicit operator bool() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // SIGKILL: the kernel then kills every process left in the namespace.
  void kill() const;
  // Marks it reaped by someone else (a tracer's wait4); the stack can go.
  void reaped() { reaped_ = true; }
  // Kills it and waits for it, unless reaped() was called. `usage`, when given, gets its
  // rusage: its own few microseconds and every orphan it reaped while it ran. Not the processes
  // that die with it: the kernel reaps those as the dying init's children with SIGCHLD ignored,
  // which adds them to no one's rusage. Its ru_maxrss is not the program's: it shares the
  // caller's memory.
  void terminate(rusage* usage = nullptr) noexcept;
  // Kills it and lets it go without waiting: whoever waits for its pid reaps it. Its stack is
  // left mapped for good (it may still be running on it until the kill lands).
  void abandon() noexcept;

 private:
  friend struct Runner;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  void* stack_ = nullptr;
  bool reaped_ = false;
};

// A started child. Owns its pidfd; unless released, the destructor kills and reaps the child.
class Child {
 public:
  Child() = default;
  Child(pid_t pid, UniqueFd pidfd, UniqueFd sync) noexcept
      : pid_(pid), pidfd_(std::move(pidfd)), sync_(std::move(sync)) {}
  Child(Child&&) noexcept = default;
  Child& operator=(Child&& other) noexcept;
  ~Child();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // With Runner::pid_namespace: the namespace's init (pid 1 there), else empty.
  NamespaceInit& init() { return init_; }
  // In ptrace mode start() returns before the child execs; the sync socket then tells how the
  // exec went: read_exec_result() blocks until the child exec'd (nullopt) or reported a failure.
  // Call it once the child exited or stopped at its exec event. Outside ptrace mode: nullopt.
  std::optional<ChildError> read_exec_result();
  // The exec is known to have happened (a tracer saw its event): the sync socket is closed
  // without reading it, and what the child read before its exec is freed.
  void exec_seen() {
    sync_.reset();
    setup_.reset();
  }
  // SIGKILL through the pidfd (never a reused pid), and to the namespace's init if there is
  // one; ESRCH is not an error.
  void kill() const;
  // Waits for the child to end (WEXITED); returns the waitid status and the child's rusage.
  // With a namespace init, the init is then killed and reaped too.
  struct Exit {
    siginfo_t info;
    rusage usage;       // the program and the descendants it waited for
    rusage init_usage;  // with a namespace init: see NamespaceInit::terminate; else zero
  };
  Exit wait();
  // Gives up ownership of the program: the destructor will neither kill nor reap it. The
  // namespace init stays owned (see init()). `reaped`: the caller reaped it. Otherwise, if it
  // may not have exec'd yet, what it reads until its exec (it shares this process's memory) is
  // never freed: it could still be running.
  pid_t release(bool reaped = false);

 private:
  friend struct Runner;
  void terminate() noexcept;

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd sync_;
  bool reaped_ = false;
  NamespaceInit init_;
  // A child that shares our memory until its exec (CLONE_VM, in ptrace/sync mode) reads its
  // configuration, a copy of the Runner, and runs on a stack of its own: held here until it
  // exec'd or died.
  std::shared_ptr<void> setup_;
};

// Everything the child does between clone and exec, as plain data. start() validates it all
// before cloning: a bad configuration throws ConfigError and nothing is cloned.
struct Runner {
  // argv; args[0] is also the program path unless `path` or `exec_fd` is set. No PATH lookup.
  std::vector<std::string> args;
  // The complete environment (nothing is inherited).
  std::vector<std::string> env;
  // Program to execute when it differs from args[0].
  std::string path;
  // Execute this fd (execveat(fd, "", AT_EMPTY_PATH)) instead of a path; -1 = use the path.
  int exec_fd = -1;

  // Applied in order with prlimit64; a failure reports kRlimit with the entry's index.
  std::vector<rlimit::RLimit> rlimits;
  // The program's nice value (setpriority after the rlimits); unset: the caller's thread's.
  std::optional<int> nice;
  // Entry i becomes fd i in the child (kCloseFd closes it). Every other fd is closed.
  std::vector<int> files;
  // chdir after mounts and pivot_root (relative to the new root when pivoting). Empty: no chdir.
  std::string work_dir;
  // Loaded as the last step before exec (after the sync and the ptrace stop). Implies
  // no_new_privs. It must let rt_sigprocmask (the child empties its signal mask after loading
  // it) and execve/execveat through (or trace them, in ptrace mode); a failure past it (the
  // exec's) reaches start() or read_exec_result() without a syscall.
  std::shared_ptr<const seccomp::Program> seccomp;

  // CLONE_NEW{NS,PID,USER,UTS,IPC,NET,CGROUP} only; any other bit is a ConfigError. With
  // CLONE_NEWPID the program is its namespace's init (see pid_namespace for the alternative).
  unsigned long clone_flags = 0;
  // Runs the program in a new PID namespace as pid 2, beside an init of ours (pid 1) that reaps
  // orphans and ignores whatever the program sends it. Unlike CLONE_NEWPID in clone_flags, the
  // program is then not the namespace's init: abort(), SIGPIPE and the signals it sends itself
  // act as usual. Both are children of the caller; Child::kill() kills the init too, and with it
  // every process of the namespace. Needs CAP_SYS_ADMIN; not with CLONE_NEWPID or CLONE_NEWUSER.
  bool pid_namespace = false;
  // Namespaces to join (open /proc/<pid>/ns/* or nsfs fds), in order, as the child's first steps:
  // e.g. an IPC and UTS namespace shared by many runs, which costs a setns instead of creating
  // one per run. A failure reports kSetns with the entry's index.
  std::vector<int> join_namespaces;
  // Executed in the child, in order, after "/" is made private (needs CLONE_NEWNS).
  mount::Plan mounts;
  // Absolute directory for a fresh tmpfs root: the mounts populate it, then pivot_root, detach
  // the old root and remount the new root read-only. Needs CLONE_NEWNS.
  std::string pivot_root;
  std::string hostname;    // needs CLONE_NEWUTS
  std::string domainname;  // needs CLONE_NEWUTS

  // With CLONE_NEWUSER: written by the parent. Empty: map 0 to the parent's euid / egid.
  std::vector<IdMap> uid_map;
  std::vector<IdMap> gid_map;
  // "allow" in /proc/<pid>/setgroups (only meaningful with a gid_map); "deny" otherwise.
  bool setgroups_allowed = false;
  std::optional<Credential> credential;

  SyncCallback sync;
  // start() returns as soon as the sync callback succeeded, without waiting for the exec (whose
  // outcome Child::read_exec_result() then reports): for a caller that attached a tracer in the
  // callback and must go on serving the child's stops.
  bool return_after_sync = false;
  // PTRACE_TRACEME, then (with seccomp, or stop_before_seccomp) a SIGSTOP before the filter is
  // loaded, so that the tracer sets its options before any traced syscall. The calling thread
  // becomes the tracer.
  bool ptrace = false;
  bool stop_before_seccomp = false;
  bool no_new_privs = false;
  // Lock securebits, clear the bounding, ambient, effective, permitted and inheritable sets.
  bool drop_caps = false;
  // After the sync point: unshare(CLONE_NEWCGROUP), then drop capabilities.
  bool unshare_cgroup_after_sync = false;
  // ioctl(0, TIOCSCTTY, 1) after setsid.
  bool ctty = false;
  // PR_SET_PDEATHSIG(SIGKILL): the child dies with the thread that started it. Default on in
  // ptrace mode (a tracee must not outlive its tracer).
  std::optional<bool> kill_with_parent;
  // A cgroup v2 directory fd: clone3(CLONE_INTO_CGROUP). -1: the caller's cgroup.
  int cgroup_fd = -1;
  // How many times exec is retried on ETXTBSY (1 ms apart).
  int etxtbsy_retries = 50;
  // The signal the parent gets when the child ends. A tracer uses 0: the child is then a "clone"
  // child, which waits with __WCLONE see and ordinary fork children of the host do not.
  int exit_signal = SIGCHLD;

  // Throws ConfigError for a bad configuration; StartError when the child failed before exec.
  // In ptrace mode returns as soon as the child is running towards its self-stop.
  Child start() const;
  // The ConfigError message start() would throw, or "" when the configuration is valid.
  std::string validate() const;
};

}  // namespace tracebox::forkexec
