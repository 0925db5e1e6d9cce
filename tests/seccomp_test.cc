// Tests of the seccomp filter builder. What build() means is checked two ways: by running the BPF
// program on chosen seccomp_data (a small interpreter below, exact SECCOMP_RET values), and by
// children that install the filter and make the syscall, reporting what they saw.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "support/bpf.h"
#include "support/support.h"
#include "tracebox/seccomp/filter.h"

namespace {

// Ends a child at once with exit_group, as an inline syscall instruction: AddressSanitizer runs
// code of its own in _exit() and before any call to a noreturn function (sigaltstack...), which
// the child's filter would refuse.
__attribute__((always_inline)) inline void exit_now(int status) {
  for (;;) {
#if defined(__x86_64__)
    long nr = SYS_exit_group;
    __asm__ volatile("syscall"
                     : "+a"(nr)
                     : "D"(static_cast<long>(status))
                     : "rcx", "r11", "memory");
#else
    ::syscall(SYS_exit_group, status);
#endif
  }
}

// The expectations are x86_64's: its syscall numbers, and its i386 and x32 ABIs.
#if defined(__x86_64__)

using Catch::Matchers::Contains;
using tracebox::seccomp::Action;
using tracebox::seccomp::ArgCondition;
using tracebox::seccomp::Builder;
using tracebox::seccomp::BuildError;
using tracebox::seccomp::kTagBadArch;
using tracebox::seccomp::kTagDefault;
using tracebox::seccomp::kTagViolation;
using tracebox::seccomp::Program;

constexpr std::uint32_t kX86_64 = AUDIT_ARCH_X86_64;
constexpr std::uint32_t kI386 = AUDIT_ARCH_I386;
constexpr long kX32Bit = 0x40000000;
constexpr std::uint64_t k4G = std::uint64_t{1} << 32;

// i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl), for the interpreter and int 0x80.
constexpr int kI386Getpid = 20;
constexpr int kI386Mmap = 90;   // old_mmap: one pointer to a struct
constexpr int kI386Iopl = 110;  // the number of getppid on x86_64
constexpr int kI386Clone = 120;
constexpr int kI386Getpgid = 132;
constexpr int kI386Prctl = 172;
constexpr int kI386Mmap2 = 192;
constexpr int kI386Getppid = 64;
constexpr int kI386Socketcall = 102;
constexpr int kI386Socket = 359;

const std::uint32_t kAllow = Action::allow().to_ret();
const std::uint32_t kKill = Action::kill_process().to_ret();
const std::uint32_t kViolation = Action::trace(kTagViolation).to_ret();
const std::uint32_t kDefault = Action::trace(kTagDefault).to_ret();
const std::uint32_t kBadArch = Action::trace(kTagBadArch).to_ret();

// Runs `program` on one syscall as the kernel's classic-BPF interpreter does; returns
// SECCOMP_RET_*.
std::uint32_t run(const Program& program, std::uint32_t arch, long nr,
                  std::array<std::uint64_t, 6> args = {}) {
  return tracebox::test::run_bpf(program.instructions, arch, nr, args);
}

std::string hex(long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#lx", v);
  return buf;
}

// A policy whose children can report and exit.
Builder base(Action default_action) {
  Builder b;
  b.default_action(default_action)
      .add("write", Action::allow())
      .add("exit_group", Action::allow())
      .add("exit", Action::allow());
  return b;
}

// What a filtered child saw.
struct Outcome {
  bool reported = false;  // the child lived to write its result
  long ret = 0;           // what the body returned
  int err = 0;            // errno after the body
  int signal = 0;         // the signal that killed the child, if one did
  int exit_code = -1;
};

// Waits for a child, killing it first if the test gave up on it, so that no zombie is left.
class Reaper {
 public:
  explicit Reaper(pid_t pid) : pid_(pid) {}
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  ~Reaper() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  // The next wait status of the child (a stop, or its end: then it is reaped).
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFSTOPPED(status)) pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

void install(const sock_fprog& prog) {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    exit_now(100);
}

// Forks a child that installs `program` (when given), runs `body` and reports its result.
Outcome run_child(const Program* program, const std::function<long()>& body) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const sock_fprog prog = program != nullptr ? program->fprog() : sock_fprog{};
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (program != nullptr) install(prog);
    errno = 0;
    const long ret = body();
    const long report[2] = {ret, errno};
    exit_now(::write(fds[1], report, sizeof report) == sizeof report ? 0 : 101);
  }
  Reaper reaper(pid);
  ::close(fds[1]);
  long report[2] = {};
  ssize_t n = 0;
  do {
    n = ::read(fds[0], report, sizeof report);
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  const int status = reaper.wait();
  Outcome o;
  o.reported = n == sizeof report;
  o.ret = report[0];
  o.err = static_cast<int>(report[1]);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  return o;
}

Outcome run_filtered(const Program& program, const std::function<long()>& body) {
  return run_child(&program, body);
}

// The child returned `ret` and lived.
void require_returned(const Outcome& o, long ret) {
  INFO("signal " << o.signal << ", exit " << o.exit_code << ", errno " << o.err);
  REQUIRE(o.reported);
  REQUIRE(o.signal == 0);
  REQUIRE(o.ret == ret);
}

// The call failed with exactly `err`.
void require_failed(const Outcome& o, int err) {
  INFO("returned " << o.ret << ", signal " << o.signal << ", exit " << o.exit_code);
  REQUIRE(o.reported);
  REQUIRE(o.ret == -1);
  REQUIRE(o.err == err);
}

void require_killed(const Outcome& o) {
  INFO("returned " << o.ret << ", errno " << o.err << ", exit " << o.exit_code);
  REQUIRE_FALSE(o.reported);
  REQUIRE(o.signal == SIGSYS);
}

// An i386 syscall from 64-bit code; returns the raw result (-errno on failure).
long int80(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0) {
  long ret = 0;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3), "D"(a4)
               : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

