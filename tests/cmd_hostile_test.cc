// The hostile suite: programs that try to escape, run through the tracer under the default
// profile (as runprog runs them). Each test asserts the verdict and that nothing escaped: no
// process left, no file written outside what the policy allows. They run only inside the test
// guard (a fresh PID namespace and a pids cgroup), in case the sandbox fails.
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/fs.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "support/support.h"
#include "tracebox/tracer/policy/exec.h"
#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/policy/profile.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

std::string real(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? buf : path;
}

// One hostile run under the default profile, stdout in a file, a work dir of its own.
struct Hostile {
  TempDir work;
  UniqueFd null{::open("/dev/null", O_RDWR | O_CLOEXEC)};
  UniqueFd out;
  Spec spec;
  policy::JudgePolicy judge;

  explicit Hostile(std::vector<std::string> args, bool allow_proc = false) {
    const std::string program = real(TRACEBOX_HOSTILE);
    tracer::policy::Profile profile = tracer::policy::load_profile(
        "default", {std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles"});
    judge = tracer::policy::to_judge_policy(profile, {work.path(), program, "x86_64-linux-gnu"},
                                            allow_proc);
    out.reset(::open(work.file("stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    spec.process.args = {program};
    spec.process.args.insert(spec.process.args.end(), args.begin(), args.end());
    spec.process.env = profile.env;
    spec.process.files = {null.get(), out.get(), null.get()};
    spec.process.work_dir = work.path();
    spec.process.rlimits = {{RLIMIT_STACK, 8 << 20, 8 << 20}, {RLIMIT_NOFILE, 256, 256}};
    spec.limits.cpu = 2s;
    spec.limits.wall = 10s;
    spec.limits.memory_bytes = 256 << 20;
    spec.limits.output_bytes = 16 << 20;
    spec.limits.tasks = 64;
  }
  // What the run's path cache did (policy::PathCache::hits, drops), once run() returned.
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_drops = 0;
  Result run() {
    spec.policy = policy::make_policy(judge);
    policy::JudgeHandler handler(judge);
    Result r = tracer::run(spec, handler);
    cache_hits = handler.path_cache().hits();
    cache_drops = handler.path_cache().drops();
    return r;
  }
  std::string output() const { return test::read_file(work.file("stdout")); }
};

bool alive(pid_t pid) {
  std::string stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// Every test: no process of the run survives it.
void no_survivors() { CHECK(test::child_pids().empty()); }

}  // namespace

TEST_CASE("untraced children: CLONE_UNTRACED is a violation, clone3 gets ENOSYS", "[hostile]") {
  TB_REQUIRE_GUARD();
  for (bool proc : {false, true}) {
    Hostile h({"clone-untraced"}, proc);
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->syscall == "clone");
    if (proc) CHECK(r.violation->reason == "clone with CLONE_UNTRACED would escape the tracer");
    CHECK(h.output().find("ESCAPED") == std::string::npos);
  }
  Hostile h3({"clone3"}, true);
  Result r3 = h3.run();
  CHECK(r3.status == Status::kNormal);
  CHECK(h3.output() == "clone3 err=ENOSYS\n");
  no_survivors();
}

TEST_CASE("a vfork child is traced like any other", "[hostile]") {
  TB_REQUIRE_GUARD();
  Hostile h({"vfork-open", "/etc/shadow"}, true);
  Result r = h.run();
  CHECK(r.status == Status::kDisallowedSyscall);
  REQUIRE(r.violation.has_value());
  CHECK(r.violation->path == "/etc/shadow");
  no_survivors();
}

TEST_CASE("other syscall ABIs: int 0x80, x32, a 32-bit program", "[hostile]") {
  TB_REQUIRE_GUARD();
  SECTION("int 0x80 from 64-bit code") {
    Hostile h({"int80"});
    Result r = h.run();
    CHECK(h.output().find("ESCAPED") == std::string::npos);
    if (!test::ia32_available()) {
      // Without IA32 emulation the instruction faults before any syscall entry.
      CHECK(r.status == Status::kSignalled);
      CHECK(r.signal == SIGSEGV);
    } else {
      CHECK(r.status == Status::kDisallowedSyscall);
      REQUIRE(r.violation.has_value());
      CHECK(r.violation->arch == "i386");
      CHECK(r.violation->nr == 20);
      CHECK(r.error == "syscalls of the i386 ABI are not allowed");
    }
  }
  SECTION("x32") {
    Hostile h({"x32"});
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->arch == "x32");
  }
  SECTION("exec into a 32-bit program") {
    Hostile h({"exec", TRACEBOX_I386});
    h.judge.files.readable.add(real(TRACEBOX_I386));
    Result r = h.run();
    CHECK(h.output().find("ESCAPED") == std::string::npos);
    // The exec itself is refused: an ELF for an ABI the run does not enforce (with or without
    // IA32 emulation in the kernel).
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->syscall == "execve");
    CHECK(r.violation->path == real(TRACEBOX_I386));
    CHECK(r.error == "execve of " + real(TRACEBOX_I386) +
                         ": it is an ELF for i386, an ABI this run does not accept");
  }
  no_survivors();
}

TEST_CASE("/proc: other processes, our own memory, fds and root are refused", "[hostile]") {
  TB_REQUIRE_GUARD();
  for (const char* path : {"/proc/self/mem", "/proc/1/environ", "/proc/self/root/etc/passwd",
                           "/proc/self/fd/1", "/proc/thread-self/mem", "/proc/self/map_files"}) {
    INFO(path);
    Hostile h({"open", path, "r"});
    Result r = h.run();
    CHECK(r.status == Status::kNormal);
    CHECK(h.output() == "open err=EACCES\n");
  }
  no_survivors();
}

TEST_CASE("a daemon that leaves the session does not outlive the run", "[hostile]") {
  TB_REQUIRE_GUARD();
  Hostile h({"daemon", "pid"}, true);
  h.judge.allow.insert(h.judge.allow.end(), {"setsid", "setpgid"});
  h.judge.files.writable.add(h.work.file("pid"));
  Result r = h.run();
  INFO(r.error);
  CHECK(r.status == Status::kNormal);
  std::ifstream in(h.work.file("pid"));
  pid_t pid = 0;
  in >> pid;
  REQUIRE(pid > 0);
  CHECK_FALSE(alive(pid));
  no_survivors();
}

TEST_CASE("signals may target only the run's own processes", "[hostile]") {
  TB_REQUIRE_GUARD();
  SECTION("the tracer, refused by the tracer's check alone") {
    Hostile h({"kill-parent"}, true);
    h.spec.isolation.pid_namespace = false;
    h.judge.files.readable.add("/proc/self/status");  // where it learns the tracer's pid
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
    CHECK(r.error ==
          "kill of pid " + std::to_string(::getpid()) + ", which is not a process of this run");
  }
  SECTION("the tracer, out of reach from the run's PID namespace") {
    // Its number there names another process or none: the program's own (a kill of itself),
    // or one the tracer's check refuses. We are still here either way.
    Hostile h({"kill-parent"}, true);
    h.judge.files.readable.add("/proc/self/status");
    Result r = h.run();
    if (::getpid() == 2) {
      CHECK(r.status == Status::kSignalled);  // 2 is the program itself in its namespace
    } else {
      CHECK(r.status == Status::kDisallowedSyscall);
    }
  }
  SECTION("everybody") {
    Hostile h({"kill-all"}, true);
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
    CHECK(r.error == "kill of pid -1, which is not a process of this run");
  }
  SECTION("pid 1") {
    Hostile h({"kill-pid", "1"}, true);
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
  }
  for (bool pid_ns : {true, false}) {
    SECTION(std::string("its own child, exited child, group and self") +
            (pid_ns ? "" : ", without the PID namespace")) {
      Hostile h({"kill-own"}, true);
      h.spec.isolation.pid_namespace = pid_ns;
      Result r = h.run();
      INFO(r.error);
      CHECK(r.status == Status::kNormal);
      CHECK(h.output() ==
            "kill child ret=0\nkill exited child ret=0\nkill group 0 ret=0\nkill self ret=0\n");
    }
  }
  no_survivors();
}

TEST_CASE("ptrace and writing another process's memory are violations", "[hostile]") {
  TB_REQUIRE_GUARD();
  for (const char* mode : {"ptrace-me", "ptrace-parent", "vm-write", "unshare"}) {
    INFO(mode);
    Hostile h({mode}, true);
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
  }
  no_survivors();
}

TEST_CASE("fork and thread bombs hit the task limit and leave nothing behind", "[hostile]") {
  TB_REQUIRE_GUARD();
  for (const char* mode : {"fork-bomb", "thread-bomb"}) {
    INFO(mode);
    Hostile h({mode}, true);
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
    CHECK(r.error == "more than 64 processes and threads at once");
    no_survivors();
  }
}

TEST_CASE("memory, stack and output bombs", "[hostile]") {
  TB_REQUIRE_GUARD();
  SECTION("memory") {
    Hostile h({"memory-bomb"});
    Result r = h.run();
    CHECK(r.status == Status::kMemoryLimitExceeded);
  }
  SECTION("stack") {
    // The stack limit is part of the memory the judge gives: its overflow is a memory verdict.
    Hostile h({"stack-bomb"});
    Result r = h.run();
    CHECK(r.status == Status::kMemoryLimitExceeded);
    CHECK(r.error == "memory limit: stack overflow at the stack limit (8192 KiB)");
    CHECK(r.signal == SIGSEGV);
  }
  SECTION("output") {
    Hostile h({"output-bomb"});
    h.spec.limits.output_bytes = 1 << 20;
    Result r = h.run();
    CHECK(r.status == Status::kOutputLimitExceeded);
    CHECK(std::filesystem::file_size(h.work.file("stdout")) == 1 << 20);
  }
  no_survivors();
}

TEST_CASE("no file descriptor of the host reaches the program", "[hostile]") {
  TB_REQUIRE_GUARD();
  TempDir dir;
  // Not close-on-exec, on purpose.
  int leak = ::open(dir.file("leak").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(leak >= 0);
  Hostile h({"fds"});
  Result r = h.run();
  ::close(leak);
  CHECK(r.status == Status::kNormal);
  CHECK(h.output() == "leaked=0\n");
}

TEST_CASE("a filter of its own, io_uring", "[hostile]") {
  TB_REQUIRE_GUARD();
  for (const char* mode : {"seccomp", "prctl-seccomp"}) {
    INFO(mode);
    Hostile h({mode});
    Result r = h.run();
    CHECK(r.status == Status::kDisallowedSyscall);
  }
  Hostile h({"io_uring"});
  Result r = h.run();
  CHECK(r.status == Status::kNormal);
  CHECK(h.output() == "io_uring_setup err=ENOSYS\n");
}

TEST_CASE("stopping itself does not stop the run", "[hostile]") {
  TB_REQUIRE_GUARD();
  Hostile h({"stop-self"});
  Result r = h.run();
  CHECK(r.status == Status::kNormal);
  CHECK(h.output() == "resumed after SIGSTOP\nresumed after SIGTSTP\n");
  CHECK(r.wall_time < 2s);
}

TEST_CASE("a hard link cannot give a name to a file it may not read", "[hostile]") {
  TB_REQUIRE_GUARD();
  Hostile h({"hardlink", "/etc/shadow", "x"});
  h.judge.allow.insert(h.judge.allow.end(), {"link", "linkat"});
  h.judge.files.writable.add(h.work.path() + "/");
  Result r = h.run();
  CHECK(r.status == Status::kDisallowedSyscall);
  REQUIRE(r.violation.has_value());
  CHECK(r.violation->path == "/etc/shadow");
  CHECK_FALSE(std::filesystem::exists(h.work.file("x")));
}

TEST_CASE("a setuid program does not raise privileges", "[hostile]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(test::is_root(), "making a setuid-root copy needs root");
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const std::string copy = dir.file("suid");
  std::filesystem::copy_file(TRACEBOX_HOSTILE, copy);
  REQUIRE(::chown(copy.c_str(), 0, 0) == 0);
  REQUIRE(::chmod(copy.c_str(), 04755) == 0);
  Hostile h({"exec", copy, "euid"});
  ::chmod(h.work.path().c_str(), 0777);
  h.judge.files.readable.add(copy);
  h.spec.process.credential = forkexec::Credential{65534, 65534, {}, false};
  Result r = h.run();
  INFO(r.error);
  CHECK(r.status == Status::kNormal);
  CHECK(h.output() == "euid=65534\n");
}

TEST_CASE("very long arguments and paths", "[hostile]") {
  TB_REQUIRE_GUARD();
  Hostile h({"exec-long", "200000"});
  Result r = h.run();
  CHECK(r.status == Status::kNormal);
  CHECK(h.output() == "execve err=E2BIG\n");
  Hostile p({"open", "/" + std::string(5000, 'a'), "r"});
  Result rp = p.run();
  CHECK(rp.status == Status::kNormal);
  CHECK(p.output() == "open err=ENAMETOOLONG\n");
}

TEST_CASE("threads racing exit_group against traced syscalls are not violations", "[hostile]") {
  TB_REQUIRE_GUARD();
  for (int i = 0; i < 20; ++i) {
    Hostile h({"exit-race"}, true);
    h.judge.files.readable.add("/proc/self/status");
    Result r = h.run();
    INFO(r.error);
    CHECK(r.status == Status::kNormal);
  }
  no_survivors();
}

// The files of the wait race: "pub" holds the secret and is soft-banned (refused with EACCES,
// no violation, so that the program can try thousands of times); "pubX", whose name a wait's
// status cuts short to "pub", is granted.
struct WaitRaceFiles {
  TempDir dir;
  std::string secret = dir.file("pub");
  std::string granted = dir.file("pubX");
  WaitRaceFiles() {
    ::chmod(dir.path().c_str(), 0755);
    test::write_file(secret, "SECRET\n");
    ::chmod(secret.c_str(), 0644);
  }
};

TEST_CASE("a wait's status written into a checked path does not open another file", "[hostile]") {
  TB_REQUIRE_GUARD();
  WaitRaceFiles files;
  for (bool shared : {false, true}) {
    INFO((shared ? "a process sharing the path's memory" : "a second thread") << " waits");
    std::vector<std::string> args = {"wait-race", files.granted, "3"};
    if (shared) args.push_back("shared");
    Hostile h(args, true);
    h.judge.files.readable.add(files.granted);
    h.judge.files.soft_banned.add(files.secret);
    h.spec.limits.cpu = 30s;
    h.spec.limits.wall = 30s;
    Result r = h.run();
    INFO(r.error << "\n" << h.output());
    CHECK(r.status == Status::kNormal);
    CHECK(h.output().starts_with("lost "));
    CHECK(h.output().find("ESCAPED") == std::string::npos);
  }
  no_survivors();
}

TEST_CASE("execve from a process with other threads ends as a normal run", "[hostile]") {
  TB_REQUIRE_GUARD();
  // The exec waits for the other threads to die; a tracer that held them stopped (the path
  // check's freeze) would wait for the exec: a wall-clock limit instead of a normal run.
  for (const char* from : {"leader", "thread"}) {
    INFO("exec from the " << from);
    Hostile h({"thread-exec", from, "euid"}, true);
    Result r = h.run();
    INFO(r.error);
    CHECK(r.status == Status::kNormal);
    CHECK(r.wall_time < 5s);
    CHECK(h.output() == "euid=" + std::to_string(test::program_uid()) + "\n");
  }
  no_survivors();
}

TEST_CASE("page tables count as memory: a sparse read-only mapping meets the limit", "[hostile]") {
  TB_REQUIRE_GUARD();
  Hostile h({"sparse-map"});
  h.spec.limits.memory_bytes = 64 << 20;
  Result r = h.run();
  INFO(r.error << "\n" << h.output());
  CHECK(r.status == Status::kMemoryLimitExceeded);
  CHECK(r.memory_kib > 64 * 1024);
  CHECK(h.output().find("ESCAPED") == std::string::npos);
  no_survivors();
}

TEST_CASE("16 hostile runs at once on one io_context get 16 correct verdicts", "[hostile]") {
  TB_REQUIRE_GUARD();
  struct Case {
    std::vector<std::string> args;
    bool proc;
    Status want;
  };
  const std::vector<Case> cases = {
      {{"clone-untraced"}, true, Status::kDisallowedSyscall},
      {{"int80"}, false, test::ia32_available() ? Status::kDisallowedSyscall : Status::kSignalled},
      {{"kill-parent"}, true, Status::kDisallowedSyscall},
      {{"fork-bomb"}, true, Status::kDisallowedSyscall},
      {{"memory-bomb"}, false, Status::kMemoryLimitExceeded},
      {{"output-bomb"}, false, Status::kOutputLimitExceeded},
      {{"stop-self"}, false, Status::kNormal},
      {{"io_uring"}, false, Status::kNormal},
  };
  asio::io_context io;
  std::vector<std::unique_ptr<Hostile>> runs;
  std::vector<std::optional<Result>> results(16);
  std::vector<std::shared_ptr<policy::JudgeHandler>> handlers;
  for (int i = 0; i < 16; ++i) {
    const Case& c = cases[static_cast<std::size_t>(i) % cases.size()];
    auto h = std::make_unique<Hostile>(c.args, c.proc);
    h->spec.limits.output_bytes = 1 << 20;
    h->spec.policy = policy::make_policy(h->judge);
    handlers.push_back(std::make_shared<policy::JudgeHandler>(h->judge));
    async_run(io, h->spec, handlers.back(), [&results, i](Result r) { results[i] = r; });
    runs.push_back(std::move(h));
  }
  io.run();
  for (int i = 0; i < 16; ++i) {
    INFO("run " << i << ": " << runs[i]->spec.process.args[1]);
    REQUIRE(results[i].has_value());
    CHECK(results[i]->status == cases[static_cast<std::size_t>(i) % cases.size()].want);
  }
  no_survivors();
}

TEST_CASE("2000 runs back to back leave no zombie, no fd and no memory growth", "[hostile][soak]") {
  TB_REQUIRE_GUARD();
  auto rss_kib = [] {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0L;
  };
  const std::vector<std::pair<std::vector<std::string>, bool>> mix = {
      {{"io_uring"}, false}, {{"int80"}, false},         {{"kill-own"}, true},
      {{"fds"}, false},      {{"clone-untraced"}, true}, {{"open", "/proc/1/environ", "r"}, false},
  };
  auto one = [&](int i) {
    const auto& [args, proc] = mix[static_cast<std::size_t>(i) % mix.size()];
    Hostile h(args, proc);
    Result r = h.run();
    REQUIRE(r.status != Status::kRunnerError);
  };
  for (int i = 0; i < 200; ++i) one(i);  // warm up allocators and caches
  const auto fds = test::open_fds();
  const long rss = rss_kib();
  for (int i = 0; i < 2000; ++i) one(i);
  CHECK(test::open_fds() == fds);
  CHECK(test::child_pids().empty());
  INFO("RSS before " << rss << " KiB, after " << rss_kib() << " KiB");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine (up to 256 MiB): RSS says nothing here,
  // and LeakSanitizer checks for leaks at exit instead.
  WARN("RSS growth not checked under AddressSanitizer (LeakSanitizer checks leaks)");
#else
  CHECK(rss_kib() - rss < 2048);
#endif
}

// --- Names apart from contents, every operand, what exec runs, /dev/stdin ------------------------

namespace {

// A /dev of the test's own (a tmpfs in the guard's private mount namespace) with the devices a
// run needs: a broken check then deletes or chmods this /dev/null, never the machine's.
class ScratchDev {
 public:
  ScratchDev() {
    mounted_ = ::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=1m") == 0;
    REQUIRE(mounted_);
    struct Node {
      const char* name;
      unsigned minor;
    };
    for (Node n : {Node{"null", 3}, Node{"zero", 5}, Node{"random", 8}, Node{"urandom", 9}})
      REQUIRE((::mknod(("/dev/" + std::string(n.name)).c_str(), S_IFCHR | 0666,
                       makedev(1, n.minor)) == 0 &&
               ::chmod(("/dev/" + std::string(n.name)).c_str(), 0666) == 0));  // past the umask
    for (int fd = 0; fd < 3; ++fd) {
      const char* names[] = {"stdin", "stdout", "stderr"};
      ::symlink(("/proc/self/fd/" + std::to_string(fd)).c_str(),
                ("/dev/" + std::string(names[fd])).c_str());
    }
    ::symlink("/proc/self/fd", "/dev/fd");
  }
  ~ScratchDev() {
    if (mounted_) ::umount2("/dev", MNT_DETACH);
  }
  ScratchDev(const ScratchDev&) = delete;
  ScratchDev& operator=(const ScratchDev&) = delete;

 private:
  bool mounted_ = false;
};

// Everything a name or metadata operation could change about a file.
struct FileState {
  bool exists = false;
  dev_t dev = 0, rdev = 0;
  ino_t ino = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  timespec mtime{}, atime{};
  std::string content;

  static FileState of(const std::string& path) {
    FileState s;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return s;
    s.exists = true;
    s.dev = st.st_dev;
    s.rdev = st.st_rdev;
    s.ino = st.st_ino;
    s.mode = st.st_mode;
    s.uid = st.st_uid;
    s.gid = st.st_gid;
    s.nlink = st.st_nlink;
    s.mtime = st.st_mtim;
    s.atime = st.st_atim;
    if (S_ISREG(st.st_mode)) s.content = test::read_file(path);
    return s;
  }
  // atime is left out: reading a file may change it.
  bool operator==(const FileState& o) const {
    return exists == o.exists && dev == o.dev && rdev == o.rdev && ino == o.ino && mode == o.mode &&
           uid == o.uid && gid == o.gid && nlink == o.nlink && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && content == o.content;
  }
};

std::ostream& operator<<(std::ostream& out, const FileState& s) {
  return out << (s.exists ? "" : "missing ") << "mode " << std::oct << s.mode << std::dec << " uid "
             << s.uid << " nlink " << s.nlink << " ino " << s.ino << " mtime " << s.mtime.tv_sec
             << " content \"" << s.content << "\"";
}

// The name and metadata syscalls the fs modes make (the default profile allows unlink only).
const std::vector<std::string> kNameSyscalls = {
    "mkdirat", "mknodat", "symlinkat", "rename",   "renameat2", "chmod",   "fchmodat",  "fchmodat2",
    "fchmod",  "chown",   "lchown",    "fchownat", "fchown",    "utimes",  "utimensat", "futimesat",
    "link",    "linkat",  "mkdir",     "rmdir",    "mknod",     "symlink", "truncate"};

// Every form of every operation on a name or its metadata (hostile fs OP FILE DST).
const std::vector<std::string> kNameOps = {
    "unlink",          "unlinkat",        "rename",         "rename-over",
    "renameat2",       "exchange",        "chmod",          "fchmodat",
    "fchmodat2-empty", "fchmodat2-null",  "fchmod",         "chown",
    "lchown",          "fchownat",        "fchownat-empty", "fchownat-null",
    "fchown",          "utimes",          "utimensat",      "utimensat-dirfd",
    "utimensat-null",  "utimensat-empty", "futimesat-null", "link",
    "linkat-follow",   "linkat-empty",    "linkat-null"};

// A hostile fs run: the work directory may be written and its entries renamed (as runprog
// -add-writable gives it), `file`'s directory may be opened (the *at forms), `file` is readable.
// It shows the tracer's file checks on their own: the program keeps the tests' user (root, in
// the guard), so no permission check of the kernel's stands in for them.
std::unique_ptr<Hostile> fs_run(const std::string& op, const std::string& file) {
  auto h = std::make_unique<Hostile>(std::vector<std::string>{"fs", op, file, std::string()});
  h->spec.isolation.user.reset();
  REQUIRE(::chown(h->work.path().c_str(), ::getuid(), ::getgid()) == 0);  // ours, then
  h->spec.process.args.back() = h->work.file("new");
  if (op == "rename-over" || op == "exchange") test::write_file(h->work.file("new"), "new");
  h->judge.allow.insert(h->judge.allow.end(), kNameSyscalls.begin(), kNameSyscalls.end());
  h->judge.files.writable.add(h->work.path() + "/");
  h->judge.files.names.add(h->work.path() + "/**");
  h->judge.files.readable.add(file.substr(0, file.rfind('/')));
  if (file != "/dev/null") h->judge.files.readable.add(file);
  return h;
}

}  // namespace

TEST_CASE("writing /dev/null never allows removing, replacing or chmod-ing it",
          "[hostile][names]") {
  TB_REQUIRE_GUARD();
  ScratchDev dev;
  const FileState before = FileState::of("/dev/null");
  REQUIRE(S_ISCHR(before.mode));
  for (const auto& op : kNameOps) {
    INFO(op);
    auto h = fs_run(op, "/dev/null");
    Result r = h->run();
    INFO(r.error << "\n" << h->output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == "/dev/null");
    CHECK(r.error.find("(names) is not allowed") != std::string::npos);
    CHECK(h->output().find("ESCAPED") == std::string::npos);
    CHECK(FileState::of("/dev/null") == before);
  }
  // Writing it stays allowed.
  Hostile w({"open", "/dev/null", "w"});
  Result r = w.run();
  CHECK(r.status == Status::kNormal);
  CHECK(w.output().starts_with("open ret="));
  no_survivors();
}

TEST_CASE("a read-only file cannot be removed, renamed, linked, chmod-ed, chown-ed or touched",
          "[hostile][names]") {
  TB_REQUIRE_GUARD();
  TempDir outside;
  const std::string file = outside.file("data");
  test::write_file(file, "original\n", 0644);
  const FileState before = FileState::of(file);
  for (const auto& op : kNameOps) {
    INFO(op);
    auto h = fs_run(op, file);
    Result r = h->run();
    INFO(r.error << "\n" << h->output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == file);
    CHECK(h->output().find("ESCAPED") == std::string::npos);
    CHECK(FileState::of(file) == before);
  }
  no_survivors();
}

TEST_CASE("in a directory given with its names, the same operations work", "[hostile][names]") {
  TB_REQUIRE_GUARD();
  for (const auto& op : kNameOps) {
    INFO(op);
    auto h = fs_run(op, "");
    const std::string file = h->work.file("mine");
    test::write_file(file, "mine\n", 0644);
    h->spec.process.args[3] = file;
    if (op == "rename-over" || op == "exchange") test::write_file(h->work.file("new"), "new");
    Result r = h->run();
    INFO(r.error << "\n" << h->output());
    CHECK(r.status == Status::kNormal);
    // The policy allows it; the kernel may still refuse a NULL path (6.x: EFAULT but for
    // utimensat and futimesat).
    const bool null_path =
        op.ends_with("-null") && !op.starts_with("utimensat") && !op.starts_with("futimesat");
    CHECK((h->output().starts_with(op + " ret=0\n") ||
           (null_path && h->output() == op + " err=EFAULT\n")));
  }
  for (const std::string op : {"mkdir", "mknod", "symlink"}) {
    auto h = fs_run(op, "");
    h->spec.process.args[3] = h->work.file("made");
    Result r = h->run();
    INFO(op << ": " << r.error);
    CHECK(r.status == Status::kNormal);
    CHECK(h->output() == op + " ret=0\n");
    CHECK(std::filesystem::symlink_status(h->work.file("made")).type() !=
          std::filesystem::file_type::not_found);
  }
  // readlinkat(fd, "") of an O_PATH fd of a symlink: a stat, allowed without AT_EMPTY_PATH.
  auto link = fs_run("readlinkat-empty", "");
  std::filesystem::create_symlink("/etc/passwd", link->work.file("link"));
  link->spec.process.args[3] = link->work.file("link");
  Result rl = link->run();
  INFO(rl.error);
  CHECK(rl.status == Status::kNormal);
  CHECK(link->output() == "readlinkat-empty ret=11\n");
  // The work directory's own entry is not among its names: a violation, or EACCES where the
  // work directory is soft-banned (the default profile's, which covers the directory itself).
  for (bool soft_ban : {false, true}) {
    INFO("soft ban " << soft_ban);
    auto h = fs_run("rmdir", "");
    if (!soft_ban) h->judge.files.soft_banned = policy::FileSet();
    h->spec.process.args[3] = h->work.path();
    Result r = h->run();
    CHECK(r.status == (soft_ban ? Status::kNormal : Status::kDisallowedSyscall));
    if (soft_ban) CHECK(h->output() == "rmdir err=EACCES\n");
    CHECK(std::filesystem::is_directory(h->work.path()));
  }
  no_survivors();
}

TEST_CASE("a new name may not grant what the old one did not", "[hostile][names]") {
  TB_REQUIRE_GUARD();
  // named/ may be read and renamed, not written; the work directory may be written.
  TempDir outside;
  std::filesystem::create_directories(outside.file("named"));
  const std::string file = outside.file("named/f");
  test::write_file(file, "read only\n", 0644);
  const FileState before = FileState::of(file);
  for (const std::string op : {"link", "rename", "linkat-empty", "exchange"}) {
    INFO(op);
    auto h = fs_run(op, file);
    h->judge.files.readable.add(outside.file("named/"));
    h->judge.files.names.add(outside.file("named/**"));
    Result r = h->run();
    INFO(r.error << "\n" << h->output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == file);
    CHECK(r.error.find(": " + h->work.file("new") + " grants write, which " + file + " does not") !=
          std::string::npos);
    CHECK(FileState::of(file) == before);
    CHECK(h->output().find("ESCAPED") == std::string::npos);
  }
  // Within named/ the grants are the same: allowed.
  auto h = fs_run("rename", file);
  h->spec.process.args[4] = outside.file("named/g");
  h->judge.files.readable.add(outside.file("named/"));
  h->judge.files.names.add(outside.file("named/**"));
  Result r = h->run();
  INFO(r.error);
  CHECK(r.status == Status::kNormal);
  CHECK(std::filesystem::exists(outside.file("named/g")));
  no_survivors();
}

TEST_CASE("an fd with no name (a pipe) cannot be chmod-ed, touched or linked", "[hostile][names]") {
  TB_REQUIRE_GUARD();
  for (const std::string op : {"fchmod", "fchmodat2-empty", "utimensat-null", "linkat-empty"}) {
    INFO(op);
    Hostile h({"fs-pipe", op, "new"});
    h.judge.allow.insert(h.judge.allow.end(), kNameSyscalls.begin(), kNameSyscalls.end());
    h.judge.allow.insert(h.judge.allow.end(), {"pipe", "pipe2"});
    h.judge.files.writable.add(h.work.path() + "/");
    h.judge.files.names.add(h.work.path() + "/**");
    Result r = h.run();
    INFO(r.error);
    CHECK(r.status == Status::kDisallowedSyscall);
    CHECK(r.error.find("(pipe:[") != std::string::npos);
    CHECK(r.error.find(") is not allowed: it is no file the policy can grant") !=
          std::string::npos);
  }
  no_survivors();
}

namespace {

// An interpreter outside every set (a copy of the hostile program: if it ran, it would say so)
// and one inside, scripts in the work directory.
struct Scripts {
  TempDir outside;
  TempDir inside;
  std::string bad = outside.file("interp");
  std::string good = inside.file("interp");
  Scripts() {
    std::filesystem::copy_file(real(TRACEBOX_HOSTILE), bad);
    std::filesystem::copy_file(real(TRACEBOX_HOSTILE), good);
  }
  static void script(const std::string& path, const std::string& line) {
    test::write_file(path, "#!" + line + "\necho not a shell script\n", 0755);
  }
};

std::unique_ptr<Hostile> exec_run(const std::vector<std::string>& args, const Scripts& s) {
  auto h = std::make_unique<Hostile>(args);
  h->judge.files.readable.add(h->work.path() + "/");
  h->judge.files.readable.add(s.inside.path() + "/");
  return h;
}

}  // namespace

TEST_CASE("a #! script's interpreter must be readable, however it is reached", "[hostile][exec]") {
  TB_REQUIRE_GUARD();
  Scripts s;
  struct Case {
    const char* name;
    std::function<std::vector<std::string>(const std::string& work)> setup;
  };
  const std::vector<Case> cases = {
      {"direct",
       [&](const std::string& w) {
         Scripts::script(w + "/script", s.bad + " as-interpreter");
         return std::vector<std::string>{"exec", w + "/script"};
       }},
      {"nested",
       [&](const std::string& w) {
         Scripts::script(w + "/inner", s.bad + " as-interpreter");
         Scripts::script(w + "/outer", w + "/inner");
         return std::vector<std::string>{"exec", w + "/outer"};
       }},
      {"relative, from the cwd",
       [&](const std::string& w) {
         std::filesystem::create_symlink(s.bad, w + "/interp-link");
         Scripts::script(w + "/script", "interp-link as-interpreter");
         return std::vector<std::string>{"exec", w + "/script"};
       }},
      {"through a symlink in a readable directory",
       [&](const std::string& w) {
         std::filesystem::create_symlink(s.bad, s.inside.file("link"));
         Scripts::script(w + "/script", s.inside.file("link") + " as-interpreter");
         return std::vector<std::string>{"exec", w + "/script"};
       }},
      {"execveat of an fd (fexecve)",
       [&](const std::string& w) {
         Scripts::script(w + "/script", s.bad + " as-interpreter");
         return std::vector<std::string>{"fexec", w + "/script"};
       }},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto h = exec_run({}, s);
    auto args = c.setup(h->work.path());
    h->spec.process.args.insert(h->spec.process.args.end(), args.begin(), args.end());
    Result r = h->run();
    INFO(r.error << "\n" << h->output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == s.bad);
    CHECK(r.error.find("#! interpreter " + s.bad) != std::string::npos);
    CHECK(h->output().find("ran as the interpreter") == std::string::npos);
    if (std::filesystem::exists(s.inside.file("link")))
      std::filesystem::remove(s.inside.file("link"));
  }
  SECTION("a readable interpreter runs") {
    auto h = exec_run({}, s);
    Scripts::script(h->work.file("script"), s.good + " as-interpreter");
    h->spec.process.args.insert(h->spec.process.args.end(), {"exec", h->work.file("script")});
    Result r = h->run();
    INFO(r.error);
    CHECK(r.status == Status::kNormal);
    CHECK(h->output() == "ran as the interpreter of " + h->work.file("script") + "\n");
  }
  SECTION("more than five interpreters: ELOOP, as the kernel says") {
    auto h = exec_run({}, s);
    std::string next = s.good + " as-interpreter";
    for (int i = 0; i < 6; ++i) {
      const std::string path = h->work.file("s" + std::to_string(i));
      Scripts::script(path, next);
      next = path;
    }
    h->spec.process.args.insert(h->spec.process.args.end(), {"exec", next});
    Result r = h->run();
    CHECK(r.status == Status::kNonzeroExitStatus);
    CHECK(h->output() == "execve err=ELOOP\n");
  }
  no_survivors();
}

TEST_CASE("an ELF whose interpreter (PT_INTERP) is outside the sets does not run",
          "[hostile][exec]") {
  TB_REQUIRE_GUARD();
  TempDir ld_dir("/tmp/tb");  // short: the new path is written over /lib64/ld-linux-x86-64.so.2
  Scripts s;
  const std::string ld = ld_dir.file("ld.so");
  UniqueFd self(::open(TRACEBOX_HOSTILE, O_RDONLY | O_CLOEXEC));
  const auto interp = policy::read_elf(self.get()).interpreter;
  REQUIRE(interp.has_value());
  std::filesystem::copy_file(std::filesystem::canonical(*interp), ld);
  for (const bool behind_a_script : {false, true}) {
    INFO("behind a script: " << behind_a_script);
    auto h = exec_run({}, s);
    const std::string prog = h->work.file("prog");
    std::string why;
    REQUIRE(test::copy_with_interpreter(real(TRACEBOX_HOSTILE), prog, ld, why));
    if (behind_a_script) {
      Scripts::script(h->work.file("script"), prog + " euid");
      h->spec.process.args.insert(h->spec.process.args.end(), {"exec", h->work.file("script")});
    } else {
      h->spec.process.args.insert(h->spec.process.args.end(), {"exec", prog, "euid"});
    }
    Result r = h->run();
    INFO(r.error << "\n" << h->output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == ld);
    CHECK(r.error.find("ELF interpreter (PT_INTERP) " + ld) != std::string::npos);
    CHECK(r.error.ends_with(" (read) is not allowed"));
    CHECK(h->output().find("euid=") == std::string::npos);
  }
  // The program itself, as the run's first exec (by path, and by fd as the tracer execs an ELF
  // for another user): the file the caller chose, but not the interpreter it names.
  for (const bool by_fd : {false, true}) {
    INFO("first exec, by fd: " << by_fd);
    auto first = exec_run({}, s);
    const std::string prog = first->work.file("prog");
    std::string why;
    REQUIRE(test::copy_with_interpreter(real(TRACEBOX_HOSTILE), prog, ld, why));
    first->spec.process.args = {prog, "euid"};
    first->spec.isolation.exec_by_fd = by_fd;
    Result r = first->run();
    INFO(r.error << "\n" << first->output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == ld);
    CHECK(first->output().find("euid=") == std::string::npos);
  }
  // Readable, the same program runs (the copied ld.so is a working one).
  auto h = exec_run({}, s);
  std::string why;
  REQUIRE(test::copy_with_interpreter(real(TRACEBOX_HOSTILE), h->work.file("prog"), ld, why));
  h->judge.files.readable.add(ld);
  h->spec.process.args.insert(h->spec.process.args.end(), {"exec", h->work.file("prog"), "euid"});
  Result r = h->run();
  INFO(r.error);
  CHECK(r.status == Status::kNormal);
  CHECK(h->output() == "euid=" + std::to_string(test::program_uid()) + "\n");
  // A file of no format the kernel knows fails as it would without a binfmt_misc rule.
  auto data = exec_run({}, s);
  test::write_file(data->work.file("data"), "MZ not an executable\n", 0755);
  data->spec.process.args.insert(data->spec.process.args.end(), {"exec", data->work.file("data")});
  Result rd = data->run();
  CHECK(rd.status == Status::kNonzeroExitStatus);
  CHECK(data->output() == "execve err=ENOEXEC\n");
  no_survivors();
}

TEST_CASE("/dev/stdin reads the program's input, and no open reopens it for writing",
          "[hostile][fd]") {
  TB_REQUIRE_GUARD();
  TempDir files;
  const std::string input = files.file("input");
  test::write_file(input, "judge input\n", 0644);
  const FileState before = FileState::of(input);
  auto run = [&](const std::string& path, const std::string& mode) {
    auto h = std::make_unique<Hostile>(std::vector<std::string>{"reopen", path, mode});
    test::give_to_program(h->work.file("stdout"));  // its output, its to reopen
    UniqueFd in(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
    h->spec.process.files[0] = in.get();
    Result r = h->run();
    INFO(path << " " << mode << ": " << r.error);
    CHECK(r.status == Status::kNormal);
    CHECK(FileState::of(input) == before);
    return h->output();
  };
  for (const char* path :
       {"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/thread-self/fd/0"}) {
    INFO(path);
    const std::string out = run(path, "r");
    CHECK(out.starts_with("reopen ret="));
    CHECK(out.ends_with("read: judge input\n"));
    for (const char* mode : {"w", "rw", "rt", "wct", "wa"}) {
      INFO(mode);
      CHECK(run(path, mode) == "reopen err=EACCES\n");
    }
  }
  // Not an open fd; not an open; a path through the fd.
  CHECK(run("/proc/self/fd/9", "r") == "reopen err=ENOENT\n");
  CHECK(run("/proc/self/fd/0/x", "r") == "reopen err=EACCES\n");
  // stdout, opened for writing, may be reopened for writing, not truncated (its file is the
  // judge's, not in the sets) and not read.
  CHECK(run("/dev/stdout", "wa").starts_with("reopen ret="));
  CHECK(run("/dev/stdout", "wct") == "reopen err=EACCES\n");
  CHECK(run("/dev/stdout", "r") == "reopen err=EACCES\n");
  no_survivors();
}

// --- Arguments of allowed syscalls ------------------------------------------------------------

namespace {

// A process outside the run, for the program to aim at; killed and reaped by the destructor.
struct Victim {
  pid_t pid = ::fork();
  Victim() {
    if (pid == 0) {
      for (;;) ::pause();
    }
  }
  ~Victim() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  bool alive() const { return ::alive(pid); }
  rlim_t nofile() const {
    struct ::rlimit l {};
    ::prlimit(pid, RLIMIT_NOFILE, nullptr, &l);
    return l.rlim_max;
  }
};

// The run's verdict is a violation with this reason.
void check_violation(const Result& r, const std::string& syscall, const std::string& reason) {
  INFO(r.error);
  CHECK(r.status == Status::kDisallowedSyscall);
  REQUIRE(r.violation.has_value());
  CHECK(r.violation->syscall == syscall);
  CHECK(r.violation->reason == reason);
  CHECK(r.error == reason);
}

}  // namespace

TEST_CASE("fcntl and ioctl cannot make the kernel signal another process", "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  struct Step {
    const char* first;
    const char* syscall;
    const char* reason;
  };
  const Step steps[] = {
      {"setown", "fcntl", "fcntl F_SETOWN would let the kernel signal any process"},
      {"setown-ex", "fcntl", "fcntl F_SETOWN_EX would let the kernel signal any process"},
      {"setsig", "fcntl",
       "fcntl F_SETSIG would choose the signal the kernel sends to the fd's owner (any process)"},
      {"async", "fcntl", "fcntl F_SETFL with O_ASYNC would let the kernel signal any process"},
      {"fioasync", "ioctl", "ioctl FIOASYNC would let the kernel signal any process (O_ASYNC)"},
      {"fiosetown", "ioctl", "ioctl FIOSETOWN would let the kernel signal any process"},
      {"notify", "fcntl", "fcntl F_SETOWN would let the kernel signal any process"},
      {"lease", "fcntl",
       "fcntl F_SETLEASE would hold back other processes' opens of the file and make the kernel "
       "signal"},
  };
  Victim victim;
  for (const Step& step : steps) {
    for (const std::string& target :
         {std::to_string(::getpid()), std::string("1"), std::to_string(victim.pid)}) {
      INFO(step.first << " aimed at " << target);
      Hostile h({"sigio", step.first, target}, true);
      test::write_file(h.work.file("lease"), "x");
      h.judge.files.readable.add(h.work.file("lease"));
      Result r = h.run();
      check_violation(r, step.syscall, step.reason);
      CHECK(h.output().find("ESCAPED") == std::string::npos);
      CHECK(victim.alive());
      CHECK(alive(1));
    }
  }
}

TEST_CASE("fd requests runtimes make still work; unknown ones fail as the kernel fails them",
          "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  Hostile h({"fd-requests"});
  Result r = h.run();
  INFO(r.error);
  CHECK(r.status == Status::kNormal);
  CHECK(h.output() ==
        "TCGETS pipe err=ENOTTY\nTIOCGWINSZ pipe err=ENOTTY\nFIONREAD ret=0\nFIONBIO ret=0\n"
        "FIOCLEX ret=0\nFS_IOC_GETFLAGS err=ENOTTY\nTCSETS err=ENOTTY\nF_GETFL ret=0\n"
        "F_SETFL ret=0\nF_DUPFD_CLOEXEC ret=10\nF_GETOWN ret=0\nF_SETPIPE_SZ err=EINVAL\n"
        "fcntl 1234 err=EINVAL\n");
}

TEST_CASE("prlimit64 reaches only the program's own limits, and never raises a hard one",
          "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  Victim victim;
  const rlim_t before = victim.nofile();
  struct ::rlimit mine {};
  ::getrlimit(RLIMIT_NOFILE, &mine);
  for (const std::string& target :
       {std::to_string(::getpid()), std::string("1"), std::to_string(victim.pid)}) {
    INFO(target);
    Hostile h({"prlimit", target});
    Result r = h.run();
    check_violation(r, "prlimit64",
                    "prlimit64 of pid " + target +
                        " would reach another process (only 0, the caller, is allowed)");
    CHECK(victim.nofile() == before);
    CHECK(victim.alive());
  }
  struct ::rlimit after {};
  ::getrlimit(RLIMIT_NOFILE, &after);
  CHECK(after.rlim_max == mine.rlim_max);
  // Its own limits: lowering works, raising fails as for an unprivileged process (the tests
  // run as root, where the kernel alone would allow it).
  Hostile own({"prlimit-raise"});
  Result r = own.run();
  INFO(r.error);
  CHECK(r.status == Status::kNormal);
  CHECK(own.output() ==
        "prlimit64 raise err=EPERM\nsetrlimit raise err=EPERM\nsetrlimit infinity err=EPERM\n"
        "setrlimit lower ret=0\nhard=255\n");
}

TEST_CASE("clone into new namespaces or as the tracer's child is a violation naming the flag",
          "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"clone-flags", "30000000"},  // CLONE_NEWUSER|CLONE_NEWPID
       "clone with CLONE_NEWUSER|CLONE_NEWPID would create namespaces the tracer does not see "
       "into"},
      {{"clone-flags", "20000"},
       "clone with CLONE_NEWNS would create namespaces the tracer does not see into"},
      {{"clone-flags", "40000000"},
       "clone with CLONE_NEWNET would create namespaces the tracer does not see into"},
      {{"clone-flags", "8000"},
       "clone with CLONE_PARENT would give the child its caller's parent (the tracer, for the "
       "main process)"},
      {{"clone-parent-loop", "1000"},
       "clone with CLONE_PARENT would give the child its caller's parent (the tracer, for the "
       "main process)"},
  };
  for (const auto& [args, reason] : cases) {
    INFO(args[0] << " " << args[1]);
    Hostile h(args, true);
    Result r = h.run();
    check_violation(r, "clone", reason);
    CHECK(h.output().find("ESCAPED") == std::string::npos);
    CHECK(r.wall_time < 5s);
    no_survivors();
  }
  // Without -allow-proc clone is not allowed at all, and the flags are still named.
  Hostile h({"clone-flags", "30000000"});
  check_violation(h.run(), "clone",
                  "clone with CLONE_NEWUSER|CLONE_NEWPID would create namespaces the tracer does "
                  "not see into");
  Hostile u({"unshare"}, true);
  check_violation(u.run(), "unshare",
                  "unshare with CLONE_NEWUSER would create namespaces the tracer does not see "
                  "into");
  no_survivors();
}

TEST_CASE("ioctl TIOCSTI and FS_IOC_SETFLAGS are violations, the file keeps its attributes",
          "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  Hostile t({"tiocsti"});
  check_violation(t.run(), "ioctl", "ioctl TIOCSTI would type input into the terminal");
  Hostile h({"setflags", "file"});
  const std::string file = h.work.file("file");
  test::write_file(file, "x");
  h.judge.files.readable.add(file);
  check_violation(
      h.run(), "ioctl",
      "ioctl FS_IOC_SETFLAGS would change the file's attributes (immutable, append-only...)");
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  int flags = 0;
  if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0) CHECK((flags & FS_APPEND_FL) == 0);
  UniqueFd w(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  CHECK(w);  // not append-only
}

TEST_CASE("madvise: KSM and poisoning are violations, unknown advice is EINVAL",
          "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  Hostile m({"madvise", std::to_string(MADV_MERGEABLE)});
  check_violation(m.run(), "madvise",
                  "madvise MADV_MERGEABLE would let KSM merge its pages with other processes' (a "
                  "side channel)");
  Hostile p({"madvise", std::to_string(MADV_HWPOISON)});
  check_violation(p.run(), "madvise",
                  "madvise MADV_HWPOISON would poison a physical page of the host");
  for (const auto& [advice, want] :
       {std::pair{MADV_DONTNEED, "madvise ret=0\n"},
        std::pair{MADV_PAGEOUT, "madvise err=EINVAL\n"}, std::pair{77, "madvise err=EINVAL\n"}}) {
    Hostile h({"madvise", std::to_string(advice)});
    Result r = h.run();
    CHECK(r.status == Status::kNormal);
    CHECK(h.output() == want);
  }
}

TEST_CASE("another process's CPU clock and scheduling are violations, its own are not",
          "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  Victim victim;
  for (const std::string& target : {std::string("1"), std::to_string(victim.pid)}) {
    Hostile c({"clock-pid", target});
    check_violation(
        c.run(), "clock_gettime",
        "clock_gettime of the CPU clock of pid " + target + " would reach another process");
    Hostile s({"sched-setaffinity", target});
    s.judge.allow.push_back("sched_setaffinity");
    check_violation(
        s.run(), "sched_setaffinity",
        "sched_setaffinity of pid " + target + " would reach another process (only the caller)");
  }
  cpu_set_t set;
  REQUIRE(::sched_getaffinity(victim.pid, sizeof set, &set) == 0);
  CHECK(CPU_COUNT(&set) == CPU_COUNT([] {
          static cpu_set_t mine;
          ::sched_getaffinity(0, sizeof mine, &mine);
          return &mine;
        }()));
  Hostile own({"clock-pid", "0"});
  Result r = own.run();
  CHECK(r.status == Status::kNormal);
  CHECK(own.output() == "clock_gettime ret=0\n");
  Hostile tid({"self-by-tid"}, true);
  Result rt = tid.run();
  INFO(rt.error);
  CHECK(rt.status == Status::kNormal);
  CHECK(tid.output() ==
        "clock_gettime thread ret=0\nsched_getaffinity tid ret=0\nsched_getaffinity pid ret=0\n");
  Hostile pi({"futex-pi"});
  Result rp = pi.run();
  CHECK(rp.status == Status::kNormal);
  CHECK(pi.output() == "FUTEX_LOCK_PI err=ENOSYS\n");
}

namespace {

// A datagram socket bound at a path, outside the run; it reports whether anything arrived.
struct NamedSocket {
  std::string path;
  UniqueFd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  explicit NamedSocket(std::string p) : path(std::move(p)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  bool received() const {
    char buf[64];
    return ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0;
  }
};

}  // namespace

TEST_CASE("sendmsg and sendmmsg cannot reach a named socket", "[hostile][arguments]") {
  TB_REQUIRE_GUARD();
  TempDir dir;
  NamedSocket target(dir.file("sock"));
  for (const char* how : {"sendmsg", "sendmmsg"}) {
    INFO(how);
    Hostile h({"send", how, target.path}, true);
    h.judge.allow.insert(h.judge.allow.end(), {"socketpair", "sendmsg", "sendmmsg"});
    check_violation(
        h.run(), how,
        std::string(how) + (std::string(how) == "sendmsg"
                                ? " with a destination address (msg_name) would reach a socket by "
                                  "its name"
                                : " with a destination address (msg_name of message 2) would reach "
                                  "a socket by its name"));
    CHECK_FALSE(target.received());
  }
  // Without a name, to its own peer: allowed.
  Hostile peer({"send", "sendmsg-peer", target.path});
  peer.judge.allow.insert(peer.judge.allow.end(), {"socketpair", "sendmsg"});
  Result r = peer.run();
  CHECK(r.status == Status::kNormal);
  CHECK(peer.output() == "sendmsg peer ret=7\n");
  // sendto takes an address: the file policy refuses to allow it at all.
  Hostile to({"send", "sendto", target.path});
  to.judge.allow.push_back("sendto");
  CHECK_THROWS_AS(to.run(), ConfigError);
  // A second thread rewriting msg_name cannot slip an address past the check (without the
  // freeze of the consistent tag, about one run in three is won).
  for (int i = 0; i < 10; ++i) {
    Hostile race({"sendmsg-race", target.path}, true);
    race.judge.allow.insert(race.judge.allow.end(), {"socketpair", "sendmsg", "recvfrom"});
    Result rr = race.run();
    INFO(rr.error << "\n" << race.output());
    CHECK(rr.status == Status::kDisallowedSyscall);
    CHECK_FALSE(target.received());
  }
  no_survivors();
}

// --- The same escapes through the runprog binary ------------------------------------------------

namespace {

struct RunprogResult {
  int exit_code = -1;
  std::string out;  // runprog's stdout: the result line
  long max_rss_kib = 0;
};

// runprog's own fds and user for runprog_as().
struct RunprogSetup {
  std::string in = "/dev/null";
  std::string out;  // "" for a fresh file, whose contents become RunprogResult::out
  bool out_append = false;
  std::string err = "/dev/null";
  bool err_append = false;
  bool as_sandbox_user = false;  // runprog itself runs as 65534 (no root: a user namespace)
};

// runprog, the hostile program and the profiles, copied where user 65534 reaches them: a
// checkout in a private directory (/root, mode 0700) is out of its reach. For runprog_as's runs
// as that user.
struct Reachable {
  TempDir dir;
  std::string runprog = dir.file("runprog");
  std::string hostile = dir.file("hostile");
  std::string profiles = dir.file("profiles");
  Reachable() {
    namespace fs = std::filesystem;
    ::chmod(dir.path().c_str(), 0755);
    fs::copy_file(TRACEBOX_RUNPROG, runprog);
    fs::copy_file(TRACEBOX_HOSTILE, hostile);
    fs::copy(std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles", profiles);
    for (const std::string& f : {runprog, hostile}) ::chmod(f.c_str(), 0755);
    ::chmod(profiles.c_str(), 0755);
    for (const auto& e : fs::directory_iterator(profiles)) ::chmod(e.path().c_str(), 0644);
  }
};
const Reachable& reachable() {
  static const Reachable r;
  return r;
}

// Runs runprog with `args` and the given fds (opened by the test, as root). As the sandbox user,
// runprog and its profiles are reachable() copies (and so must be the program it runs).
RunprogResult runprog_as(const std::vector<std::string>& args, const RunprogSetup& setup) {
  TempDir t;
  std::vector<std::string> all = {setup.as_sandbox_user ? reachable().runprog
                                                        : std::string(TRACEBOX_RUNPROG)};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = setup.out.empty() ? t.file("out") : setup.out;
  pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(setup.in.c_str(), O_RDONLY);
    const int o =
        ::open(out.c_str(), O_WRONLY | O_CREAT | (setup.out_append ? O_APPEND : O_TRUNC), 0644);
    const int e =
        ::open(setup.err.c_str(), O_WRONLY | O_CREAT | (setup.err_append ? O_APPEND : 0), 0644);
    if (in < 0 || o < 0 || e < 0 || ::dup2(in, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
      ::_exit(126);
    if (setup.as_sandbox_user &&
        (::setgroups(0, nullptr) != 0 ||
         ::setresgid(test::kSandboxGid, test::kSandboxGid, test::kSandboxGid) != 0 ||
         ::setresuid(test::kSandboxUid, test::kSandboxUid, test::kSandboxUid) != 0 ||
         ::chdir("/tmp") != 0 ||
         ::setenv("TRACEBOX_PROFILE_PATH", reachable().profiles.c_str(), 1) != 0))
      ::_exit(125);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  RunprogResult r;
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = test::read_file(out);
  r.max_rss_kib = ru.ru_maxrss;
  return r;
}

// Runs runprog with `args`, its stdout captured, stdin and stderr /dev/null.
RunprogResult runprog(const std::vector<std::string>& args) { return runprog_as(args, {}); }

// The value of `key` in a -json result line, as written ("\"normal\"", "12", "null").
std::string json_value(const std::string& line, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  const auto at = line.find(quoted);
  if (at == std::string::npos) return "<missing " + key + ">";
  const auto start = at + quoted.size();
  std::size_t end = start;
  if (line[start] == '"') {
    end = line.find('"', start + 1);
    return line.substr(start, end == std::string::npos ? end : end + 1 - start);
  }
  while (end < line.size() && line[end] != ',' && line[end] != '}') ++end;
  return line.substr(start, end - start);
}

long json_number(const std::string& line, const std::string& key) {
  return std::atol(json_value(line, key).c_str());
}

}  // namespace

// --- The path cache: a remembered path that another hand changes ----------------------------

namespace {

// A tree only root can change (what the tracer's path cache remembers), on a scratch tmpfs at
// /mnt: /mnt/d/public and /mnt/d/sub/file ("public"), a symlink /mnt/d/link to the former, and
// /mnt/secret/file ("SECRET").
struct SwapTree {
  test::ScratchTmpfs mnt{"/mnt"};
  SwapTree() {
    if (!mnt.mounted()) return;
    for (const char* d : {"/mnt/d", "/mnt/d/sub", "/mnt/secret"}) REQUIRE(::mkdir(d, 0755) == 0);
    test::write_file("/mnt/d/public", "public\n");
    test::write_file("/mnt/d/sub/file", "public\n");
    test::write_file("/mnt/secret/file", "SECRET\n");
    REQUIRE(::symlink("public", "/mnt/d/link") == 0);
  }
};

// What another hand (the test, as root) changes between the program's two opens of `path`
// (hostile open-again): each makes `path` lead to /mnt/secret/file.
struct Swap {
  const char* name;
  const char* path;
  std::function<void()> change;
};

std::vector<Swap> swaps() {
  return {{"the symlink replaced", "/mnt/d/link",
           [] {
             REQUIRE(::symlink("/mnt/secret/file", "/mnt/d/new") == 0);
             REQUIRE(::rename("/mnt/d/new", "/mnt/d/link") == 0);
           }},
          {"a directory on the way replaced by a symlink", "/mnt/d/sub/file",
           [] {
             REQUIRE(::rename("/mnt/d/sub", "/mnt/d/old") == 0);
             REQUIRE(::symlink("/mnt/secret", "/mnt/d/sub") == 0);
           }},
          {"a higher directory moved away and replaced", "/mnt/d/sub/file",
           [] {
             REQUIRE(::rename("/mnt/d", "/mnt/old") == 0);
             REQUIRE(::mkdir("/mnt/d", 0755) == 0);
             REQUIRE(::symlink("/mnt/secret", "/mnt/d/sub") == 0);
           }},
          // No directory changes: a tmpfs mounted over one (a bind mount would do the same).
          {"a filesystem mounted over a directory on the way", "/mnt/d/sub/file",
           [] {
             REQUIRE(::mount("tmpfs", "/mnt/d", "tmpfs", 0, "mode=0755") == 0);
             REQUIRE(::symlink("/mnt/secret", "/mnt/d/sub") == 0);
           }},
          // The directory itself made writable (to be changed later by anyone).
          {"a directory on the way made writable by others, then changed", "/mnt/d/sub/file", [] {
             REQUIRE(::chmod("/mnt/d", 0777) == 0);
             REQUIRE(::rename("/mnt/d/sub", "/mnt/d/old") == 0);
             REQUIRE(::symlink("/mnt/secret", "/mnt/d/sub") == 0);
           }}};
}

// Waits (at most 10 s) until `file` starts with `text`.
bool wait_for(const std::string& file, const std::string& text) {
  for (int i = 0; i < 1000; ++i) {
    if (test::read_file(file).starts_with(text)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

TEST_CASE("a remembered path changed by another hand is judged anew", "[hostile][cache]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  for (const Swap& swap : swaps()) {
    INFO(swap.name);
    SwapTree tree;
    REQUIRE(tree.mnt.mounted());
    int in[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    UniqueFd in_read(in[0]), in_write(in[1]);
    Hostile h({"open-again", swap.path});
    h.judge.files.readable.add("/mnt/d/");
    h.judge.files.soft_banned.add("/mnt/secret/file");
    h.spec.process.files[0] = in_read.get();
    Result r;
    std::thread run([&] { r = h.run(); });
    // The first open is judged and remembered; the change comes while the program waits.
    const bool first = wait_for(h.work.file("stdout"), "first public\n");
    if (first) swap.change();
    CHECK(::write(in_write.get(), "\n", 1) == 1);
    in_write.reset();
    run.join();
    ::umount2("/mnt/d", MNT_DETACH);  // what the mount variant put there
    CHECK(first);
    CHECK(r.status == Status::kNormal);
    CHECK(h.output() == "first public\nsecond err=EACCES\n");
    // The path was remembered, and the change dropped it.
    CHECK(h.cache_drops >= 1);
  }
  no_survivors();
}

TEST_CASE("through runprog: a remembered path changed by another hand is judged anew",
          "[hostile][runprog][cache]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  const std::string hostile = real(TRACEBOX_HOSTILE);
  for (const Swap& swap : swaps()) {
    INFO(swap.name);
    SwapTree tree;
    REQUIRE(tree.mnt.mounted());
    TempDir t;
    int in[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    UniqueFd in_read(in[0]), in_write(in[1]);
    RunprogSetup setup;
    setup.in = "/proc/self/fd/" + std::to_string(in_read.get());
    setup.out = t.file("out");
    RunprogResult r;
    std::thread run([&] {
      r = runprog_as({"-json", "-add-readable-raw", "/mnt/d/", hostile, "open-again", swap.path},
                     setup);
    });
    const bool first = wait_for(setup.out, "first public\n");
    if (first) swap.change();
    CHECK(::write(in_write.get(), "\n", 1) == 1);
    in_write.reset();
    run.join();
    ::umount2("/mnt/d", MNT_DETACH);
    INFO(r.out);
    CHECK(first);
    CHECK(r.exit_code == 0);
    // No soft ban here: the second open is a violation, and the secret is never read.
    CHECK(r.out.starts_with("first public\n{"));
    CHECK(r.out.find("SECRET") == std::string::npos);
    CHECK(json_value(r.out, "status") == "\"disallowed_syscall\"");
    CHECK(json_value(r.out, "path") == "\"/mnt/secret/file\"");
  }
  no_survivors();
}

// The program's own changes: a name it may change is never remembered, and each change it
// makes drops what was. As the sandbox user in a directory it owns, and as root (no user of its
// own) in a directory only root may change, with the names below it granted.
TEST_CASE("a remembered path the program changes itself is judged anew", "[hostile][cache]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  for (bool root : {false, true}) {
    INFO((root ? "as root" : "as the sandbox user"));
    SwapTree tree;
    REQUIRE(tree.mnt.mounted());
    if (!root) REQUIRE(::chown("/mnt/d", test::kSandboxUid, test::kSandboxGid) == 0);
    Hostile h({"swap-dir", "/mnt/d", "/mnt/secret"});
    if (root) h.spec.isolation.user = std::nullopt;
    h.judge.allow.insert(h.judge.allow.end(), {"rename", "symlink"});
    h.judge.files.readable.add("/mnt/d/");
    h.judge.files.names.add("/mnt/d/**");
    h.judge.files.soft_banned.add("/mnt/secret/file");
    Result r = h.run();
    CHECK(r.status == Status::kNormal);
    CHECK(h.output() == "first public\nrename ret=0\nsymlink ret=0\nsecond err=EACCES\n");
    CHECK(test::read_file("/mnt/secret/file") == "SECRET\n");
  }
  no_survivors();
}

TEST_CASE("through runprog: a remembered path the program changes itself is judged anew",
          "[hostile][runprog][cache]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(std::filesystem::is_directory("/mnt"), "no /mnt to mount a scratch tmpfs on");
  SwapTree tree;
  REQUIRE(tree.mnt.mounted());
  REQUIRE(::chown("/mnt/d", test::kSandboxUid, test::kSandboxGid) == 0);
  TempDir profiles;
  const std::string profile = profiles.file("swap.json");
  test::write_file(profile, R"({"description": "default, rename and symlink", )"
                            R"("extends": "default", "allow": ["rename", "symlink"]})");
  const RunprogResult r = runprog({"-json", "-type", profile, "-add-writable", "/mnt/d",
                                   real(TRACEBOX_HOSTILE), "swap-dir", "/mnt/d", "/mnt/secret"});
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.starts_with("first public\nrename ret=0\nsymlink ret=0\n{"));
  CHECK(r.out.find("SECRET") == std::string::npos);
  CHECK(json_value(r.out, "status") == "\"disallowed_syscall\"");
  CHECK(json_value(r.out, "path") == "\"/mnt/secret/file\"");
  no_survivors();
}

// /proc/<pid> by number: the parent's own entry, then its child's try at the same path, which
// is another process's (remembered for the parent, it would be allowed for the child).
TEST_CASE("a /proc/<pid> path allowed to its process is refused to its child", "[hostile][cache]") {
  TB_REQUIRE_GUARD();
  Hostile h({"proc-pid-twice"}, true);
  h.judge.files.readable.add("/proc/self/status");
  Result r = h.run();
  CHECK(r.status == Status::kNormal);
  // The first line of status is the process's name, whatever the exec made it.
  const std::string out = h.output();
  INFO(out);
  CHECK(out.starts_with("first Name:\t"));
  CHECK(out.ends_with("\nsecond err=EACCES\n"));
  CHECK(std::count(out.begin(), out.end(), '\n') == 2);
  no_survivors();
}

TEST_CASE("through runprog: a /proc/<pid> path allowed to its process is refused to its child",
          "[hostile][runprog][cache]") {
  TB_REQUIRE_GUARD();
  const RunprogResult r = runprog({"-json", "-allow-proc", "-add-readable-raw", "/proc/self/status",
                                   real(TRACEBOX_HOSTILE), "proc-pid-twice"});
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.starts_with("first Name:\t"));
  CHECK(r.out.find("\nsecond err=EACCES\n{") != std::string::npos);
  CHECK(json_value(r.out, "status") == "\"normal\"");
  no_survivors();
}

TEST_CASE("through runprog: a program signals its own processes, an ended child included",
          "[hostile][runprog]") {
  TB_REQUIRE_GUARD();
  RunprogResult r = runprog({"-allow-proc", real(TRACEBOX_HOSTILE), "kill-own"});
  INFO(r.out);
  CHECK(r.exit_code == 0);
  // The program's lines, then the result line: 0, a normal run.
  CHECK(r.out.starts_with(
      "kill child ret=0\nkill exited child ret=0\nkill group 0 ret=0\nkill self ret=0\n0 "));
  no_survivors();
}

TEST_CASE("through runprog: escapes end as violations, runprog survives", "[hostile][runprog]") {
  TB_REQUIRE_GUARD();
  const std::string hostile = real(TRACEBOX_HOSTILE);
  // The result line's first field is UOJ's code: 6 is a disallowed syscall.
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"-allow-proc", hostile, "kill-parent"},
                                             {"-allow-proc", hostile, "kill-all"},
                                             {"-allow-proc", hostile, "fork-bomb"},
                                             {"-allow-proc", hostile, "clone-untraced"},
                                             {hostile, "int80"},
                                             {hostile, "ptrace-me"},
                                             {hostile, "seccomp"}}) {
    INFO(args.back());
    RunprogResult r = runprog(args);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    // Without IA32 emulation int 0x80 faults (a runtime error, code 2) before any syscall. The
    // result is the last line: the program shares runprog's stdout (a fork bomb's children
    // may report their failed forks first).
    const bool faults = args.back() == "int80" && !test::ia32_available();
    const auto last = r.out.rfind('\n', r.out.size() >= 2 ? r.out.size() - 2 : 0);
    const std::string line = last == std::string::npos ? r.out : r.out.substr(last + 1);
    CHECK(line.rfind(faults ? "2 " : "6 ", 0) == 0);
  }
  CHECK(test::child_pids().empty());
}

TEST_CASE("through runprog: refused argument modes end as violations naming the mode",
          "[hostile][runprog][arguments]") {
  TB_REQUIRE_GUARD();
  const std::string hostile = real(TRACEBOX_HOSTILE);
  Victim victim;
  const std::string v = std::to_string(victim.pid);
  const rlim_t limit = victim.nofile();
  TempDir t;
  NamedSocket target(t.file("sock"));
  // A profile of the user's own: the default one with datagram sockets between its own fds.
  test::write_file(t.file("net.json"), R"({
  "description": "default, and unix datagram socketpairs",
  "extends": "default",
  "allow": ["socketpair", "sendmsg", "sendmmsg"]
})");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-allow-proc", hostile, "sigio", "setown", "1"},
       "fcntl F_SETOWN would let the kernel signal any process"},
      {{"-allow-proc", hostile, "sigio", "setown-ex", v},
       "fcntl F_SETOWN_EX would let the kernel signal any process"},
      {{"-allow-proc", hostile, "sigio", "async", v},
       "fcntl F_SETFL with O_ASYNC would let the kernel signal any process"},
      {{"-allow-proc", hostile, "sigio", "fioasync", "1"},
       "ioctl FIOASYNC would let the kernel signal any process (O_ASYNC)"},
      {{"-allow-proc", hostile, "sigio", "notify", v},
       "fcntl F_SETOWN would let the kernel signal any process"},
      {{hostile, "prlimit", v},
       "prlimit64 of pid " + v + " would reach another process (only 0, the caller, is allowed)"},
      {{hostile, "prlimit", "1"},
       "prlimit64 of pid 1 would reach another process (only 0, the caller, is allowed)"},
      {{"-allow-proc", hostile, "clone-flags", "30000000"},
       "clone with CLONE_NEWUSER|CLONE_NEWPID would create namespaces the tracer does not see "
       "into"},
      {{"-allow-proc", hostile, "clone-flags", "20000"},
       "clone with CLONE_NEWNS would create namespaces the tracer does not see into"},
      {{"-allow-proc", hostile, "clone-parent-loop", "1000"},
       "clone with CLONE_PARENT would give the child its caller's parent (the tracer, for the "
       "main process)"},
      {{hostile, "tiocsti"}, "ioctl TIOCSTI would type input into the terminal"},
      {{hostile, "madvise", std::to_string(MADV_MERGEABLE)},
       "madvise MADV_MERGEABLE would let KSM merge its pages with other processes' (a side "
       "channel)"},
      {{hostile, "madvise", std::to_string(MADV_HWPOISON)},
       "madvise MADV_HWPOISON would poison a physical page of the host"},
      {{hostile, "clock-pid", "1"},
       "clock_gettime of the CPU clock of pid 1 would reach another process"},
      {{"-profile-dir", t.path(), "-type", "net", hostile, "send", "sendmsg", target.path},
       "sendmsg with a destination address (msg_name) would reach a socket by its name"},
      {{"-profile-dir", t.path(), "-type", "net", hostile, "send", "sendmmsg", target.path},
       "sendmmsg with a destination address (msg_name of message 2) would reach a socket by its "
       "name"},
  };
  for (const auto& [args, reason] : cases) {
    std::vector<std::string> all = {"-json"};
    all.insert(all.end(), args.begin(), args.end());
    std::string line;
    for (const auto& a : args) line += a + " ";
    INFO(line);
    RunprogResult r = runprog(all);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("\"status\":\"disallowed_syscall\"") != std::string::npos);
    CHECK(r.out.find("\"error\":\"" + reason + "\"") != std::string::npos);
    CHECK(r.out.find("ESCAPED") == std::string::npos);
    CHECK(victim.alive());
    CHECK(victim.nofile() == limit);
    CHECK_FALSE(target.received());
  }
  CHECK(alive(1));
  // Its own limits: raising fails (runprog also drops the capability that could), lowering works.
  RunprogResult own = runprog({"-json", hostile, "prlimit-raise"});
  CHECK(own.out.find("\"status\":\"normal\"") != std::string::npos);
  CHECK(test::child_pids() == std::vector<pid_t>{victim.pid});
}

