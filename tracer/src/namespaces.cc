#include "namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <thread>

namespace tracebox::tracer {
namespace {

std::atomic<bool> g_first_run_taken{false};

// A short-lived thread moves itself into new IPC and UTS namespaces (namespaces are per thread:
// the process's other threads stay where they are) and opens them; the open fds keep them alive
// after it ends. A thread, not a child process: a fork of this process would copy its page
// tables (and shoot down the TLBs of its other threads) just to hold two namespaces.
std::vector<int> make() {
  std::vector<int> fds;
  if (::geteuid() != 0) return fds;
  std::thread holder([&fds] {
    // unshare(CLONE_NEWIPC) also gives this thread its own SysV semaphore undo list: it has none.
    if (::unshare(CLONE_NEWIPC | CLONE_NEWUTS) != 0) return;
    ::sethostname(kRunHostname, sizeof kRunHostname - 1);
    ::setdomainname(kRunHostname, sizeof kRunHostname - 1);
    for (const char* path : {"/proc/thread-self/ns/ipc", "/proc/thread-self/ns/uts"}) {
      const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) fds.push_back(fd);
    }
  });
  holder.join();
  if (fds.size() != 2) {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
  return fds;
}

}  // namespace

const std::vector<int>& shared_ipc_uts_namespaces() {
  g_first_run_taken = true;
  static const std::vector<int> fds = make();
  return fds;
}

bool take_own_ipc_uts_namespaces() { return !g_first_run_taken.exchange(true); }

}  // namespace tracebox::tracer