// int80() with errno set the way libc's syscall() does.
long int80_errno(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0) {
  const long ret = int80(nr, a0, a1, a2, a3, a4);
  if (ret < 0 && ret > -4096) {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}

bool int80_works() {
  const Outcome o = run_child(nullptr, [] { return int80(kI386Getpid) == ::getpid() ? 1L : 0L; });
  return o.reported && o.ret == 1;
}

// ---- Values ----

TEST_CASE("seccomp: actions print and encode as the kernel's SECCOMP_RET values") {
  CHECK(Action::allow().to_string() == "allow");
  CHECK(Action::trace(7).to_string() == "trace(7)");
  CHECK(Action::trace(kTagViolation).to_string() == "trace(violation)");
  CHECK(Action::error(EPERM).to_string() == "errno(EPERM)");
  CHECK(Action::kill_process().to_string() == "kill_process");
  CHECK(Action::kill_thread().to_string() == "kill_thread");
  CHECK(Action::log().to_string() == "log");
  CHECK(Action::notify().to_string() == "notify");

  CHECK(Action::allow().to_ret() == 0x7fff0000u);
  CHECK(Action::trace(7).to_ret() == 0x7ff00007u);
  CHECK(Action::error(EPERM).to_ret() == 0x00050001u);
  CHECK(Action::kill_process().to_ret() == 0x80000000u);
  CHECK(Action::kill_thread().to_ret() == 0u);
  CHECK(Action::log().to_ret() == 0x7ffc0000u);
  CHECK(Action::notify().to_ret() == 0x7fc00000u);

  CHECK(ArgCondition::lt(1, 0x100000).to_string() == "arg1 < 0x100000");
  CHECK(ArgCondition::masked_eq(0, 0x800000, 0).to_string() == "arg0 & 0x800000 == 0x0");
  CHECK(ArgCondition::masked_eq(0, 0xf0, 0x10).holds(0x1f));
  CHECK_FALSE(ArgCondition::masked_eq(0, 0xf0, 0x10).holds(0x2f));
  CHECK(ArgCondition::ge(2, k4G).holds(k4G));
  CHECK_FALSE(ArgCondition::gt(2, k4G).holds(k4G));
}

TEST_CASE("seccomp: Program::fprog points at the instructions") {
  const Program p = base(Action::kill_process()).build();
  const sock_fprog f = p.fprog();
  REQUIRE(f.len == p.instructions.size());
  REQUIRE(f.filter == p.instructions.data());
  REQUIRE_FALSE(p.uses_notify);
}

TEST_CASE("seccomp: the first add() error is sticky and thrown by build()") {
  Builder b;
  b.add("getpid", Action::allow(), {ArgCondition::eq(6, 1)}).add("no_such_call", Action::allow());
  REQUIRE_THROWS_MATCHES(
      b.build(), BuildError,
      Catch::Message("rule for 'getpid': argument index 6 is out of range (0..5)"));

  Builder reserved;
  reserved.add("getpid", Action::trace(0xff01));
  REQUIRE_THROWS_WITH(reserved.build(), Contains("trace tag 0xff01 is reserved"));

  Builder errno_range;
  errno_range.add("getpid", Action::error(4095));
  REQUIRE_THROWS_WITH(errno_range.build(), Contains("errno 4095 is out of range (0..4094)"));
}

// ---- Names ----

TEST_CASE("seccomp: an unknown syscall name is an error naming it") {
  Builder b = base(Action::kill_process());
  b.add("no_such_syscall", Action::allow());
  REQUIRE_THROWS_MATCHES(b.build(), BuildError,
                         Catch::Message("unknown syscall 'no_such_syscall'"));
  REQUIRE_THROWS_WITH(b.to_pfc(), Contains("no_such_syscall"));
}

TEST_CASE("seccomp: a name must exist on one of the enforced ABIs") {
  // cacheflush exists on arm only.
  REQUIRE_THROWS_MATCHES(base(Action::kill_process()).add("cacheflush", Action::allow()).build(),
                         BuildError,
                         Catch::Message("syscall 'cacheflush' does not exist on x86_64"));
  // mmap2 exists on i386 only: an error unless the compat ABIs are enforced.
  REQUIRE_THROWS_MATCHES(base(Action::kill_process()).add("mmap2", Action::allow()).build(),
                         BuildError, Catch::Message("syscall 'mmap2' does not exist on x86_64"));
  const Program p =
      base(Action::kill_process()).add("mmap2", Action::allow()).enforce_compat_abis(true).build();
  CHECK(run(p, kI386, kI386Mmap2) == kAllow);
  // newfstatat exists natively but not on i386: no rule there, no error.
  const Program q = base(Action::kill_process())
                        .add("newfstatat", Action::allow())
                        .enforce_compat_abis(true)
                        .build();
  CHECK(run(q, kX86_64, SYS_newfstatat) == kAllow);
  CHECK(run(q, kI386, 300 /* fstatat64 */) == kKill);
}

TEST_CASE("seccomp: syscall names, numbers and arch names through libseccomp") {
  CHECK(tracebox::seccomp::native_arch() == AUDIT_ARCH_X86_64);
  CHECK(tracebox::seccomp::syscall_name(kX86_64, SYS_getpid) == "getpid");
  CHECK(tracebox::seccomp::syscall_name(kI386, kI386Getpid) == "getpid");
  CHECK(tracebox::seccomp::syscall_name(kI386, kI386Socket) == "socket");
  CHECK(tracebox::seccomp::syscall_name(kX86_64, kX32Bit | SYS_getpid) == "getpid");
  CHECK(tracebox::seccomp::syscall_name(kX86_64, 100000).empty());
  CHECK(tracebox::seccomp::syscall_name(kX86_64, -1).empty());
  CHECK(tracebox::seccomp::syscall_number(kX86_64, "getpid") == SYS_getpid);
  CHECK(tracebox::seccomp::syscall_number(kI386, "getpid") == kI386Getpid);
  CHECK(tracebox::seccomp::syscall_number(kI386, "socket") == kI386Socket);
  CHECK(tracebox::seccomp::syscall_number(tracebox::seccomp::kArchX32, "getpid") ==
        (kX32Bit | SYS_getpid));
  CHECK(tracebox::seccomp::syscall_number(kX86_64, "mmap2") == -1);
  CHECK(tracebox::seccomp::syscall_number(kX86_64, "no_such_syscall") == -1);
  CHECK(tracebox::seccomp::arch_name(kX86_64) == "x86_64");
  CHECK(tracebox::seccomp::arch_name(kX86_64, kX32Bit | SYS_getpid) == "x32");
  CHECK(tracebox::seccomp::arch_name(tracebox::seccomp::kArchX32) == "x32");
  CHECK(tracebox::seccomp::arch_name(kI386) == "i386");
  CHECK(tracebox::seccomp::arch_name(AUDIT_ARCH_AARCH64) == "aarch64");
  CHECK(tracebox::seccomp::arch_name(0x1234) == "arch 0x00001234");
}

// ---- Several rules for one syscall ----

TEST_CASE("seccomp: complementary conditional rules split one syscall") {
  const std::uint64_t n = 1 << 20;
  const Program p = base(Action::kill_process())
                        .add("mmap", Action::allow(), {ArgCondition::lt(1, n)})
                        .add("mmap", Action::trace(3), {ArgCondition::ge(1, n)})
                        .build();
  CHECK(run(p, kX86_64, SYS_mmap, {0, 4096}) == kAllow);
  CHECK(run(p, kX86_64, SYS_mmap, {0, n - 1}) == kAllow);
  CHECK(run(p, kX86_64, SYS_mmap, {0, n}) == Action::trace(3).to_ret());
  CHECK(run(p, kX86_64, SYS_mmap, {0, k4G + 1}) == Action::trace(3).to_ret());
}

// The tracer's split of mmap when a memory limit is set: large writable mappings are traced.
TEST_CASE("seccomp: mmap split on length and on PROT_WRITE") {
  const std::uint64_t n = 64 << 20;
  using C = ArgCondition;
  const Program p = base(Action::kill_process())
                        .add("mmap", Action::allow(), {C::lt(1, n)})
                        .add("mmap", Action::allow(), {C::ge(1, n), C::masked_eq(2, 0x2, 0)})
                        .add("mmap", Action::trace(9), {C::ge(1, n), C::masked_eq(2, 0x2, 0x2)})
                        .for_tracer(true)
                        .build();
  CHECK(run(p, kX86_64, SYS_mmap, {0, 4096, 0x3}) == kAllow);
  CHECK(run(p, kX86_64, SYS_mmap, {0, n, 0x1}) == kAllow);
  CHECK(run(p, kX86_64, SYS_mmap, {0, n, 0x3}) == Action::trace(9).to_ret());
  CHECK(run(p, kX86_64, SYS_mmap, {0, k4G, 0x2}) == Action::trace(9).to_ret());
  CHECK(run(p, kX86_64, SYS_mmap, {0, n - 1, ~std::uint64_t{0}}) == kAllow);
}

TEST_CASE("seccomp: rules with different actions must exclude each other") {
  SECTION("an unconditional rule and a conditional one") {
    Builder b = base(Action::kill_process());
    b.add("getpgid", Action::allow())
        .add("getpgid", Action::error(EPERM), {ArgCondition::eq(0, 1)});
    REQUIRE_THROWS_MATCHES(
        b.build(), BuildError,
        Catch::Message("rules for 'getpgid' on x86_64 may both match with different actions: allow "
                       "(unconditional); errno(EPERM) when arg0 == 0x1. Rules with different "
                       "actions for one syscall must exclude each other on an argument they both "
                       "compare"));
  }
  SECTION("conditions on different arguments") {
    Builder b = base(Action::kill_process());
    b.add("mmap", Action::error(EPERM), {ArgCondition::eq(0, 5)})
        .add("mmap", Action::trace(3), {ArgCondition::eq(1, 7)});
    REQUIRE_THROWS_WITH(b.build(), Contains("rules for 'mmap' on x86_64 may both match"));
  }
  SECTION("the same condition") {
    Builder b = base(Action::kill_process());
    b.add("mmap", Action::error(EPERM), {ArgCondition::eq(0, 5)})
        .add("mmap", Action::allow(), {ArgCondition::eq(0, 5)});
    REQUIRE_THROWS_WITH(b.build(), Contains("may both match"));
  }
  SECTION("overlapping ranges") {
    Builder b = base(Action::kill_process());
    b.add("mmap", Action::allow(), {ArgCondition::lt(1, 100)})
        .add("mmap", Action::trace(3), {ArgCondition::ge(1, 50)});
    REQUIRE_THROWS_WITH(b.build(), Contains("may both match"));
  }
  SECTION("disjoint bit patterns and an equality outside a range are accepted") {
    const Program p = base(Action::kill_process())
                          .add("mmap", Action::allow(), {ArgCondition::masked_eq(3, 0x1, 0)})
                          .add("mmap", Action::trace(4), {ArgCondition::masked_eq(3, 0x3, 0x1)})
                          .add("getpgid", Action::allow(), {ArgCondition::lt(0, 10)})
                          .add("getpgid", Action::error(EPERM), {ArgCondition::eq(0, 10)})
                          .build();
    CHECK(run(p, kX86_64, SYS_mmap, {0, 0, 0, 0x2}) == kAllow);
    CHECK(run(p, kX86_64, SYS_mmap, {0, 0, 0, 0x1}) == Action::trace(4).to_ret());
    CHECK(run(p, kX86_64, SYS_mmap, {0, 0, 0, 0x3}) == kKill);
    CHECK(run(p, kX86_64, SYS_getpgid, {9}) == kAllow);
    CHECK(run(p, kX86_64, SYS_getpgid, {10}) == Action::error(EPERM).to_ret());
    CHECK(run(p, kX86_64, SYS_getpgid, {11}) == kKill);
  }
}

// Random mutually exclusive policies, on x86_64 and (with their own numbers, 32-bit arguments)
// on i386, run as documented: the action of the rule whose conditions hold, else the default.
TEST_CASE("seccomp: random exclusive policies run as documented") {
  const std::uint64_t values[] = {0, 1, 2, 5, 0x10, 0x11, 0xff, k4G, k4G + 1, ~std::uint64_t{0}};
  const std::uint64_t masks[] = {0x1, 0x10, 0xff, k4G, k4G | 0x1};
  struct Syscall {
    const char* name;
    long x86_64;
    long i386;  // -1: arguments in memory on i386
  };
  const Syscall syscalls[] = {{"getpgid", SYS_getpgid, kI386Getpgid},
                              {"mmap", SYS_mmap, -1},
                              {"getpriority", SYS_getpriority, 96}};
  const Action actions[] = {Action::allow(), Action::error(1), Action::error(2), Action::trace(5)};
  std::uint64_t seed = 42;
  const auto random = [&](std::uint64_t n) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    return (seed >> 33) % n;
  };
  struct Rule {
    std::uint64_t syscall;
    Action action;
    std::vector<ArgCondition> conds;
  };
  int built = 0;
  for (int policy = 0; policy < 1000; ++policy) {
    Builder b = base(Action::kill_process());
    b.enforce_compat_abis(true);
    std::vector<Rule> rules;
    for (std::uint64_t i = 0, n = 1 + random(4); i < n; ++i) {
      Rule r{random(3), actions[random(4)], {}};
      for (std::uint64_t c = 0, nc = random(4); c < nc; ++c) {
        const auto arg = static_cast<unsigned>(random(3));
        const std::uint64_t v = values[random(10)];
        const std::uint64_t m = masks[random(5)];
        const ArgCondition conds[] = {ArgCondition::eq(arg, v),
                                      ArgCondition::ne(arg, v),
                                      ArgCondition::lt(arg, v),
                                      ArgCondition::le(arg, v),
                                      ArgCondition::gt(arg, v),
                                      ArgCondition::ge(arg, v),
                                      ArgCondition::masked_eq(arg, m, v & m)};
        r.conds.push_back(conds[random(7)]);
      }
      b.add(syscalls[r.syscall].name, r.action, r.conds);
      rules.push_back(r);
    }
    Program p;
    try {
      p = b.build();
    } catch (const BuildError&) {
      continue;  // rules that may overlap
    }
    ++built;
    for (int call = 0; call < 60; ++call) {
      const std::uint64_t syscall = random(3);
      const bool i386 = random(2) == 0 && syscalls[syscall].i386 >= 0;
      std::array<std::uint64_t, 6> args{};
      for (int a = 0; a < 3; ++a) {
        args[a] = values[random(10)] + random(3) - 1;
        if (i386) args[a] &= 0xffffffff;  // what the kernel reads of a 32-bit argument
      }
      std::uint32_t expected = kKill;
      for (const Rule& r : rules)
        if (r.syscall == syscall &&
            std::all_of(r.conds.begin(), r.conds.end(),
                        [&](const ArgCondition& c) { return c.holds(args[c.arg]); }))
          expected = r.action.to_ret();
      const std::uint32_t got = i386 ? run(p, kI386, syscalls[syscall].i386, args)
                                     : run(p, kX86_64, syscalls[syscall].x86_64, args);
      if (got == expected) continue;
      std::string listing;
      for (const Rule& r : rules) {
        listing += std::string(syscalls[r.syscall].name) + " " + r.action.to_string() + ":";
        for (const ArgCondition& c : r.conds) listing += " " + c.to_string();
        listing += "\n";
      }
      FAIL("policy " << policy << ":\n"
                     << listing << syscalls[syscall].name << (i386 ? " on i386" : "") << ", args "
                     << args[0] << " " << args[1] << " " << args[2] << ": got " << hex(got)
                     << ", expected " << hex(expected) << "\n"
                     << b.to_pfc() << p.to_text());
    }
  }
  CHECK(built > 300);
}

