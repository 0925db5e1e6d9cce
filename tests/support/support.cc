#include "support/support.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tracebox::test {

void report_skip(const std::string& reason) {
  std::fprintf(stderr, "SKIPPED: %s\n", reason.c_str());
  std::fflush(stderr);
  if (std::getenv("TRACEBOX_SKIP_EXIT") != nullptr) std::_Exit(77);
}

bool is_root() { return ::geteuid() == 0; }

bool guarded() { return std::getenv("TRACEBOX_TEST_GUARDED") != nullptr; }

bool ia32_available() {
#if defined(__x86_64__)
  static const bool available = [] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::signal(SIGSEGV, SIG_DFL);  // the fault is the expected outcome here, not a test crash
      long r = 0;
      __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");  // i386 getpid
      ::_exit(r == ::getpid() ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return available;
#else
  return false;
#endif
}

std::string testprog() { return TRACEBOX_TESTPROG; }
std::string testprog_static() { return TRACEBOX_TESTPROG_STATIC; }
std::string tracee() { return TRACEBOX_TRACEE; }

bool copy_with_interpreter(const std::string& src, const std::string& dst,
                           const std::string& interpreter, std::string& why) {
  std::string elf = read_file(src);
  if (elf.size() < sizeof(Elf64_Ehdr) || elf.compare(0, SELFMAG, ELFMAG) != 0 ||
      elf[EI_CLASS] != ELFCLASS64) {
    why = src + " is not a 64-bit ELF";
    return false;
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    const std::size_t at = eh.e_phoff + i * sizeof ph;
    if (at + sizeof ph > elf.size()) break;
    std::memcpy(&ph, elf.data() + at, sizeof ph);
    if (ph.p_type != PT_INTERP) continue;
    if (interpreter.size() + 1 > ph.p_filesz || ph.p_offset + ph.p_filesz > elf.size()) {
      why = "the new interpreter's path is longer than " + std::to_string(ph.p_filesz - 1);
      return false;
    }
    std::fill_n(elf.begin() + static_cast<long>(ph.p_offset), ph.p_filesz, '\0');
    std::copy(interpreter.begin(), interpreter.end(), elf.begin() + static_cast<long>(ph.p_offset));
    write_file(dst, elf, 0755);
    return true;
  }
  why = src + " has no PT_INTERP";
  return false;
}

std::vector<int> open_fds() {
  std::vector<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != self) fds.push_back(fd);
  }
  ::closedir(d);
  return fds;
}

std::vector<pid_t> child_pids() {
  std::vector<pid_t> pids;
  const pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == self) pids.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  return pids;
}

uid_t program_uid() { return is_root() ? kSandboxUid : ::getuid(); }

void give_to_program(const std::string& path) {
  if (is_root() && ::chown(path.c_str(), kSandboxUid, kSandboxGid) != 0)
    throw std::runtime_error("cannot chown " + path);
}

TempDir::TempDir() : TempDir("/tmp/tracebox-test-") {}

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  if (::chmod(path_.c_str(), 0755) != 0 ||
      (is_root() && ::chown(path_.c_str(), kSandboxUid, kSandboxGid) != 0))
    throw std::runtime_error("cannot prepare " + path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

ScratchTmpfs::ScratchTmpfs(std::string dir) : dir_(std::move(dir)) {
  mounted_ = guarded() && ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                                  "mode=0755,uid=0,gid=0,size=1m") == 0;
}

ScratchTmpfs::~ScratchTmpfs() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
}

void write_file(const std::string& path, const std::string& text, int mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ::close(fd);
    throw std::runtime_error("cannot write " + path);
  }
  ::fchmod(fd, static_cast<mode_t>(mode));
  ::close(fd);
}

}  // namespace tracebox::test
