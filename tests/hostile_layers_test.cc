// Each isolation layer on its own: the attacks that reached outside a run (a signal through
// fcntl's owner, another process's rlimits, a user namespace to gain the victim's permissions)
// are shown to work with no layer at all, then to fail with only the run's PID namespace, and
// with only the unprivileged user. The syscall policy is permissive here (every syscall allowed
// by name, namespaces too): the argument rules, the third layer, have their own hostile tests.
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/support.h"
#include "tracebox/tracer/tracer.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

// A process outside every run, of the tests' own user: what the attacks aim at.
class Victim {
 public:
  Victim() {
    pid_ = ::fork();
    if (pid_ == 0) {
      for (;;) ::pause();
    }
  }
  ~Victim() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Victim(const Victim&) = delete;
  Victim& operator=(const Victim&) = delete;
  pid_t pid() const { return pid_; }
  // Still running (not killed, not a zombie).
  bool alive() const {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
  }
  rlim_t nofile() const {
    struct ::rlimit l {};
    ::prlimit(pid_, RLIMIT_NOFILE, nullptr, &l);
    return l.rlim_cur;
  }

 private:
  pid_t pid_ = -1;
};

enum class Layer { kNone, kPidNamespace, kUser };

const char* name(Layer l) {
  switch (l) {
    case Layer::kNone:
      return "no layer";
    case Layer::kPidNamespace:
      return "the PID namespace alone";
    case Layer::kUser:
      return "the unprivileged user alone";
  }
  return "?";
}

// The hostile program with `args`, under a permissive policy and only `layer`.
Result attack(Layer layer, std::vector<std::string> args, std::string& output) {
  TempDir dir;
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  UniqueFd out(::open(dir.file("out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  Spec spec;
  spec.process.args = {TRACEBOX_HOSTILE};
  spec.process.args.insert(spec.process.args.end(), args.begin(), args.end());
  spec.process.files = {null.get(), out.get(), null.get()};
  spec.process.work_dir = dir.path();
  spec.policy.default_action = seccomp::Action::allow();
  spec.policy.allow_new_namespaces = true;
  spec.limits.wall = 10s;
  spec.isolation.pid_namespace = layer == Layer::kPidNamespace;
  spec.isolation.ipc_uts_namespaces = false;
  spec.isolation.drop_caps = true;  // root without capabilities: same-uid checks still pass
  if (layer != Layer::kUser) spec.isolation.user.reset();
  Handler h;
  Result r = tracer::run(spec, h);
  output = test::read_file(dir.file("out"));
  return r;
}

}  // namespace

TEST_CASE("each isolation layer alone keeps an attack from reaching a process outside the run",
          "[hostile][layers]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(test::is_root(), "the layers need root (namespaces, another user)");
  struct Attack {
    const char* what;
    std::vector<std::string> args;  // "{}" is the victim's pid
    bool rlimit;                    // it lowers the victim's RLIMIT_NOFILE (else: kills it)
  };
  const std::vector<Attack> attacks = {
      {"SIGKILL through fcntl's owner and O_ASYNC", {"sigio", "setown", "{}"}, false},
      {"SIGKILL through F_SETOWN_EX", {"sigio", "setown-ex", "{}"}, false},
      {"prlimit64 on the victim", {"prlimit", "{}"}, true},
      {"kill from a user namespace of its own", {"in-ns", "10000000", "kill-pid", "{}"}, false},
      {"prlimit64 from a user namespace of its own", {"in-ns", "10000000", "prlimit", "{}"}, true},
  };
  for (const Attack& a : attacks) {
    for (Layer layer : {Layer::kNone, Layer::kPidNamespace, Layer::kUser}) {
      INFO(a.what << ", with " << name(layer));
      Victim victim;
      const rlim_t nofile = victim.nofile();
      std::vector<std::string> args = a.args;
      for (auto& arg : args)
        if (arg == "{}") arg = std::to_string(victim.pid());
      std::string output;
      Result r = attack(layer, args, output);
      INFO(to_string(r.status) << ": " << r.error << "\n" << output);
      CHECK(r.status != Status::kRunnerError);
      std::this_thread::sleep_for(20ms);  // a signal in flight lands
      const bool reached = a.rlimit ? victim.nofile() != nofile : !victim.alive();
      // Without any layer the attack works: the test aims at something real.
      CHECK(reached == (layer == Layer::kNone));
    }
  }
  CHECK(test::child_pids().empty());
}

TEST_CASE("a run's IPC and UTS namespaces are not the host's, and each process makes them once",
          "[hostile][layers]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(::geteuid() == 0, "IPC and UTS namespaces need root");
  auto link = [](const char* path) {
    char buf[64] = {};
    const ssize_t n = ::readlink(path, buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
  };
  const std::string host = link("/proc/self/ns/ipc") + " " + link("/proc/self/ns/uts") + "\n";
  auto seen = [] {
    TempDir dir;
    UniqueFd out(::open(dir.file("out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    Spec spec;
    spec.process.args = {"/bin/sh", "-c",
                         "echo $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts); "
                         "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname"};
    spec.process.files = {forkexec::kCloseFd, out.get(), 2};
    spec.policy.default_action = seccomp::Action::allow();
    spec.limits.wall = 10s;
    Handler h;
    Result r = tracer::run(spec, h);
    INFO(r.error);
    CHECK(r.status == Status::kNormal);
    return test::read_file(dir.file("out"));
  };
  // The process's first run makes its own (by its clone flags: gone with it, their numbers may
  // come again); the later ones share one pair.
  const std::string first = seen(), second = seen(), third = seen();
  INFO("host: " << host << "runs: " << first << second << third);
  for (const std::string& run : {first, second}) {
    CHECK(run.starts_with("ipc:["));
    CHECK(run.substr(0, run.find('\n') + 1) != host);
    CHECK(run.ends_with("\ntracebox\ntracebox\n"));
    CHECK(run.find(link("/proc/self/ns/ipc")) == std::string::npos);
    CHECK(run.find(link("/proc/self/ns/uts")) == std::string::npos);
  }
  CHECK(third == second);  // the later runs of one process share them
  // The thread that made them is gone; this thread's own namespaces never changed.
  CHECK(link("/proc/thread-self/ns/ipc") + " " + link("/proc/thread-self/ns/uts") + "\n" == host);
}