TEST_CASE("through runprog: the program cannot forge the verdict line", "[hostile][runprog]") {
  TB_REQUIRE_GUARD();
  const std::string hostile = real(TRACEBOX_HOSTILE);
  auto last_line = [](const std::string& text) {
    REQUIRE(text.ends_with("\n"));
    const auto start = text.rfind('\n', text.size() - 2);
    return start == std::string::npos ? text : text.substr(start + 1);
  };
  // The result on stdout, which the program shares (no -out): the default of go-sandbox's runprog.
  RunprogResult uoj = runprog({hostile, "forge"});
  INFO(uoj.out);
  CHECK(last_line(uoj.out).starts_with("2 "));  // a runtime error: exit status 3
  CHECK(last_line(uoj.out).ends_with(" 3\n"));
  RunprogResult json = runprog({"-json", hostile, "forge"});
  INFO(json.out);
  CHECK(last_line(json.out).starts_with("{\"status\":\"nonzero_exit_status\""));
  // -res and -out naming one file (two opens of it): the same.
  TempDir t;
  RunprogResult file = runprog({"-res", t.file("both"), "-out", t.file("both"), hostile, "forge"});
  CHECK(file.exit_code == 0);
  const std::string both = test::read_file(t.file("both"));
  INFO(both);
  CHECK(last_line(both).starts_with("2 "));
  no_survivors();
}