TEST_CASE("seccomp: rules with the same action add up") {
  const Program p = base(Action::kill_process())
                        .add("getpgid", Action::allow(), {ArgCondition::eq(0, 1)})
                        .add("getpgid", Action::allow(), {ArgCondition::eq(0, 1)})
                        .add("getpgid", Action::allow(), {ArgCondition::eq(1, 2)})
                        .add("getpid", Action::allow(), {ArgCondition::eq(0, 1)})
                        .add("getpid", Action::allow())
                        .build();
  CHECK(run(p, kX86_64, SYS_getpgid, {1, 0}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {0, 2}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {0, 3}) == kKill);
  CHECK(run(p, kX86_64, SYS_getpid, {5}) == kAllow);
}

TEST_CASE("seccomp: a rule with the default action documents the fall-through") {
  const Program p = base(Action::error(EPERM))
                        .add("getpgid", Action::allow(), {ArgCondition::lt(0, 5)})
                        .add("getpgid", Action::error(EPERM), {ArgCondition::ge(0, 5)})
                        .build();
  CHECK(run(p, kX86_64, SYS_getpgid, {4}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {5}) == Action::error(EPERM).to_ret());
  Builder overlapping = base(Action::error(EPERM));
  overlapping.add("getpgid", Action::allow())
      .add("getpgid", Action::error(EPERM), {ArgCondition::eq(0, 1)});
  REQUIRE_THROWS_WITH(overlapping.build(), Contains("may both match"));
}

