// Parent side of forkexec: validation, the prepared plan, clone, and the sync protocol.
#include "tracebox/forkexec/runner.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "child_plan.h"
#include "tracebox/util/populate.h"

extern "C" long tracebox_clone3(clone_args* args, std::size_t size, int (*fn)(void*), void* arg);

namespace tracebox::forkexec {
namespace {

using detail::ChildMount;
using detail::ChildPlan;
using detail::ChildRlimit;
using detail::WireError;

constexpr unsigned long kNamespaceFlags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUSER |
                                          CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;
constexpr int kMaxFiles = 1024;  // the child's fd shuffle keeps one int per entry on its stack
constexpr std::size_t kStackSize = 256 * 1024;

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

bool fd_open(int fd) { return fd >= 0 && ::fcntl(fd, F_GETFD) != -1; }

// Stacks of children and namespace inits that are done with them, kept for the next start():
// mapping a stack, faulting its pages in and unmapping it again cost a run more than most of its
// setup (an unmap in a threaded tracer flushes the TLB of every CPU it ran on). A stack is given
// back only once nothing runs on it (its child exec'd or was reaped). At most kMax are kept.
class StackPool {
 public:
  // A mapping of `size` bytes whose lowest `guard` bytes are inaccessible; nullptr (errno set)
  // when none can be mapped.
  void* take(std::size_t size, std::size_t guard) {
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < free_.size(); ++i) {
        if (free_[i].size != size || free_[i].guard != guard) continue;
        void* p = free_[i].base;
        free_[i] = free_.back();
        free_.pop_back();
        return p;
      }
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (guard != 0) ::mprotect(p, guard, PROT_NONE);  // stacks grow down: the guard is low
    // The pages a child's or an init's frames use, mapped in one call (tracebox/util/populate.h).
    if (size - guard >= kPrefault) {
      const auto top = reinterpret_cast<std::uintptr_t>(p) + size;
      populate(top - kPrefault, top, true);
    }
    return p;
  }
  void give(void* p, std::size_t size, std::size_t guard) {
    {
      std::lock_guard lock(mutex_);
      if (free_.size() < kMax) {
        free_.push_back({p, size, guard});
        return;
      }
    }
    ::munmap(p, size);
  }

 private:
  static constexpr std::size_t kMax = 32;
  static constexpr std::size_t kPrefault = 16 * 1024;
  struct Free {
    void* base;
    std::size_t size, guard;
  };
  std::mutex mutex_;
  std::vector<Free> free_;
};

// Never destroyed: a thread may start() a child while the process exits.
StackPool& stack_pool() {
  static StackPool* pool = new StackPool;
  return *pool;
}

// A child's stack. Only touched pages cost memory. A vfork child (CLONE_VM|CLONE_VFORK) runs on
// its thread's own, reused by every start() on that thread: the calling thread is suspended
// while the child runs on it. A child that shares our memory while we go on gets one of its
// own, kept until it exec'd (Setup), then given back to the pool.
class ChildStack {
 public:
  ChildStack() {
    void* p = stack_pool().take(kStackSize + kGuard, kGuard);
    if (p == nullptr) throw SystemError(errno, "mmap (child stack)");
    base_ = static_cast<char*>(p);
  }
  ~ChildStack() { stack_pool().give(base_, kStackSize + kGuard, kGuard); }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  std::uint64_t low() const { return reinterpret_cast<std::uint64_t>(base_ + kGuard); }