TEST_CASE("through runprog: its own files do not reach the program", "[hostile][runprog]") {
  TB_REQUIRE_GUARD();
  TempDir t;
  const std::string hostile = real(TRACEBOX_HOSTILE);
  // runprog holds the result file, the trace log and the program's output open while it runs.
  RunprogResult r = runprog(
      {"-res", t.file("res"), "-trace-log", t.file("log"), "-out", t.file("out"), hostile, "fds"});
  CHECK(r.exit_code == 0);
  CHECK(test::read_file(t.file("out")) == "leaked=0\n");
  CHECK(test::read_file(t.file("res")).rfind("0 ", 0) == 0);
}

TEST_CASE("through runprog: 2000 runs leave no zombie, no fd, and runprog does not grow",
          "[hostile][runprog][soak]") {
  TB_REQUIRE_GUARD();
  const std::string hostile = real(TRACEBOX_HOSTILE);
  const std::vector<std::vector<std::string>> mix = {{hostile, "io_uring"},
                                                     {hostile, "int80"},
                                                     {"-allow-proc", hostile, "kill-own"},
                                                     {hostile, "fds"},
                                                     {"-allow-proc", hostile, "clone-untraced"},
                                                     {hostile, "open", "/proc/1/environ", "r"}};
  const auto fds = test::open_fds();
  long first_rss = 0, max_rss = 0;
  for (int i = 0; i < 2000; ++i) {
    RunprogResult r = runprog(mix[static_cast<std::size_t>(i) % mix.size()]);
    REQUIRE(r.exit_code == 0);
    if (i == 0) first_rss = r.max_rss_kib;
    max_rss = std::max(max_rss, r.max_rss_kib);
  }
  CHECK(test::open_fds() == fds);
  CHECK(test::child_pids().empty());
  // Each runprog is a new process: its peak must not depend on how many ran before.
  INFO("runprog peak RSS: first " << first_rss << " KiB, largest " << max_rss << " KiB");
#if defined(__SANITIZE_ADDRESS__)
  WARN("runprog's RSS not compared under AddressSanitizer (its shadow memory and quarantine vary)");
#else
  CHECK(max_rss - first_rss < 1024);
#endif
}

