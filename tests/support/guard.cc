// tracebox_test_guard PROGRAM [ARGS...]
//
// Runs one test program so that a sandbox bug cannot hurt the machine: in a fresh PID namespace
// (a kill(-1, SIGKILL) or a leaked process dies with the namespace), a fresh mount namespace
// with its own /proc (so pids read from /proc match the namespace), and a pids cgroup whose
// pids.max bounds a fork bomb. The test runs as pid 2 under a small init (pid 1) that reaps
// orphans and exits with the test's status; when the guard dies, the init dies with it.
//
// Without root or namespaces the test runs unguarded, and TRACEBOX_TEST_GUARDED is not set, so
// that the hostile tests skip themselves.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr const char* kPidsMax = "2048";

bool write_text(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

bool file_has_word(const std::string& path, const std::string& word) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return false;
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string text(buf, n);
  return (" " + text + " ").find(" " + word + " ") != std::string::npos ||
         text.find(word + "\n") != std::string::npos;
}

// The directory of a pids controller we can create a child cgroup in: cgroup v2 with "pids"
// enabled at the root, else the v1 pids hierarchy.
std::string pids_hierarchy() {
  for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::string controllers = std::string(root) + "/cgroup.controllers";
    if (file_has_word(controllers, "pids")) {
      write_text(std::string(root) + "/cgroup.subtree_control", "+pids");
      return root;
    }
  }
  struct stat st {};
  if (::stat("/sys/fs/cgroup/pids/pids.max", &st) == 0 ||
      ::stat("/sys/fs/cgroup/pids/cgroup.procs", &st) == 0)
    return "/sys/fs/cgroup/pids";
  return {};
}

// Removes empty cgroups left by guards that were killed.
void remove_stale(const std::string& hierarchy) {
  DIR* d = ::opendir(hierarchy.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, "tracebox-test-", 14) != 0) continue;
    std::string pid = e->d_name + 14;
    if (::kill(std::atoi(pid.c_str()), 0) == 0) continue;  // its guard still runs
    ::rmdir((hierarchy + "/" + e->d_name).c_str());
  }
  ::closedir(d);
}

std::string make_cgroup() {
  std::string hierarchy = pids_hierarchy();
  if (hierarchy.empty()) return {};
  remove_stale(hierarchy);
  std::string dir = hierarchy + "/tracebox-test-" + std::to_string(::getpid());
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return {};
  if (!write_text(dir + "/pids.max", kPidsMax) ||
      !write_text(dir + "/cgroup.procs", std::to_string(::getpid()))) {
    ::rmdir(dir.c_str());
    return {};
  }
  return dir;
}

void remove_cgroup(const std::string& dir) {
  if (dir.empty()) return;
  // Move ourselves out first, then wait for the namespace's processes to vanish.
  std::string parent = dir.substr(0, dir.rfind('/'));
  write_text(parent + "/cgroup.procs", std::to_string(::getpid()));
  for (int i = 0; i < 200 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(10000);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Pid 1 of the new namespace.
[[noreturn]] void init_main(char** argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    std::perror("guard: mount /proc");
    _exit(1);
  }
  ::setenv("TRACEBOX_TEST_GUARDED", "1", 1);
  pid_t test = ::fork();
  if (test < 0) {
    std::perror("guard: fork");
    _exit(1);
  }
  if (test == 0) {
    ::execv(argv[0], argv);
    std::fprintf(stderr, "guard: exec %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  // Reap everything; leave when the test itself ends (the namespace dies with us).
  for (;;) {
    int status = 0;
    pid_t p = ::waitpid(-1, &status, 0);
    if (p == test) _exit(exit_code(status));
    if (p < 0 && errno == ECHILD) _exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  if (::geteuid() != 0 || std::getenv("TRACEBOX_TEST_GUARDED") != nullptr) {
    // Not root (no namespaces or cgroups to guard with), or already inside a guard.
    if (::geteuid() != 0)
      std::fprintf(stderr, "guard: not root, running unguarded (hostile tests will skip)\n");
    ::execv(argv[1], argv + 1);
    std::fprintf(stderr, "guard: exec %s: %s\n", argv[1], std::strerror(errno));
    return 127;
  }
  std::string cgroup = make_cgroup();
  if (cgroup.empty()) {
    std::fprintf(stderr, "guard: no pids cgroup available: running unguarded\n");
    ::execv(argv[1], argv + 1);
    return 127;
  }
  pid_t init = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD,
                                            nullptr, nullptr, nullptr, nullptr));
  if (init < 0) {
    std::fprintf(stderr, "guard: clone(CLONE_NEWPID|CLONE_NEWNS): %s\n", std::strerror(errno));
    remove_cgroup(cgroup);
    return 1;
  }
  if (init == 0) init_main(argv + 1);
  // A termination request (Ctrl-C, a timeout) ends the whole namespace.
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  int status = 0;
  while (::waitpid(init, &status, 0) < 0 && errno == EINTR) ::kill(init, SIGKILL);
  remove_cgroup(cgroup);
  return exit_code(status);
}
