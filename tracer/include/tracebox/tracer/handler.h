// The Handler API: what a policy sees at each traced event, and what it may decide.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tracebox::tracer {

// What to do with a traced syscall.
struct Decision {
  enum class Kind { kAllow, kDeny, kKill };
  Kind kind = Kind::kAllow;
  int error = 0;       // kDeny: the syscall is skipped and returns -error
  std::string reason;  // kKill: why (reported in the violation)

  static Decision allow() { return {Kind::kAllow, 0, {}}; }
  static Decision deny(int err) { return {Kind::kDeny, err, {}}; }
  static Decision kill(std::string why) { return {Kind::kKill, 0, std::move(why)}; }
};

// A string read from the tracee: `error` is 0, or the errno the kernel would give for such an
// argument (EFAULT unreadable, ENAMETOOLONG no NUL within the bound).
struct StringRead {
  std::string value;
  int error = 0;
};

// One seccomp stop, valid during Handler::on_syscall.
class Context {
 public:
  struct Info;  // the tracer's view of the stop
  explicit Context(Info& info) : info_(info) {}

  pid_t pid() const;           // the stopped thread
  pid_t tgid() const;          // its process
  std::uint32_t arch() const;  // AUDIT_ARCH_*, from PTRACE_GET_SYSCALL_INFO
  std::string_view arch_name() const;
  long nr() const;  // as the arch numbers it (x32: with bit 30)
  std::string_view syscall_name() const;
  std::uint64_t arg(unsigned i) const;
  std::uint16_t tag() const;  // the SECCOMP_RET_DATA of the rule that traced it

  // Reads `out.size()` bytes at `addr`: 0 or an errno (EFAULT when unreadable).
  int read(std::uint64_t addr, std::span<std::byte> out) const;
  // Reads a NUL-terminated string of at most `max` bytes (terminator excluded).
  StringRead read_string(std::uint64_t addr, std::size_t max = 4095) const;
  // The path reported with a violation if this stop ends in a kill.
  void set_path(std::string path);
  // Whether this is the program's first exec: the child's own execve of the file the caller
  // chose to run (what that file makes the kernel run, its interpreters, is still the program's).
  bool first_exec() const;
  // Whether `pid` is a live process or thread of this run.
  bool in_run(pid_t pid) const;
  // Whether process group `pgid` exists and belongs to this run (its session is the run's own,
  // so every member is a process of the run).
  bool group_in_run(pid_t pgid) const;

 private:
  Info& info_;
};

enum class ForkKind { kFork, kVfork, kClone, kThread };

// The hooks a run calls. All run on the tracer thread; defaults do nothing. A hook that throws
// ends the run with runner_error (every process of the run is still killed and reaped).
class Handler {
 public:
  virtual ~Handler() = default;
  // A syscall traced by a rule with a user tag, from the program's own first exec on (that
  // execve or execveat is the child's, made for the program: what it runs is judged too).
  virtual Decision on_syscall(Context& ctx);
  virtual void on_fork(pid_t parent, pid_t child, ForkKind kind);
  virtual void on_exec(pid_t pid);
  // A signal about to be delivered to `pid` (group-stops are not reported).
  virtual void on_signal(pid_t pid, int sig);
  // A process ended (`status` as wait(2) reports it).
  virtual void on_exit(pid_t pid, int status);
};

}  // namespace tracebox::tracer