TEST_CASE("through runprog: names and metadata, every operand form, what exec runs, /dev/stdin",
          "[hostile][runprog][names]") {
  TB_REQUIRE_GUARD();
  ScratchDev dev;
  const std::string hostile = real(TRACEBOX_HOSTILE);
  TempDir work, outside, profiles;
  // The default profile with the name syscalls allowed (their paths are still checked).
  std::string allow;
  for (const auto& s : kNameSyscalls) allow += (allow.empty() ? "\"" : ", \"") + s + "\"";
  const std::string profile = profiles.file("names.json");
  test::write_file(profile, R"({"description": "default and the name syscalls", )"
                            R"("extends": "default", "allow": [)" +
                                allow + "]}");
  auto run = [&](std::vector<std::string> options, std::vector<std::string> command) {
    std::vector<std::string> args = {"-type",     profile,         "-work-path",
                                     work.path(), "-add-writable", work.path()};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(hostile);
    args.insert(args.end(), command.begin(), command.end());
    return runprog(args);
  };
  SECTION("/dev/null is written, never removed, renamed, chmod-ed or linked") {
    const FileState before = FileState::of("/dev/null");
    for (const std::string op :
         {"unlink", "rename", "renameat2", "exchange", "chmod", "fchmodat2-empty", "fchmodat2-null",
          "fchownat-empty", "utimensat-null", "utimensat-empty", "linkat-empty", "link"}) {
      INFO(op);
      if (op == "exchange") test::write_file(work.file("new"), "new");
      RunprogResult r =
          run({"-add-readable-raw", "/dev"}, {"fs", op, "/dev/null", work.file("new")});
      CHECK(r.exit_code == 0);
      CHECK(r.out.rfind("6 ", 0) == 0);
      CHECK(FileState::of("/dev/null") == before);
    }
  }
  SECTION("a read-only file keeps its name, mode, owner, times and contents") {
    const std::string file = outside.file("data");
    test::write_file(file, "original\n", 0644);
    const FileState before = FileState::of(file);
    for (const std::string op :
         {"unlink", "rename", "chmod", "fchmodat2-empty", "fchownat-null", "utimensat-null",
          "futimesat-null", "link", "linkat-empty", "linkat-null"}) {
      INFO(op);
      RunprogResult r = run({"-add-readable", file}, {"fs", op, file, work.file("new")});
      CHECK(r.exit_code == 0);
      CHECK(r.out.rfind("6 ", 0) == 0);
      CHECK(FileState::of(file) == before);
      CHECK_FALSE(std::filesystem::exists(work.file("new")));
    }
  }
  SECTION("a #! interpreter or an ELF interpreter outside the sets does not run") {
    std::filesystem::copy_file(hostile, outside.file("interp"));
    Scripts::script(work.file("script"), outside.file("interp") + " as-interpreter");
    Scripts::script(work.file("outer"), work.file("script"));
    for (const std::string script : {"script", "outer"}) {
      RunprogResult r = run({"-out", work.file("out")}, {"exec", work.file(script)});
      CHECK(r.out.rfind("6 ", 0) == 0);
      CHECK(test::read_file(work.file("out")).find("ran as") == std::string::npos);
    }
    TempDir ld_dir("/tmp/tb");
    UniqueFd self(::open(hostile.c_str(), O_RDONLY | O_CLOEXEC));
    const auto interp = policy::read_elf(self.get()).interpreter;
    REQUIRE(interp.has_value());
    std::filesystem::copy_file(std::filesystem::canonical(*interp), ld_dir.file("ld.so"));
    std::string why;
    REQUIRE(test::copy_with_interpreter(hostile, work.file("prog"), ld_dir.file("ld.so"), why));
    RunprogResult r = run({"-json"}, {"exec", work.file("prog"), "euid"});
    INFO(r.out);
    CHECK(r.out.find("\"status\":\"disallowed_syscall\"") != std::string::npos);
    CHECK(r.out.find("\"path\":\"" + ld_dir.file("ld.so") + "\"") != std::string::npos);
  }
  SECTION("/dev/stdin is the input, read-only") {
    const std::string input = outside.file("input");
    test::write_file(input, "judge input\n", 0644);
    const FileState before = FileState::of(input);
    for (const std::string path : {"/dev/stdin", "/proc/self/fd/0"}) {
      INFO(path);
      RunprogResult r = run({"-in", input, "-out", work.file("out")}, {"reopen", path, "r"});
      CHECK(r.out.rfind("0 ", 0) == 0);
      CHECK(test::read_file(work.file("out")).ends_with("read: judge input\n"));
      for (const std::string mode : {"w", "rw", "rt", "wct"}) {
        INFO(mode);
        r = run({"-in", input, "-out", work.file("out")}, {"reopen", path, mode});
        CHECK(r.out.rfind("0 ", 0) == 0);
        CHECK(test::read_file(work.file("out")) == "reopen err=EACCES\n");
        CHECK(FileState::of(input) == before);
      }
    }
  }
  CHECK(test::child_pids().empty());
}

