#include <asm/termbits.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "support/bpf.h"
#include "support/support.h"
#include "tracebox/tracer/policy/judge.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace tracebox::tracer::policy;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

JudgePolicy judge_base() {
  JudgePolicy j;
  std::istringstream names(
      "read write close fstat lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask "
      "rt_sigreturn ioctl pread64 exit exit_group arch_prctl set_tid_address set_robust_list rseq "
      "prlimit64 getrandom futex clone wait4 madvise getpid gettid clock_gettime clock_nanosleep "
      "nanosleep pipe2 fcntl tgkill uname mremap sched_yield getppid sched_getaffinity kill "
      "openat newfstatat access faccessat execve readlink stat");
  for (std::string name; names >> name;) j.allow.push_back(name);
  for (const char* r : {"/usr/", "/lib/", "/lib64/", "/etc/ld.so.cache", "/etc/ld.so.preload"})
    j.files.readable.add(r);
  j.files.readable.add(test::tracee());
  return j;
}

struct JudgeRun {
  TempDir out_dir;
  UniqueFd null{::open("/dev/null", O_RDWR | O_CLOEXEC)};
  UniqueFd out;
  Spec spec;
  JudgePolicy judge = judge_base();

  explicit JudgeRun(std::vector<std::string> args) {
    out.reset(
        ::open(out_dir.file("stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    spec.process.args = {test::tracee()};
    spec.process.args.insert(spec.process.args.end(), args.begin(), args.end());
    spec.process.files = {null.get(), out.get(), 2};
    spec.limits.wall = 30s;
  }
  Result run() {
    spec.policy = make_policy(judge);
    JudgeHandler handler(judge);
    return tracer::run(spec, handler);
  }
  std::string output() const { return test::read_file(out_dir.file("stdout")); }
};

std::string make_config_error(const JudgePolicy& j) {
  try {
    make_policy(j);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

Resolved self_resolve(int dirfd, const std::string& path, bool follow = true) {
  return resolve(static_cast<pid_t>(::syscall(SYS_gettid)), ::getpid(), dirfd, path, follow);
}

}  // namespace

TEST_CASE("file sets follow UOJ's matching rules", "[policy]") {
  FileSet s;
  s.add("/exact/file");
  s.add("/tree/");
  s.add("/children/*");
  s.add("/");
  CHECK(s.contains("/exact/file"));
  CHECK_FALSE(s.contains("/exact/file/below"));
  CHECK_FALSE(s.contains("/exact"));
  CHECK(s.contains("/tree"));
  CHECK(s.contains("/tree/a"));
  CHECK(s.contains("/tree/a/b/c"));
  CHECK_FALSE(s.contains("/treehouse"));
  CHECK(s.contains("/children/a"));
  CHECK_FALSE(s.contains("/children"));
  CHECK_FALSE(s.contains("/children/a/b"));
  CHECK(s.contains("/"));
  CHECK_FALSE(s.contains("/etc"));

  FileSet top;
  top.add("/*");
  CHECK(top.contains("/etc"));
  CHECK_FALSE(top.contains("/etc/passwd"));
  CHECK_FALSE(top.contains("/"));

  FileSets sets;
  sets.writable.add("/w/");
  sets.readable.add("/r/");
  sets.statable.add("/s");
  CHECK(sets.allows(Access::kRead, "/w/x"));  // writable implies readable
  CHECK(sets.allows(Access::kStat, "/w/x"));
  CHECK(sets.allows(Access::kStat, "/r/x"));  // readable implies statable
  CHECK_FALSE(sets.allows(Access::kWrite, "/r/x"));
  CHECK(sets.allows(Access::kStat, "/s"));
  CHECK_FALSE(sets.allows(Access::kRead, "/s"));
  // The directories leading to a granted path are statable (not readable).
  FileSets deep;
  deep.readable.add("/a/b/c/");
  deep.writable.add("/w/x");
  for (const char* dir : {"/", "/a", "/a/b", "/a/b/c", "/w"})
    CHECK(deep.allows(Access::kStat, dir));
  CHECK_FALSE(deep.allows(Access::kRead, "/a/b"));
  CHECK_FALSE(deep.allows(Access::kStat, "/a/bx"));
  CHECK_FALSE(deep.allows(Access::kStat, "/w/y"));
}

TEST_CASE("a policy that cannot be enforced is refused when it is built", "[policy]") {
  JudgePolicy unchecked = judge_base();
  unchecked.allow.push_back("getxattr");
  CHECK(make_config_error(unchecked) ==
        "syscall \"getxattr\" takes a path that the file policy does not check; allowing it "
        "would bypass the file sets (deny it instead)");
  JudgePolicy twice = judge_base();
  twice.deny["openat"] = EPERM;
  CHECK(make_config_error(twice) == "syscall \"openat\" is listed more than once in the policy");
  JudgePolicy budget = judge_base();
  budget.budgets["unlink"] = 3;
  CHECK(make_config_error(budget) == "syscall \"unlink\" takes a path: it cannot have a budget");
  // Every checked syscall is known to takes_path; a few unchecked ones too.
  for (const auto& s : path_syscalls()) CHECK(takes_path(s.name));
  CHECK(takes_path("inotify_add_watch"));
  CHECK_FALSE(takes_path("getpid"));
}

TEST_CASE("paths resolve as the kernel resolves them", "[policy]") {
  TempDir t;
  namespace fs = std::filesystem;
  fs::create_directories(t.file("allowed"));
  fs::create_directories(t.file("other/sub"));
  test::write_file(t.file("other/x"), "x");
  fs::create_directory_symlink(t.file("other/sub"), t.file("allowed/link"));
  fs::create_symlink("loop2", t.file("loop1"));
  fs::create_symlink("loop1", t.file("loop2"));
  fs::create_symlink("newfile", t.file("dangling"));
  fs::create_symlink("/proc/self/mem", t.file("to-mem"));

  // The symlink is expanded before "..": the kernel opens <target>/../x, not allowed/x.
  CHECK(self_resolve(AT_FDCWD, t.file("allowed/link/../x")).path == t.file("other/x"));
  CHECK(self_resolve(AT_FDCWD, t.path() + "//allowed/./link/..//x").path == t.file("other/x"));
  UniqueFd dir(::open(t.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  CHECK(self_resolve(dir.get(), "allowed/link/../x").path == t.file("other/x"));
  CHECK(self_resolve(dir.get(), "../" + fs::path(t.path()).filename().string() + "/other/x").path ==
        t.file("other/x"));
  UniqueFd file(::open(t.file("other/x").c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(self_resolve(file.get(), "y").error == ENOTDIR);
  CHECK(self_resolve(9999, "y").error == EBADF);

  CHECK(self_resolve(AT_FDCWD, t.file("loop1")).error == ELOOP);
  CHECK(self_resolve(AT_FDCWD, t.file("other/x/y")).error == ENOTDIR);
  CHECK(self_resolve(AT_FDCWD, t.file("missing/y")).error == ENOENT);
  CHECK(self_resolve(AT_FDCWD, t.file("missing")).path == t.file("missing"));
  CHECK(self_resolve(AT_FDCWD, t.file("dangling"), true).path == t.file("newfile"));
  CHECK(self_resolve(AT_FDCWD, t.file("dangling"), false).path == t.file("dangling"));
  CHECK(self_resolve(AT_FDCWD, "/" + std::string(256, 'a')).error == ENAMETOOLONG);
  CHECK(self_resolve(AT_FDCWD, "/" + std::string(5000, 'a')).error == ENAMETOOLONG);

  // /proc/self is the tracee; other processes and dangerous entries are refused.
  CHECK(self_resolve(AT_FDCWD, "/proc/self/status").path == "/proc/self/status");
  const auto tid = std::to_string(::syscall(SYS_gettid));
  CHECK(self_resolve(AT_FDCWD, "/proc/thread-self/status").path ==
        "/proc/self/task/" + tid + "/status");
  CHECK(self_resolve(AT_FDCWD, "/proc/" + std::to_string(::getpid()) + "/maps").path ==
        "/proc/self/maps");
  CHECK(self_resolve(AT_FDCWD, "/proc/meminfo").path == "/proc/meminfo");
  CHECK(self_resolve(AT_FDCWD, "/proc/self/mem").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/0").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/thread-self/root").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/1/status").proc_refused);
  CHECK(self_resolve(AT_FDCWD, t.file("to-mem")).proc_refused);
}

TEST_CASE("the judge policy decides every file access", "[policy]") {
  TempDir t;
  namespace fs = std::filesystem;
  fs::create_directories(t.file("r"));
  fs::create_directories(t.file("w"));
  fs::create_directories(t.file("other/sub"));
  test::write_file(t.file("r/data"), "data");
  test::write_file(t.file("other/secret"), "SECRET");
  test::write_file(t.file("banned"), "banned");
  fs::create_directory_symlink(t.file("other/sub"), t.file("r/link"));
  fs::create_symlink(t.file("other/secret"), t.file("w/escape"));
  auto with_sets = [&](JudgeRun& j) {
    j.judge.files.readable.add(t.file("r/"));
    j.judge.files.writable.add(t.file("w/"));
    j.judge.files.soft_banned.add(t.file("banned"));
  };
  auto run = [&](std::vector<std::string> args) {
    auto j = std::make_unique<JudgeRun>(std::move(args));
    with_sets(*j);
    Result r = j->run();
    return std::pair{std::move(j), r};
  };

  SECTION("reading a readable file") {
    auto [j, r] = run({"open", t.file("r/data"), "r"});
    CHECK(r.status == Status::kNormal);
    CHECK(j->output() == "ret=0\n");
  }
  SECTION("writing a readable file is a violation naming the path") {
    auto [j, r] = run({"open", t.file("r/data"), "w"});
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->syscall == "openat");
    CHECK(r.violation->path == t.file("r/data"));
    CHECK(r.error == "openat of " + t.file("r/data") + " (write) is not allowed");
  }
  SECTION("creating in a writable directory") {
    auto [j, r] = run({"open", t.file("w/new"), "c"});
    CHECK(r.status == Status::kNormal);
    CHECK(fs::exists(t.file("w/new")));
  }
  SECTION("a soft-banned file fails with EACCES") {
    auto [j, r] = run({"open", t.file("banned"), "r"});
    CHECK(r.status == Status::kNormal);
    CHECK(j->output() == "err=EACCES\n");
  }
  SECTION("a symlink in a writable directory does not lead out") {
    auto [j, r] = run({"open", t.file("w/escape"), "r"});
    CHECK(r.status == Status::kDisallowedSyscall);
    CHECK(r.violation->path == t.file("other/secret"));
  }
  SECTION("\"..\" after a symlink is applied to its target") {
    auto [j, r] = run({"open", t.file("r/link/../secret"), "r"});
    CHECK(r.status == Status::kDisallowedSyscall);
    CHECK(r.violation->path == t.file("other/secret"));
  }
  SECTION("another process's /proc and /proc/self/mem are refused") {
    auto [j, r] = run({"open", "/proc/1/status", "r"});
    CHECK(r.status == Status::kNormal);
    CHECK(j->output() == "err=EACCES\n");
    auto [j2, r2] = run({"open", "/proc/self/mem", "r"});
    CHECK(j2->output() == "err=EACCES\n");
  }
  SECTION("bad path arguments get the kernel's errno") {
    auto [j, r] = run({"open-null"});
    CHECK(r.status == Status::kNormal);
    CHECK(j->output() == "err=EFAULT\n");
    auto [j2, r2] = run({"open-long", "5000"});
    CHECK(r2.status == Status::kNormal);
    CHECK(j2->output() == "err=ENAMETOOLONG\n");
  }
  SECTION("stat needs the path to be statable") {
    auto [j, r] = run({"stat", t.file("r/data")});
    CHECK(j->output() == "ret=0\n");
    auto [j2, r2] = run({"stat", t.file("other/secret")});
    CHECK(r2.status == Status::kDisallowedSyscall);
    CHECK(r2.violation->path == t.file("other/secret"));
  }
}

TEST_CASE("a syscall budget allows N calls and refuses the next", "[policy]") {
  JudgeRun j({"calls", "getuid", "3"});
  j.judge.budgets["getuid"] = 2;
  Result r = j.run();
  CHECK(r.status == Status::kDisallowedSyscall);
  CHECK(j.output() ==
        "ret=" + std::to_string(::getuid()) + "\nret=" + std::to_string(::getuid()) + "\n");
  CHECK(r.error == "getuid is allowed 2 time(s); this was call 3");
}

TEST_CASE("an unknown syscall names itself and how to allow it", "[policy]") {
  JudgeRun j({"call", "getgid"});
  Result r = j.run();
  CHECK(r.status == Status::kDisallowedSyscall);
  CHECK(r.error ==
        "getgid is not allowed by the policy; add \"getgid\" to the policy's allowed syscalls");
}

TEST_CASE("path checks cannot be raced", "[policy][race]") {
  TempDir t;
  test::write_file(t.file("public"), "public\n");
  test::write_file(t.file("secret"), "SECRET\n");
  SECTION("a second thread rewrites the path") {
    JudgeRun j({"race-open", t.file("public"), t.file("secret"), "3"});
    j.judge.files.readable.add(t.file("public"));
    j.judge.files.soft_banned.add(t.file("secret"));
    Result r = j.run();
    CHECK(r.status == Status::kNormal);
    INFO(j.output());
    CHECK(j.output().starts_with("lost "));
  }
  SECTION("a second thread swaps a symlink") {
    JudgeRun j({"symlink-race", t.path(), "3"});
    j.judge.allow.push_back("symlink");
    j.judge.allow.push_back("rename");
    j.judge.files.soft_banned.add(t.file("secret"));
    // Only the links are writable: the secret could be read only through a swap that lands
    // between the check and the open.
    j.judge.files.writable.add(t.file("link"));
    j.judge.files.writable.add(t.file("to-public"));
    j.judge.files.writable.add(t.file("to-secret"));
    j.judge.files.readable.add(t.file("public"));
    Result r = j.run();
    CHECK(r.status == Status::kNormal);
    INFO(j.output());
    CHECK(j.output().starts_with("lost "));
  }
}

// ---- Argument rules ----

namespace {

// The filter a run of `p` gets (as the tracer builds it, less its own memory and counting rules).
seccomp::Program filter_of(const Policy& p) {
  seccomp::Builder b;
  b.for_tracer(true).default_action(p.default_action).enforce_compat_abis(p.enforce_compat_abis);
  for (const Rule& r : p.rules) b.add(r.syscall, r.action, r.conditions);
  return b.build();
}

// The SECCOMP_RET value the table's verdict stands for.
std::uint32_t expected_ret(const ArgumentVerdict& v, const seccomp::Action& allowed) {
  switch (v.kind) {
    case ArgumentVerdict::Kind::kAllow:
      return allowed.to_ret();
    case ArgumentVerdict::Kind::kErrno:
      return seccomp::Action::error(static_cast<std::uint16_t>(v.error)).to_ret();
    case ArgumentVerdict::Kind::kViolation:
      return seccomp::Action::trace(kTagArgument).to_ret();
    case ArgumentVerdict::Kind::kCheck:
      return seccomp::Action::trace(v.tag).to_ret();
  }
  return 0;
}

std::uint32_t run_filter(const seccomp::Program& p, std::string_view syscall,
                         const std::array<std::uint64_t, 6>& args) {
  const long nr = seccomp::syscall_number(seccomp::native_arch(), syscall);
  REQUIRE(nr >= 0);
  return test::run_bpf(p.instructions, seccomp::native_arch(), nr, args);
}

constexpr std::uint64_t k4G = std::uint64_t{1} << 32;

std::string reason_of(std::string_view syscall, std::array<std::uint64_t, 6> args) {
  ArgumentVerdict v = decide_arguments(syscall, args);
  return v.kind == ArgumentVerdict::Kind::kViolation ? v.reason : "not a violation";
}

}  // namespace

TEST_CASE("argument rules: make_policy gives each allowed syscall its refused modes", "[policy]") {
  JudgePolicy j = judge_base();
  j.budgets["sched_yield"] = 3;
  std::erase(j.allow, "sched_yield");
  j.budgets["madvise"] = 5;
  std::erase(j.allow, "madvise");
  const Policy p = make_policy(j);
  auto rules_of = [&](std::string_view name) {
    std::vector<Rule> out;
    for (const Rule& r : p.rules)
      if (r.syscall == name) out.push_back(r);
    return out;
  };
  auto actions_of = [&](std::string_view name) {
    std::set<std::string> out;
    for (const Rule& r : rules_of(name)) out.insert(r.action.to_string());
    return out;
  };
  // A syscall without argument rules: one unconditional allow.
  REQUIRE(rules_of("getpid").size() == 1);
  CHECK(rules_of("getpid")[0].conditions.empty());
  CHECK(rules_of("sched_yield")[0].action == seccomp::Action::trace(kTagBudget));
  // With rules: every rule is conditional, the refused modes fail or are violations.
  for (const char* name : {"fcntl", "ioctl", "prlimit64", "clock_gettime", "clock_nanosleep",
                           "sched_getaffinity", "futex"}) {
    INFO(name);
    REQUIRE_FALSE(rules_of(name).empty());
    for (const Rule& r : rules_of(name)) CHECK_FALSE(r.conditions.empty());
  }
  CHECK(actions_of("fcntl") == std::set<std::string>{"allow", "errno(EINVAL)", "trace(4)"});
  CHECK(actions_of("ioctl") == std::set<std::string>{"allow", "errno(ENOTTY)", "trace(4)"});
  CHECK(actions_of("futex") == std::set<std::string>{"allow", "errno(ENOSYS)"});
  CHECK(actions_of("prlimit64") ==
        std::set<std::string>{"allow", "trace(4)", fmt::format("trace({})", kTagLimit)});
  CHECK(actions_of("sched_getaffinity") == std::set<std::string>{"allow", "trace(7)"});
  // A budgeted syscall's allowed modes are counted; its refused ones are refused all the same.
  CHECK(actions_of("madvise") == std::set<std::string>{"trace(2)", "errno(EINVAL)", "trace(4)"});
  // clone's refused flags are the tracer's defaults, not the judge's.
  REQUIRE(rules_of("clone").size() == 1);

  // Syscalls whose modes cannot be told apart are refused when the policy is built.
  for (const char* name : {"process_vm_readv", "pidfd_open", "pidfd_send_signal", "kcmp",
                           "sched_setattr", "ptrace", "seccomp", "setns"}) {
    INFO(name);
    JudgePolicy bad = judge_base();
    bad.allow.push_back(name);
    CHECK(make_config_error(bad).starts_with("syscall \"" + std::string(name) +
                                             "\" cannot be allowed: "));
    JudgePolicy budget = judge_base();
    budget.budgets[name] = 1;
    CHECK(make_config_error(budget).starts_with("syscall \"" + std::string(name) + "\""));
  }
  CHECK(make_config_error([] {
          JudgePolicy k = judge_base();
          k.allow.push_back("pidfd_open");
          return k;
        }()) ==
        "syscall \"pidfd_open\" cannot be allowed: a pidfd signals (pidfd_send_signal) "
        "or waits for any process");
}

TEST_CASE("argument rules: each refused mode, its verdict and its reason", "[policy]") {
  using K = ArgumentVerdict::Kind;
  auto kind = [](std::string_view s, std::array<std::uint64_t, 6> a) {
    return decide_arguments(s, a).kind;
  };
  auto err = [](std::string_view s, std::array<std::uint64_t, 6> a) {
    ArgumentVerdict v = decide_arguments(s, a);
    return v.kind == K::kErrno ? v.error : -1;
  };
  // fcntl: an allow-list of commands; owners, signals, notifications and leases are violations.
  for (int cmd : {F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_GETLK, F_SETLK, F_SETLKW,
                  F_OFD_SETLK, F_GETOWN, F_GETSIG, F_GETPIPE_SZ})
    CHECK(kind("fcntl", {3, static_cast<std::uint64_t>(cmd)}) == K::kAllow);
  CHECK(kind("fcntl", {3, F_SETFL, O_NONBLOCK | O_APPEND}) == K::kAllow);
  CHECK(reason_of("fcntl", {3, F_SETFL, O_NONBLOCK | O_ASYNC}) ==
        "fcntl F_SETFL with O_ASYNC would let the kernel signal any process");
  CHECK(reason_of("fcntl", {3, k4G | F_SETOWN, 1}) ==
        "fcntl F_SETOWN would let the kernel signal any process");
  CHECK(reason_of("fcntl", {3, F_SETOWN_EX}) ==
        "fcntl F_SETOWN_EX would let the kernel signal any process");
  for (int cmd : {F_SETSIG, F_NOTIFY, F_SETLEASE})
    CHECK(kind("fcntl", {3, static_cast<std::uint64_t>(cmd)}) == K::kViolation);
  for (std::uint64_t cmd : {std::uint64_t{F_SETPIPE_SZ}, std::uint64_t{1029}, std::uint64_t{99},
                            std::uint64_t{0xffffffff}})
    CHECK(err("fcntl", {3, cmd}) == EINVAL);
  // ioctl: the terminal and fd queries; the low 32 bits of the request decide.
  for (std::uint64_t req :
       {std::uint64_t{TCGETS}, std::uint64_t{TIOCGWINSZ}, std::uint64_t{FIONREAD},
        std::uint64_t{FIONBIO}, std::uint64_t{FIOCLEX}, std::uint64_t{FIONCLEX},
        std::uint64_t{TIOCGPGRP}, k4G | TCGETS, 0xffffffff00000000 | TIOCGWINSZ})
    CHECK(kind("ioctl", {0, req}) == K::kAllow);
  CHECK(reason_of("ioctl", {0, TIOCSTI}) == "ioctl TIOCSTI would type input into the terminal");
  CHECK(reason_of("ioctl", {0, 0xffffffff00000000 | FS_IOC_SETFLAGS}) ==
        "ioctl FS_IOC_SETFLAGS would change the file's attributes (immutable, append-only...)");
  CHECK(reason_of("ioctl", {0, FIOASYNC}) ==
        "ioctl FIOASYNC would let the kernel signal any process (O_ASYNC)");
  for (std::uint64_t req : {std::uint64_t{TCSETS}, std::uint64_t{FS_IOC_GETFLAGS},
                            std::uint64_t{0x1234}, std::uint64_t{0}})
    CHECK(err("ioctl", {0, req}) == ENOTTY);
  // madvise: an allow-list of advices.
  for (int advice : {MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTFORK})
    CHECK(kind("madvise", {0, 4096, static_cast<std::uint64_t>(advice)}) == K::kAllow);
  CHECK(reason_of("madvise", {0, 4096, MADV_MERGEABLE}) ==
        "madvise MADV_MERGEABLE would let KSM merge its pages with other processes' (a side "
        "channel)");
  CHECK(reason_of("madvise", {0, 4096, MADV_HWPOISON}) ==
        "madvise MADV_HWPOISON would poison a physical page of the host");
  CHECK(err("madvise", {0, 4096, MADV_REMOVE}) == EINVAL);
  CHECK(err("madvise", {0, 4096, 77}) == EINVAL);
  // prlimit64: pid 0 only; a new limit is the tracer's check.
  CHECK(kind("prlimit64", {0, RLIMIT_NOFILE, 0, 0x1000}) == K::kAllow);
  CHECK(decide_arguments("prlimit64", {0, RLIMIT_NOFILE, 0x1000}).tag == kTagLimit);
  CHECK(decide_arguments("prlimit64", {k4G, RLIMIT_NOFILE, 0x1000}).tag == kTagLimit);
  CHECK(reason_of("prlimit64", {1, RLIMIT_NOFILE, 0x1000}) ==
        "prlimit64 of pid 1 would reach another process (only 0, the caller, is allowed)");
  CHECK(reason_of("prlimit64", {0xffffffff, RLIMIT_NOFILE, 0}) ==
        "prlimit64 of pid -1 would reach another process (only 0, the caller, is allowed)");
  CHECK(decide_arguments("setrlimit", {RLIMIT_CPU, 0x1000}).tag == kTagLimit);
  // Pids: 0 in the filter; another one is the tracer's check that it is the caller's own.
  CHECK(kind("sched_getaffinity", {0, 128, 0x1000}) == K::kAllow);
  const ArgumentVerdict other = decide_arguments("sched_setaffinity", {1, 128, 0x1000});
  CHECK(other.kind == K::kCheck);
  CHECK(other.tag == kTagSelf);
  CHECK(other.pid_arg == 0);
  CHECK(other.reason == "sched_setaffinity of pid 1 would reach another process (only the caller)");
  CHECK(kind("getpgid", {k4G}) == K::kAllow);  // pid_t: the low 32 bits
  CHECK(reason_of("setpriority", {PRIO_USER, 0, 10}) ==
        "setpriority for a whole user would reach every process of that user");
  CHECK(kind("setpriority", {PRIO_PROCESS, 0, 10}) == K::kAllow);
  CHECK(decide_arguments("setpriority", {PRIO_PGRP, 7, 10}).pid_arg == 1);
  CHECK(reason_of("sched_setscheduler", {0, SCHED_FIFO, 0x1000}) ==
        "sched_setscheduler with a real-time policy would let the run starve the host's "
        "processes");
  CHECK(kind("sched_setscheduler", {0, SCHED_BATCH | SCHED_RESET_ON_FORK}) == K::kAllow);
  // Clocks: the static ones, the caller's own CPU clocks, its threads' clocks.
  const auto clock = [](int pid, int type, bool thread) {
    return static_cast<std::uint64_t>(
        static_cast<std::uint32_t>((~pid << 3) | type | (thread ? 4 : 0)));
  };
  for (std::uint64_t id :
       {std::uint64_t{CLOCK_REALTIME}, std::uint64_t{CLOCK_MONOTONIC},
        std::uint64_t{CLOCK_PROCESS_CPUTIME_ID}, std::uint64_t{CLOCK_BOOTTIME}, clock(0, 0, false),
        clock(0, 2, false), clock(0, 2, true), clock(1234, 2, true), clock(1, 0, true)})
    CHECK(kind("clock_gettime", {id, 0x1000}) == K::kAllow);
  CHECK(reason_of("clock_gettime", {clock(1, 2, false), 0x1000}) ==
        "clock_gettime of the CPU clock of pid 1 would reach another process");
  CHECK(reason_of("clock_getres", {k4G | clock(77, 0, false), 0}) ==
        "clock_getres of the CPU clock of pid 77 would reach another process");
  CHECK(kind("clock_nanosleep", {clock(5, 1, false)}) == K::kViolation);
  CHECK(err("clock_gettime", {clock(3, 3, false)}) == EINVAL);  // an fd's clock (CLOCKFD)
  // futex: priority inheritance names a task by tid.
  CHECK(kind("futex", {0x1000, FUTEX_WAIT_PRIVATE}) == K::kAllow);
  CHECK(kind("futex", {0x1000, FUTEX_WAKE | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME}) ==
        K::kAllow);
  CHECK(err("futex", {0x1000, FUTEX_LOCK_PI}) == ENOSYS);
  CHECK(err("futex", {0x1000, FUTEX_LOCK_PI_PRIVATE}) == ENOSYS);
  CHECK(err("futex", {0x1000, FUTEX_WAIT | 0x200}) == ENOSYS);
  // Sockets named by an address.
  CHECK(kind("sendto", {3, 0x1000, 10, 0, 0, 0}) == K::kAllow);
  CHECK(reason_of("sendto", {3, 0x1000, 10, 0, 0x2000, 16}) ==
        "sendto with a destination address would reach a socket by its name");
  CHECK(decide_arguments("sendmsg", {3, 0x1000}).tag == kTagMessage);
  CHECK(decide_arguments("sendmmsg", {3, 0x1000, 2}).tag == kTagMessage);
  // No rules: allowed.
  CHECK(kind("getpid", {}) == K::kAllow);
  CHECK(kind("mremap", {1, 2, 3, 4, 5}) == K::kAllow);
}

TEST_CASE("argument rules: the built filter decides every call as the table does", "[policy]") {
  JudgePolicy j = judge_base();
  const std::vector<std::string_view> names = syscalls_with_argument_rules();
  std::vector<Rule> direct;
  for (std::string_view n : names) {
    if (seccomp::syscall_number(seccomp::native_arch(), n) < 0) continue;  // another ABI's name
    if (takes_path(n)) {
      // sendto: the file policy refuses it (a unix socket's path); its rules stand behind that.
      for (Rule& r : argument_rules(n, seccomp::Action::allow())) direct.push_back(r);
    } else if (std::find(j.allow.begin(), j.allow.end(), n) == j.allow.end()) {
      j.allow.emplace_back(n);
    }
  }
  Policy policy = make_policy(j);
  policy.rules.insert(policy.rules.end(), direct.begin(), direct.end());
  const seccomp::Program filter = filter_of(policy);
  INFO(filter.instructions.size() << " instructions");
  CHECK(filter.instructions.size() < 2048);
  // Values near every boundary the rules draw, and random ones with random high halves.
  std::vector<std::uint64_t> interesting = {0,   1,   2,   3,    4,    5,    6,    7,   8,
                                            9,   10,  11,  12,   13,   14,   15,   16,  25,
                                            100, 101, 102, 1024, 1025, 1026, 1030, 1031};
  for (std::uint64_t v :
       {std::uint64_t{TCGETS}, std::uint64_t{TIOCSTI}, std::uint64_t{FIONBIO},
        std::uint64_t{FS_IOC_SETFLAGS}, std::uint64_t{FIOASYNC}, std::uint64_t{O_ASYNC},
        std::uint64_t{O_ASYNC | O_NONBLOCK}, std::uint64_t{0xfffffff8}, std::uint64_t{0xfffffffa},
        std::uint64_t{0xfffffffb}, std::uint64_t{0xfffffffe}, std::uint64_t{0xfffffff2},
        std::uint64_t{0xffffff06}, std::uint64_t{0x80000000}, std::uint64_t{0x7fffffff},
        std::uint64_t{0xffffffff}, std::uint64_t{FUTEX_LOCK_PI_PRIVATE}, std::uint64_t{0x189}})
    interesting.push_back(v);
  std::mt19937_64 rng(20240611);
  auto pick = [&]() -> std::uint64_t {
    const std::uint64_t base = rng() % 3 == 0 ? rng() : interesting[rng() % interesting.size()];
    switch (rng() % 4) {
      case 0:
        return base | (rng() << 32);  // garbage in the high half: the kernel reads an int
      case 1:
        return base ^ (std::uint64_t{1} << (rng() % 32));
      default:
        return base;
    }
  };
  const seccomp::Action allowed = seccomp::Action::allow();
  for (std::string_view n : names) {
    if (seccomp::syscall_number(seccomp::native_arch(), n) < 0 || !never_allowed(n).empty())
      continue;
    INFO(n);
    for (int i = 0; i < 3000; ++i) {
      std::array<std::uint64_t, 6> args{};
      for (auto& a : args) a = rng() % 8 == 0 ? 0 : pick();
      INFO(fmt::format("{:#x} {:#x} {:#x} {:#x} {:#x}", args[0], args[1], args[2], args[3],
                       args[4]));
      const std::uint32_t want = expected_ret(decide_arguments(n, args), allowed);
      const std::uint32_t got = run_filter(filter, n, args);
      if (got != want) {
        CHECK(got == want);
        break;
      }
    }
  }
}

TEST_CASE("argument rules: the i386 ABI, when enforced, reads the same ints", "[policy]") {
  JudgePolicy j = judge_base();
  j.enforce_compat_abis = true;
  const seccomp::Program filter = filter_of(make_policy(j));
  constexpr std::uint32_t kI386 = 0x40000003;  // AUDIT_ARCH_I386
  const long fcntl = seccomp::syscall_number(kI386, "fcntl");
  const long ioctl = seccomp::syscall_number(kI386, "ioctl");
  const long prlimit = seccomp::syscall_number(kI386, "prlimit64");
  REQUIRE((fcntl > 0 && ioctl > 0 && prlimit > 0));
  const std::uint32_t violation = seccomp::Action::trace(kTagArgument).to_ret();
  CHECK(test::run_bpf(filter.instructions, kI386, fcntl, {3, F_SETOWN, 1}) == violation);
  CHECK(test::run_bpf(filter.instructions, kI386, fcntl, {3, F_GETFL}) ==
        seccomp::Action::allow().to_ret());
  CHECK(test::run_bpf(filter.instructions, kI386, fcntl, {3, 1234}) ==
        seccomp::Action::error(EINVAL).to_ret());
  CHECK(test::run_bpf(filter.instructions, kI386, ioctl, {0, TIOCSTI}) == violation);
  CHECK(test::run_bpf(filter.instructions, kI386, ioctl, {0, TCGETS}) ==
        seccomp::Action::allow().to_ret());
  CHECK(test::run_bpf(filter.instructions, kI386, prlimit, {1, RLIMIT_NOFILE}) == violation);
}