TEST_CASE("seccomp: several conditions on one argument all apply") {
  SECTION("a range") {
    const Program p =
        base(Action::kill_process())
            .add("mmap", Action::allow(), {ArgCondition::ge(1, 1), ArgCondition::lt(1, 5)})
            .build();
    CHECK(run(p, kX86_64, SYS_mmap, {0, 0}) == kKill);
    CHECK(run(p, kX86_64, SYS_mmap, {0, 1}) == kAllow);
    CHECK(run(p, kX86_64, SYS_mmap, {0, 4}) == kAllow);
    CHECK(run(p, kX86_64, SYS_mmap, {0, 5}) == kKill);
    CHECK(run(p, kX86_64, SYS_mmap, {0, k4G + 2}) == kKill);
  }
  SECTION("an equality with another comparison") {
    const Program p =
        base(Action::kill_process())
            .add("getpgid", Action::allow(), {ArgCondition::eq(0, 3), ArgCondition::lt(0, 5)})
            .add("getpid", Action::allow(), {ArgCondition::eq(0, 7), ArgCondition::lt(0, 5)})
            .build();
    CHECK(run(p, kX86_64, SYS_getpgid, {3}) == kAllow);
    CHECK(run(p, kX86_64, SYS_getpgid, {4}) == kKill);
    CHECK(run(p, kX86_64, SYS_getpid, {7}) == kKill);  // never matches: dropped
  }
  SECTION("two bit patterns") {
    const Program p =
        base(Action::kill_process())
            .add("getpgid", Action::allow(),
                 {ArgCondition::masked_eq(0, 0xf0, 0x10), ArgCondition::masked_eq(0, 0x0f, 0x01)})
            .build();
    CHECK(run(p, kX86_64, SYS_getpgid, {0x11}) == kAllow);
    CHECK(run(p, kX86_64, SYS_getpgid, {0x12}) == kKill);
    CHECK(run(p, kX86_64, SYS_getpgid, {0x21}) == kKill);
  }
}

// libseccomp 2.5.4 compiles these two rules so that getpgid(1, ~0, 16) is allowed: after the
// second rule fails on arg1, it compares arg1's word as if it were arg0's.
TEST_CASE("seccomp: rules comparing different arguments do not share a stale accumulator") {
  const Program p =
      base(Action::kill_process())
          .add("getpgid", Action::allow(), {ArgCondition::gt(0, 2), ArgCondition::le(2, 0xff)})
          .add("getpgid", Action::allow(), {ArgCondition::le(1, 0x11), ArgCondition::lt(0, 0x10)})
          .build();
  CHECK(run(p, kX86_64, SYS_getpgid, {1, ~std::uint64_t{0}, 16}) == kKill);
  CHECK(run(p, kX86_64, SYS_getpgid, {1, 0x11, 16}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {3, ~std::uint64_t{0}, 16}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {3, ~std::uint64_t{0}, 0x100}) == kKill);
}

TEST_CASE("seccomp: low-32-bit comparisons read the int the kernel reads") {
  const Program p =
      base(Action::kill_process())
          .add("getpgid", Action::allow(), {ArgCondition::le32(0, 5)})
          .add("getpgid", Action::error(EPERM), {ArgCondition::ge32(0, 6)})
          .add("getpriority", Action::allow(),
               {ArgCondition::ge32(0, 2), ArgCondition::lt32(0, 0x80000000)})
          .add("getpriority", Action::error(EINVAL), {ArgCondition::masked_eq(0, 0xffffffff, 1)})
          .add("getpriority", Action::error(EPERM), {ArgCondition::gt32(0, 0xfffffff0)})
          .enforce_compat_abis(true)
          .build();
  const std::uint32_t eperm = Action::error(EPERM).to_ret();
  CHECK(run(p, kX86_64, SYS_getpgid, {5}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {k4G | 5}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {0xffffffff00000000}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {6}) == eperm);
  CHECK(run(p, kX86_64, SYS_getpgid, {0xffffffff}) == eperm);
  CHECK(run(p, kX86_64, SYS_getpgid, {k4G | 0x80000000}) == eperm);
  CHECK(run(p, kX86_64, SYS_getpriority, {2}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpriority, {k4G | 0x7fffffff}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpriority, {1}) == Action::error(EINVAL).to_ret());
  CHECK(run(p, kX86_64, SYS_getpriority, {0}) == kKill);
  CHECK(run(p, kX86_64, SYS_getpriority, {0x80000000}) == kKill);
  CHECK(run(p, kX86_64, SYS_getpriority, {0xfffffff1}) == eperm);
  CHECK(run(p, kI386, kI386Getpgid, {5}) == kAllow);
  CHECK(run(p, kI386, kI386Getpgid, {6}) == eperm);
  CHECK(ArgCondition::le32(1, 5).to_string() == "(u32)arg1 <= 0x5");
  CHECK(ArgCondition::ge32(0, 6).holds(k4G | 6));
  CHECK_FALSE(ArgCondition::ge32(0, 6).holds(k4G | 5));

  // Exclusion is checked on the low 32 bits too.
  CHECK_THROWS_AS(Builder()
                      .add("getpgid", Action::allow(), {ArgCondition::le32(0, 5)})
                      .add("getpgid", Action::error(EPERM), {ArgCondition::ge32(0, 5)})
                      .build(),
                  BuildError);
  CHECK_THROWS_AS(
      Builder()
          .add("getpgid", Action::allow(), {ArgCondition::le32(0, 7)})
          .add("getpgid", Action::error(EPERM), {ArgCondition::masked_eq(0, 0xffffffff, 7)})
          .build(),
      BuildError);
  // A 64-bit comparison and a low-32-bit one cannot be told apart: refused.
  CHECK_THROWS_AS(Builder()
                      .add("getpgid", Action::allow(), {ArgCondition::le32(0, 7)})
                      .add("getpgid", Action::error(EPERM), {ArgCondition::gt(0, 7)})
                      .build(),
                  BuildError);
  CHECK_NOTHROW(Builder()
                    .add("getpgid", Action::allow(), {ArgCondition::le32(0, 6)})
                    .add("getpgid", Action::error(EPERM), {ArgCondition::eq(0, k4G | 7)})
                    .build());
}

// ---- Tracer mode ----

TEST_CASE("seccomp: for_tracer turns kill actions into traces the tracer can report") {
  const auto policy = [](bool tracer) {
    Builder b;
    b.add("getpid", Action::kill_process())
        .add("gettid", Action::kill_thread())
        .add("getppid", Action::allow())
        .add("getuid", Action::error(EPERM))
        .for_tracer(tracer);
    return b.build();
  };
  const Program traced = policy(true);
  CHECK(run(traced, kX86_64, SYS_getpid) == kViolation);
  CHECK(run(traced, kX86_64, SYS_gettid) == kViolation);
  CHECK(run(traced, kX86_64, SYS_getppid) == kAllow);
  CHECK(run(traced, kX86_64, SYS_getuid) == Action::error(EPERM).to_ret());
  CHECK(run(traced, kX86_64, SYS_getgid) == kDefault);
  CHECK(run(traced, kI386, kI386Getpid) == kBadArch);
  CHECK(run(traced, kX86_64, kX32Bit | SYS_getpid) == kBadArch);
  CHECK(run(traced, kX86_64, -1) == kAllow);  // a tracer's skip

  const Program plain = policy(false);
  CHECK(run(plain, kX86_64, SYS_getpid) == kKill);
  CHECK(run(plain, kX86_64, SYS_gettid) == Action::kill_thread().to_ret());
  CHECK(run(plain, kX86_64, SYS_getgid) == kKill);
  CHECK(run(plain, kI386, kI386Getpid) == kKill);
  CHECK(run(plain, kX86_64, kX32Bit | SYS_getpid) == kKill);
  // A default that is not a kill is kept.
  const Program errno_default =
      Builder().default_action(Action::error(ENOSYS)).for_tracer(true).build();
  CHECK(run(errno_default, kX86_64, SYS_getgid) == Action::error(ENOSYS).to_ret());
}