// --- The ns runner (-runner ns): no tracer, namespaces, its own devices, the whole namespace's
// CPU time and memory, stdio off the judge's files -----------------------------------------------

namespace {

// runprog -runner ns -json with `options`, then the hostile program and `command`; the
// program's stdout in `out` (when given).
RunprogResult ns_run(std::vector<std::string> options, const std::vector<std::string>& command,
                     const RunprogSetup& setup = {}) {
  std::vector<std::string> args = {"-runner", "ns", "-json"};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back(setup.as_sandbox_user ? reachable().hostile : real(TRACEBOX_HOSTILE));
  args.insert(args.end(), command.begin(), command.end());
  return runprog_as(args, setup);
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

// The default profile with the name and metadata syscalls allowed: under the ns runner only the
// mounts and the kernel's permission checks stand between them and a file.
std::string names_profile(const TempDir& dir) {
  std::string allow;
  for (const auto& s : kNameSyscalls) allow += (allow.empty() ? "\"" : ", \"") + s + "\"";
  const std::string profile = dir.file("names.json");
  test::write_file(profile, R"({"description": "default and the name syscalls", )"
                            R"("extends": "default", "allow": [)" +
                                allow + "]}");
  return profile;
}

}  // namespace

TEST_CASE("ns runner: the devices are its own nodes, read-only, and the host's never change",
          "[hostile][runprog][ns]") {
  TB_REQUIRE_GUARD();
  ScratchDev dev;  // the host's /dev here: a bug changes this one, not the machine's
  TempDir work, profiles;
  const std::string profile = names_profile(profiles);
  std::vector<std::pair<std::string, FileState>> before;
  for (const char* d : {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"})
    before.emplace_back(d, FileState::of(d));
  // Every form of every change to a node's name or metadata. As root the nodes are made in a
  // tmpfs of the run's own, remounted read-only: EROFS (a link or rename to /w, another mount,
  // is EXDEV). Without root (a user namespace) the host's nodes are bound read-only: the same.
  for (const bool as_root : {true, false}) {
    INFO((as_root ? "runprog as root" : "runprog as 65534, in a user namespace"));
    RunprogSetup setup;
    setup.as_sandbox_user = !as_root;
    for (const char* device : {"/dev/null", "/dev/zero", "/dev/urandom"}) {
      for (const std::string op : {"unlink",         "unlinkat",       "rename",
                                   "rename-over",    "renameat2",      "exchange",
                                   "chmod",          "fchmodat",       "fchmodat2-empty",
                                   "fchmodat2-null", "fchmod",         "chown",
                                   "fchownat-empty", "fchown",         "utimes",
                                   "utimensat",      "utimensat-null", "utimensat-empty",
                                   "futimesat-null", "link",           "linkat-empty",
                                   "mknod"}) {
        if (op == "mknod" && std::string(device) != "/dev/null") continue;
        INFO(device << " " << op);
        const std::string out = work.file(as_root ? "out-root" : "out-user");
        const std::string dst = std::string("/w/new");
        RunprogResult r =
            ns_run({"-type", profile, "-allow-proc", "-add-writable", work.path(), "-out", out},
                   {"fs", op, op == "mknod" ? "/dev/new" : device, dst}, setup);
        INFO(r.out);
        CHECK(r.exit_code == 0);
        CHECK(json_value(r.out, "status") == "\"normal\"");
        const std::string said = test::read_file(out);
        INFO(said);
        const bool crosses = op == "link" || op == "linkat-empty" || op == "rename" ||
                             op == "renameat2" || op == "rename-over" || op == "exchange";
        // The read-only mount answers before anything else; a cross-mount link or rename may be
        // refused as such first (EXDEV), or for the missing rename-over source (ENOENT), and
        // fchmodat2 takes no NULL path (EFAULT).
        CHECK((said == op + " err=EROFS\n" ||
               (crosses && (said == op + " err=EXDEV\n" || said == op + " err=ENOENT\n")) ||
               (op == "fchmodat2-null" && said == op + " err=EFAULT\n")));
        for (const auto& [name, state] : before) CHECK(FileState::of(name) == state);
      }
    }
    // Reading and writing them still works.
    const std::string out = work.file(as_root ? "rw-root" : "rw-user");
    RunprogResult w = ns_run({"-out", out}, {"open", "/dev/null", "w"}, setup);
    CHECK(json_value(w.out, "status") == "\"normal\"");
    CHECK(test::read_file(out).starts_with("open ret="));
    RunprogResult z = ns_run({"-out", out}, {"open", "/dev/zero", "r"}, setup);
    CHECK(json_value(z.out, "status") == "\"normal\"");
    CHECK(test::read_file(out).starts_with("open ret="));
  }
  // -add-writable /dev/null is what the run has anyway: no bind of the host's node over ours.
  RunprogResult r = ns_run({"-type", profile, "-add-writable", "/dev/null", "-out",
                            work.file("out"), "-show-trace-details"},
                           {"fs", "chmod", "/dev/null"});
  CHECK(test::read_file(work.file("out")) == "chmod err=EROFS\n");
  for (const auto& [name, state] : before) CHECK(FileState::of(name) == state);
  CHECK(test::child_pids().empty());
}

TEST_CASE("ns runner: memory held by processes it does not wait for, and by tmpfs files, counts",
          "[hostile][runprog][ns]") {
  TB_REQUIRE_GUARD();
  // 200 MiB under -ml 64, held where the program's own RSS does not show it. -ol 1000: the
  // output limit is not what stops a file.
  const std::vector<std::string> limits = {"-allow-proc", "-ml", "64",   "-ol", "1000",
                                           "-tl",         "5",   "-rtl", "20"};
  auto check_mle = [&](const std::vector<std::string>& command, const RunprogSetup& setup = {}) {
    INFO(joined(command) << (setup.as_sandbox_user ? " (runprog as 65534)" : ""));
    RunprogResult r = ns_run(limits, command, setup);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(json_value(r.out, "status") == "\"memory_limit_exceeded\"");
    CHECK(json_value(r.out, "limit") == "\"memory\"");
    CHECK(json_number(r.out, "memory_kb") > 64 * 1024);
    CHECK(json_number(r.out, "wall_ms") < 8000);  // killed, not waited out
  };
  for (const char* how : {"child", "orphan", "shared"})
    check_mle({"leave-memory", how, "200", "10000"});
  for (const char* file : {"/w/big", "/tmp/big"}) {
    check_mle({"fill", file, "200", "stay"});
    check_mle({"fill", file, "200", "unlink"});  // no name, still held open
    // It exits at once, the file left behind: still counted when the run ends.
    RunprogResult r = ns_run(limits, {"fill", file, "200", "exit"});
    INFO(r.out);
    CHECK(json_value(r.out, "status") == "\"memory_limit_exceeded\"");
    CHECK(json_number(r.out, "memory_kb") > 64 * 1024);
  }
  // Without root (a user namespace; the program is its PID namespace's init): the same.
  RunprogSetup user;
  user.as_sandbox_user = true;
  check_mle({"leave-memory", "orphan", "200", "10000"}, user);
  check_mle({"fill", "/w/big", "200", "stay"}, user);
  // Within the limit, the same memory shows in memory_kb.
  RunprogResult child = ns_run(limits, {"leave-memory", "child", "24", "1000"});
  INFO(child.out);
  CHECK(json_value(child.out, "status") == "\"normal\"");
  CHECK(json_number(child.out, "memory_kb") >= 24 * 1024);
  RunprogResult file = ns_run(limits, {"fill", "/tmp/f", "24", "stay"});
  INFO(file.out);
  CHECK(json_value(file.out, "status") == "\"normal\"");
  CHECK(json_number(file.out, "memory_kb") >= 24 * 1024);
  CHECK(test::child_pids().empty());
}

TEST_CASE("ns runner: CPU time of processes it does not wait for counts",
          "[hostile][runprog][ns]") {
  TB_REQUIRE_GUARD();
  const std::vector<std::string> limits = {"-allow-proc", "-tl", "1", "-rtl", "30"};
  // Spinning for ever, or 400 ms each and then exiting (zombies of ours, or orphans the
  // namespace's init reaped): 1.2 s in all, past -tl 1, while the program itself sleeps.
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"leave-spinning", "child", "1", "-1", "15000"},
                                             {"leave-spinning", "orphan", "1", "-1", "15000"},
                                             {"leave-spinning", "child", "3", "400", "15000"},
                                             {"leave-spinning", "orphan", "3", "400", "15000"}}) {
    INFO(joined(command));
    RunprogResult r = ns_run(limits, command);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(json_value(r.out, "status") == "\"time_limit_exceeded\"");
    CHECK(json_value(r.out, "limit") == "\"cpu\"");
    CHECK(json_number(r.out, "time_ms") >= 1000);
    CHECK(json_number(r.out, "wall_ms") < 12000);
  }
  // Without root (the program is its PID namespace's init, the orphan its child): the same.
  RunprogSetup user;
  user.as_sandbox_user = true;
  RunprogResult u = ns_run(limits, {"leave-spinning", "orphan", "1", "-1", "15000"}, user);
  INFO(u.out);
  CHECK(json_value(u.out, "status") == "\"time_limit_exceeded\"");
  CHECK(json_number(u.out, "time_ms") >= 1000);
  // Within the limit the unwaited children's time is still counted: 2 x 300 ms, then a sleep.
  RunprogResult r = ns_run(limits, {"leave-spinning", "orphan", "2", "300", "1500"});
  INFO(r.out);
  CHECK(json_value(r.out, "status") == "\"normal\"");
  CHECK(json_number(r.out, "time_ms") >= 600);
  CHECK(json_number(r.out, "time_ms") < 1000);
  CHECK(test::child_pids().empty());
}