 private:
  static constexpr std::size_t kGuard = 4096;
  char* base_ = nullptr;
};

ChildStack& thread_stack() {
  thread_local ChildStack stack;
  return stack;
}

int cap_last_cap() {
  static const int value = [] {
    // Raw reads: an ifstream's first use (locale, facets) costs a one-run process ~0.1 ms.
    char buf[16] = {};
    const int fd = ::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    const ssize_t n = fd < 0 ? -1 : ::read(fd, buf, sizeof buf - 1);
    if (fd >= 0) ::close(fd);
    char* end = nullptr;
    const long v = n > 0 ? std::strtol(buf, &end, 10) : -1;
    return end != buf && v >= 0 && v < 64 ? static_cast<int>(v) : 63;
  }();
  return value;
}

// Everything the child reads, owned here and kept alive until the child has exec'd (vfork) or
// been cloned with its own copy (plain clone).
struct Prepared {
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<std::vector<const char*>> prefixes;
  std::vector<std::vector<detail::ChildNode>> nodes;
  std::vector<ChildMount> mounts;
  std::vector<ChildRlimit> rlimits;
  sock_fprog fprog{};
  ChildPlan plan{};
};

// What a child that shares our memory while we go on (CLONE_VM without CLONE_VFORK) reads until
// it execs: a copy of the Runner (the caller's may be gone by then), the plan made of it, and its
// stack. Child::setup_ holds it.
struct Setup {
  explicit Setup(const Runner& r) : runner(r) {}
  Runner runner;
  Prepared prepared;
  ChildStack stack;
  // A failure past the seccomp filter, written by the child (see ChildPlan::late_error).
  WireError late_error{};
};

const char* c_str_or_null(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// This process's pid as /proc shows it (the namespace /proc was mounted in, which a child in a
// new PID namespace reads its parent's pid from), or -1 when /proc cannot tell.
pid_t proc_self_pid() {
  static std::atomic<pid_t> cached_for{0};
  static std::atomic<pid_t> cached{-1};
  const pid_t self = ::getpid();  // a forked host has another pid: read again
  if (cached_for.load() == self) return cached.load();
  char buf[32];
  const ssize_t n = ::readlink("/proc/self", buf, sizeof buf - 1);
  pid_t v = -1;
  if (n > 0) {
    buf[n] = '\0';
    char* end = nullptr;
    const long parsed = std::strtol(buf, &end, 10);
    if (end != buf && *end == '\0') v = static_cast<pid_t>(parsed);
  }
  cached = v;
  cached_for = self;
  return v;
}

void prepare(const Runner& r, Prepared& p) {
  for (const auto& a : r.args) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  for (const auto& e : r.env) p.envp.push_back(const_cast<char*>(e.c_str()));
  p.envp.push_back(nullptr);

  p.prefixes.reserve(r.mounts.size());
  p.nodes.reserve(r.mounts.size());
  for (const auto& m : r.mounts) {
    auto& pre = p.prefixes.emplace_back();
    for (const auto& s : m.prefixes) pre.push_back(s.c_str());
    auto& nodes = p.nodes.emplace_back();
    for (const auto& n : m.nodes)
      nodes.push_back(detail::ChildNode{n.path.c_str(), n.mode, n.device});
    p.mounts.push_back(ChildMount{
        c_str_or_null(m.source), m.target.c_str(), c_str_or_null(m.fstype), c_str_or_null(m.data),
        m.flags, m.remount_flags, pre.data(), pre.size(), m.make_file, nodes.data(), nodes.size()});
  }
  for (const auto& l : r.rlimits) p.rlimits.push_back(ChildRlimit{l.resource, l.cur, l.max});
  if (r.seccomp) p.fprog = r.seccomp->fprog();

  ChildPlan& c = p.plan;
  c.path = r.exec_fd >= 0 ? nullptr : (r.path.empty() ? r.args[0].c_str() : r.path.c_str());
  c.exec_fd = r.exec_fd;
  c.argv = p.argv.data();
  c.envp = p.envp.data();
  c.etxtbsy_retries = std::max(0, r.etxtbsy_retries);
  c.exit_signal = r.exit_signal;

  const bool new_pid = (r.clone_flags & CLONE_NEWPID) != 0 || r.pid_namespace;
  c.pdeathsig = r.kill_with_parent.value_or(r.ptrace);
  c.outside_namespace = new_pid;
  c.parent_pid = new_pid ? proc_self_pid() : ::getpid();
  c.join_ns = r.join_namespaces.data();
  c.n_join_ns = r.join_namespaces.size();
  c.user_ns = (r.clone_flags & CLONE_NEWUSER) != 0;
  c.sync = static_cast<bool>(r.sync);

  if (r.credential) {
    c.credential = true;
    c.uid = r.credential->uid;
    c.gid = r.credential->gid;
    c.groups = r.credential->groups.data();
    c.n_groups = r.credential->groups.size();
    c.setgroups = !r.credential->no_setgroups;
  }

  c.files = r.files.data();
  c.n_files = static_cast<int>(r.files.size());
  c.high_fd = c.n_files + 2;  // above the table, the socket and the exec fd

  c.ctty = r.ctty;
  c.new_ns = (r.clone_flags & CLONE_NEWNS) != 0;
  c.pivot_root = c_str_or_null(r.pivot_root);
  c.mounts = p.mounts.data();
  c.n_mounts = p.mounts.size();
  c.hostname = c_str_or_null(r.hostname);
  c.domainname = c_str_or_null(r.domainname);
  c.work_dir = c_str_or_null(r.work_dir);
  c.rlimits = p.rlimits.data();
  c.n_rlimits = p.rlimits.size();
  c.set_nice = r.nice.has_value();
  c.nice = r.nice.value_or(0);

  c.no_new_privs = r.no_new_privs || r.seccomp != nullptr;
  const bool drop = r.drop_caps || r.credential.has_value();
  c.drop_caps = drop && !r.unshare_cgroup_after_sync;
  c.drop_caps_after_sync = drop && r.unshare_cgroup_after_sync;
  c.unshare_cgroup_after_sync = r.unshare_cgroup_after_sync;
  c.cap_last_cap = drop ? cap_last_cap() : 0;

  c.ptrace = r.ptrace;
  c.stop = r.stop_before_seccomp || (r.ptrace && r.seccomp != nullptr);
  c.seccomp = r.seccomp ? &p.fprog : nullptr;
}

// Blocks every signal (glibc's internal ones too, hence the raw call) for the lifetime of the
// object: no handler of the parent may run in a child that shares its memory.
class BlockAllSignals {
 public:
  BlockAllSignals() {
    std::uint64_t all = ~std::uint64_t{0};
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old_, 8);
  }
  ~BlockAllSignals() { ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old_, nullptr, 8); }
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;