TEST_CASE("seccomp: for_tracer refuses what would escape the tracer, unless named") {
  const Program p = Builder().default_action(Action::allow()).for_tracer(true).build();
  CHECK(run(p, kX86_64, SYS_clone, {CLONE_UNTRACED | SIGCHLD}) == kViolation);
  CHECK(run(p, kX86_64, SYS_clone, {SIGCHLD}) == kAllow);
  CHECK(run(p, kX86_64, SYS_clone3) == Action::error(ENOSYS).to_ret());
  CHECK(run(p, kX86_64, SYS_seccomp) == kViolation);
  CHECK(run(p, kX86_64, SYS_prctl, {PR_SET_SECCOMP}) == kViolation);
  CHECK(run(p, kX86_64, SYS_prctl, {k4G | PR_SET_SECCOMP}) == kViolation);  // option is an int
  CHECK(run(p, kX86_64, SYS_prctl, {PR_GET_DUMPABLE}) == kAllow);
  CHECK(run(p, kX86_64, SYS_prctl, {0x80000000u | PR_SET_SECCOMP}) == kAllow);
  for (long nr : {SYS_ptrace, SYS_process_vm_writev, SYS_bpf, SYS_userfaultfd, SYS_perf_event_open})
    CHECK(run(p, kX86_64, nr) == kViolation);
  for (long nr : {SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register})
    CHECK(run(p, kX86_64, nr) == Action::error(ENOSYS).to_ret());

  const Program named = Builder()
                            .default_action(Action::kill_process())
                            .add("ptrace", Action::error(EPERM))
                            .add("seccomp", Action::allow())
                            .add("prctl", Action::allow())
                            .add("io_uring_setup", Action::allow())
                            .add("clone3", Action::allow())
                            .for_tracer(true)
                            .build();
  CHECK(run(named, kX86_64, SYS_ptrace) == Action::error(EPERM).to_ret());
  CHECK(run(named, kX86_64, SYS_seccomp) == kAllow);
  CHECK(run(named, kX86_64, SYS_prctl, {PR_SET_SECCOMP}) == kAllow);
  CHECK(run(named, kX86_64, SYS_io_uring_setup) == kAllow);
  CHECK(run(named, kX86_64, SYS_io_uring_enter) == Action::error(ENOSYS).to_ret());
  CHECK(run(named, kX86_64, SYS_clone3) ==
        Action::error(ENOSYS).to_ret());  // whatever the policy says
  CHECK(run(named, kX86_64, SYS_bpf) == kViolation);
}

TEST_CASE("seccomp: for_tracer narrows the policy's clone and prctl rules") {
  SECTION("an unconditional clone allow becomes: allow without CLONE_UNTRACED") {
    const Program p = Builder().add("clone", Action::allow()).for_tracer(true).build();
    CHECK(run(p, kX86_64, SYS_clone, {SIGCHLD}) == kAllow);
    CHECK(run(p, kX86_64, SYS_clone, {CLONE_UNTRACED | SIGCHLD}) == kViolation);
    CHECK(run(p, kX86_64, SYS_clone, {k4G | CLONE_UNTRACED}) == kViolation);
  }
  SECTION("a conditional clone rule keeps its condition") {
    const Program p =
        Builder()
            .add("clone", Action::allow(), {ArgCondition::masked_eq(0, CLONE_THREAD, CLONE_THREAD)})
            .for_tracer(true)
            .build();
    CHECK(run(p, kX86_64, SYS_clone, {CLONE_THREAD | CLONE_VM}) == kAllow);
    CHECK(run(p, kX86_64, SYS_clone, {CLONE_THREAD | CLONE_UNTRACED}) == kViolation);
    CHECK(run(p, kX86_64, SYS_clone, {SIGCHLD}) == kDefault);
  }
  SECTION("a clone rule comparing the flags another way keeps its comparison") {
    const Program p = Builder()
                          .add("clone", Action::allow(), {ArgCondition::lt(0, 0x1000)})
                          .for_tracer(true)
                          .build();
    CHECK(run(p, kX86_64, SYS_clone, {SIGCHLD}) == kAllow);
    CHECK(run(p, kX86_64, SYS_clone, {0x2000}) == kDefault);
    CHECK(run(p, kX86_64, SYS_clone, {CLONE_UNTRACED | SIGCHLD}) == kViolation);
  }
  SECTION("prctl rules are narrowed to options other than PR_SET_SECCOMP") {
    const Program p =
        Builder()
            .add("prctl", Action::allow(), {ArgCondition::eq(0, PR_SET_NAME)})
            .add("prctl", Action::error(EINVAL), {ArgCondition::eq(0, PR_SET_SECCOMP)})
            .for_tracer(true)
            .build();
    CHECK(run(p, kX86_64, SYS_prctl, {PR_SET_NAME}) == kAllow);
    CHECK(run(p, kX86_64, SYS_prctl, {PR_SET_SECCOMP}) == kViolation);
    CHECK(run(p, kX86_64, SYS_prctl, {PR_GET_DUMPABLE}) == kDefault);
  }
  SECTION("on i386 too, with i386 numbers") {
    const Program p = Builder()
                          .add("clone", Action::allow())
                          .add("prctl", Action::allow())
                          .enforce_compat_abis(true)
                          .for_tracer(true)
                          .build();
    CHECK(run(p, kI386, kI386Clone, {SIGCHLD}) == kAllow);
    CHECK(run(p, kI386, kI386Clone, {CLONE_UNTRACED | SIGCHLD}) == kViolation);
    CHECK(run(p, kI386, kI386Prctl, {PR_SET_SECCOMP}) == kViolation);
    CHECK(run(p, kI386, kI386Prctl, {PR_GET_DUMPABLE}) == kAllow);
    // x32: libseccomp would compare the low half of 64-bit registers: the strictest action wins.
    CHECK(run(p, kX86_64, kX32Bit | SYS_clone, {SIGCHLD}) == kDefault);
  }
}

