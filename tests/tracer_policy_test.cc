#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>

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
  test::give_to_program(t.file("w"));
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
  CHECK(j.output() == "ret=" + std::to_string(test::program_uid()) +
                          "\nret=" + std::to_string(test::program_uid()) + "\n");
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