 private:
  std::uint64_t old_ = 0;
};

// The signals this process ignores (bit sig-1), from /proc/thread-self/status's SigIgn: one
// read instead of a sigaction query per signal. If it cannot be read, all of them (the child
// then resets each, as it would without the mask).
std::uint64_t ignored_signals() {
  UniqueFd fd(::open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC));
  char buf[4096];
  ssize_t n = fd ? ::read(fd.get(), buf, sizeof buf - 1) : -1;
  if (n <= 0) return ~std::uint64_t{0};
  buf[n] = '\0';
  const char* at = std::strstr(buf, "\nSigIgn:");
  if (at == nullptr) return ~std::uint64_t{0};
  return std::strtoull(at + 8, nullptr, 16);
}

// clone3 on a dedicated stack; falls back to clone(2) where clone3 is missing (kernels before
// 5.3, or container runtimes whose own filter answers ENOSYS). Returns the pid or -errno.
pid_t spawn(ChildPlan& plan, unsigned long flags, int cgroup_fd, int* pidfd, ChildStack& stack) {
  clone_args args{};
  // CLONE_CLEAR_SIGHAND: the child starts with no handler of ours installed.
  args.flags = flags | CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  args.exit_signal = static_cast<std::uint64_t>(plan.exit_signal);
  args.stack = stack.low();
  args.stack_size = kStackSize;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
  }
  BlockAllSignals blocked;
  plan.reset_handlers = false;
  plan.ignored = ignored_signals();
  long pid = tracebox_clone3(&args, sizeof args, detail::child_main, &plan);
  if (pid == -ENOSYS && cgroup_fd < 0) {
    // glibc's clone() switches to the new stack itself and passes the pidfd through ptid; the
    // child then resets every handler itself.
    plan.reset_handlers = true;
    int r = ::clone(detail::child_main, reinterpret_cast<char*>(stack.low() + kStackSize),
                    static_cast<int>(flags | CLONE_PIDFD | static_cast<unsigned>(plan.exit_signal)),
                    &plan, pidfd);
    pid = r < 0 ? -errno : r;
  }
  return static_cast<pid_t>(pid);
}

