#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/capture.h"
#include "support/support.h"
#include "tracebox/forkexec/runner.h"
#include "tracebox/seccomp/filter.h"

using namespace tracebox;
using namespace tracebox::forkexec;
using tracebox::test::TempDir;

namespace {

using test::Output;

// Starts `r` with stdout on a pipe (stdin /dev/null, stderr inherited) and collects its output.
Output run_capture(Runner r) { return test::capture(std::move(r)); }

Runner prog(std::vector<std::string> args) {
  Runner r;
  r.args = {test::testprog()};
  r.args.insert(r.args.end(), args.begin(), args.end());
  return r;
}

ChildError start_error(const Runner& r) {
  try {
    Child c = r.start();
  } catch (const StartError& e) {
    return e.child_error();
  }
  FAIL("start() did not fail");
  return {};
}

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\0') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool can_userns() {
  // Probe once: an unprivileged-style user namespace with the default map.
  Runner r = prog({"exit", "0"});
  r.clone_flags = CLONE_NEWUSER;
  try {
    auto c = r.start();
    return c.wait().info.si_status == 0;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

TEST_CASE("a program runs and its exit status is reported", "[forkexec]") {
  auto o = run_capture(prog({"exit", "7"}));
  CHECK(o.status == 7);
}

TEST_CASE("argv and env are delivered exactly", "[forkexec]") {
  std::vector<std::string> args = {"args", "", "two words", "ünïcødé", "-x", "a=b", "\t\n"};
  Runner r = prog(args);
  auto o = run_capture(r);
  REQUIRE(o.status == 0);
  auto got = split_nul(o.out);
  REQUIRE(got.size() == args.size() + 1);
  CHECK(got[0] == test::testprog());
  for (std::size_t i = 0; i < args.size(); ++i) CHECK(got[i + 1] == args[i]);

  Runner e = prog({"env"});
  e.env = {"A=1", "EMPTY=", "SPACES=a b c", "NOEQUALS"};
  auto oe = run_capture(e);
  REQUIRE(oe.status == 0);
  CHECK(split_nul(oe.out) == e.env);

  Runner none = prog({"env"});
  CHECK(run_capture(none).out.empty());  // nothing inherited
}

TEST_CASE("a missing program is reported as execve ENOENT", "[forkexec]") {
  Runner r;
  r.args = {"/nonexistent/program"};
  auto err = start_error(r);
  CHECK(err == ChildError{ENOENT, ErrorLocation::kExec, 0});
  CHECK(err.message() == "execve: No such file or directory");
  CHECK(test::child_pids().empty());
}

TEST_CASE("a non-executable file is reported as execve EACCES", "[forkexec]") {
  TempDir dir;
  test::write_file(dir.file("data"), "not a program\n", 0644);
  Runner r;
  r.args = {dir.file("data")};
  CHECK(start_error(r) == ChildError{EACCES, ErrorLocation::kExec, 0});
  // Also through the plain-clone path (a sync callback forces it).
  r.sync = [](pid_t) { return 0; };
  CHECK(start_error(r) == ChildError{EACCES, ErrorLocation::kExec, 0});
  CHECK(test::child_pids().empty());
}

TEST_CASE("a bad work dir is reported as chdir", "[forkexec]") {
  Runner r = prog({"exit", "0"});
  r.work_dir = "/nonexistent-dir";
  CHECK(start_error(r) == ChildError{ENOENT, ErrorLocation::kChdir, 0});
  r.work_dir = "/tmp";
  auto o = run_capture(prog({"cwd"}));
  CHECK(o.status == 0);
}

TEST_CASE("an rlimit the kernel rejects is reported with its index", "[forkexec]") {
  std::ifstream in("/proc/sys/fs/nr_open");
  rlim_t nr_open = 0;
  in >> nr_open;
  REQUIRE(nr_open > 0);
  Runner r = prog({"exit", "0"});
  r.rlimits = {{RLIMIT_CORE, 0, 0},
               {RLIMIT_STACK, 8 << 20, 8 << 20},
               {RLIMIT_NOFILE, nr_open + 1, nr_open + 1}};
  auto err = start_error(r);
  CHECK(err == ChildError{EPERM, ErrorLocation::kRlimit, 2});
  CHECK(err.message() == "rlimit(2): Operation not permitted");
}

TEST_CASE("rlimits are applied in the child", "[forkexec]") {
  Runner r = prog({"rlimit", "nofile"});
  r.rlimits = {{RLIMIT_NOFILE, 64, 128}};
  CHECK(run_capture(r).out == "64 128\n");
}

TEST_CASE("the fd table is honoured and every other fd is closed", "[forkexec]") {
  TempDir dir;
  UniqueFd leak(::open(dir.file("leak").c_str(), O_WRONLY | O_CREAT, 0644));  // no CLOEXEC
  REQUIRE(leak);
  UniqueFd extra(::open(dir.file("extra").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  Runner r = prog({"fds"});
  // fd 0: /dev/null (r), 1: pipe (w), 2: closed, 3: the rw file, 4: the pipe again.
  r.files = {null.get(), wr.get(), kCloseFd, extra.get(), wr.get()};
  Child c = r.start();
  wr.reset();
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  CHECK(c.wait().info.si_status == 0);
  CHECK(out == "0 r\n1 w\n3 rw\n4 w\n");
}

TEST_CASE("fd table entries that collide with their own sources are placed correctly",
          "[forkexec]") {
  // files[i] == j for j < n: a naive single pass would overwrite a source before using it.
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  Runner r = prog({"fds"});
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // Move the pipe to fd 1 through a swap of 0 and 1 in the parent's numbering.
  int a = ::dup(null.get()), b = ::dup(wr.get());
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  r.files = {a, b, b, a};
  Child c = r.start();
  ::close(a);
  ::close(b);
  wr.reset();
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  CHECK(c.wait().info.si_status == 0);
  CHECK(out == "0 r\n1 w\n2 w\n3 r\n");
}

TEST_CASE("signal dispositions and the mask are reset in the child", "[forkexec]") {
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  struct sigaction old_pipe {
  }, old_usr2{};
  ::sigaction(SIGPIPE, &ign, &old_pipe);
  struct sigaction handled {};
  handled.sa_handler = [](int) {};
  ::sigaction(SIGUSR2, &handled, &old_usr2);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);

  auto o = run_capture(prog({"signals"}));
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  CHECK(o.out == "ignored=0 handled=0 blocked=0\n");
}

TEST_CASE("exec by fd", "[forkexec]") {
  UniqueFd fd(::open(test::testprog().c_str(), O_PATH | O_CLOEXEC));
  REQUIRE(fd);
  Runner r;
  r.args = {"whatever-argv0", "exit", "5"};
  r.exec_fd = fd.get();
  CHECK(run_capture(r).status == 5);
}

TEST_CASE("exec retries on ETXTBSY a bounded number of times", "[forkexec]") {
  TempDir dir;
  const std::string copy = dir.file("prog");
  std::filesystem::copy_file(test::testprog(), copy);
  ::chmod(copy.c_str(), 0755);
  UniqueFd writer(::open(copy.c_str(), O_WRONLY | O_CLOEXEC));
  REQUIRE(writer);
  Runner r;
  r.args = {copy, "exit", "3"};
  r.etxtbsy_retries = 0;
  CHECK(start_error(r) == ChildError{ETXTBSY, ErrorLocation::kExec, 0});

  // The writer goes away while the child retries: the exec then succeeds.
  r.etxtbsy_retries = 1000;
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    writer.reset();
  });
  auto o = run_capture(r);
  closer.join();
  CHECK(o.status == 3);
}

TEST_CASE("a failing sync callback kills and reaps the child", "[forkexec]") {
  Runner r = prog({"sleep", "10000"});
  pid_t seen = 0;
  r.sync = [&](pid_t pid) {
    seen = pid;
    return EPERM;
  };
  auto err = start_error(r);
  CHECK(err == ChildError{EPERM, ErrorLocation::kSyncCallback, 0});
  CHECK(err.message() == "sync_callback: Operation not permitted");
  CHECK(seen > 0);
  CHECK(test::child_pids().empty());
  CHECK(::kill(seen, 0) == -1);
}

TEST_CASE("a sync callback runs while the child waits before exec", "[forkexec]") {
  TempDir dir;
  Runner r = prog({"cat", dir.file("made-by-callback")});
  r.sync = [&](pid_t) {
    test::write_file(dir.file("made-by-callback"), "hello from the parent\n");
    return 0;
  };
  auto o = run_capture(r);
  CHECK(o.status == 0);
  CHECK(o.out == "hello from the parent\n");
}

TEST_CASE("a failed exec past a filter that kills sendto is reported, sync or not", "[forkexec]") {
  // The filter lets through only what the child does after loading it: its signal mask, the
  // exec and the exit. A failure report on the socket would be killed: it goes in memory.
  seccomp::Builder b;
  b.default_action(seccomp::Action::kill_process());
  for (const char* s : {"rt_sigprocmask", "execve", "execveat", "exit_group"})
    b.add(s, seccomp::Action::allow());
  Runner r;
  r.args = {"/nonexistent/program"};
  r.seccomp = std::make_shared<const seccomp::Program>(b.build());
  SECTION("without a sync callback") {}
  SECTION("with a sync callback") {
    r.sync = [](pid_t) { return 0; };
  }
  SECTION("in a user namespace (the parent writes the id maps)") {
    TB_SKIP_UNLESS(can_userns(), "user namespaces are not available");
    r.clone_flags = CLONE_NEWUSER;
  }
  CHECK(start_error(r) == ChildError{ENOENT, ErrorLocation::kExec, 0});
  CHECK(test::child_pids().empty());
}

TEST_CASE("a bad configuration is refused before anything is cloned", "[forkexec]") {
  auto config_error = [](const Runner& r) {
    try {
      r.start();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    } catch (const std::exception& e) {
      return std::string("wrong exception: ") + e.what();
    }
    return std::string("no error");
  };
  Runner nul = prog({std::string("a\0b", 3)});
  CHECK(config_error(nul) == "args[1] contains a NUL byte");
  Runner rel = prog({"exit", "0"});
  rel.clone_flags = CLONE_NEWNS;
  rel.pivot_root = "relative/root";
  CHECK(config_error(rel) == "pivot_root must be an absolute path: relative/root");
  Runner badfd = prog({"exit", "0"});
  badfd.files = {0, 1, 987};
  CHECK(config_error(badfd) == "files[2]: fd 987 is not open");
  Runner flags = prog({"exit", "0"});
  flags.clone_flags = CLONE_THREAD;
  CHECK(config_error(flags) == "clone_flags: only CLONE_NEW* namespace flags are accepted");
  Runner host = prog({"exit", "0"});
  host.hostname = "x";
  CHECK(config_error(host) == "hostname/domainname need CLONE_NEWUTS");
  Runner mounts = prog({"exit", "0"});
  mounts.mounts = mount::Builder().with_tmpfs("/tmp/x").build();
  CHECK(config_error(mounts) == "mounts need CLONE_NEWNS");
  Runner empty;
  CHECK(config_error(empty) == "args: the argument list is empty (argv[0] is required)");
  CHECK(test::child_pids().empty());
}

TEST_CASE("a failing mount is reported with its index", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root() || can_userns(), "needs root or user namespaces");
  TempDir dir;
  Runner r = prog({"exit", "0"});
  r.clone_flags = CLONE_NEWNS | (test::is_root() ? 0 : CLONE_NEWUSER);
  mount::Step ok;
  ok.source = "tmpfs";
  ok.fstype = "tmpfs";
  ok.target = dir.file("a");
  ok.prefixes = {dir.file("a")};
  mount::Step bad;
  bad.source = dir.file("does-not-exist");
  bad.target = dir.file("b");
  bad.flags = MS_BIND;
  bad.prefixes = {dir.file("b")};
  r.mounts = {ok, bad};
  auto err = start_error(r);
  CHECK(err == ChildError{ENOENT, ErrorLocation::kMount, 1});
  CHECK(err.message() == "mount(1): No such file or directory");
}