TEST_CASE("seccomp: for_tracer refuses clone's parent and namespace flags, unshare's namespaces") {
  const Program p = Builder()
                        .add("clone", Action::allow())
                        .add("unshare", Action::allow())
                        .add("getpid", Action::allow())
                        .for_tracer(true)
                        .build();
  for (std::uint64_t flag : {CLONE_PARENT, CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                             CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET}) {
    INFO(hex(static_cast<long>(flag)));
    CHECK(run(p, kX86_64, SYS_clone, {flag | SIGCHLD}) == kViolation);
    CHECK(run(p, kX86_64, SYS_clone, {k4G | flag | CLONE_VM | CLONE_THREAD}) == kViolation);
    CHECK(run(p, kX86_64, SYS_unshare, {flag == CLONE_PARENT ? 0 : flag}) ==
          (flag == CLONE_PARENT ? kAllow : kViolation));
  }
  CHECK(run(p, kX86_64, SYS_clone, {CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD}) == kViolation);
  // Threads, vfork, and flags clone does not read (the high half) stay allowed; 0x80 in clone is
  // part of the exit signal, not CLONE_NEWTIME.
  CHECK(run(p, kX86_64, SYS_clone,
            {CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
             CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID}) == kAllow);
  CHECK(run(p, kX86_64, SYS_clone, {CLONE_VM | CLONE_VFORK | SIGCHLD}) == kAllow);
  CHECK(run(p, kX86_64, SYS_clone, {k4G | SIGCHLD}) == kAllow);
  CHECK(run(p, kX86_64, SYS_clone, {0x80 | 0x40}) == kAllow);
  CHECK(run(p, kX86_64, SYS_unshare, {0x80}) == kViolation);  // CLONE_NEWTIME
  CHECK(run(p, kX86_64, SYS_unshare, {CLONE_FS | CLONE_FILES}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpid) == kAllow);

  // Without a rule for them they are violations all the same (unshare by the default).
  const Program none = Builder().for_tracer(true).build();
  CHECK(run(none, kX86_64, SYS_clone, {CLONE_NEWUSER}) == kViolation);
  CHECK(run(none, kX86_64, SYS_unshare, {CLONE_NEWUSER}) == kViolation);
  CHECK(run(none, kX86_64, SYS_unshare, {CLONE_FS}) == kDefault);
  // A policy's own errno for clone keeps its calls without the flags.
  const Program denied = Builder().add("clone", Action::error(EAGAIN)).for_tracer(true).build();
  CHECK(run(denied, kX86_64, SYS_clone, {SIGCHLD}) == Action::error(EAGAIN).to_ret());
  CHECK(run(denied, kX86_64, SYS_clone, {CLONE_PARENT}) == kViolation);
  // i386 reads clone's flags as a 32-bit first argument too.
  const Program compat =
      Builder().add("clone", Action::allow()).enforce_compat_abis(true).for_tracer(true).build();
  CHECK(run(compat, kI386, kI386Clone, {CLONE_NEWPID | SIGCHLD}) == kViolation);
  CHECK(run(compat, kI386, kI386Clone, {CLONE_PARENT}) == kViolation);
  CHECK(run(compat, kI386, kI386Clone, {SIGCHLD}) == kAllow);
}

TEST_CASE("seccomp: the reason of a tracer-default violation names the flag") {
  using tracebox::seccomp::violation_reason;
  const auto args = [](std::uint64_t a0) { return std::array<std::uint64_t, 6>{a0}; };
  CHECK(violation_reason("clone", kX86_64, args(CLONE_UNTRACED | SIGCHLD)) ==
        "clone with CLONE_UNTRACED would escape the tracer");
  CHECK(violation_reason("clone", kX86_64, args(CLONE_PARENT | CLONE_VM)) ==
        "clone with CLONE_PARENT would give the child its caller's parent (the tracer, for the "
        "main process)");
  CHECK(violation_reason("clone", kX86_64, args(CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD)) ==
        "clone with CLONE_NEWUSER|CLONE_NEWPID would create namespaces the tracer does not see "
        "into");
  CHECK(violation_reason("unshare", kX86_64, args(CLONE_NEWNS | 0x80)) ==
        "unshare with CLONE_NEWNS|CLONE_NEWTIME would create namespaces the tracer does not see "
        "into");
  // Bits clone does not read, and other syscalls.
  CHECK(violation_reason("clone", kX86_64, args(k4G | SIGCHLD | 0x80)) ==
        "clone is forbidden by the policy");
  CHECK(violation_reason("ptrace", kX86_64, args(CLONE_NEWUSER)) ==
        "ptrace is forbidden by the policy");
}

// ---- Compat ABIs in the program ----

TEST_CASE("seccomp: i386 conditions are read as the kernel reads 32-bit arguments") {
  const Program p = base(Action::kill_process())
                        .add("getpgid", Action::allow(), {ArgCondition::lt(0, k4G)})
                        .add("getpgid", Action::error(EPERM), {ArgCondition::ge(0, k4G)})
                        .add("getppid", Action::error(EPERM), {ArgCondition::eq(0, k4G + 5)})
                        .add("getppid", Action::allow(), {ArgCondition::ne(0, k4G + 5)})
                        .enforce_compat_abis(true)
                        .build();
  CHECK(run(p, kX86_64, SYS_getpgid, {0}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getpgid, {k4G}) == Action::error(EPERM).to_ret());
  // libseccomp alone would truncate ge(2^32) to ge(0) and lt(2^32) to lt(0) on i386.
  CHECK(run(p, kI386, kI386Getpgid, {0}) == kAllow);
  CHECK(run(p, kI386, kI386Getpgid, {0xffffffff}) == kAllow);
  CHECK(run(p, kI386, kI386Getppid, {5}) == kAllow);
  CHECK(run(p, kX86_64, SYS_getppid, {k4G + 5}) == Action::error(EPERM).to_ret());
}

TEST_CASE("seccomp: calls whose arguments BPF cannot see get their strictest action") {
  const Program p = base(Action::error(EPERM))
                        .add("socket", Action::allow(), {ArgCondition::eq(0, AF_UNIX)})
                        .add("mmap", Action::allow(), {ArgCondition::lt(1, 1 << 20)})
                        .add("mmap", Action::trace(3), {ArgCondition::ge(1, 1 << 20)})
                        .enforce_compat_abis(true)
                        .build();
  CHECK(run(p, kX86_64, SYS_socket, {AF_UNIX}) == kAllow);
  CHECK(run(p, kX86_64, SYS_socket, {AF_INET}) == Action::error(EPERM).to_ret());
  // i386 socket arrives both direct and through socketcall(SYS_SOCKET, args in memory).
  CHECK(run(p, kI386, kI386Socket, {AF_UNIX}) == Action::error(EPERM).to_ret());
  CHECK(run(p, kI386, kI386Socketcall, {1 /* SYS_SOCKET */}) == Action::error(EPERM).to_ret());
  // i386's mmap is old_mmap(struct *); x32 registers are 64-bit.
  CHECK(run(p, kI386, kI386Mmap, {0, 4096}) == Action::error(EPERM).to_ret());
  CHECK(run(p, kX86_64, kX32Bit | SYS_mmap, {0, 4096}) == Action::error(EPERM).to_ret());
  CHECK(run(p, kX86_64, SYS_mmap, {0, 4096}) == kAllow);
}

TEST_CASE("seccomp: a built program reloads no word it holds and masks nothing for nothing") {
  // Several rules on one argument: each comparison used to reload it (and mask an equality with
  // 0xffffffff); the random policies above check that what is left decides the same.
  Builder b = base(Action::kill_process());
  b.add("fcntl", Action::allow(), {ArgCondition::masked_eq(1, 0xffffffff, F_GETFD)});
  b.add("fcntl", Action::allow(), {ArgCondition::masked_eq(1, 0xffffffff, F_SETFD)});
  b.add("fcntl", Action::allow(), {ArgCondition::masked_eq(1, 0xffffffff, F_GETFL)});
  const Program p = b.build();
  const std::string text = p.to_text();
  INFO(text);
  CHECK_THAT(text, !Contains("and #0xffffffff"));
  std::istringstream lines(text);
  std::string line;
  int loads_of_arg1 = 0;
  while (std::getline(lines, line)) loads_of_arg1 += line.find("ld [24]") != std::string::npos;
  CHECK(loads_of_arg1 == 1);
  CHECK(run(p, kX86_64, SYS_fcntl, {0, F_SETFD}) == kAllow);
  CHECK(run(p, kX86_64, SYS_fcntl, {0, F_SETFL}) == kKill);
}

