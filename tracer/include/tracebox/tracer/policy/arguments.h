// The judge's argument rules: for each syscall whose arguments can reach past the program's own
// memory and file descriptors (other processes, the tracer, the terminal, the host), which modes
// are allowed, which fail with an errno, which are violations and which the tracer checks.
// make_policy() applies them to every syscall a JudgePolicy allows; JudgeHandler explains the
// violations and makes the checks that need the tracee's memory.
//
// Refusals: a mode that reaches outside the run (signals sent by the kernel to any process,
// another process's limits, scheduling or CPU clock, a socket named by an address) is a violation
// whose reason names the syscall and the mode ("fcntl F_SETOWN would let the kernel signal any
// process"). A request that is harmless to refuse and that runtimes probe (an ioctl outside the
// allow-list, an unknown fcntl command or madvise advice) fails with an errno in the filter
// itself (ENOTTY, EINVAL), so that runtimes keep working. Integer arguments (commands, requests,
// advices, pids, clock ids) are compared on their low 32 bits, the int the kernel reads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/seccomp/filter.h"
#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer::policy {

// Tags of the argument checks (judge.h has the judge's others).
// A refused mode: a violation whose reason JudgeHandler takes from the table.
inline constexpr std::uint16_t kTagArgument = 4;
// prlimit64 (on the caller) or setrlimit setting a limit: the tracer refuses (EPERM) a new hard
// limit above the current one, read with prlimit64 on the tracee.
inline constexpr std::uint16_t kTagLimit = kTagConsistent | 5;
// A pid other than 0 where only the caller may be named (sched_getaffinity, getpgid...): the
// tracer allows the caller's own pid or tid (decided then as for 0), else a violation.
inline constexpr std::uint16_t kTagSelf = 7;
// sendmsg, sendmmsg: the tracer reads the message headers; a destination address (msg_name) is a
// violation. Consistent: no other task can rewrite the headers between the check and the send.
inline constexpr std::uint16_t kTagMessage = kTagConsistent | 6;

// What the table decides for one call.
struct ArgumentVerdict {
  enum class Kind { kAllow, kErrno, kViolation, kCheck };
  Kind kind = Kind::kAllow;
  int error = 0;  // kErrno: the errno the filter returns
  // kViolation: "fcntl F_SETOWN would let the kernel signal any process"; kCheck of kTagSelf:
  // the violation if the pid is not the caller's
  std::string reason;
  std::uint16_t tag = 0;  // kCheck: the tracer decides (kTagLimit, kTagMessage, kTagSelf)
  unsigned pid_arg = 0;   // kCheck of kTagSelf: the argument that holds the pid
};

// The filter rules of `syscall` for a policy that allows it with `allowed` (allow, or a trace
// that counts it): one rule per pattern of arguments, excluding each other, so that every call
// matches exactly one. Allowed modes get `allowed`, refused ones errno(E), trace(kTagArgument) or
// trace(kTag<check>). Empty when the table has no rules for `syscall`: every call is allowed.
std::vector<Rule> argument_rules(std::string_view syscall, const seccomp::Action& allowed);

// What the filter built from argument_rules() decides for a call of `syscall` with `args` (as the
// kernel reads them); kAllow for a syscall without rules.
ArgumentVerdict decide_arguments(std::string_view syscall,
                                 const std::array<std::uint64_t, 6>& args);

// Why no judge policy may allow `syscall` ("" when it may): its dangerous modes cannot be told
// apart by its arguments (a pid, a pidfd or a struct in memory names what it reaches).
std::string_view never_allowed(std::string_view syscall);

// The syscalls the table has rules for, sorted.
std::vector<std::string_view> syscalls_with_argument_rules();

}  // namespace tracebox::tracer::policy