TEST_CASE("a setuid to an unmapped id in a user namespace fails at setuid", "[forkexec]") {
  TB_SKIP_UNLESS(can_userns(), "user namespaces are not available");
  Runner r = prog({"ids"});
  r.clone_flags = CLONE_NEWUSER;
  r.credential = Credential{1000, 0, {}, true};  // only 0 is mapped
  CHECK(start_error(r) == ChildError{EINVAL, ErrorLocation::kSetUid, 0});
  r.credential = Credential{0, 0, {}, true};
  CHECK(run_capture(r).out == "uid=0 gid=0 groups=0\n");
}

TEST_CASE("hostname and domainname inside a UTS namespace", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root() || can_userns(), "needs root or user namespaces");
  Runner r = prog({"uts"});
  r.clone_flags = CLONE_NEWUTS | (test::is_root() ? 0 : CLONE_NEWUSER);
  r.hostname = "tracebox-host";
  r.domainname = "tracebox-domain";
  CHECK(run_capture(r).out == "tracebox-host\ntracebox-domain\n");
  char host[256] = {};
  ::gethostname(host, sizeof host);
  CHECK(std::string(host) != "tracebox-host");
}

TEST_CASE("an unprivileged user namespace with a uid map", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root() || can_userns(), "needs root or user namespaces");
  // Run the spawn from an unprivileged process: a forked helper drops to nobody first.
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  // The program is opened first: from a checkout in a private directory (/root, mode 0700)
  // the unprivileged helper could not reach it by path.
  UniqueFd program(::open(test::testprog().c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(program);
  pid_t helper = ::fork();
  REQUIRE(helper >= 0);
  if (helper == 0) {
    ::close(p[0]);
    if (test::is_root() && (::setresgid(65534, 65534, 65534) != 0 || ::setgroups(0, nullptr) != 0 ||
                            ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(90);
    // A set*id call made us non-dumpable (our /proc files root-owned); a real unprivileged
    // user is dumpable.
    ::prctl(PR_SET_DUMPABLE, 1);
    try {
      Runner r = prog({"ids"});
      r.exec_fd = program.get();
      r.clone_flags = CLONE_NEWUSER;
      r.uid_map = {{0, ::geteuid(), 1}};
      r.gid_map = {{0, ::getegid(), 1}};
      r.files = {0, p[1], 2};
      Child c = r.start();
      ::_exit(c.wait().info.si_status);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      ::_exit(91);
    }
  }
  ::close(p[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(helper, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out == "uid=0 gid=0 groups=0\n");
}

TEST_CASE("pivot root with a read-only bind and a tmpfs", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root() || can_userns(), "needs root or user namespaces");
  TempDir root;
  TempDir data;
  test::write_file(data.file("hello.txt"), "bound file\n");
  auto plan = mount::Builder()
                  .with_bind(test::testprog_static(), "bin/testprog", true)
                  .with_bind(data.path(), "data", true)
                  .with_tmpfs("w", "size=1m,nr_inodes=64")
                  .build();
  auto make = [&](std::vector<std::string> args) {
    Runner r;
    r.args = {"/bin/testprog"};
    r.args.insert(r.args.end(), args.begin(), args.end());
    r.clone_flags = CLONE_NEWNS | (test::is_root() ? 0 : CLONE_NEWUSER);
    r.pivot_root = root.path();
    r.mounts = plan;
    r.work_dir = "/w";
    return r;
  };
  CHECK(run_capture(make({"cat", "/data/hello.txt"})).out == "bound file\n");
  CHECK(run_capture(make({"write", "/w/out.txt", "x"})).out == "ok\n");
  CHECK(run_capture(make({"write", "/data/new.txt", "x"})).out == "error EROFS\n");
  CHECK(run_capture(make({"write", "/new.txt", "x"})).out == "error EROFS\n");
  CHECK(run_capture(make({"cat", "/etc/hostname"})).out == "error No such file or directory\n");
  CHECK(run_capture(make({"cwd"})).out == "/w\n");
  // Nothing leaked onto the host's side.
  CHECK(!std::filesystem::exists(data.file("new.txt")));
  CHECK(std::filesystem::is_empty(root.path()));
}

TEST_CASE("ptrace mode reports an exec failure after the self-stop", "[forkexec]") {
  Runner r;
  r.args = {"/nonexistent/traced"};
  r.ptrace = true;
  r.stop_before_seccomp = true;
  Child c = r.start();
  int status = 0;
  REQUIRE(::waitpid(c.pid(), &status, __WALL) == c.pid());
  REQUIRE(WIFSTOPPED(status));
  CHECK(WSTOPSIG(status) == SIGSTOP);
  REQUIRE(::ptrace(PTRACE_CONT, c.pid(), 0, 0) == 0);
  // The exec fails; the child reports it on the socket and exits.
  REQUIRE(::waitpid(c.pid(), &status, __WALL) == c.pid());
  auto err = c.read_exec_result();
  REQUIRE(err.has_value());
  CHECK(*err == ChildError{ENOENT, ErrorLocation::kExec, 0});
}

TEST_CASE("1000 starts leave no zombie and no extra fd", "[forkexec]") {
  auto before = test::open_fds();
  for (int i = 0; i < 1000; ++i) {
    Runner r = prog({"exit", std::to_string(i % 7)});
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    r.files = {null.get(), null.get(), null.get()};
    Child c = r.start();
    auto e = c.wait();
    REQUIRE(e.info.si_status == i % 7);
    if (i % 100 == 0) {
      // Failures too: the parent kills and reaps.
      Runner bad;
      bad.args = {"/nonexistent"};
      REQUIRE_THROWS_AS(bad.start(), StartError);
    }
  }
  CHECK(test::open_fds() == before);
  CHECK(test::child_pids().empty());
}

TEST_CASE("clone3 puts the child into the cgroup of cgroup_fd", "[forkexec]") {
  std::string root;
  for (const char* r : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
    if (std::filesystem::exists(std::string(r) + "/cgroup.procs") &&
        std::filesystem::exists(std::string(r) + "/cgroup.subtree_control")) {
      root = r;
      break;
    }
  TB_SKIP_UNLESS(test::is_root() && !root.empty(), "needs root and a cgroup v2 hierarchy");
  // Our own cgroup in that hierarchy, and a child cgroup of it to put the program into.
  std::string own;
  {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  const std::string dir =
      root + (own == "/" ? "" : own) + "/tracebox-fx-" + std::to_string(::getpid());
  TB_SKIP_UNLESS(::mkdir(dir.c_str(), 0755) == 0, "cannot create a cgroup under " + root + own);
  UniqueFd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(cg);
  Runner r = prog({"cat", "/proc/self/cgroup"});
  r.cgroup_fd = cg.get();
  auto o = run_capture(r);
  ::rmdir(dir.c_str());
  CHECK(o.status == 0);
  const std::string name = dir.substr(root.size());
  CHECK(o.out.find("0::" + name + "\n") != std::string::npos);
}

TEST_CASE("drop_caps leaves the program no capability", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root(), "needs capabilities to drop");
  auto caps = [](bool drop) {
    Runner r = prog({"cat", "/proc/self/status"});
    r.drop_caps = drop;
    std::string status = run_capture(r).out;
    std::string out;
    std::istringstream in(status);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("Cap", 0) == 0) out += line + "\n";
    return out;
  };
  const std::string dropped = caps(true);
  CHECK(dropped.find("CapInh:\t0000000000000000\n") != std::string::npos);
  CHECK(dropped.find("CapPrm:\t0000000000000000\n") != std::string::npos);
  CHECK(dropped.find("CapEff:\t0000000000000000\n") != std::string::npos);
  CHECK(dropped.find("CapBnd:\t0000000000000000\n") != std::string::npos);
  CHECK(dropped.find("CapAmb:\t0000000000000000\n") != std::string::npos);
  CHECK(caps(false).find("CapEff:\t0000000000000000\n") == std::string::npos);
}

TEST_CASE("ctty makes the terminal on fd 0 the child's controlling terminal", "[forkexec]") {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  TB_SKIP_UNLESS(master >= 0 && ::grantpt(master) == 0 && ::unlockpt(master) == 0,
                 "no pseudo-terminal available");
  UniqueFd m(master);
  UniqueFd slave(::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(slave);
  auto tty_nr = [&](bool ctty) {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd rd(p[0]), wr(p[1]);
    Runner r = prog({"cat", "/proc/self/stat"});
    r.files = {slave.get(), wr.get(), 2};
    r.ctty = ctty;
    Child c = r.start();
    wr.reset();
    std::string out;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    c.wait();
    // Field 7 (after the command name in parentheses): the controlling terminal.
    std::istringstream rest(out.substr(out.rfind(')') + 2));
    std::string state, ppid, pgrp, session, tty;
    rest >> state >> ppid >> pgrp >> session >> tty;
    return std::stol(tty);
  };
  CHECK(tty_nr(true) != 0);
  CHECK(tty_nr(false) == 0);
}

namespace {

// Processes whose PID namespace is `ns` (an inode from /proc/<pid>/ns/pid).
std::vector<pid_t> in_pid_namespace(ino_t ns) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;
    struct stat st {};
    if (::stat((e.path() / "ns/pid").c_str(), &st) == 0 && st.st_ino == ns)
      out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace

TEST_CASE("pid_namespace: the program is pid 2 beside an init, not the init", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root(), "a PID namespace needs CAP_SYS_ADMIN");
  SECTION("its view of itself") {
    Runner r = prog({"pidns"});
    r.pid_namespace = true;
    Output o = run_capture(r);
    CHECK(o.status == 0);
    CHECK(o.out == "pid=2 ppid=0\n");
  }
  SECTION("abort() kills it, as outside (a namespace's init would survive SIGABRT)") {
    Runner r = prog({"abort"});
    r.pid_namespace = true;
    CHECK(run_capture(r).status == 128 + SIGABRT);
  }
  SECTION("the ptrace self-stop works (it cannot as pid 1)") {
    Runner r = prog({"exit", "3"});
    r.pid_namespace = true;
    r.stop_before_seccomp = true;
    Child c = r.start();
    siginfo_t info{};
    int got;
    while ((got = ::waitid(P_PIDFD, static_cast<id_t>(c.pidfd()), &info, WSTOPPED | __WALL)) != 0 &&
           errno == EINTR) {
    }
    INFO("waitid: " << std::strerror(errno));
    REQUIRE(got == 0);
    CHECK(info.si_code == CLD_STOPPED);
    ::kill(c.pid(), SIGCONT);
    CHECK(c.wait().info.si_status == 3);
  }
  SECTION("the caller's later children are back in its own namespace") {
    Runner r = prog({"pidns"});
    r.pid_namespace = true;
    (void)run_capture(r);
    Output o = run_capture(prog({"pidns"}));
    CHECK(o.out != "pid=2 ppid=0\n");
    CHECK(o.out.rfind("pid=2 ", 0) != 0);
  }
}

TEST_CASE("pid_namespace: what the program leaves behind dies with the init", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root(), "a PID namespace needs CAP_SYS_ADMIN");
  Runner r = prog({"orphan"});
  r.pid_namespace = true;
  ino_t ns = 0;
  r.sync = [&](pid_t pid) {
    struct stat st {};
    if (::stat(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), &st) != 0) return errno;
    ns = st.st_ino;
    return 0;
  };
  Runner warm = prog({"exit", "0"});
  warm.pid_namespace = true;
  (void)run_capture(warm);  // this thread's own-namespace fd stays open
  const auto fds = test::open_fds();
  // The output goes to a file: the orphan holds it open until it dies.
  TempDir dir;
  {
    UniqueFd out(::open(dir.file("out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    r.files = {0, out.get(), 2};
    Child c = r.start();
    CHECK(c.wait().info.si_status == 0);
  }
  CHECK(test::read_file(dir.file("out")) == "child=3\n");  // 1 is the init, 2 the program
  REQUIRE(ns != 0);
  CHECK(in_pid_namespace(ns).empty());
  CHECK(test::child_pids().empty());
  CHECK(test::open_fds() == fds);
}

TEST_CASE("pid_namespace: the init's rusage holds the CPU time of the orphans it reaped",
          "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root(), "a PID namespace needs CAP_SYS_ADMIN");
  // An orphan burns 300 ms of CPU and exits while the program sleeps: the init reaps it.
  Runner r;
  r.args = {"/bin/sh", "-c", "(" + test::tracee() + " spin 300 &); sleep 3"};
  r.env = {"PATH=/usr/bin:/bin"};
  r.pid_namespace = true;
  Child c = r.start();
  const Child::Exit e = c.wait();
  CHECK(e.info.si_status == 0);
  auto ms = [](const rusage& u) {
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000;
  };
  CHECK(ms(e.init_usage) >= 290);
  CHECK(ms(e.usage) < 100);  // not the program's: it never waited for it
  // Without an init there is nothing to report.
  Runner plain = prog({"exit", "0"});
  Child p = plain.start();
  CHECK(ms(p.wait().init_usage) == 0);
}

TEST_CASE("pid_namespace: 300 starts leave no zombie, no fd, no namespace", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root(), "a PID namespace needs CAP_SYS_ADMIN");
  Runner warm = prog({"exit", "0"});
  warm.pid_namespace = true;
  (void)run_capture(warm);  // this thread's own-namespace fd stays open
  const auto fds = test::open_fds();
  for (int i = 0; i < 300; ++i) {
    Runner r = prog({"exit", "0"});
    r.pid_namespace = true;
    Child c = r.start();
    REQUIRE(c.wait().info.si_status == 0);
  }
  CHECK(test::child_pids().empty());
  CHECK(test::open_fds() == fds);
}

TEST_CASE("join_namespaces: the program joins a namespace given as an fd", "[forkexec]") {
  TB_SKIP_UNLESS(test::is_root(), "setns needs CAP_SYS_ADMIN");
  // A UTS namespace held by an fd: made by a child that exits at once.
  Runner maker = prog({"exit", "0"});
  maker.clone_flags = CLONE_NEWUTS;
  maker.hostname = "joined-uts";
  UniqueFd ns;
  maker.sync = [&](pid_t pid) {
    ns.reset(::open(("/proc/" + std::to_string(pid) + "/ns/uts").c_str(), O_RDONLY | O_CLOEXEC));
    return ns ? 0 : errno;
  };
  REQUIRE(run_capture(maker).status == 0);
  REQUIRE(ns);
  Runner r = prog({"uts"});
  r.join_namespaces = {ns.get()};
  CHECK(run_capture(r).out.rfind("joined-uts\n", 0) == 0);
  // A bad fd is refused before anything runs; a fd of the wrong kind fails at setns(0).
  Runner bad = prog({"uts"});
  bad.join_namespaces = {1000};
  CHECK_THROWS_AS(bad.start(), ConfigError);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Runner wrong = prog({"uts"});
  wrong.join_namespaces = {null.get()};
  ChildError e = start_error(wrong);
  CHECK(e.location == ErrorLocation::kSetns);
  CHECK(e.index == 0);
  CHECK(e.err == EINVAL);
}