// ---- Text ----

TEST_CASE(
    "seccomp: to_text disassembles one line per instruction, to_pfc shows libseccomp's view") {
  Builder b = base(Action::kill_process());
  b.add("getpid", Action::error(EACCES));
  const Program p = b.build();
  const std::string text = p.to_text();
  REQUIRE(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) ==
          p.instructions.size());
  CHECK(text.rfind("   0: ld [4]                    ; arch\n", 0) == 0);
  CHECK_THAT(text, Contains("jeq #" + hex(SYS_getpid) + " jt "));
  CHECK_THAT(text, Contains("ret #0x0005000d           ; errno(EACCES)\n"));
  CHECK_THAT(text, Contains("ret #0x80000000           ; kill_process\n"));

  b.add("getpgid", Action::allow(), {ArgCondition::eq(0, 0)});
  const std::string pfc = b.to_pfc();
  CHECK_THAT(pfc, Contains("# filter for syscall \"getpid\""));
  CHECK_THAT(pfc, Contains("# TRACE(65280): syscall \"getpgid\" on x86_64, the first rule that "
                           "holds\n#   allow when arg0 == 0x0\n#   otherwise kill_process\n"));
  CHECK_THAT(pfc, Contains("action ERRNO(13);"));
  CHECK_THAT(pfc, Contains("action KILL_PROCESS;"));
}

// ---- Real children ----

TEST_CASE("seccomp: each action as a child that installed the filter sees it") {
  Builder b = base(Action::kill_process());
  b.add("getppid", Action::allow())
      .add("getpid", Action::error(EACCES))
      .add("getuid", Action::trace(7))
      .add("getgid", Action::kill_process())
      .add("getpgrp", Action::kill_thread())
      .add("geteuid", Action::log())
      .add("getegid", Action::notify());
  const Program p = b.build();
  REQUIRE(p.uses_notify);
  const pid_t parent = ::getpid();

  require_returned(run_filtered(p, [] { return ::syscall(SYS_getppid); }), parent);
  require_failed(run_filtered(p, [] { return ::syscall(SYS_getpid); }), EACCES);
  // SECCOMP_RET_TRACE with no tracer attached fails the call with ENOSYS.
  require_failed(run_filtered(p, [] { return ::syscall(SYS_getuid); }), ENOSYS);
  require_killed(run_filtered(p, [] { return ::syscall(SYS_getgid); }));
  require_killed(run_filtered(p, [] { return ::syscall(SYS_getpgrp); }));
  require_returned(run_filtered(p, [] { return ::syscall(SYS_geteuid); }), ::geteuid());
  // SECCOMP_RET_USER_NOTIF with no listener fails the call with ENOSYS.
  require_failed(run_filtered(p, [] { return ::syscall(SYS_getegid); }), ENOSYS);
  // The default action.
  require_killed(run_filtered(p, [] { return ::syscall(SYS_getsid, 0); }));
}

TEST_CASE("seccomp: argument conditions decide in a child") {
  const Program p =
      base(Action::kill_process())
          .add("getpgid", Action::allow(), {ArgCondition::lt(0, 1)})
          .add("getpgid", Action::error(ENOTTY), {ArgCondition::ge(0, 1)})
          .add("getpriority", Action::allow(), {ArgCondition::masked_eq(1, 0xff00, 0)})
          .add("getpriority", Action::error(ENOTTY), {ArgCondition::masked_eq(1, 0xff00, 0x100)})
          .build();
  require_returned(run_filtered(p, [] { return ::syscall(SYS_getpgid, 0); }), ::getpgrp());
  require_failed(run_filtered(p, [] { return ::syscall(SYS_getpgid, 7); }), ENOTTY);
  // pid_t is an int: the kernel would read 0 here, the filter compares 64 bits.
  require_failed(run_filtered(p, [] { return ::syscall(SYS_getpgid, k4G); }), ENOTTY);
  const long nice = ::syscall(SYS_getpriority, PRIO_PROCESS, 0);
  require_returned(run_filtered(p, [] { return ::syscall(SYS_getpriority, PRIO_PROCESS, 0); }),
                   nice);
  require_failed(run_filtered(p, [] { return ::syscall(SYS_getpriority, PRIO_PROCESS, 0x100); }),
                 ENOTTY);
  require_killed(run_filtered(p, [] { return ::syscall(SYS_getpriority, PRIO_PROCESS, 0x200); }));
}

TEST_CASE("seccomp: for_tracer in a child: CLONE_UNTRACED and clone3 fail, fork works") {
  const Program p = base(Action::kill_process())
                        .add("clone", Action::allow())
                        .add("wait4", Action::allow())
                        .for_tracer(true)
                        .build();
  // Without a tracer the violation's TRACE fails the call with ENOSYS, and no process is made.
  const auto untraced = [] {
    const long r = ::syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) exit_now(0);
    return r;
  };
  require_failed(run_filtered(p, untraced), ENOSYS);
  require_failed(run_filtered(p,
                              [&] {
                                untraced();
                                return ::syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr);
                              }),
                 ECHILD);
  // Parent and namespace flags fail the same way (a traced run reports them as violations).
  for (unsigned long flags :
       {CLONE_PARENT | SIGCHLD, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, CLONE_NEWNS | SIGCHLD}) {
    require_failed(run_filtered(p,
                                [flags] {
                                  const long r = ::syscall(SYS_clone, flags, 0, 0, 0, 0);
                                  if (r == 0) exit_now(0);
                                  return r;
                                }),
                   ENOSYS);
  }
  const auto clone3 = [] {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    const long r = ::syscall(SYS_clone3, &args, sizeof args);
    if (r == 0) exit_now(0);
    return r;
  };
  require_failed(run_filtered(p, clone3), ENOSYS);
  require_failed(run_filtered(p,
                              [&] {
                                clone3();
                                return ::syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr);
                              }),
                 ECHILD);
  // A plain clone (fork) works and its child is reaped by the filtered child.
  require_returned(run_filtered(p,
                                [] {
                                  const long r = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
                                  if (r == 0) exit_now(7);
                                  int status = 0;
                                  if (r < 0 || ::syscall(SYS_wait4, r, &status, 0, nullptr) != r)
                                    return -2L;
                                  return WIFEXITED(status) ? long{WEXITSTATUS(status)} : -3L;
                                }),
                   7);
}

TEST_CASE("seccomp: for_tracer in a child: refused calls fail unless the policy names them") {
  const Program refused = base(Action::allow()).for_tracer(true).build();
  const Program named = base(Action::allow())
                            .add("ptrace", Action::error(EPERM))
                            .add("seccomp", Action::allow())
                            .add("io_uring_setup", Action::error(EACCES))
                            .for_tracer(true)
                            .build();
  const auto seccomp_query = [] {
    std::uint32_t action = SECCOMP_RET_ALLOW;
    return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action);
  };
  const auto prctl_set_seccomp = [] { return ::syscall(SYS_prctl, PR_SET_SECCOMP, 1000, 0, 0, 0); };
  const auto ptrace = [] { return ::syscall(SYS_ptrace, -1L, 0, 0, 0); };
  const auto io_uring_setup = [] { return ::syscall(SYS_io_uring_setup, 0, nullptr); };

  require_failed(run_filtered(refused, seccomp_query), ENOSYS);
  require_failed(run_filtered(refused, prctl_set_seccomp), ENOSYS);
  require_failed(run_filtered(refused, ptrace), ENOSYS);
  require_failed(run_filtered(refused, io_uring_setup), ENOSYS);
  require_failed(run_filtered(refused, [] { return ::syscall(SYS_bpf, -1, nullptr, 0); }), ENOSYS);
  require_failed(run_filtered(refused, [] { return ::syscall(SYS_userfaultfd, ~0); }), ENOSYS);
  require_failed(
      run_filtered(refused, [] { return ::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0); }),
      ENOSYS);
  require_failed(
      run_filtered(refused,
                   [] { return ::syscall(SYS_process_vm_writev, 0, nullptr, 0, nullptr, 0, 0); }),
      ENOSYS);
  require_returned(
      run_filtered(refused, [] { return ::syscall(SYS_prctl, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }),
      1);

  require_failed(run_filtered(named, ptrace), EPERM);
  require_returned(run_filtered(named, seccomp_query), 0);
  require_failed(run_filtered(named, prctl_set_seccomp), EINVAL);  // reached the kernel
  require_failed(run_filtered(named, io_uring_setup), EACCES);
}

