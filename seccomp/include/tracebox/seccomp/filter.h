// A seccomp filter builder over libseccomp: per-syscall actions, argument conditions, every ABI
// the machine can execute, and the BPF program that forkexec installs.
#pragma once

#include <linux/filter.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/util/error.h"

namespace tracebox::seccomp {

// What the kernel does with a syscall.
struct Action {
  enum class Kind : std::uint8_t {
    kAllow,
    kTrace,        // SECCOMP_RET_TRACE with a 16-bit tag the tracer reads back
    kErrno,        // fail with the errno in `data`
    kKillProcess,  // SIGSYS to the whole process
    kKillThread,
    kLog,     // allowed and logged by the kernel
    kNotify,  // SECCOMP_RET_USER_NOTIF
  };
  Kind kind = Kind::kKillProcess;
  std::uint16_t data = 0;  // tag for kTrace, errno for kErrno

  static constexpr Action allow() { return {Kind::kAllow, 0}; }
  static constexpr Action trace(std::uint16_t tag) { return {Kind::kTrace, tag}; }
  static constexpr Action error(std::uint16_t err) { return {Kind::kErrno, err}; }
  static constexpr Action kill_process() { return {Kind::kKillProcess, 0}; }
  static constexpr Action kill_thread() { return {Kind::kKillThread, 0}; }
  static constexpr Action log() { return {Kind::kLog, 0}; }
  static constexpr Action notify() { return {Kind::kNotify, 0}; }

  // "allow", "trace(7)", "errno(EPERM)", "kill_process", ...
  std::string to_string() const;
  // The SECCOMP_RET_* value.
  std::uint32_t to_ret() const;
  friend bool operator==(const Action&, const Action&) = default;
};

// Tags at or above kReservedTagBase are the library's own: user rules use smaller tags or the
// kTag* values below (add() refuses other reserved tags).
inline constexpr std::uint16_t kReservedTagBase = 0xff00;
// A syscall no rule allows (the default action in tracer mode).
inline constexpr std::uint16_t kTagDefault = 0xffff;
// A syscall that a rule forbids outright (kill rules in tracer mode, fail-closed defaults).
inline constexpr std::uint16_t kTagViolation = 0xfffe;
// A syscall from an ABI the policy does not enforce (i386 or x32 on x86_64).
inline constexpr std::uint16_t kTagBadArch = 0xfffd;

// A condition on one syscall argument, as libseccomp compares them (64-bit values), or on its
// low 32 bits only (the *32 ops: the int or unsigned int a kernel entry point reads, whatever the
// caller left in the register's high half).
struct ArgCondition {
  enum class Op : std::uint8_t {
    kEq,
    kNe,
    kLt,
    kLe,
    kGt,
    kGe,
    kMaskedEq,
    kLt32,
    kLe32,
    kGt32,
    kGe32
  };
  unsigned arg = 0;  // 0..5
  Op op = Op::kEq;
  std::uint64_t value = 0;
  std::uint64_t mask = 0;  // kMaskedEq: (arg & mask) == value

  static ArgCondition eq(unsigned arg, std::uint64_t v) { return {arg, Op::kEq, v, 0}; }
  static ArgCondition ne(unsigned arg, std::uint64_t v) { return {arg, Op::kNe, v, 0}; }
  static ArgCondition lt(unsigned arg, std::uint64_t v) { return {arg, Op::kLt, v, 0}; }
  static ArgCondition le(unsigned arg, std::uint64_t v) { return {arg, Op::kLe, v, 0}; }
  static ArgCondition gt(unsigned arg, std::uint64_t v) { return {arg, Op::kGt, v, 0}; }
  static ArgCondition ge(unsigned arg, std::uint64_t v) { return {arg, Op::kGe, v, 0}; }
  static ArgCondition masked_eq(unsigned arg, std::uint64_t mask, std::uint64_t v) {
    return {arg, Op::kMaskedEq, v, mask};
  }
  // (arg & 0xffffffff) < v, <= v, > v, >= v (unsigned); equality is masked_eq(arg, 0xffffffff, v).
  static ArgCondition lt32(unsigned arg, std::uint64_t v) { return {arg, Op::kLt32, v, 0}; }
  static ArgCondition le32(unsigned arg, std::uint64_t v) { return {arg, Op::kLe32, v, 0}; }
  static ArgCondition gt32(unsigned arg, std::uint64_t v) { return {arg, Op::kGt32, v, 0}; }
  static ArgCondition ge32(unsigned arg, std::uint64_t v) { return {arg, Op::kGe32, v, 0}; }