TEST_CASE(
    "ns runner: the input cannot be reopened for writing, nor the output's earlier contents "
    "rewritten",
    "[hostile][runprog][ns]") {
  TB_REQUIRE_GUARD();
  TempDir files;
  const std::string input = files.file("input");
  // Writable by anyone: only the sealed copy stands between the program and the file.
  test::write_file(input, "judge input\n", 0666);
  REQUIRE(::chmod(input.c_str(), 0666) == 0);
  const FileState before = FileState::of(input);
  for (const bool as_root : {true, false}) {
    for (const bool by_option : {true, false}) {
      INFO((as_root ? "root" : "65534") << (by_option ? ", -in" : ", runprog's stdin"));
      RunprogSetup setup;
      setup.as_sandbox_user = !as_root;
      const std::string out = files.file(as_root ? "out-root" : "out-user");
      std::vector<std::string> options = {"-out", out};
      if (by_option) {
        options.insert(options.end(), {"-in", input});
      } else {
        setup.in = input;
      }
      REQUIRE(::chown(files.path().c_str(), test::kSandboxUid, test::kSandboxGid) == 0);
      for (const std::string path : {"/proc/self/fd/0", "/proc/thread-self/fd/0"}) {
        RunprogResult r = ns_run(options, {"reopen", path, "r"}, setup);
        CHECK(json_value(r.out, "status") == "\"normal\"");
        CHECK(test::read_file(out).ends_with("read: judge input\n"));
        for (const std::string mode : {"w", "rw", "rt", "wct", "wa"}) {
          INFO(path << " " << mode);
          r = ns_run(options, {"reopen", path, mode}, setup);
          INFO(r.out << test::read_file(out));
          CHECK(json_value(r.out, "status") == "\"normal\"");
          CHECK(FileState::of(input) == before);
        }
      }
      RunprogResult r = ns_run(options, {"rewrite-fd", "0"}, setup);
      CHECK(FileState::of(input) == before);
    }
  }
  // A result log opened with >> as runprog's stdout (the program's too, without -out) or
  // stderr: what it held before the run stays, whatever the program does with its fd.
  for (const int fd : {1, 2}) {
    for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
             {"rewrite-fd", std::to_string(fd)},
             {"reopen", "/proc/self/fd/" + std::to_string(fd), "wct"},
             {"reopen", "/proc/self/fd/" + std::to_string(fd), "w"},
             {"reopen", "/proc/self/fd/" + std::to_string(fd), "rw"}}) {
      INFO(fd << ": " << joined(command));
      const std::string log = files.file("log");
      test::write_file(log, "earlier results\n", 0644);
      test::give_to_program(log);  // as a judge gives a program its output file
      RunprogSetup setup;
      if (fd == 1) {
        setup.out = log;  // the program's output, then runprog's result line
        setup.out_append = true;
      } else {
        setup.err = log;
        setup.err_append = true;
      }
      RunprogResult r = ns_run({}, command, setup);
      const std::string text = test::read_file(log);
      INFO(text);
      // It rewrote what it wrote (its own output, in its memfd), nothing before.
      CHECK(text.starts_with("earlier results\n"));
      const std::string result = fd == 1 ? text.substr(text.rfind("{\"status\"")) : r.out;
      CHECK(json_value(result, "status") == "\"normal\"");
      if (fd == 2) CHECK(text.size() > std::string("earlier results\n").size());
    }
  }
  CHECK(test::child_pids().empty());
}