// The init of a new PID namespace: a CLONE_VM child on a stack of its own (a page-table copy of a
// large host would cost milliseconds; the init touches nothing but its stack). Returns the pid or
// -errno; on success `init` owns the stack and the pidfd.
constexpr std::size_t kInitStackSize = 64 * 1024;

pid_t spawn_init(int exit_signal, bool pdeathsig, int* pidfd_out, void** stack_out) {
  void* stack = stack_pool().take(kInitStackSize, 0);
  if (stack == nullptr) return -errno;
  // The init's plan lives at the top of its own stack mapping, which outlives it: the init may
  // first run after this function returned (a plan on our stack would be gone by then).
  constexpr std::size_t kPlanSpace = 64;
  static_assert(sizeof(detail::InitPlan) <= kPlanSpace);
  auto* plan = new (static_cast<char*>(stack) + kInitStackSize - kPlanSpace)
      detail::InitPlan{proc_self_pid(), pdeathsig, false};
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_VM | CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = static_cast<std::uint64_t>(exit_signal);
  args.stack = reinterpret_cast<std::uint64_t>(stack);
  args.stack_size = kInitStackSize - kPlanSpace;
  long pid;
  {
    BlockAllSignals blocked;  // inherited: the init keeps every signal blocked
    pid = tracebox_clone3(&args, sizeof args, detail::init_main, plan);
    if (pid == -ENOSYS) {
      plan->reset_handlers = true;
      int r = ::clone(detail::init_main, static_cast<char*>(stack) + kInitStackSize - kPlanSpace,
                      static_cast<int>(CLONE_VM | CLONE_PIDFD | static_cast<unsigned>(exit_signal)),
                      plan, &pidfd);
      pid = r < 0 ? -errno : r;
    }
  }
  if (pid < 0) {
    stack_pool().give(stack, kInitStackSize, 0);
    return static_cast<pid_t>(pid);
  }
  *pidfd_out = pidfd;
  *stack_out = stack;
  return static_cast<pid_t>(pid);
}

// The calling thread's own PID namespace, to go back to after creating one for a child.
int own_pid_namespace() {
  thread_local UniqueFd fd;
  if (!fd) fd.reset(::open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC));
  return fd.get();
}

std::string map_text(const std::vector<IdMap>& map, unsigned default_outside) {
  if (map.empty()) return "0 " + std::to_string(default_outside) + " 1\n";
  std::string text;
  for (const auto& m : map) {
    text += std::to_string(m.inside) + " " + std::to_string(m.outside) + " " +
            std::to_string(m.count) + "\n";
  }
  return text;
}

int write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = n < 0 ? errno : (static_cast<std::size_t>(n) == text.size() ? 0 : EIO);
  ::close(fd);
  return err;
}

// Writes uid_map, setgroups and gid_map; returns the failure (errno and which file) or none.
std::optional<ChildError> write_id_maps(const Runner& r, pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid) + "/";
  if (int err = write_file(base + "uid_map", map_text(r.uid_map, ::geteuid())))
    return ChildError{err, ErrorLocation::kIdMap, 0};
  const bool allow = r.setgroups_allowed && !r.gid_map.empty();
  if (int err = write_file(base + "setgroups", allow ? "allow" : "deny"))
    return ChildError{err, ErrorLocation::kIdMap, 1};
  if (int err = write_file(base + "gid_map", map_text(r.gid_map, ::getegid())))
    return ChildError{err, ErrorLocation::kIdMap, 2};
  return std::nullopt;
}