  // Whether `x` satisfies the condition (compared as 64-bit values, or its low 32 bits).
  bool holds(std::uint64_t x) const;
  // "arg1 < 0x100000", "arg0 & 0x800000 == 0", "(u32)arg1 >= 0x5", ...
  std::string to_string() const;
  friend bool operator==(const ArgCondition&, const ArgCondition&) = default;
};

// A built BPF program, ready for seccomp(SECCOMP_SET_MODE_FILTER).
struct Program {
  std::vector<sock_filter> instructions;
  // Some action of the filter is Action::notify(): install with SECCOMP_FILTER_FLAG_NEW_LISTENER.
  bool uses_notify = false;

  // Points into `instructions`; valid while this Program lives unchanged.
  sock_fprog fprog() const;
  // One line per instruction, for tests and logs.
  std::string to_text() const;
};

// The filter's failure to build: an unknown syscall name (named in the message), a conflicting
// rule, or a libseccomp error.
class BuildError : public Error {
 public:
  using Error::Error;
};

// Collects rules; the first error is sticky and thrown by build().
//
// Several rules for one syscall. The rules of a syscall are alternatives: a call gets the action
// of the rule whose conditions all hold, or the default action when none holds.
//  - Rules with the same action add up (a call matching any of them gets that action); an
//    unconditional rule makes the conditional ones with its action redundant.
//  - Rules with different actions must exclude each other, visibly on one argument: for some
//    argument both rules compare, no value satisfies both comparisons (arg1 < N and arg1 >= N;
//    masked_eq patterns that differ on a common mask bit; eq against a value the other rejects).
//    Otherwise build() throws BuildError naming the syscall and both rules; in particular an
//    unconditional rule cannot be combined with a rule with another action.
//  - A rule with the default action is accepted (and needs no BPF): it documents the calls that
//    fall through to the default, and takes part in the exclusion check.
//  - A rule may compare one argument several times (arg1 >= A && arg1 < B); a rule whose
//    conditions can never hold together is dropped.
//
// ABIs. On x86_64 the i386 (`int 0x80`) and x32 ABIs get `bad_arch_action` unless
// enforce_compat_abis(true), which adds each rule with the ABI's own syscall numbers (a name the
// ABI lacks just has no rule there). Conditions compare the ABI's own argument registers, as the
// kernel reads them: on i386 the low 32 bits (arg < 2^32 + 5 always holds there, arg >= 2^32
// never). Where BPF cannot see the arguments as the kernel reads them (x32 syscalls, whose
// 64-bit registers some x32 entry points read as 32-bit values; i386 socket and ipc calls, which
// also arrive multiplexed through socketcall/ipc; i386's old mmap and select, which take a
// struct pointer), a syscall with conditional rules gets one unconditional rule with the most
// restrictive of its actions and the default action (kernel precedence: kill > errno > notify >
// trace > log > allow), so that no ABI gets more than the native one.
class Builder {
 public:
  Builder();
  ~Builder();
  Builder(Builder&&) noexcept;
  Builder& operator=(Builder&&) noexcept;

  // The action for syscalls no rule names (default: kill_process).
  Builder& default_action(Action action);
  // `action` for `syscall` (a name resolved per ABI by libseccomp), when every condition holds.
  // A name that no enforced ABI knows makes build() throw BuildError naming it.
  Builder& add(std::string_view syscall, Action action, std::vector<ArgCondition> conditions = {});
  // Compat ABIs (i386 `int 0x80` and x32 on x86_64, arm on aarch64): when enforced, every rule is
  // added for them too, with their own numbers; otherwise any syscall from them gets
  // `bad_arch_action`.
  Builder& enforce_compat_abis(bool enforce);
  // The action for a syscall from an ABI the filter does not enforce (default: kill_process).
  Builder& bad_arch_action(Action action);
  // Wraps the user policy with the fail-closed defaults a traced run needs:
  //  - clone with CLONE_UNTRACED (the child would not be traced), CLONE_PARENT (the child would
  //    be its caller's sibling: the tracer's own child, for the main process) or a namespace flag
  //    (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: the child would see
  //    pids, mounts and users the tracer does not) in the low 32 bits of its flags (all that
  //    clone reads) is trace(kTagViolation), and so is unshare with a namespace flag (those and
  //    CLONE_NEWTIME); every other rule of the policy for them is narrowed to calls without
  //    these flags (an unconditional allow becomes "allow when (flags & refused) == 0");
  //  - clone3 fails with ENOSYS whatever the policy says (its flags are in memory, out of BPF's
  //    reach; libc then falls back to clone);
  //  - unless the policy names them: seccomp is trace(kTagViolation), and so is prctl with
  //    PR_SET_SECCOMP (the policy's prctl rules are narrowed to other options, compared on the
  //    low 32 bits as the kernel reads the int); ptrace, process_vm_writev, bpf, userfaultfd and
  //    perf_event_open are trace(kTagViolation); io_uring_setup/enter/register fail with ENOSYS;
  //  - kill actions of rules become trace(kTagViolation); a kill default becomes
  //    trace(kTagDefault) and a kill bad-arch action trace(kTagBadArch), so that the tracer can
  //    report them (other default and bad-arch actions are kept).
  Builder& for_tracer(bool enabled);
  // With for_tracer: leave clone's CLONE_NEW* flags and unshare to the rules, for a run that is
  // to make namespaces of its own (CLONE_UNTRACED and CLONE_PARENT stay refused).
  Builder& allow_new_namespaces(bool allow);
  // A directory of built programs (created 0700 if missing; "" for none, the default). build()
  // then looks for the program of this builder's exact state (rules, actions, flags, native arch,
  // libseccomp version, kernel release, the build of this library) and stores what it builds. A
  // file is used only if it and the directory belong to the effective user and no one else may
  // write them, its stored state equals this builder's byte for byte and its program is well
  // formed; otherwise, and whenever the cache cannot be read or written, build() builds as without
  // a cache. The result is the same either way.
  Builder& cache_dir(std::string dir);