TEST_CASE("seccomp: i386 syscalls (int 0x80) in a child") {
  TB_SKIP_UNLESS(int80_works(), "int 0x80 is not available (IA32 emulation off)");
  const pid_t parent = ::getpid();

  SECTION("killed when the compat ABIs are not enforced") {
    const Program p = base(Action::allow()).add("getpid", Action::allow()).build();
    require_killed(run_filtered(p, [] { return int80_errno(kI386Getpid); }));
    require_returned(run_filtered(p, [] { return ::syscall(SYS_getppid); }), parent);
    // In tracer mode the bad-arch action is a trace: ENOSYS without a tracer.
    const Program traced = base(Action::allow()).for_tracer(true).build();
    require_failed(run_filtered(traced, [] { return int80_errno(kI386Getpid); }), ENOSYS);
  }
  SECTION("the policy, with i386 numbers, when enforced") {
    const Program p = base(Action::kill_process())
                          .add("getpid", Action::error(EACCES))
                          .add("getppid", Action::allow())
                          .add("getpgid", Action::allow(), {ArgCondition::lt(0, 1)})
                          .add("getpgid", Action::error(ENOTTY), {ArgCondition::ge(0, 1)})
                          .enforce_compat_abis(true)
                          .build();
    require_failed(run_filtered(p, [] { return int80_errno(kI386Getpid); }), EACCES);
    require_returned(run_filtered(p, [] { return int80_errno(kI386Getppid); }), parent);
    require_returned(run_filtered(p, [] { return int80_errno(kI386Getpgid, 0); }), ::getpgrp());
    require_failed(run_filtered(p, [] { return int80_errno(kI386Getpgid, 5); }), ENOTTY);
    // 110 is getppid on x86_64 (allowed) but iopl on i386 (not in the policy).
    require_killed(run_filtered(p, [] { return int80_errno(kI386Iopl, 0); }));
  }
  SECTION("CLONE_UNTRACED through int 0x80 in tracer mode") {
    const Program p = base(Action::kill_process())
                          .add("clone", Action::allow())
                          .add("wait4", Action::allow())
                          .enforce_compat_abis(true)
                          .for_tracer(true)
                          .build();
    require_failed(run_filtered(p,
                                [] {
                                  const long r = int80_errno(kI386Clone, CLONE_UNTRACED | SIGCHLD);
                                  if (r == 0) exit_now(0);
                                  return r;
                                }),
                   ENOSYS);
    require_returned(run_filtered(p,
                                  [] {
                                    const long r = int80_errno(kI386Clone, SIGCHLD);
                                    if (r == 0) exit_now(9);
                                    int status = 0;
                                    if (r < 0 || ::syscall(SYS_wait4, r, &status, 0, nullptr) != r)
                                      return -2L;
                                    return WIFEXITED(status) ? long{WEXITSTATUS(status)} : -3L;
                                  }),
                     9);
  }
}

TEST_CASE("seccomp: x32 syscall numbers in a child") {
  SECTION("killed when the compat ABIs are not enforced, even with a default allow") {
    const Program p = base(Action::allow()).build();
    require_killed(run_filtered(p, [] { return ::syscall(kX32Bit | SYS_getpid); }));
  }
  SECTION("the policy, with x32 numbers, when enforced") {
    const Program p = base(Action::kill_process())
                          .add("getpid", Action::error(EACCES))
                          .enforce_compat_abis(true)
                          .build();
    require_failed(run_filtered(p, [] { return ::syscall(kX32Bit | SYS_getpid); }), EACCES);
    require_killed(run_filtered(p, [] { return ::syscall(kX32Bit | SYS_getuid); }));
  }
}

// Forks a tracee that stops, installs `program` and exits with what `body` returns; the caller
// traces it.
pid_t spawn_tracee(const Program& program, int (*body)()) {
  const sock_fprog prog = program.fprog();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) exit_now(102);
    ::raise(SIGSTOP);
    install(prog);
    exit_now(body());
  }
  return pid;
}

TEST_CASE("seccomp: a tracer reads a trace rule's tag back") {
  const Program p = base(Action::kill_process()).add("getpid", Action::trace(42)).build();
  const pid_t pid = spawn_tracee(p, [] { return ::syscall(SYS_getpid) > 0 ? 0 : 1; });
  Reaper reaper(pid);
  int status = reaper.wait();
  REQUIRE((WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP));
  REQUIRE(::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL) ==
          0);
  REQUIRE(::ptrace(PTRACE_CONT, pid, nullptr, nullptr) == 0);
  status = reaper.wait();
  REQUIRE(status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)));
  unsigned long tag = 0;
  REQUIRE(::ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &tag) == 0);
  CHECK(tag == 42);
  __ptrace_syscall_info info{};
  REQUIRE(::ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info) > 0);
  CHECK(info.op == PTRACE_SYSCALL_INFO_SECCOMP);
  CHECK(info.arch == AUDIT_ARCH_X86_64);
  CHECK(info.seccomp.nr == SYS_getpid);
  CHECK(info.seccomp.ret_data == 42);
  REQUIRE(::ptrace(PTRACE_CONT, pid, nullptr, nullptr) == 0);
  status = reaper.wait();
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("seccomp: a tracer can skip a call by setting its number to -1") {
  // The filter runs again on the skipped call (nr -1): it must let it through.
  const Program p = base(Action::kill_process()).add("getpid", Action::allow()).build();
  const pid_t pid = spawn_tracee(p, [] {
    const long r = ::syscall(SYS_getpid);
    return r == -1 && errno == EPERM ? 0 : r == -1 ? 2 : 3;
  });
  Reaper reaper(pid);
  int status = reaper.wait();
  REQUIRE((WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP));
  REQUIRE(::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) ==
          0);
  int skipped = 0;
  int signal = 0;
  for (;;) {
    REQUIRE(::ptrace(PTRACE_SYSCALL, pid, nullptr, signal) == 0);
    signal = 0;
    status = reaper.wait();
    if (!WIFSTOPPED(status)) break;
    if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
      signal = WSTOPSIG(status);
      continue;
    }
    __ptrace_syscall_info info{};
    REQUIRE(::ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info) > 0);
    if (info.op != PTRACE_SYSCALL_INFO_ENTRY || info.entry.nr != SYS_getpid) continue;
    user_regs_struct regs{};
    REQUIRE(::ptrace(PTRACE_GETREGS, pid, nullptr, &regs) == 0);
    regs.orig_rax = static_cast<unsigned long long>(-1);
    regs.rax = static_cast<unsigned long long>(-EPERM);
    REQUIRE(::ptrace(PTRACE_SETREGS, pid, nullptr, &regs) == 0);
    ++skipped;
  }
  CHECK(skipped == 1);
  INFO("signalled: " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

#endif  // __x86_64__

}  // namespace
