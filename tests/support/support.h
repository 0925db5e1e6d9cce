// Helpers shared by the tests: skipping with a reason, fd and child-process census, temp dirs.
#pragma once

#include <sys/types.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace tracebox::test {

// Prints "SKIPPED: <reason>". Under CTest it exits with 77, which CTest shows as Skipped;
// run by hand (many cases in one process) the case just returns.
void report_skip(const std::string& reason);
#define TB_SKIP(reason)                    \
  do {                                     \
    ::tracebox::test::report_skip(reason); \
    WARN("SKIPPED: " << (reason));         \
    return;                                \
  } while (0)
#define TB_SKIP_UNLESS(cond, reason) \
  do {                               \
    if (!(cond)) TB_SKIP(reason);    \
  } while (0)

bool is_root();
// Inside the test guard (fresh PID namespace + pids cgroup): hostile programs may run.
bool guarded();
#define TB_REQUIRE_GUARD()                    \
  TB_SKIP_UNLESS(::tracebox::test::guarded(), \
                 "hostile test needs the test guard (run as root via ctest)")

// Whether this machine runs i386 syscalls (`int 0x80`) from 64-bit code: IA32 emulation can be
// compiled out, disabled at boot, or missing under some hypervisors (the call then faults).
bool ia32_available();

// The test program with a mode argument (tests/programs/testprog.c).
std::string testprog();
std::string testprog_static();
// The tracer tests' program (tests/programs/tracee.c).
std::string tracee();

// Open fds of this process.
std::vector<int> open_fds();
// Pids of this process's children (zombies included), from /proc.
std::vector<pid_t> child_pids();

// The user a traced run's program runs as when the tests run as root (tracer::Isolation::user).
inline constexpr uid_t kSandboxUid = 65534;
inline constexpr gid_t kSandboxGid = 65534;

// The uid the programs under test run as: the sandbox user as root, else ours.
uid_t program_uid();
// Makes `path` the sandbox user's (as root; nothing otherwise), as a judge does with what the
// program may write.
void give_to_program(const std::string& path);

// A fresh directory under /tmp, removed recursively on destruction. As a judge prepares a work
// directory, it belongs to the sandbox user when the tests run as root (mode 0755), so that the
// programs under test can write in it; the files the test writes there stay root's.
class TempDir {
 public:
  TempDir();
  // A directory named `prefix` + 6 random characters (a short path when one is needed).
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A tmpfs (root's, mode 0755) mounted on the existing directory `dir` for the object's lifetime,
// in the guard's private mount namespace: a tree whose directories only root can change (what
// the tracer's path cache may remember). mounted() is false when the mount failed.
class ScratchTmpfs {
 public:
  explicit ScratchTmpfs(std::string dir);
  ~ScratchTmpfs();
  ScratchTmpfs(const ScratchTmpfs&) = delete;
  ScratchTmpfs& operator=(const ScratchTmpfs&) = delete;
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// A copy of the dynamic ELF `src` at `dst` (mode 0755) whose PT_INTERP names `interpreter`
// instead of ld.so: the string is overwritten in place, so it must be no longer than the
// original. Returns false (and a reason in `why`) when that cannot be done.
bool copy_with_interpreter(const std::string& src, const std::string& dst,
                           const std::string& interpreter, std::string& why);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text, int mode = 0644);

}  // namespace tracebox::test