  // The filter: libseccomp's ABI checks and binary tree of syscall numbers (syscall -1 is allowed
  // so that a tracer can skip a call), and for each syscall with conditional rules our own BPF
  // that tries its rules in order (libseccomp 2.5.4 miscompiles some argument trees). Throws
  // BuildError, also past 253 syscalls with conditional rules (summed over the enforced ABIs).
  Program build() const;
  // libseccomp's pseudo-filter-code listing of the same filter, where "action TRACE(n)" with n in
  // the reserved tags stands for the argument checks listed at the end. Throws BuildError.
  std::string to_pfc() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The reason of a trace(kTagViolation) stop of a traced run, naming what the fail-closed
// defaults refuse: "clone with CLONE_NEWUSER|CLONE_NEWPID would create namespaces the tracer does
// not see into", "clone with CLONE_UNTRACED would escape the tracer"; any other call is
// "<syscall> is forbidden by the policy". `arch` is an AUDIT_ARCH value, `args` the call's.
std::string violation_reason(std::string_view syscall, std::uint32_t arch,
                             const std::array<std::uint64_t, 6>& args);

// libseccomp's token for x32 (AUDIT_ARCH_X86_64 without the 64-bit flag). The kernel reports an
// x32 syscall as AUDIT_ARCH_X86_64 with bit 30 set in its number.
inline constexpr std::uint32_t kArchX32 = 0x4000003e;

// Name of syscall `nr` for the AUDIT_ARCH value `arch` (as PTRACE_GET_SYSCALL_INFO reports it;
// x32 numbers carry bit 30 on AUDIT_ARCH_X86_64), or "" when unknown.
std::string syscall_name(std::uint32_t arch, long nr);
// Number of `name` for `arch` (an AUDIT_ARCH value, or kArchX32: the number then carries bit 30),
// or -1 when the arch has no such syscall.
long syscall_number(std::uint32_t arch, std::string_view name);
// The AUDIT_ARCH value of this process's ABI (libseccomp's native arch).
std::uint32_t native_arch();
// ---- Records kept with the cache of built filters ----
// For a caller that derives more than a filter from its input and keeps it beside the filters
// (the tracer's prepared policies), under Builder::cache_dir's rules: a record is used only when
// its whole key equals the caller's byte for byte, and when it and its directory belong to the
// effective user and no one else may write them; every failure is a miss, every write atomic.

// The start of a record's key: `kind`, the GNU build IDs of this library and of the object
// holding `caller_code` (a function of the caller's: what it derives changes with its code),
// libseccomp's version, the kernel release, the native arch. The caller appends its input.
// "" when either build ID is missing: nothing is cached then.
std::string cache_record_key(std::string_view kind, const void* caller_code);
// The value stored for `key` in `dir`, if any can be trusted.
std::optional<std::string> cache_load_record(const std::string& dir, std::string_view key);
// Stores `value` for `key` in `dir` (created 0700 if missing); failures are ignored.
void cache_store_record(const std::string& dir, std::string_view key, std::string_view value);
// Whether `code` is a program seccomp can install as it stands: 1..BPF_MAXINSNS instructions,
// the last a return, jumps that land inside, loads within seccomp_data (the kernel checks the
// rest). For a program read back from a record.
bool well_formed(const std::vector<sock_filter>& code);

// "x86_64", "i386", "x32", "aarch64", ... for an AUDIT_ARCH value (x32 when `arch` is
// AUDIT_ARCH_X86_64 and `nr` has bit 30, or `arch` is kArchX32); "arch 0x..." when unknown.
std::string arch_name(std::uint32_t arch, long nr = 0);

}  // namespace tracebox::seccomp
