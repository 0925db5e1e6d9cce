#include <asm/termbits.h>
#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "support/bpf.h"
#include "support/support.h"
#include "tracebox/tracer/policy/exec.h"
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
  // /proc/self/fd/N followed as the last component is the fd itself (fd_reopen_error decides);
  // anything else through /proc/self/fd is refused.
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/0").fd == 0);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/0").fd_table ==
        "/proc/" + std::to_string(::getpid()));
  CHECK(self_resolve(AT_FDCWD, "/proc/thread-self/fd/2").fd_table ==
        "/proc/" + std::to_string(::getpid()) + "/task/" + tid);
  CHECK(self_resolve(AT_FDCWD, "/dev/stdin").fd == 0);
  CHECK(self_resolve(AT_FDCWD, "/dev/fd/1").path == "/proc/self/fd/1");
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/0", false).proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/0/").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/00").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fd/0/x").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/self/fdinfo/0").proc_refused);
  CHECK(self_resolve(AT_FDCWD, "/proc/1/fd/0").proc_refused);
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
    // Only the links are writable (and may be created and renamed): the secret could be read
    // only through a swap that lands between the check and the open.
    for (const char* name : {"link", "to-public", "to-secret"}) {
      j.judge.files.writable.add(t.file(name));
      j.judge.files.names.add(t.file(name));
    }
    j.judge.files.readable.add(t.file("public"));
    Result r = j.run();
    CHECK(r.status == Status::kNormal);
    INFO(j.output());
    CHECK(j.output().starts_with("lost "));
  }
}

// The path cache's tree: /mnt as a tmpfs only root can change, with directories that others
// could change beside it.
struct CacheTree {
  test::ScratchTmpfs mnt{"/mnt"};
  FileSets sets;
  explicit CacheTree() {
    if (!mnt.mounted()) return;
    for (const char* d :
         {"/mnt/a", "/mnt/a/b", "/mnt/open", "/mnt/group", "/mnt/user", "/mnt/w", "/mnt/n"})
      REQUIRE(::mkdir(d, 0755) == 0);
    REQUIRE(::chmod("/mnt/open", 0777) == 0);
    REQUIRE(::chmod("/mnt/group", 0775) == 0);
    REQUIRE(::chown("/mnt/user", test::kSandboxUid, test::kSandboxGid) == 0);
    for (const char* d : {"/mnt/a/b", "/mnt/open", "/mnt/group", "/mnt/user", "/mnt/w", "/mnt/n"})
      test::write_file(std::string(d) + "/file", "x\n");
    std::filesystem::create_directory_symlink("a/b", "/mnt/link");
    std::filesystem::create_directory_symlink("/mnt/a/b", "/mnt/abs");
    sets.readable.add("/mnt/");
    sets.writable.add("/mnt/w/x");  // an open with O_CREAT may add /mnt/w/x
    sets.names.add("/mnt/n/**");
  }
};