void send_word(int fd, std::int32_t word) {
  // The child may already be gone; it then has nothing more to tell us either.
  (void)::send(fd, &word, sizeof word, MSG_NOSIGNAL);
}

// One message from the child: nullopt on EOF (exec succeeded), else what it reported.
std::optional<WireError> receive(int fd) {
  WireError msg{};
  ssize_t n;
  do {
    n = ::recv(fd, &msg, sizeof msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return std::nullopt;
  if (n != static_cast<ssize_t>(sizeof msg)) {
    return WireError{n < 0 ? errno : EPROTO, static_cast<std::uint32_t>(ErrorLocation::kSyncRead),
                     0};
  }
  return msg;
}

ChildError to_child_error(const WireError& w) {
  return ChildError{w.err, static_cast<ErrorLocation>(w.location), w.index};
}

}  // namespace

NamespaceInit::NamespaceInit(NamespaceInit&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      stack_(std::exchange(other.stack_, nullptr)),
      reaped_(other.reaped_) {}

NamespaceInit& NamespaceInit::operator=(NamespaceInit&& other) noexcept {
  if (this != &other) {
    terminate();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    stack_ = std::exchange(other.stack_, nullptr);
    reaped_ = other.reaped_;
  }
  return *this;
}

NamespaceInit::~NamespaceInit() { terminate(); }

void NamespaceInit::kill() const {
  if (pidfd_ && !reaped_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

void NamespaceInit::terminate(rusage* usage) noexcept {
  if (pid_ <= 0) return;
  if (!reaped_) {
    kill();
    siginfo_t info{};
    // ECHILD: a tracer's wait4(-1) reaped it already. waitid(P_PIDFD) has no rusage; the
    // five-argument raw waitid does.
    while (::syscall(SYS_waitid, P_PIDFD, pidfd_.get(), &info, WEXITED | __WALL, usage) < 0 &&
           errno == EINTR) {
    }
    reaped_ = true;
  }
  // Only now: the init ran on this stack until it died.
  if (stack_ != nullptr) stack_pool().give(stack_, kInitStackSize, 0);
  stack_ = nullptr;
  pidfd_.reset();
  pid_ = -1;
}

void NamespaceInit::abandon() noexcept {
  if (pid_ <= 0) return;
  kill();
  // The stack stays mapped (64 KiB, never reused): until the kernel takes the SIGKILL, a task
  // running on another CPU could still write to it.
  stack_ = nullptr;
  reaped_ = true;
  pidfd_.reset();
  pid_ = -1;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    terminate();
    pid_ = other.pid_;
    pidfd_ = std::move(other.pidfd_);
    sync_ = std::move(other.sync_);
    reaped_ = other.reaped_;
    init_ = std::move(other.init_);
    setup_ = std::move(other.setup_);
  }
  return *this;
}

Child::~Child() { terminate(); }

void Child::terminate() noexcept {
  if (pidfd_ && !reaped_) {
    kill();
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | __WALL) < 0 &&
           errno == EINTR) {
    }
    reaped_ = true;
  }
  if (reaped_) setup_.reset();
  init_.terminate();
}

std::optional<ChildError> Child::read_exec_result() {
  if (!sync_) return std::nullopt;
  auto msg = receive(sync_.get());
  sync_.reset();
  if (!msg) {
    // EOF: the socket closed at the exec (after the kernel gave the child its new memory) or
    // at the child's death, which a failure past the seccomp filter reported in our memory.
    // Either way it no longer reads ours.
    std::optional<ChildError> late;
    if (const auto* s = static_cast<const Setup*>(setup_.get()); s && s->late_error.err != 0)
      late = to_child_error(s->late_error);
    setup_.reset();
    return late;
  }
  return to_child_error(*msg);
}

void Child::kill() const {
  if (pidfd_ && !reaped_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  init_.kill();
}

Child::Exit Child::wait() {
  Exit e{};
  for (;;) {
    // waitid(P_PIDFD) has no rusage; the five-argument raw waitid does.
    long r = ::syscall(SYS_waitid, P_PIDFD, pidfd_.get(), &e.info, WEXITED | __WALL, &e.usage);
    if (r == 0) break;
    if (errno != EINTR) throw SystemError(errno, "waitid");
  }
  reaped_ = true;
  init_.terminate(&e.init_usage);  // what the program left in its namespace dies with the init
  return e;
}

pid_t Child::release(bool reaped) {
  if (!reaped && setup_) new std::shared_ptr<void>(std::move(setup_));  // see the header
  setup_.reset();
  reaped_ = true;
  sync_.reset();
  pidfd_.reset();
  return pid_;
}

std::string Runner::validate() const {
  auto bad = [](const std::string& what) { return what; };
  if (args.empty()) return bad("args: the argument list is empty (argv[0] is required)");
  for (std::size_t i = 0; i < args.size(); ++i)
    if (has_nul(args[i])) return bad("args[" + std::to_string(i) + "] contains a NUL byte");
  for (std::size_t i = 0; i < env.size(); ++i)
    if (has_nul(env[i])) return bad("env[" + std::to_string(i) + "] contains a NUL byte");
  if (has_nul(path)) return bad("path contains a NUL byte");
  if (exec_fd < 0 && path.empty() && args[0].empty())
    return bad("args[0]: empty program path (set path or exec_fd)");
  if (exec_fd != -1 && !fd_open(exec_fd))
    return bad("exec_fd: fd " + std::to_string(exec_fd) + " is not open");
  if (has_nul(work_dir)) return bad("work_dir contains a NUL byte");
  if (has_nul(hostname) || has_nul(domainname)) return bad("hostname/domainname contains a NUL");
  if (has_nul(pivot_root)) return bad("pivot_root contains a NUL byte");

  if (files.size() > static_cast<std::size_t>(kMaxFiles))
    return bad("files: more than " + std::to_string(kMaxFiles) + " entries");
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i] == kCloseFd) continue;
    if (files[i] < 0)
      return bad("files[" + std::to_string(i) + "]: invalid fd " + std::to_string(files[i]));
    if (!fd_open(files[i]))
      return bad("files[" + std::to_string(i) + "]: fd " + std::to_string(files[i]) +
                 " is not open");
  }

  if ((clone_flags & ~kNamespaceFlags) != 0)
    return bad("clone_flags: only CLONE_NEW* namespace flags are accepted");
  if (pid_namespace && (clone_flags & (CLONE_NEWPID | CLONE_NEWUSER)) != 0)
    return bad("pid_namespace: not with CLONE_NEWPID or CLONE_NEWUSER in clone_flags");
  for (std::size_t i = 0; i < join_namespaces.size(); ++i)
    if (!fd_open(join_namespaces[i]))
      return bad("join_namespaces[" + std::to_string(i) + "]: fd " +
                 std::to_string(join_namespaces[i]) + " is not open");
  const bool new_ns = (clone_flags & CLONE_NEWNS) != 0;
  const bool new_uts = (clone_flags & CLONE_NEWUTS) != 0;
  const bool new_user = (clone_flags & CLONE_NEWUSER) != 0;
  if (!mounts.empty() && !new_ns) return bad("mounts need CLONE_NEWNS");
  if (!pivot_root.empty()) {
    if (!new_ns) return bad("pivot_root needs CLONE_NEWNS");
    if (pivot_root[0] != '/') return bad("pivot_root must be an absolute path: " + pivot_root);
    struct stat st {};
    if (::stat(pivot_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return bad("pivot_root: " + pivot_root + " is not a directory");
  }
  for (std::size_t i = 0; i < mounts.size(); ++i) {
    const auto& m = mounts[i];
    const std::string where = "mounts[" + std::to_string(i) + "]";
    if (m.target.empty()) return bad(where + ": empty target");
    if (has_nul(m.source) || has_nul(m.target) || has_nul(m.fstype) || has_nul(m.data))
      return bad(where + " contains a NUL byte");
    for (const auto& s : m.prefixes)
      if (has_nul(s)) return bad(where + ": a directory to create contains a NUL byte");
    if (!pivot_root.empty() && m.target[0] == '/')
      return bad(where + ": target " + m.target + " must be relative to the new root");
    if (!pivot_root.empty() &&
        (m.target == ".." || m.target.starts_with("../") ||
         m.target.find("/../") != std::string::npos || m.target.ends_with("/..")))
      return bad(where + ": target " + m.target + " leaves the new root");
  }
  if ((!hostname.empty() || !domainname.empty()) && !new_uts)
    return bad("hostname/domainname need CLONE_NEWUTS");
  if ((!uid_map.empty() || !gid_map.empty()) && !new_user)
    return bad("uid_map/gid_map need CLONE_NEWUSER");
  for (std::size_t i = 0; i < rlimits.size(); ++i) {
    if (rlimits[i].cur > rlimits[i].max)
      return bad("rlimits[" + std::to_string(i) + "] " + rlimits[i].to_string() +
                 ": soft limit above the hard limit");
  }
  if (seccomp && seccomp->instructions.empty()) return bad("seccomp: empty filter program");
  if (seccomp && seccomp->instructions.size() > 4096)
    return bad("seccomp: filter longer than 4096 instructions");
  const bool stops = stop_before_seccomp || (ptrace && seccomp);
  if (stops && (clone_flags & CLONE_NEWPID) != 0)
    return bad("a self-stop cannot work as pid 1 of a new PID namespace (init ignores SIGSTOP)");
  if (ctty && files.empty()) return bad("ctty needs a terminal as files[0]");
  if (cgroup_fd != -1) {
    struct stat st {};
    if (::fstat(cgroup_fd, &st) != 0 || !S_ISDIR(st.st_mode))
      return bad("cgroup_fd: fd " + std::to_string(cgroup_fd) + " is not an open directory");
  }
  if (etxtbsy_retries < 0) return bad("etxtbsy_retries must not be negative");
  if (nice && (*nice < -20 || *nice > 19)) return bad("nice must be -20 to 19");
  if (exit_signal < 0 || exit_signal > 64) return bad("exit_signal must be 0 to 64");
  return {};
}

Child Runner::start() const {
  if (std::string why = validate(); !why.empty()) throw ConfigError(why);

  // Without anything to do in the parent before exec, the child shares our memory and we sleep
  // until it execs or exits (CLONE_VFORK). It then reports a failure by writing into our memory.
  // Otherwise we keep running while it waits for us, and it talks to us over a socket; it still
  // shares our memory (no page-table copy, and no copy-on-write fault, with a TLB shootdown of
  // our other threads, for every page either side writes until its exec: a large, threaded host
  // spawns as fast as a small one), reading a Setup of its own that it keeps until its exec.
  const bool interacts = (clone_flags & CLONE_NEWUSER) != 0 || static_cast<bool>(sync) ||
                         stop_before_seccomp || ptrace;
  std::shared_ptr<Setup> setup = interacts ? std::make_shared<Setup>(*this) : nullptr;
  Prepared local;
  Prepared& prepared = setup ? setup->prepared : local;
  prepare(setup ? setup->runner : *this, prepared);
  ChildPlan& plan = prepared.plan;

  unsigned long flags = clone_flags | CLONE_VM;
  UniqueFd parent_end, child_end;
  WireError shared{};
  if (interacts) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
      throw SystemError(errno, "socketpair");
    parent_end.reset(sv[0]);
    child_end.reset(sv[1]);
  } else {
    flags |= CLONE_VFORK;
    plan.shared_error = &shared;
  }
  plan.late_error = setup ? &setup->late_error : nullptr;
  const WireError* late_error = plan.late_error;  // lives as long as `child` holds the setup
  plan.sync_fd = child_end ? child_end.get() : -1;
  plan.parent_fd = parent_end ? parent_end.get() : -1;
  plan.exec_fd_target = plan.n_files + (plan.sync_fd >= 0 ? 1 : 0);
  plan.close_from = plan.exec_fd_target + (exec_fd >= 0 ? 1 : 0);

  // A new PID namespace for our children (this thread's only), its init first; the program is
  // then its pid 2. The thread goes back to its own namespace right after.
  NamespaceInit init;
  if (pid_namespace) {
    const int own = own_pid_namespace();
    if (own < 0) throw StartError(ChildError{errno, ErrorLocation::kPidNamespace, 0});
    if (::unshare(CLONE_NEWPID) != 0)
      throw StartError(ChildError{errno, ErrorLocation::kPidNamespace, 0});
    int init_pidfd = -1;
    const pid_t init_pid = spawn_init(exit_signal, plan.pdeathsig, &init_pidfd, &init.stack_);
    if (init_pid > 0) {
      init.pid_ = init_pid;
      init.pidfd_.reset(init_pidfd);
    }
    if (init_pid < 0) {
      if (::setns(own, CLONE_NEWPID) != 0) throw SystemError(errno, "setns (own PID namespace)");
      throw StartError(ChildError{-init_pid, ErrorLocation::kPidNamespace, 1});
    }
  }
  int pidfd_raw = -1;
  pid_t pid = spawn(plan, flags, cgroup_fd, &pidfd_raw, setup ? setup->stack : thread_stack());
  // From here on, `child` kills and reaps on any failure or exception (and only then frees
  // what the child reads).
  Child child(pid, UniqueFd(pid > 0 ? pidfd_raw : -1), UniqueFd());
  child.init_ = std::move(init);
  if (pid > 0) child.setup_ = std::move(setup);
  if (pid_namespace && ::setns(own_pid_namespace(), CLONE_NEWPID) != 0) {
    // Later children of this thread would land in a namespace that dies with this run.
    throw SystemError(errno, "setns (own PID namespace)");
  }
  child_end.reset();
  if (pid < 0) throw StartError(ChildError{-pid, ErrorLocation::kClone, 0});
  if (!interacts) {
    // The child has exec'd or died: it wrote `shared` before exiting if a step failed.
    if (shared.err != 0) throw StartError(to_child_error(shared));
    return child;
  }

  if (plan.user_ns) {
    auto err = write_id_maps(*this, pid);
    send_word(parent_end.get(), err ? err->err : 0);
    if (err) throw StartError(*err);
  }
  if (plan.sync) {
    auto msg = receive(parent_end.get());
    if (!msg) throw StartError(ChildError{EPIPE, ErrorLocation::kSyncRead, 0});
    if (msg->err != 0) throw StartError(to_child_error(*msg));
    int err = sync(pid);
    if (err != 0) {
      send_word(parent_end.get(), err);
      throw StartError(ChildError{err, ErrorLocation::kSyncCallback, 0});
    }
    send_word(parent_end.get(), 0);
  }
  if (plan.stop || (plan.sync && return_after_sync)) {
    // The child now stops itself for its tracer, or runs on under the tracer the callback
    // attached; the socket reports its exec later.
    child.sync_ = std::move(parent_end);
    return child;
  }
  if (auto msg = receive(parent_end.get())) throw StartError(to_child_error(*msg));
  // EOF: the exec closed the socket, or the child exited; past its filter it reports in memory.
  if (late_error->err != 0) throw StartError(to_child_error(*late_error));
  return child;
}

}  // namespace tracebox::forkexec