TEST_CASE("ns runner: the program is not its namespace's init: abort, its own signals, SIGXFSZ",
          "[hostile][runprog][ns]") {
  TB_REQUIRE_GUARD();
  TempDir work;
  // abort() is a runtime error by SIGABRT (an init would not die of it).
  RunprogResult a = ns_run({}, {"raise", "abort"});
  INFO(a.out);
  CHECK(a.out.rfind("{\"status\":\"signalled\"", 0) == 0);
  CHECK(json_number(a.out, "signal") == SIGABRT);
  for (int sig : {SIGTERM, SIGUSR1, SIGPIPE, SIGSEGV}) {
    INFO(sig);
    RunprogResult r =
        ns_run({"-allow-proc", "-out", work.file("out")}, {"raise", std::to_string(sig)});
    INFO(r.out);
    CHECK(json_value(r.out, "status") == "\"signalled\"");
    CHECK(json_number(r.out, "signal") == sig);
    CHECK(test::read_file(work.file("out")).find("survived") == std::string::npos);
  }
  // Past -ol, SIGXFSZ ends it: an output limit.
  RunprogResult o = ns_run({"-ol", "1", "-out", work.file("out")}, {"output-bomb"});
  INFO(o.out);
  CHECK(json_value(o.out, "status") == "\"output_limit_exceeded\"");
  CHECK(json_number(o.out, "signal") == SIGXFSZ);
  CHECK(std::filesystem::file_size(work.file("out")) == 1 << 20);
  // The non-root form: the program is its namespace's init; the signals it sends itself are
  // not delivered, and the output limit is EFBIG to it, found in the output's size.
  RunprogSetup user;
  user.as_sandbox_user = true;
  RunprogResult u = ns_run({"-allow-proc", "-out", work.file("user")}, {"raise", "15"}, user);
  INFO(u.out);
  CHECK(json_value(u.out, "status") == "\"normal\"");
  CHECK(test::read_file(work.file("user")) == "survived\n");
  RunprogResult uo = ns_run({"-ol", "1", "-out", work.file("user")}, {"output-bomb"}, user);
  INFO(uo.out);
  CHECK(json_value(uo.out, "status") == "\"output_limit_exceeded\"");
  CHECK(test::child_pids().empty());
}