TEST_CASE("the path cache remembers only what no program can change", "[policy][cache]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  CacheTree t;
  REQUIRE(t.mnt.mounted());
  PathCache cache(t.sets, 0);
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  // What the cache holds for `path` once resolved, "" for nothing.
  auto remembered = [&](const std::string& path, bool follow = true, int dirfd = AT_FDCWD) {
    const Resolved r = resolve(tid, ::getpid(), dirfd, path, follow, &cache);
    CHECK(r.error == 0);
    const PathCache::Entry* e = cache.find(path, follow);
    return e == nullptr ? std::string() : e->path;
  };
  CHECK(remembered("/mnt/a/b/file") == "/mnt/a/b/file");
  CHECK(remembered("/mnt/link/file") == "/mnt/a/b/file");  // a symlink in a root-only directory
  CHECK(remembered("/mnt/abs/file") == "/mnt/a/b/file");
  CHECK(remembered("/mnt/link", false) == "/mnt/link");
  CHECK(cache.size() == 4);
  // Directories others may change: writable by others or the group, or not root's.
  CHECK(remembered("/mnt/open/file").empty());
  CHECK(remembered("/mnt/group/file").empty());
  CHECK(remembered("/mnt/user/file").empty());
  // Directories the sets let the program change: a file it may create, a tree it may rename in.
  CHECK(remembered("/mnt/w/file").empty());
  CHECK(remembered("/mnt/n/file").empty());
  // Paths that do not name the same file for every task or every time.
  CHECK(remembered("/mnt/a/../a/b/file").empty());
  CHECK(remembered("/proc/self/status").empty());
  CHECK(remembered("/mnt/a/b/missing").empty());  // to be created
  const int mnt = ::open("/mnt", O_PATH | O_DIRECTORY | O_CLOEXEC);
  CHECK(remembered("a/b/file", true, mnt).empty());
  ::close(mnt);
  // A filesystem whose entries the kernel changes without telling inotify.
  if (std::filesystem::is_directory("/sys/kernel")) CHECK(remembered("/sys/kernel").empty());
  CHECK(cache.size() == 4);
  // The names met on the way: directories and symlinks of directories that cannot change.
  for (const char* dir : {"/", "/mnt", "/mnt/a", "/mnt/a/b"}) {
    INFO(dir);
    CHECK((cache.name(dir) != nullptr && cache.name(dir)->directory));
  }
  REQUIRE(cache.name("/mnt/link") != nullptr);
  CHECK(!cache.name("/mnt/link")->directory);
  CHECK(cache.name("/mnt/link")->target == "a/b");
  for (const char* other : {"/mnt/a/b/file", "/mnt/open", "/mnt/user", "/mnt/w", "/mnt/n", "/sys"})
    CHECK(cache.name(other) == nullptr);
  CHECK(cache.view_is_ours(tid));

  SECTION("a hit is not walked again") {
    // Replaced behind the cache's back with the watch gone (a fresh cache has none yet).
    PathCache blind(t.sets, 0);
    blind.insert("/mnt/a/b/file", true, "/elsewhere");
    CHECK(resolve(tid, ::getpid(), AT_FDCWD, "/mnt/a/b/file", true, &blind).path == "/elsewhere");
  }
  SECTION("a remembered name is not looked at again") {
    PathCache blind(t.sets, 0);
    blind.remember("/", {true, {}});
    blind.remember("/mnt", {true, {}});
    blind.remember("/mnt/a", {false, "open"});
    CHECK(resolve(tid, ::getpid(), AT_FDCWD, "/mnt/a/file", true, &blind).path == "/mnt/open/file");
  }
  SECTION("a filesystem mounted over a directory on the way") {
    test::ScratchTmpfs over("/mnt/a");
    REQUIRE(over.mounted());
    CHECK(cache.find("/mnt/a/b/file", true) == nullptr);
    CHECK(cache.name("/mnt/a") == nullptr);
    CHECK(cache.drops() == 1);
  }
  SECTION("a task in another mount namespace is walked in its own view") {
    // The child's /mnt/a is its own tmpfs, where b leads to /mnt/open.
    int ready[2];
    REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
      if (::unshare(CLONE_NEWNS) != 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("tmpfs", "/mnt/a", "tmpfs", 0, "mode=0755") != 0 ||
          ::symlink("/mnt/open", "/mnt/a/b") != 0 || ::write(ready[1], "x", 1) != 1)
        ::_exit(1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char c;
    const bool up = ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
    const std::uint64_t hits = cache.hits();
    Resolved r;
    if (up) r = resolve(child, child, AT_FDCWD, "/mnt/a/b/file", true, &cache);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    REQUIRE(up);
    CHECK(r.path == "/mnt/open/file");
    CHECK(cache.hits() == hits);
    CHECK(!cache.view_is_ours(child));
    CHECK(cache.find("/mnt/a/b/file", true) != nullptr);  // ours is still ours
  }
  // Whoever changes a directory it walked through, root included, empties it.
  SECTION("an entry renamed") {
    REQUIRE(::rename("/mnt/a/b/file", "/mnt/a/b/moved") == 0);
    CHECK(cache.find("/mnt/a/b/file", true) == nullptr);
    CHECK(cache.size() == 0);
    CHECK(cache.name("/mnt/a") == nullptr);
    CHECK(cache.drops() == 1);
  }
  SECTION("a symlink swapped") {
    std::filesystem::create_directory_symlink("/mnt/open", "/mnt/new-link");
    CHECK(cache.find("/mnt/a/b/file", true) == nullptr);  // anything: /mnt changed
    REQUIRE(::rename("/mnt/new-link", "/mnt/link") == 0);
    CHECK(cache.find("/mnt/link/file", true) == nullptr);
  }
  SECTION("a directory moved in a higher one") {
    REQUIRE(::rename("/mnt/a", "/mnt/a2") == 0);
    CHECK(cache.find("/mnt/abs/file", true) == nullptr);
  }
  SECTION("a file added") {
    test::write_file("/mnt/a/b/new", "x\n");
    CHECK(cache.find("/mnt/a/b/file", true) == nullptr);
  }
  SECTION("a directory made writable") {
    REQUIRE(::chmod("/mnt/a", 0777) == 0);
    CHECK(cache.find("/mnt/a/b/file", true) == nullptr);
    CHECK(remembered("/mnt/a/b/file").empty());  // and not remembered again
  }
  SECTION("cleared, disabled") {
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK(remembered("/mnt/a/b/file") == "/mnt/a/b/file");
    cache.disable();
    CHECK(cache.size() == 0);
    CHECK(remembered("/mnt/a/b/file").empty());
  }
}

TEST_CASE("the path cache holds a bounded amount, however many spellings a path has",
          "[policy][cache]") {
  FileSets sets;
  PathCache cache(sets, 0);
  // 10000 names of 1 kB ("/a/./././..." would do the same through resolve()).
  const std::string tail(1000, '.');
  for (int i = 0; i < 10000; ++i) cache.insert("/" + std::to_string(i) + tail, true, "/x");
  CHECK(cache.bytes() <= PathCache::kMaxBytes);
  CHECK(cache.size() > 0);
  CHECK(cache.size() < 10000);
  CHECK(cache.peek("/9999" + tail, true) != nullptr);  // the newest are kept
}

TEST_CASE("the path cache cannot be raced by the program's own threads", "[policy][cache][race]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  // As root (no user of its own), in a directory only root may change: what the cache would
  // remember, were its links not the program's to change.
  test::ScratchTmpfs mnt("/mnt");
  REQUIRE(mnt.mounted());
  REQUIRE(::mkdir("/mnt/r", 0755) == 0);
  test::write_file("/mnt/r/public", "public\n");
  test::write_file("/mnt/r/secret", "SECRET\n");
  JudgeRun j({"symlink-race", "/mnt/r", "3"});
  j.spec.isolation.user = std::nullopt;
  j.judge.allow.push_back("symlink");
  j.judge.allow.push_back("rename");
  j.judge.files.soft_banned.add("/mnt/r/secret");
  for (const char* name : {"link", "to-public", "to-secret"}) {
    j.judge.files.writable.add(std::string("/mnt/r/") + name);
    j.judge.files.names.add(std::string("/mnt/r/") + name);
  }
  j.judge.files.readable.add("/mnt/r/public");
  Result r = j.run();
  CHECK(r.status == Status::kNormal);
  INFO(j.output());
  CHECK(j.output().starts_with("lost "));
}

TEST_CASE("the judge forgets remembered paths when the program writes or changes names",
          "[policy][cache]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  CacheTree t;
  REQUIRE(t.mnt.mounted());
  // Stats (past the cold walks), then (or not) an open of /dev/null for writing, which the sets
  // allow.
  for (bool write : {false, true}) {
    JudgeRun j({"stat-write", "/mnt/a/b/file", std::to_string(PathCache::kColdWalks + 2),
                write ? "/dev/null" : ""});
    j.judge.files.readable.add("/mnt/");
    j.judge.files.writable.add("/dev/null");
    j.spec.policy = make_policy(j.judge);
    JudgeHandler handler(j.judge);
    Result r = tracer::run(j.spec, handler);
    CHECK(r.status == Status::kNormal);
    CHECK(j.output() == (write ? "ret=0\nret=0\n" : "ret=0\n"));
    CHECK(handler.path_cache().hits() >= 1);
    CHECK((handler.path_cache().peek("/mnt/a/b/file", true) != nullptr) == !write);
  }
}

TEST_CASE("file sets separate a file's contents from its name", "[policy][names]") {
  FileSet below;
  below.add("/w/**");
  CHECK(below.contains("/w/a"));
  CHECK(below.contains("/w/a/b/c"));
  CHECK_FALSE(below.contains("/w"));
  CHECK_FALSE(below.contains("/wx/a"));
  CHECK_FALSE(below.contains("/"));
  FileSet everything;
  everything.add("/**");
  CHECK(everything.contains("/etc/passwd"));
  CHECK_FALSE(everything.contains("/"));

  FileSet trees;
  trees.add("/t/");
  trees.add("/u/**");
  trees.add("/u/x/special");
  CHECK(trees.covers_below("/t"));
  CHECK(trees.covers_below("/t/a/b"));
  CHECK(trees.covers_below("/u"));
  CHECK(trees.covers_below("/u/x"));
  CHECK_FALSE(trees.covers_below("/"));
  CHECK_FALSE(trees.covers_below("/v"));
  CHECK(trees.has_entry_below("/u/x"));
  CHECK(trees.has_entry_below("/u"));  // /u/x/special
  CHECK_FALSE(trees.has_entry_below("/t"));
  CHECK_FALSE(trees.has_entry_below("/u/x/special"));

  FileSets sets;
  sets.writable.add("/dev/null");
  sets.writable.add("/w/");
  sets.names.add("/w/**");
  sets.readable.add("/r/");
  sets.names.add("/n/**");
  // Writing /dev/null never allows removing, renaming or chmod-ing it.
  CHECK(sets.allows(Access::kWrite, "/dev/null"));
  CHECK_FALSE(sets.allows(Access::kName, "/dev/null"));
  CHECK(sets.allows(Access::kName, "/w/tmp"));
  CHECK_FALSE(sets.allows(Access::kName, "/w"));  // the directory's own entry stays
  CHECK_FALSE(sets.allows(Access::kName, "/r/x"));
  // Names alone grant neither reading nor writing; they make the path statable.
  CHECK_FALSE(sets.allows(Access::kRead, "/n/x"));
  CHECK_FALSE(sets.allows(Access::kWrite, "/n/x"));
  CHECK(sets.allows(Access::kStat, "/n/x"));
  CHECK(sets.allows(Access::kStat, "/n"));
  CHECK(to_string(Access::kName) == "names");

  // A new name may not grant what the old one did not.
  CHECK(sets.gained("/r/x", "/w/x", false) == Access::kWrite);
  CHECK(sets.gained("/n/x", "/w/x", false) == Access::kRead);
  CHECK(sets.gained("/dev/null", "/w/x", false) == Access::kName);
  CHECK_FALSE(sets.gained("/w/a", "/w/b", false).has_value());
  CHECK_FALSE(sets.gained("/w/a", "/n/a", false).has_value());  // less is fine
  // A directory takes its tree along: what the tree grants below the new name counts too.
  FileSets dirs;
  dirs.readable.add("/a/");
  dirs.writable.add("/a/d");  // the directory itself, not its tree
  dirs.writable.add("/b/");
  dirs.names.add("/a/**");
  dirs.names.add("/b/**");
  CHECK_FALSE(dirs.gained("/a/d", "/b/d", false).has_value());
  CHECK(dirs.gained("/a/d", "/b/d", true) == Access::kWrite);
  CHECK_FALSE(dirs.gained("/b/d", "/b/e", true).has_value());
  dirs.readable.add("/b/e/extra");  // an entry below the new name: refused, to be safe
  CHECK(dirs.gained("/b/d", "/b/e", true) == Access::kRead);
}

TEST_CASE("a script's interpreter line is read as binfmt_script reads it", "[policy][exec]") {
  CHECK_FALSE(script_interpreter("\x7f"
                                 "ELF")
                  .has_value());
  CHECK_FALSE(script_interpreter("# !/bin/sh\n").has_value());
  CHECK(script_interpreter("#!/bin/sh\n") == "/bin/sh");
  CHECK(script_interpreter("#! \t/bin/sh -e -x\n") == "/bin/sh");
  CHECK(script_interpreter("#!/bin/sh   \necho hi\n") == "/bin/sh");
  CHECK(script_interpreter("#!interp\n") == "interp");
  CHECK(script_interpreter("#!/bin/sh") == "/bin/sh");  // no newline: the padding ends it
  CHECK(script_interpreter(std::string("#!/bin/a\0b\n", 11)) == "/bin/a");
  CHECK(script_interpreter("#!\n") == "");  // ENOEXEC
  CHECK(script_interpreter("#!  \t \n") == "");
  // No newline in the buffer and no end to the name: it may be cut off, ENOEXEC.
  CHECK(script_interpreter("#!/" + std::string(300, 'a')) == "");
  // No newline, but the name ends within the buffer: the rest is its argument.
  CHECK(script_interpreter("#!/bin/sh " + std::string(300, 'a')) == "/bin/sh");
}

TEST_CASE("ELF headers, PT_INTERP and ABIs are read as binfmt_elf reads them", "[policy][exec]") {
  auto elf_of = [](const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    return read_elf(fd.get());
  };
  const ElfInfo dynamic = elf_of(test::tracee());
  CHECK(dynamic.is_elf);
  CHECK_FALSE(dynamic.malformed);
  CHECK(elf_abi_accepted(dynamic, false));
  REQUIRE(dynamic.interpreter.has_value());
  CHECK(dynamic.interpreter->starts_with("/"));
  CHECK(dynamic.interpreter->find("ld-linux") != std::string::npos);
  const ElfInfo fixed = elf_of(test::testprog_static());
  CHECK(fixed.is_elf);
  CHECK_FALSE(fixed.interpreter.has_value());

  TempDir t;
  // An i386 ELF header (no program headers: the kernel would refuse it anyway).
  std::string i386(sizeof(Elf32_Ehdr), '\0');
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_386;
  eh.e_phentsize = sizeof(Elf32_Phdr);
  std::memcpy(i386.data(), &eh, sizeof eh);
  test::write_file(t.file("i386"), i386, 0755);
  const ElfInfo foreign = elf_of(t.file("i386"));
  CHECK(foreign.is_elf);
  CHECK(elf_abi_name(foreign) == "i386");
  CHECK(foreign.malformed);
#if defined(__x86_64__)
  CHECK(elf_abi_name(dynamic) == "x86_64");
  CHECK_FALSE(elf_abi_accepted(foreign, false));
  CHECK(elf_abi_accepted(foreign, true));
#endif
  test::write_file(t.file("text"), "hello\n");
  CHECK_FALSE(elf_of(t.file("text")).is_elf);
}

TEST_CASE("binfmt_misc rules are read and matched as the kernel matches them", "[policy][exec]") {
  auto qemu = parse_binfmt_rule("qemu",
                                "enabled\ninterpreter /usr/bin/qemu-x\nflags: OCF\n"
                                "offset 0\nmagic 7f454c4602\nmask ffffffff0f\n");
  REQUIRE(qemu.has_value());
  CHECK(qemu->interpreter == "/usr/bin/qemu-x");
  CHECK(qemu->magic == std::string("\x7f"
                                   "ELF\x02",
                                   5));
  std::string head(kExecHeadSize, '\0');
  head.replace(0, 5,
               "\x7f"
               "ELF\x02");
  CHECK(binfmt_matches(*qemu, head, "/w/prog"));
  head[4] = '\x12';  // masked out by 0x0f
  CHECK(binfmt_matches(*qemu, head, "/w/prog"));
  head[4] = '\x01';
  CHECK_FALSE(binfmt_matches(*qemu, head, "/w/prog"));

  auto wine = parse_binfmt_rule("wine",
                                "enabled\ninterpreter /usr/bin/wine\nflags: \n"
                                "extension .exe\n");
  REQUIRE(wine.has_value());
  CHECK(binfmt_matches(*wine, head, "/w/setup.exe"));
  CHECK_FALSE(binfmt_matches(*wine, head, "/w/setup.exe.txt"));
  CHECK_FALSE(binfmt_matches(*wine, head, "/w.exe/setup"));  // strrchr: "exe/setup"
  auto off = parse_binfmt_rule("off", "disabled\ninterpreter /x\nflags: \nextension .exe\n");
  REQUIRE(off.has_value());
  CHECK_FALSE(binfmt_matches(*off, head, "/w/setup.exe"));
  CHECK_FALSE(parse_binfmt_rule("status", "enabled\n").has_value());
  CHECK_FALSE(parse_binfmt_rule("bad", "enabled\noffset 0\nmagic 7g\n").has_value());

  TempDir t;
  test::write_file(t.file("status"), "enabled\n");
  test::write_file(t.file("register"), "");
  test::write_file(t.file("wine"), "enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n");
  test::write_file(t.file("off"), "disabled\ninterpreter /x\nflags: \nextension .com\n");
  const auto rules = binfmt_rules(t.path());
  REQUIRE(rules.size() == 1);
  CHECK(rules[0].name == "wine");
  test::write_file(t.file("status"), "disabled\n");
  CHECK(binfmt_rules(t.path()).empty());
  CHECK(binfmt_rules(t.file("missing")).empty());
}

namespace {

ExecVerdict self_exec(const std::string& path, const FileSets& files, bool compat = false) {
  const Resolved r = self_resolve(AT_FDCWD, path);
  REQUIRE(r.error == 0);
  return check_exec(static_cast<pid_t>(::syscall(SYS_gettid)), ::getpid(), r, path, files, compat);
}

}  // namespace

TEST_CASE("exec checks what the kernel will run", "[policy][exec]") {
  TempDir t;
  namespace fs = std::filesystem;
  fs::create_directories(t.file("ok"));
  fs::create_directories(t.file("out"));
  fs::copy_file(test::tracee(), t.file("ok/interp"));
  fs::copy_file(test::tracee(), t.file("out/interp"));
  FileSets files;
  for (const char* r : {"/usr/", "/lib/", "/lib64/"}) files.readable.add(r);
  files.readable.add(t.file("ok/"));
  using Kind = ExecVerdict::Kind;

  SECTION("an ELF whose ld.so is readable") {
    CHECK(self_exec(t.file("ok/interp"), files).kind == Kind::kAllow);
  }
  SECTION("a script whose interpreter is readable, and one whose is not") {
    test::write_file(t.file("ok/good"), "#!" + t.file("ok/interp") + " arg\n", 0755);
    CHECK(self_exec(t.file("ok/good"), files).kind == Kind::kAllow);
    test::write_file(t.file("ok/bad"), "#! " + t.file("out/interp") + "\n", 0755);
    ExecVerdict v = self_exec(t.file("ok/bad"), files);
    CHECK(v.kind == Kind::kViolation);
    CHECK(v.path == t.file("out/interp"));
    CHECK(v.reason == "its #! interpreter " + t.file("out/interp") + " (read) is not allowed");
    // Nested: the outer script's interpreter is the bad script.
    test::write_file(t.file("ok/outer"), "#!" + t.file("ok/bad") + "\n", 0755);
    v = self_exec(t.file("ok/outer"), files);
    CHECK(v.kind == Kind::kViolation);
    CHECK(v.reason == "the #! interpreter " + t.file("out/interp") + " of " + t.file("ok/bad") +
                          " (read) is not allowed");
    // Through a symlink in a readable directory: its target is what runs.
    fs::create_symlink(t.file("out/interp"), t.file("ok/link"));
    test::write_file(t.file("ok/via-link"), "#!" + t.file("ok/link") + "\n", 0755);
    CHECK(self_exec(t.file("ok/via-link"), files).path == t.file("out/interp"));
    // Soft-banned: EACCES, no violation.
    files.soft_banned.add(t.file("out/interp"));
    v = self_exec(t.file("ok/bad"), files);
    CHECK(v.kind == Kind::kDeny);
    CHECK(v.error == EACCES);
  }
  SECTION("at most five interpreters, as the kernel") {
    // s0 -> s1 -> ... -> sN -> interp: N+1 scripts, the ELF at depth N+1.
    auto chain = [&](int scripts) {
      std::string next = t.file("ok/interp");
      for (int i = scripts - 1; i >= 0; --i) {
        const std::string s = t.file("ok/s" + std::to_string(scripts) + "_" + std::to_string(i));
        test::write_file(s, "#!" + next + "\n", 0755);
        next = s;
      }
      return self_exec(next, files);
    };
    CHECK(chain(5).kind == Kind::kAllow);
    ExecVerdict v = chain(6);
    CHECK(v.kind == Kind::kDeny);
    CHECK(v.error == ELOOP);
  }
  SECTION("an ELF whose PT_INTERP is outside the sets") {
    TempDir short_dir("/tmp/tb");  // the new path must fit in the old one's place
    fs::copy_file(
        fs::canonical(
            *read_elf(UniqueFd(::open(test::tracee().c_str(), O_RDONLY | O_CLOEXEC)).get())
                 .interpreter),
        short_dir.file("ld.so"));
    std::string why;
    REQUIRE(test::copy_with_interpreter(test::tracee(), t.file("ok/prog"), short_dir.file("ld.so"),
                                        why));
    ExecVerdict v = self_exec(t.file("ok/prog"), files);
    CHECK(v.kind == Kind::kViolation);
    CHECK(v.path == short_dir.file("ld.so"));
    CHECK(v.reason ==
          "its ELF interpreter (PT_INTERP) " + short_dir.file("ld.so") + " (read) is not allowed");
    files.readable.add(short_dir.file("ld.so"));
    CHECK(self_exec(t.file("ok/prog"), files).kind == Kind::kAllow);
    // Behind a script, it is found as well.
    files = FileSets{};
    for (const char* r : {"/usr/", "/lib/", "/lib64/"}) files.readable.add(r);
    files.readable.add(t.file("ok/"));
    test::write_file(t.file("ok/runs-prog"), "#!" + t.file("ok/prog") + "\n", 0755);
    v = self_exec(t.file("ok/runs-prog"), files);
    CHECK(v.kind == Kind::kViolation);
    CHECK(v.path == short_dir.file("ld.so"));
  }
  SECTION("a foreign ABI, an unknown format, a FIFO") {
    std::string i386(sizeof(Elf32_Ehdr), '\0');
    Elf32_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_machine = EM_386;
    std::memcpy(i386.data(), &eh, sizeof eh);
    test::write_file(t.file("ok/i386"), i386, 0755);
#if defined(__x86_64__)
    ExecVerdict v = self_exec(t.file("ok/i386"), files);
    CHECK(v.kind == Kind::kViolation);
    CHECK(v.reason == "it is an ELF for i386, an ABI this run does not accept");
    // With the compat ABIs enforced it is accepted; this one is malformed: ENOEXEC.
    CHECK(self_exec(t.file("ok/i386"), files, true).error == ENOEXEC);
#endif
    test::write_file(t.file("ok/data"), "MZ\x90\x00 not a format the kernel knows", 0755);
    v = self_exec(t.file("ok/data"), files);
    CHECK(v.kind == Kind::kDeny);
    CHECK(v.error == ENOEXEC);
    REQUIRE(::mkfifo(t.file("ok/fifo").c_str(), 0755) == 0);
    v = self_exec(t.file("ok/fifo"), files);  // not opened: it would block
    CHECK(v.kind == Kind::kDeny);
    CHECK(v.error == EACCES);
  }
  SECTION("through an fd") {
    test::write_file(t.file("ok/bad"), "#!" + t.file("out/interp") + "\n", 0755);
    UniqueFd fd(::open(t.file("ok/bad").c_str(), O_RDONLY | O_CLOEXEC));
    const Resolved r = resolve_fd(static_cast<pid_t>(::syscall(SYS_gettid)), ::getpid(), fd.get());
    REQUIRE(r.error == 0);
    CHECK(r.path == t.file("ok/bad"));
    ExecVerdict v = check_exec(static_cast<pid_t>(::syscall(SYS_gettid)), ::getpid(), r,
                               "/dev/fd/" + std::to_string(fd.get()), files, false);
    CHECK(v.kind == Kind::kViolation);
    CHECK(v.path == t.file("out/interp"));
  }
}

TEST_CASE("an fd is named by its file, and pipes and deleted files by none", "[policy][fd]") {
  TempDir t;
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  test::write_file(t.file("f"), "f");
  UniqueFd file(::open(t.file("f").c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(resolve_fd(tid, ::getpid(), file.get()).path == t.file("f"));
  CHECK_FALSE(resolve_fd(tid, ::getpid(), file.get()).not_a_file);
  char cwd[PATH_MAX];
  REQUIRE(::getcwd(cwd, sizeof cwd) != nullptr);
  CHECK(resolve_fd(tid, ::getpid(), AT_FDCWD).path == cwd);
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  const Resolved pipe = resolve_fd(tid, ::getpid(), rd.get());
  CHECK(pipe.not_a_file);
  CHECK(pipe.path.starts_with("pipe:["));
  test::write_file(t.file("gone"), "x");
  UniqueFd gone(::open(t.file("gone").c_str(), O_RDONLY | O_CLOEXEC));
  ::unlink(t.file("gone").c_str());
  CHECK(resolve_fd(tid, ::getpid(), gone.get()).not_a_file);
  CHECK(resolve_fd(tid, ::getpid(), 4000).error == EBADF);
}

TEST_CASE("/proc/self/fd/N reopens the fd only within its own mode", "[policy][fd]") {
  TempDir t;
  test::write_file(t.file("in"), "input");
  UniqueFd in(::open(t.file("in").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd out(::open(t.file("out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  UniqueFd both(::open(t.file("in").c_str(), O_RDWR | O_CLOEXEC));
  UniqueFd dir(::open(t.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd path(::open(t.file("in").c_str(), O_PATH | O_CLOEXEC));
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  FileSets none;
  auto reopen = [&](int fd, int flags, const FileSets& files, const char* how = "/proc/self/fd/") {
    const Resolved r = self_resolve(AT_FDCWD, how + std::to_string(fd));
    REQUIRE(r.fd == fd);
    return fd_reopen_error(r, static_cast<std::uint64_t>(flags), files);
  };
  CHECK(reopen(in.get(), O_RDONLY, none) == 0);
  CHECK(reopen(in.get(), O_RDONLY, none, "/dev/fd/") == 0);
  CHECK(reopen(in.get(), O_RDONLY, none, "/proc/thread-self/fd/") == 0);
  CHECK(reopen(in.get(), O_WRONLY, none) == EACCES);
  CHECK(reopen(in.get(), O_RDWR, none) == EACCES);
  CHECK(reopen(in.get(), O_RDONLY | O_TRUNC, none) == EACCES);
  CHECK(reopen(out.get(), O_WRONLY, none) == 0);
  CHECK(reopen(out.get(), O_RDONLY, none) == EACCES);
  // O_TRUNC and O_CREAT on a regular file: only one the sets let the program write.
  CHECK(reopen(out.get(), O_WRONLY | O_TRUNC, none) == EACCES);
  CHECK(reopen(out.get(), O_WRONLY | O_CREAT, none) == EACCES);
  CHECK(reopen(both.get(), O_RDWR | O_TRUNC, none) == EACCES);
  FileSets out_writable;
  out_writable.writable.add(t.file("out"));
  CHECK(reopen(out.get(), O_WRONLY | O_TRUNC | O_CREAT, out_writable) == 0);
  CHECK(reopen(both.get(), O_RDWR, none) == 0);
  // A pipe is not truncated: its mode is all that counts.
  CHECK(reopen(wr.get(), O_WRONLY | O_TRUNC | O_CREAT, none) == 0);
  CHECK(reopen(rd.get(), O_RDONLY, none) == 0);
  CHECK(reopen(rd.get(), O_WRONLY, none) == EACCES);
  CHECK(reopen(dir.get(), O_RDONLY, none) == EACCES);
  CHECK(reopen(path.get(), O_RDONLY, none) == EACCES);
  CHECK(reopen(3999, O_RDONLY, none) == ENOENT);
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
