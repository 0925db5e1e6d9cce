#include "namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

namespace tracebox::tracer {
namespace {

constexpr char kHostname[] = "tracebox";

// A child in new IPC and UTS namespaces holds them while we open them, then exits: the open fds
// keep the namespaces alive.
std::vector<int> make() {
  std::vector<int> fds;
  if (::geteuid() != 0) return fds;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fds;
  // Exit signal 0: a "clone" child, which no SIGCHLD handler or wait(-1) of the host sees.
  const long pid = ::syscall(SYS_clone, CLONE_NEWIPC | CLONE_NEWUTS, 0, nullptr, nullptr, 0);
  if (pid == 0) {
    // The child of a possibly multi-threaded process: raw system calls only.
    ::syscall(SYS_sethostname, kHostname, sizeof kHostname - 1);
    ::syscall(SYS_close, p[1]);
    char c;
    ::syscall(SYS_read, p[0], &c, 1);  // until the parent closes its end
    ::syscall(SYS_exit_group, 0);
  }
  ::close(p[0]);
  if (pid > 0) {
    for (const char* kind : {"ipc", "uts"}) {
      const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) fds.push_back(fd);
    }
  }
  ::close(p[1]);
  if (pid > 0) {
    int status;
    while (::waitpid(static_cast<pid_t>(pid), &status, __WCLONE) < 0 && errno == EINTR) {
    }
  }
  if (fds.size() != 2) {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
  return fds;
}

}  // namespace

const std::vector<int>& shared_ipc_uts_namespaces() {
  static const std::vector<int> fds = make();
  return fds;
}

}  // namespace tracebox::tracer