TEST_CASE("runprog -user: the program's uid and gid as root, never 0", "[hostile][runprog]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(::geteuid() == 0, "runprog changes the program's user only as root");
  const std::string hostile = real(TRACEBOX_HOSTILE);
  TempDir dir;
  const std::string profile = dir.file("ids.json");
  test::write_file(profile, R"({"description": "default and the id queries", "extends": "default",)"
                            R"( "allow": ["getresuid", "getresgid", "getgroups"]})");
  for (const char* runner : {"ptrace", "ns"}) {
    INFO("-runner " << runner);
    auto ids = [&](std::vector<std::string> options) {
      std::vector<std::string> args = {"-runner", runner, "-type", profile};
      args.insert(args.end(), options.begin(), options.end());
      args.insert(args.end(), {hostile, "ids"});
      return runprog(args);
    };
    RunprogResult d = ids({});
    CHECK(d.out.starts_with("uid=65534,65534,65534 gid=65534,65534,65534 groups=0\n"));
    RunprogResult u = ids({"-user", "1000:1001"});
    CHECK(u.out.starts_with("uid=1000,1000,1000 gid=1001,1001,1001 groups=0\n"));
    RunprogResult only_uid = ids({"-user", "4321"});
    CHECK(only_uid.out.starts_with("uid=4321,4321,4321 gid=4321,4321,4321 groups=0\n"));
  }
  for (const char* bad : {"0", "0:0", "7:0", "0:7", "x", "1:", ":1", "4294967295", "-5", ""}) {
    INFO("-user '" << bad << "'");
    RunprogResult r = runprog({"-user", bad, "-type", profile, hostile, "ids"});
    if (std::string(bad).empty()) {  // "" is the default
      CHECK(r.exit_code == 0);
      continue;
    }
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("uid=") == std::string::npos);
  }
}

TEST_CASE("through runprog: a wait's status written into a checked path does not open another file",
          "[hostile][runprog]") {
  TB_REQUIRE_GUARD();
  WaitRaceFiles files;
  TempDir t;
  // The default profile with the secret soft-banned.
  std::string profile =
      test::read_file(std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles/default.json");
  const std::string none = "\"soft_ban\": [";
  REQUIRE(profile.find(none) != std::string::npos);
  profile.replace(profile.find(none), none.size(), "\"soft_ban\": [\"" + files.secret + "\", ");
  test::write_file(t.file("race.json"), profile);
  for (bool shared : {false, true}) {
    INFO((shared ? "a process sharing the path's memory" : "a second thread") << " waits");
    std::vector<std::string> args = {"-json",
                                     "-type",
                                     t.file("race.json"),
                                     "-allow-proc",
                                     "-tl",
                                     "30",
                                     "-rtl",
                                     "30",
                                     "-add-readable-raw",
                                     files.granted,
                                     real(TRACEBOX_HOSTILE),
                                     "wait-race",
                                     files.granted,
                                     "3"};
    if (shared) args.push_back("shared");
    RunprogResult r = runprog_as(args, {});
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.starts_with("lost "));
    CHECK(r.out.find("ESCAPED") == std::string::npos);
    CHECK(json_value(r.out, "status") == "\"normal\"");
  }
  no_survivors();
}

namespace {

// Sets the POSIX ACL of `path` (its system.posix_acl_access attribute: version 2, then {tag,
// perm, id} entries, little-endian) to `entries`, given in the kernel's order. 0 or an errno.
int set_acl(const std::string& path, const std::vector<std::array<std::uint32_t, 3>>& entries) {
  std::string bytes;
  auto put = [&](std::uint32_t v, int n) {
    for (int i = 0; i < n; ++i) bytes += static_cast<char>(v >> (8 * i));
  };
  put(2, 4);
  for (const auto& [tag, perm, id] : entries) {
    put(tag, 2);
    put(perm, 2);
    put(id, 4);
  }
  return ::setxattr(path.c_str(), "system.posix_acl_access", bytes.data(), bytes.size(), 0) == 0
             ? 0
             : errno;
}

}  // namespace

TEST_CASE("a directory's ACL that lets the program search it is read as the kernel reads it",
          "[hostile][files]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(test::is_root(), "the program runs as user 65534 only under root");
  constexpr std::uint32_t kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kMask = 0x10,
                          kOther = 0x20;
  // Root's directory, closed to others by its mode, whose ACL lets user 65534 search it (mode
  // 0710: the group bits show the ACL's mask), as a judge's home directory may be.
  TempDir lit;
  REQUIRE(::chown(lit.path().c_str(), 0, 0) == 0);
  REQUIRE(::mkdir(lit.file("exists").c_str(), 0755) == 0);
  REQUIRE(::chmod(lit.file("exists").c_str(), 0755) == 0);
  REQUIRE(::chmod(lit.path().c_str(), 0700) == 0);
  const int err = set_acl(lit.path(), {{kUserObj, 7, 0xffffffff},
                                       {kUser, 1, 65534},
                                       {kGroupObj, 0, 0xffffffff},
                                       {kMask, 1, 0xffffffff},
                                       {kOther, 0, 0xffffffff}});
  TB_SKIP_UNLESS(err == 0, std::string("this file system keeps no POSIX ACL: ") + strerror(err));
  struct stat st {};
  REQUIRE(::stat(lit.path().c_str(), &st) == 0);
  REQUIRE((st.st_mode & 07777) == 0710);
  // Opens `target` with the directory granted, through the library and runprog (-add-readable):
  // both runs end normally and the program prints the errno it got.
  auto check_granted_open = [&](const std::string& target, const std::string& want) {
    INFO(target);
    Hostile granted({"open", target, "r"});
    granted.judge.files.readable.add(lit.path() + "/");
    Result g = granted.run();
    INFO(g.error);
    CHECK(g.status == Status::kNormal);
    CHECK(granted.output() == "open err=" + want + "\n");
    RunprogResult r = runprog(
        {"-json", "-add-readable", lit.path(), real(TRACEBOX_HOSTILE), "open", target, "r"});
    CHECK(json_value(r.out, "status") == "\"normal\"");
    CHECK(r.out.find("open err=" + want + "\n") != std::string::npos);
  };
  // The kernel's answer: ENOENT for a missing entry and inside an existing one (the tracer once
  // said EACCES for the missing one, from the mode bits alone).
  for (const std::string& target : {lit.file("missing/x"), lit.file("exists/x")})
    check_granted_open(target, "ENOENT");
  // Without the ACL the same directory is closed to the program: EACCES for both.
  REQUIRE(::removexattr(lit.path().c_str(), "system.posix_acl_access") == 0);
  REQUIRE(::chmod(lit.path().c_str(), 0700) == 0);
  for (const std::string& target : {lit.file("missing/x"), lit.file("exists/x")})
    check_granted_open(target, "EACCES");
  no_survivors();
}

TEST_CASE("what a directory the program may not search holds is not told by the checks",
          "[hostile][files]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(test::is_root(), "the program runs as user 65534 only under root");
  // A root-owned 0700 directory (as /root is): the kernel answers user 65534 EACCES inside it,
  // whatever is there. The tracer walks as root: a missing directory in it once gave ENOENT
  // while an existing one gave a violation, telling them apart.
  TempDir dark;  // the tests' directories belong to the sandbox user: this one is root's
  REQUIRE(::chown(dark.path().c_str(), 0, 0) == 0);
  REQUIRE(::chmod(dark.path().c_str(), 0700) == 0);
  REQUIRE(::mkdir(dark.file("exists").c_str(), 0755) == 0);
  REQUIRE(::mkdir(dark.file("box").c_str(), 0777) == 0);
  REQUIRE(::chmod(dark.file("box").c_str(), 0777) == 0);
  for (const std::string& target : {dark.file("missing/x"), dark.file("exists/x")}) {
    INFO(target);
    Hostile h({"open", target, "r"});
    Result r = h.run();
    INFO(r.error << "\n" << h.output());
    CHECK(r.status == Status::kDisallowedSyscall);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->path == target);
    // Granted: the syscall goes on, and the kernel's answer is the same for both.
    Hostile granted({"open", target, "r"});
    granted.judge.files.readable.add(dark.path() + "/");
    Result g = granted.run();
    INFO(g.error);
    CHECK(g.status == Status::kNormal);
    CHECK(granted.output() == "open err=EACCES\n");
  }
  // Where the program may search, a missing directory is ENOENT as before.
  TempDir open_dir;
  REQUIRE(::chown(open_dir.path().c_str(), 0, 0) == 0);
  REQUIRE(::chmod(open_dir.path().c_str(), 0755) == 0);
  Hostile searchable({"open", open_dir.file("missing/x"), "r"});
  CHECK(searchable.run().status == Status::kNormal);
  CHECK(searchable.output() == "open err=ENOENT\n");
  // A relative walk starts at the cwd: the 0700 directory above it is not searched.
  Hostile relative({"open", "missing/x", "r"});
  relative.spec.process.work_dir = dark.file("box");
  Result rel = relative.run();
  INFO(rel.error);
  CHECK(rel.status == Status::kNormal);
  CHECK(relative.output() == "open err=ENOENT\n");
  // Through runprog: the same violation for both.
  for (const std::string& target : {dark.file("missing/x"), dark.file("exists/x")}) {
    INFO(target);
    RunprogResult r = runprog({"-json", real(TRACEBOX_HOSTILE), "open", target, "r"});
    CHECK(json_value(r.out, "status") == "\"disallowed_syscall\"");
    CHECK(r.out.find("\"path\":\"" + target + "\"") != std::string::npos);
  }
  no_survivors();
}
