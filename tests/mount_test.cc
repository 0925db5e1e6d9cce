#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/capture.h"
#include "support/support.h"
#include "tracebox/forkexec/runner.h"
#include "tracebox/mount/mount.h"
#include "tracebox/util/error.h"

using namespace tracebox;
using forkexec::ChildError;
using forkexec::ErrorLocation;
using forkexec::Runner;
using mount::Builder;
using mount::Mount;
using mount::Step;
using tracebox::test::TempDir;

namespace {

constexpr unsigned long kBind = MS_BIND | MS_NOSUID | MS_PRIVATE;
constexpr unsigned long kRemountBase = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID;
constexpr uid_t kNobody = 65534;

std::string hex(unsigned long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", v);
  return buf;
}

std::string config_error(const Builder& b) {
  try {
    b.build();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception: ") + e.what();
  }
  return "no error";
}

using test::Output;  // here stdout and stderr, interleaved

// Starts `r` with stdout and stderr on one pipe (stdin /dev/null), collects the output and reaps
// the child. No Catch2 assertions: also used in forked helpers.
Output capture(Runner r) { return test::capture(std::move(r), true); }

// The ChildError of a start that must fail, or a ChildError of kNone when it did not fail.
ChildError start_error(const Runner& r) {
  try {
    forkexec::Child c = r.start();
    c.wait();
  } catch (const forkexec::StartError& e) {
    return e.child_error();
  }
  return {};
}

bool can_userns() {
  Runner r;
  r.args = {test::testprog(), "exit", "0"};
  r.clone_flags = CLONE_NEWUSER;
  try {
    auto c = r.start();
    return c.wait().info.si_status == 0;
  } catch (const Error&) {
    return false;
  }
}

struct Forked {
  int status = -1;  // raw wait status
  std::string out;
};

// Runs `fn` in a forked child (no Catch2 there) and returns what it appended to its string; the
// child is reaped. An exception in `fn` appends "exception: <what>".
Forked in_child(const std::function<void(std::string&)>& fn) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(p[0]);
    std::string text;
    try {
      fn(text);
    } catch (const std::exception& e) {
      text += std::string("exception: ") + e.what();
    }
    const char* s = text.data();
    std::size_t left = text.size();
    while (left > 0) {
      ssize_t n = ::write(p[1], s, left);
      if (n <= 0) ::_exit(2);
      s += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(p[1]);
  Forked f;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) f.out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  REQUIRE(::waitpid(pid, &f.status, 0) == pid);
  return f;
}

// In a forked helper: a mount namespace of our own whose mounts propagate nowhere.
void private_mount_ns() {
  if (::unshare(CLONE_NEWNS) != 0) throw SystemError(errno, "unshare(CLONE_NEWNS)");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    throw SystemError(errno, "mount / private");
}

void mount_tmpfs(const std::string& where, unsigned long flags, const char* data = "mode=0755") {
  if (::mount("tmpfs", where.c_str(), "tmpfs", flags, data) != 0)
    throw SystemError(errno, "mount tmpfs on " + where);
}

void make_dir(const std::string& path, mode_t mode = 0755) {
  if (::mkdir(path.c_str(), mode) != 0) throw SystemError(errno, "mkdir " + path);
  ::chmod(path.c_str(), mode);
}

// In a forked helper: become nobody, as a real unprivileged user is (dumpable).
void become_nobody() {
  if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
      ::setresuid(kNobody, kNobody, kNobody) != 0)
    throw SystemError(errno, "dropping to nobody");
  // A set*id call made us non-dumpable (our /proc files root-owned, so the parent could not
  // write our child's id maps); a real unprivileged user is dumpable.
  ::prctl(PR_SET_DUMPABLE, 1);
}

unsigned long clone_flags_for_mounts() {
  return CLONE_NEWNS | (test::is_root() ? 0UL : static_cast<unsigned long>(CLONE_NEWUSER));
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Mount> {
  static std::string convert(const Mount& m) {
    return "{" + m.source + ", " + m.target + ", " + m.fstype + ", " + m.data + ", " +
           hex(m.flags) + "}";
  }
};
}  // namespace Catch

// ---------------------------------------------------------------------------------------------
// The builder: flags and strings.

TEST_CASE("with_bind: MS_BIND|MS_NOSUID|MS_PRIVATE, MS_REC when recursive, MS_RDONLY when ro",
          "[mount]") {
  Builder b;
  b.with_bind("/usr", "usr", true)
      .with_bind("/srv/data", "data", false)
      .with_bind("/opt", "opt", true, false)
      .with_bind("/var/w", "w", false, false);
  const auto& m = b.mounts();
  REQUIRE(m.size() == 4);
  CHECK(m[0] == Mount{"/usr", "usr", "", "", kBind | MS_REC | MS_RDONLY});
  CHECK(m[1] == Mount{"/srv/data", "data", "", "", kBind | MS_REC});
  CHECK(m[2] == Mount{"/opt", "opt", "", "", kBind | MS_RDONLY});
  CHECK(m[3] == Mount{"/var/w", "w", "", "", kBind});
  for (const auto& x : m) {
    CHECK(x.is_bind());
    CHECK_FALSE(x.is_tmpfs());
    CHECK_FALSE(x.is_proc());
  }
  CHECK(m[0].is_read_only());
  CHECK_FALSE(m[1].is_read_only());
  CHECK(m[2].is_read_only());
  CHECK_FALSE(m[3].is_read_only());
  CHECK(m[0].to_string() == "bind[/usr:usr:ro]");
  CHECK(m[1].to_string() == "bind[/srv/data:data:rw]");
  CHECK(m[2].to_string() == "bind[/opt:opt:ro]");
  CHECK(m[3].to_string() == "bind[/var/w:w:rw]");
  CHECK(b.to_string() ==
        "Mounts: bind[/usr:usr:ro], bind[/srv/data:data:rw], bind[/opt:opt:ro], bind[/var/w:w:rw]");
}

TEST_CASE("with_tmpfs and with_proc: flags, options and strings", "[mount]") {
  Builder b;
  b.with_tmpfs("w", "size=8m,nr_inodes=4k").with_tmpfs("tmp").with_proc().with_proc(false, "p");
  const auto& m = b.mounts();
  REQUIRE(m.size() == 4);
  CHECK(m[0] ==
        Mount{"tmpfs", "w", "tmpfs", "size=8m,nr_inodes=4k", MS_NOSUID | MS_NODEV | MS_NOATIME});
  CHECK(m[1] == Mount{"tmpfs", "tmp", "tmpfs", "", MS_NOSUID | MS_NODEV | MS_NOATIME});
  CHECK(m[2] == Mount{"proc", "proc", "proc", "", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY});
  CHECK(m[3] == Mount{"proc", "p", "proc", "", MS_NOSUID | MS_NODEV | MS_NOEXEC});
  CHECK(m[0].is_tmpfs());
  CHECK(m[1].is_tmpfs());
  CHECK(m[2].is_proc());
  CHECK(m[3].is_proc());
  for (const auto& x : m) CHECK_FALSE(x.is_bind());
  CHECK_FALSE(m[0].is_read_only());
  CHECK(m[2].is_read_only());
  CHECK_FALSE(m[3].is_read_only());
  CHECK(m[0].to_string() == "tmpfs[w,size=8m,nr_inodes=4k]");
  CHECK(m[1].to_string() == "tmpfs[tmp]");
  CHECK(m[2].to_string() == "proc[ro]");
  CHECK(m[3].to_string() == "proc[rw]");
  CHECK(b.to_string() == "Mounts: tmpfs[w,size=8m,nr_inodes=4k], tmpfs[tmp], proc[ro], proc[rw]");
}

TEST_CASE("with_devices: a tmpfs without nodev, its nodes, then read-only", "[mount]") {
  Builder b;
  b.with_devices("dev", {{"null", 1, 3, 0666}, {"zero", 1, 5, 0640}}).with_devices("d/", {});
  const auto& m = b.mounts();
  REQUIRE(m.size() == 2);
  CHECK(m[0].is_tmpfs());
  CHECK(m[0].is_devices());
  CHECK_FALSE(m[1].is_devices());  // no device: a plain tmpfs
  CHECK_FALSE(m[0].is_bind());
  CHECK(m[0].flags == (MS_NOSUID | MS_NOEXEC | MS_NOATIME));
  CHECK(m[0].data == "mode=0755,size=4k,nr_inodes=3");
  CHECK(m[0].to_string() == "devices[dev:null,zero]");
  const mount::Plan plan = b.build();
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].fstype == "tmpfs");
  CHECK(plan[0].flags == (MS_NOSUID | MS_NOEXEC | MS_NOATIME));
  CHECK(plan[0].remount_flags ==
        (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NOATIME));
  REQUIRE(plan[0].nodes.size() == 2);
  CHECK(plan[0].nodes[0].path == "dev/null");
  CHECK(plan[0].nodes[0].mode == (S_IFCHR | 0666));
  CHECK(plan[0].nodes[0].device == makedev(1, 3));
  CHECK(plan[0].nodes[1].path == "dev/zero");
  CHECK(plan[0].nodes[1].mode == (S_IFCHR | 0640));
  CHECK(plan[0].nodes[1].device == makedev(1, 5));
  CHECK(plan[1].nodes.empty());
  CHECK(plan[1].remount_flags == 0);
  // A name is one path component; the permission bits are all a mode may give.
  for (const std::string& name :
       std::vector<std::string>{"", ".", "..", "a/b", "/null", std::string("n\0x", 3)}) {
    INFO(name);
    CHECK(config_error(Builder().with_devices("dev", {{name, 1, 3, 0666}}))
              .find("is not a single path component") != std::string::npos);
  }
  CHECK(Builder().with_devices("dev", {{"x", 1, 3, 04777}}).build()[0].nodes[0].mode ==
        (S_IFCHR | 0777));
}

TEST_CASE("with_mount keeps a mount as given, other mounts print their fields", "[mount]") {
  Builder b;
  CHECK(b.to_string() == "Mounts: ");
  Mount dev{"/dev/sda1", "mnt", "ext4", "errors=remount-ro", MS_RDONLY | MS_NOSUID};
  Mount plain{"none", "x", "ramfs", "", 0};
  b.with_mount(dev).with_mount(plain).with_bind("/a", "b", true);
  REQUIRE(b.mounts().size() == 3);
  CHECK(b.mounts()[0] == dev);
  CHECK(b.mounts()[1] == plain);
  CHECK(dev.to_string() == "mount[ext4,/dev/sda1:mnt:0x3,errors=remount-ro]");
  CHECK(plain.to_string() == "mount[ramfs,none:x:0x0,]");
  CHECK(dev.is_read_only());
  CHECK_FALSE(dev.is_bind());
  CHECK_FALSE(dev.is_tmpfs());
  CHECK_FALSE(dev.is_proc());
  CHECK(b.to_string() ==
        "Mounts: mount[ext4,/dev/sda1:mnt:0x3,errors=remount-ro], mount[ramfs,none:x:0x0,], "
        "bind[/a:b:ro]");
}

TEST_CASE("filter_not_exist drops only the bind mounts whose source is missing", "[mount]") {
  TempDir dir;
  test::write_file(dir.file("file"), "x");
  std::filesystem::create_directory(dir.file("sub"));
  std::filesystem::create_symlink(dir.file("nowhere"), dir.file("dangling"));
  std::filesystem::create_symlink(dir.file("sub"), dir.file("link-to-dir"));
  Builder b;
  b.with_bind(dir.file("missing"), "m1", true)
      .with_bind(dir.path(), "d", true)
      .with_tmpfs("t")
      .with_bind(dir.file("file"), "f", false)
      .with_bind(dir.file("dangling"), "m2", false)
      .with_proc()
      .with_mount(Mount{dir.file("not-a-bind"), "n", "ramfs", "", 0})  // not a bind: kept
      .with_bind(dir.file("link-to-dir"), "l", true)
      .with_bind(dir.file("file/below-a-file"), "m3", true);
  const std::vector<Mount> before = b.mounts();
  b.filter_not_exist();
  const std::vector<Mount> expected = {before[1], before[2], before[3],
                                       before[5], before[6], before[7]};
  CHECK(b.mounts() == expected);
  CHECK(b.to_string() == "Mounts: bind[" + dir.path() + ":d:ro], tmpfs[t], bind[" +
                             dir.file("file") + ":f:rw], proc[ro], mount[ramfs," +
                             dir.file("not-a-bind") + ":n:0x0,], bind[" + dir.file("link-to-dir") +
                             ":l:ro]");
  // Idempotent, and the filtered builder builds.
  b.filter_not_exist();
  CHECK(b.mounts() == expected);
  CHECK(b.build().size() == expected.size());
}

// ---------------------------------------------------------------------------------------------
// build(): the child's plan.

TEST_CASE("build: every mount becomes a step with its prefixes, parents first", "[mount]") {
  TempDir dir;
  auto plan = Builder()
                  .with_tmpfs("a/b/c", "size=1m")
                  .with_tmpfs("w")
                  .with_tmpfs("/abs/x")
                  .with_tmpfs("t/u/")
                  .with_tmpfs("p//q")
                  .with_proc(false)
                  .with_bind(dir.path(), "deep/er/dir", false)
                  .with_mount(Mount{"none", "a/..b/...", "ramfs", "", MS_NOSUID})
                  .build();
  REQUIRE(plan.size() == 8);
  CHECK(plan[0].source == "tmpfs");
  CHECK(plan[0].target == "a/b/c");
  CHECK(plan[0].fstype == "tmpfs");
  CHECK(plan[0].data == "size=1m");
  CHECK(plan[0].flags == (MS_NOSUID | MS_NODEV | MS_NOATIME));
  CHECK(plan[0].prefixes == std::vector<std::string>{"a", "a/b", "a/b/c"});
  CHECK_FALSE(plan[0].make_file);
  CHECK(plan[0].remount_flags == 0);

  CHECK(plan[1].prefixes == std::vector<std::string>{"w"});
  CHECK(plan[1].data.empty());
  CHECK(plan[2].prefixes == std::vector<std::string>{"/abs", "/abs/x"});
  CHECK(plan[3].prefixes == std::vector<std::string>{"t", "t/u"});
  CHECK(plan[4].prefixes == std::vector<std::string>{"p", "p//q"});

  CHECK(plan[5].source == "proc");
  CHECK(plan[5].target == "proc");
  CHECK(plan[5].fstype == "proc");
  CHECK(plan[5].data.empty());
  CHECK(plan[5].flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC));
  CHECK(plan[5].prefixes == std::vector<std::string>{"proc"});
  CHECK(plan[5].remount_flags == 0);

  // A read-write bind: the flags as given, no remount.
  CHECK(plan[6].source == dir.path());
  CHECK(plan[6].target == "deep/er/dir");
  CHECK(plan[6].fstype.empty());
  CHECK(plan[6].flags == (kBind | MS_REC));
  CHECK(plan[6].prefixes == std::vector<std::string>{"deep", "deep/er", "deep/er/dir"});
  CHECK_FALSE(plan[6].make_file);
  CHECK(plan[6].remount_flags == 0);

  // Names that merely contain dots are not "..".
  CHECK(plan[7].prefixes == std::vector<std::string>{"a", "a/..b", "a/..b/..."});
  CHECK(plan[7].flags == MS_NOSUID);
}

TEST_CASE("build: a file source binds onto a created file", "[mount]") {
  TempDir dir;
  test::write_file(dir.file("data.txt"), "x");
  auto plan = Builder()
                  .with_bind(dir.file("data.txt"), "x/y/data.txt", false)
                  .with_bind(dir.file("data.txt"), "top.txt", true)
                  .with_bind("/dev/null", "dev/null", false)
                  .with_bind(dir.path(), "x/y/dir", true)
                  .build();
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].make_file);
  CHECK(plan[0].target == "x/y/data.txt");
  CHECK(plan[0].prefixes == std::vector<std::string>{"x", "x/y"});  // not the file itself
  CHECK(plan[0].flags == (kBind | MS_REC));
  CHECK(plan[0].remount_flags == 0);
  CHECK(plan[1].make_file);
  CHECK(plan[1].prefixes.empty());
  CHECK((plan[1].remount_flags & kRemountBase) == kRemountBase);
  CHECK(plan[2].make_file);  // a device is not a directory either
  CHECK(plan[2].prefixes == std::vector<std::string>{"dev"});
  CHECK_FALSE(plan[3].make_file);
  CHECK(plan[3].prefixes == std::vector<std::string>{"x", "x/y", "x/y/dir"});
}

TEST_CASE("build: a read-only bind is a plain bind plus a read-only remount", "[mount]") {
  TempDir dir;
  constexpr unsigned long kCarried =
      MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME;
  auto plan =
      Builder()
          .with_bind(dir.path(), "r", true)
          .with_bind(dir.path(), "n", true, false)
          .with_mount(Mount{dir.path(), "u", "", "", MS_BIND | MS_RDONLY | MS_NODEV | MS_NOEXEC})
          .build();
  REQUIRE(plan.size() == 3);
  // MS_RDONLY is ignored by a bind mount; the remount applies it.
  CHECK(plan[0].flags == (kBind | MS_REC));
  CHECK(plan[1].flags == kBind);
  CHECK(plan[2].flags == (MS_BIND | MS_NODEV | MS_NOEXEC));
  for (const auto& s : plan) {
    INFO(s.target << " remount " << hex(s.remount_flags));
    CHECK((s.remount_flags & kRemountBase) == kRemountBase);
    CHECK((s.remount_flags & ~(kRemountBase | kCarried)) == 0);  // no MS_REC, no MS_PRIVATE
  }
  // nodev/noexec asked for on the mount itself are kept by the remount.
  CHECK((plan[2].remount_flags & (MS_NODEV | MS_NOEXEC)) == (MS_NODEV | MS_NOEXEC));
  // The flags of the filesystem the source sits on are carried.
  struct statvfs st {};
  REQUIRE(::statvfs(dir.path().c_str(), &st) == 0);
  CHECK(((plan[0].remount_flags & MS_NODEV) != 0) == ((st.f_flag & ST_NODEV) != 0));
  CHECK(((plan[0].remount_flags & MS_NOEXEC) != 0) == ((st.f_flag & ST_NOEXEC) != 0));
  CHECK(((plan[0].remount_flags & MS_RELATIME) != 0) == ((st.f_flag & ST_RELATIME) != 0));
  CHECK(((plan[0].remount_flags & MS_NOATIME) != 0) == ((st.f_flag & ST_NOATIME) != 0));
}

TEST_CASE("build: the read-only remount keeps the source's nosuid/nodev/noexec/atime flags",
          "[mount]") {
  TB_SKIP_UNLESS(test::is_root(), "mounting the test filesystems needs root");
  TempDir dir;
  for (const char* d : {"locked", "atime", "strict", "plain"})
    std::filesystem::create_directory(dir.file(d));
  auto f = in_child([&](std::string& out) {
    private_mount_ns();
    mount_tmpfs(dir.file("locked"), MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_tmpfs(dir.file("atime"), MS_NOATIME | MS_NODIRATIME);
    mount_tmpfs(dir.file("strict"), MS_STRICTATIME);
    mount_tmpfs(dir.file("plain"), 0);
    for (const char* d : {"locked", "atime", "strict", "plain"}) {
      make_dir(dir.file(d) + "/d");
      test::write_file(dir.file(d) + "/f", "x");
    }
    auto plan = Builder()
                    .with_bind(dir.file("locked") + "/d", "a", true)
                    .with_bind(dir.file("locked") + "/f", "b/f", true)
                    .with_bind(dir.file("locked") + "/d", "c", false)
                    .with_bind(dir.file("atime") + "/d", "d", true)
                    .with_bind(dir.file("strict") + "/d", "e", true, false)
                    .with_bind(dir.file("plain") + "/f", "g", true)
                    .build();
    for (const auto& s : plan)
      out += s.target + " " + hex(s.flags) + " " + hex(s.remount_flags) +
             (s.make_file ? " file" : "") + "\n";
  });
  REQUIRE(WIFEXITED(f.status));
  CHECK(WEXITSTATUS(f.status) == 0);
  const std::string locked = hex(kRemountBase | MS_NODEV | MS_NOEXEC | MS_RELATIME);
  const std::string expected =
      "a " + hex(kBind | MS_REC) + " " + locked + "\n" +         //
      "b/f " + hex(kBind | MS_REC) + " " + locked + " file\n" +  //
      "c " + hex(kBind | MS_REC) + " 0x0\n" +                    //
      "d " + hex(kBind | MS_REC) + " " + hex(kRemountBase | MS_NOATIME | MS_NODIRATIME) + "\n" +
      "e " + hex(kBind) + " " + hex(kRemountBase) + "\n" +  //
      "g " + hex(kBind | MS_REC) + " " + hex(kRemountBase | MS_RELATIME) + " file\n";
  CHECK(f.out == expected);
}

TEST_CASE("build: errors are ConfigErrors that name the mount", "[mount]") {
  TempDir dir;
  test::write_file(dir.file("file"), "x");
  CHECK(config_error(Builder().with_tmpfs("")) == "mount 0 (tmpfs[]): empty target");
  CHECK(config_error(Builder().with_proc().with_bind(dir.path(), "", true)) ==
        "mount 1 (bind[" + dir.path() + "::ro]): empty target");

  // NUL bytes in any field; the message shows them escaped instead of ending at them.
  CHECK(config_error(Builder().with_tmpfs(std::string("a\0b", 3))) ==
        "mount 0 (tmpfs[a\\0b]): contains a NUL byte");
  CHECK(config_error(Builder().with_tmpfs("w", std::string("size=1m\0x", 9))) ==
        "mount 0 (tmpfs[w,size=1m\\0x]): contains a NUL byte");
  CHECK(config_error(Builder().with_bind(dir.path() + std::string("\0x", 2), "b", false)) ==
        "mount 0 (bind[" + dir.path() + "\\0x:b:rw]): contains a NUL byte");
  CHECK(config_error(Builder().with_mount(Mount{"none", "m", std::string("ram\0fs", 6), "", 0})) ==
        "mount 0 (mount[ram\\0fs,none:m:0x0,]): contains a NUL byte");

  // ".." components anywhere in the target.
  for (const char* t : {"..", "../x", "a/../b", "a/..", "a/b/../../..", "/.."}) {
    INFO(t);
    CHECK(config_error(Builder().with_tmpfs("ok").with_tmpfs(t)) ==
          std::string("mount 1 (tmpfs[") + t + "]): target has a \"..\" component");
  }
  CHECK(config_error(Builder().with_bind(dir.path(), "x/..", true)) ==
        "mount 0 (bind[" + dir.path() + ":x/..:ro]): target has a \"..\" component");

  // A bind source that cannot be stat'ed, with the reason.
  CHECK(config_error(Builder().with_tmpfs("t").with_bind(dir.file("missing"), "m", true)) ==
        "mount 1 (bind[" + dir.file("missing") + ":m:ro]): bind source " + dir.file("missing") +
            ": No such file or directory");
  CHECK(config_error(Builder().with_bind(dir.file("file/below"), "m", false)) ==
        "mount 0 (bind[" + dir.file("file/below") + ":m:rw]): bind source " +
            dir.file("file/below") + ": Not a directory");
  // A source that does not exist is fine for a mount that is not a bind.
  CHECK(config_error(Builder().with_mount(Mount{dir.file("missing"), "t", "tmpfs", "", 0})) ==
        "no error");

  // The first bad mount is the one reported.
  CHECK(config_error(Builder()
                         .with_tmpfs("fine")
                         .with_bind(dir.file("missing"), "m", true)
                         .with_tmpfs("")
                         .with_tmpfs("..")) == "mount 1 (bind[" + dir.file("missing") +
                                                   ":m:ro]): bind source " + dir.file("missing") +
                                                   ": No such file or directory");
}

// ---------------------------------------------------------------------------------------------
// Real mounts, executed by forkexec::Runner in a new mount namespace.

TEST_CASE("a pivoted root built from the plan: binds, file binds, nested tmpfs, proc", "[mount]") {
  TB_SKIP_UNLESS(test::is_root() || can_userns(), "needs root or user namespaces");
  TempDir root;
  TempDir host;
  std::filesystem::create_directory(host.file("ro"));
  std::filesystem::create_directory(host.file("rw"));
  test::write_file(host.file("ro/hello.txt"), "read-only data\n");
  test::write_file(host.file("file.txt"), "a bound file\n");
  test::write_file(host.file("rwfile.txt"), "old\n");

  Builder b;
  b.with_bind(test::testprog_static(), "bin/testprog", true)
      .with_bind(host.file("ro"), "ro", true)
      .with_bind(host.file("rw"), "data/rw", false)
      .with_bind(host.file("missing"), "missing", true)
      .with_bind(host.file("file.txt"), "etc/file.txt", true)
      .with_bind(host.file("rwfile.txt"), "etc/rwfile.txt", false)
      .with_tmpfs("a/b/c", "size=1m")
      .with_proc(true)
      .with_proc(false, "rwproc")
      .filter_not_exist();
  CHECK(b.mounts().size() == 8);
  const mount::Plan plan = b.build();

  auto run = [&](std::vector<std::string> args, std::string work_dir = "") {
    Runner r;
    r.args = {"/bin/testprog"};
    r.args.insert(r.args.end(), args.begin(), args.end());
    r.clone_flags = clone_flags_for_mounts() | CLONE_NEWPID;
    r.pivot_root = root.path();
    r.mounts = plan;
    r.work_dir = std::move(work_dir);
    return capture(r);
  };
  // A read-only directory bind.
  CHECK(run({"cat", "/ro/hello.txt"}).out == "read-only data\n");
  CHECK(run({"write", "/ro/new.txt", "x"}).out == "error EROFS\n");
  CHECK(run({"write", "/ro/hello.txt", "x"}).out == "error EROFS\n");
  // A read-write directory bind: writes reach the host.
  auto w = run({"write", "/data/rw/new.txt", "from inside"});
  CHECK(w.out == "ok\n");
  CHECK(w.status == 0);
  CHECK(test::read_file(host.file("rw/new.txt")) == "from inside");
  // File binds onto created files.
  CHECK(run({"cat", "/etc/file.txt"}).out == "a bound file\n");
  CHECK(run({"write", "/etc/file.txt", "changed"}).out == "error EROFS\n");
  CHECK(run({"write", "/etc/rwfile.txt", "new"}).out == "ok\n");
  CHECK(test::read_file(host.file("rwfile.txt")) == "new");
  // The dropped bind left nothing behind.
  CHECK(run({"cat", "/missing"}).out == "error No such file or directory\n");
  // A tmpfs at a nested target; its parents exist on the read-only root.
  CHECK(run({"cwd"}, "/a/b/c").out == "/a/b/c\n");
  CHECK(run({"write", "/a/b/c/f", "x"}).out == "ok\n");
  CHECK(run({"write", "/a/b/f", "x"}).out == "error EROFS\n");
  CHECK(run({"write", "/a/f", "x"}).out == "error EROFS\n");
  // proc (in the child's PID namespace, where it is pid 1), read-only and read-write.
  auto status = run({"cat", "/proc/self/status"});
  CHECK(status.status == 0);
  CHECK(status.out.find("Name:\ttestprog\n") != std::string::npos);
  CHECK(status.out.find("\nPid:\t1\n") != std::string::npos);
  CHECK(run({"write", "/proc/self/comm", "renamed"}).out == "error EROFS\n");
  CHECK(run({"write", "/rwproc/self/comm", "renamed"}).out == "ok\n");
  CHECK(run({"cat", "/rwproc/self/status"}).out.find("Name:\ttestprog\n") != std::string::npos);

  // Nothing leaked onto the host's side.
  CHECK(!std::filesystem::exists(host.file("ro/new.txt")));
  CHECK(test::read_file(host.file("ro/hello.txt")) == "read-only data\n");
  CHECK(test::read_file(host.file("file.txt")) == "a bound file\n");
  CHECK(std::filesystem::is_empty(root.path()));
  CHECK(test::child_pids().empty());
}

TEST_CASE("device nodes of the run's own: usable, root's, and nothing can change them", "[mount]") {
  TB_SKIP_UNLESS(test::is_root(), "mknod of a device needs root outside a user namespace");
  TempDir root;
  const mount::Plan plan = Builder()
                               .with_bind("/usr", "usr", true)
                               .with_bind("/bin", "bin", true)
                               .with_bind("/lib", "lib", true)
                               .with_bind("/lib64", "lib64", true)
                               .filter_not_exist()
                               .with_devices("dev", {{"null", 1, 3, 0666}, {"zero", 1, 5, 0666}})
                               .build();
  auto sh = [&](const std::string& script) {
    Runner r;
    r.args = {"/bin/sh", "-c", script};
    r.env = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
    r.clone_flags = clone_flags_for_mounts();
    r.pivot_root = root.path();
    r.mounts = plan;
    // As the ns runner runs them: another user by the time the nodes are made (the umask
    // and the owner must not come from it).
    r.credential = forkexec::Credential{kNobody, kNobody, {}, false};
    return capture(r);
  };
  CHECK(sh("stat -c '%n %F %t,%T %a %u:%g' /dev/null /dev/zero").out ==
        "/dev/null character special file 1,3 666 0:0\n"
        "/dev/zero character special file 1,5 666 0:0\n");
  CHECK(sh("ls -A /dev").out == "null\nzero\n");
  CHECK(sh("echo x > /dev/null && head -c 3 /dev/zero | od -An -tx1").out == " 00 00 00\n");
  auto changed =
      sh("chmod 600 /dev/null; touch /dev/null; rm -f /dev/null; mknod /dev/x p; "
         "echo x > /dev/new; stat -c '%a' /dev/null");
  CHECK(changed.out.find("Read-only file system") != std::string::npos);
  CHECK(changed.out.ends_with("666\n"));
  CHECK(changed.out.find("Operation not permitted") == std::string::npos);
  CHECK(std::filesystem::is_empty(root.path()));
}

TEST_CASE("a tmpfs with size and inode limits runs out of space", "[mount]") {
  TB_SKIP_UNLESS(test::is_root() || can_userns(), "needs root or user namespaces");
  TempDir root;
  const mount::Plan plan = Builder()
                               .with_bind("/usr", "usr", true)
                               .with_bind("/bin", "bin", true)
                               .with_bind("/lib", "lib", true)
                               .with_bind("/lib64", "lib64", true)
                               .filter_not_exist()
                               .with_tmpfs("w", "size=1m")
                               .with_tmpfs("i", "nr_inodes=4")
                               .build();
  auto sh = [&](const std::string& script) {
    Runner r;
    r.args = {"/bin/sh", "-c", script};
    r.env = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
    r.clone_flags = clone_flags_for_mounts();
    r.pivot_root = root.path();
    r.mounts = plan;
    return capture(r);
  };
  REQUIRE(sh("echo hello").out == "hello\n");
  // 512 KiB fit.
  auto half = sh("yes | head -c 524288 > /w/half; echo rc=$?; wc -c < /w/half");
  CHECK(half.out == "rc=0\n524288\n");
  // 2 MiB do not.
  auto full = sh("yes | head -c 2097152 > /w/big; echo rc=$?");
  INFO(full.out);
  CHECK(full.out.find("No space left on device") != std::string::npos);
  CHECK(full.out.ends_with("rc=1\n"));
  CHECK(full.status == 0);
  // The inode limit counts the root directory too: three files fit in four inodes.
  auto inodes = sh("n=0; while true > /i/f$n; do n=$((n+1)); done; echo files=$n");
  CHECK(inodes.out == "/bin/sh: 1: cannot create /i/f3: No space left on device\nfiles=3\n");
  CHECK(std::filesystem::is_empty(root.path()));
  CHECK(test::child_pids().empty());
}

TEST_CASE("recursive binds carry submounts, non-recursive binds do not", "[mount]") {
  TB_SKIP_UNLESS(test::is_root(), "mounting the submount needs root");
  TempDir root;
  TempDir src;
  test::write_file(src.file("top.txt"), "top\n");
  std::filesystem::create_directory(src.file("sub"));
  auto f = in_child([&](std::string& out) {
    private_mount_ns();
    mount_tmpfs(src.file("sub"), 0);
    test::write_file(src.file("sub/inner.txt"), "inner\n");
    const mount::Plan plan = Builder()
                                 .with_bind(test::testprog_static(), "bin/testprog", true)
                                 .with_bind(src.path(), "rec", true)
                                 .with_bind(src.path(), "norec", false, false)
                                 .build();
    for (const char* path :
         {"/rec/top.txt", "/rec/sub/inner.txt", "/norec/top.txt", "/norec/sub/inner.txt"}) {
      Runner r;
      r.args = {"/bin/testprog", "cat", path};
      r.clone_flags = CLONE_NEWNS;
      r.pivot_root = root.path();
      r.mounts = plan;
      out += path + std::string(": ") + capture(r).out;
    }
    // Read-only all the way down: the submount of a read-only recursive bind too.
    for (const char* path : {"/rec/new.txt", "/rec/sub/new.txt"}) {
      Runner r;
      r.args = {"/bin/testprog", "write", path, "x"};
      r.clone_flags = CLONE_NEWNS;
      r.pivot_root = root.path();
      r.mounts = plan;
      out += path + std::string(": ") + capture(r).out;
    }
  });
  REQUIRE(WIFEXITED(f.status));
  CHECK(WEXITSTATUS(f.status) == 0);
  CHECK(f.out ==
        "/rec/top.txt: top\n"
        "/rec/sub/inner.txt: inner\n"
        "/norec/top.txt: top\n"
        "/norec/sub/inner.txt: error No such file or directory\n"
        "/rec/new.txt: error EROFS\n"
        "/rec/sub/new.txt: error EROFS\n");
}

TEST_CASE("an unprivileged user namespace can bind read-only from a nosuid,nodev,noexec mount",
          "[mount]") {
  TB_SKIP_UNLESS(test::is_root(), "needs root to mount the locked filesystem and drop to nobody");
  TempDir base;
  // A testprog that nobody can reach and execute (the build tree may not be).
  TempDir bin;
  ::chmod(bin.path().c_str(), 0755);
  std::filesystem::copy_file(test::testprog_static(), bin.file("testprog"));
  ::chmod(bin.file("testprog").c_str(), 0755);

  auto f = in_child([&](std::string& out) {
    private_mount_ns();
    mount_tmpfs(base.path(), MS_NOSUID | MS_NODEV | MS_NOEXEC);
    make_dir(base.file("src"));
    test::write_file(base.file("src/hello.txt"), "locked flags\n");
    make_dir(base.file("root"));
    const mount::Plan plan = Builder()
                                 .with_bind(bin.file("testprog"), "bin/testprog", true)
                                 .with_bind(base.file("src"), "src", true)
                                 .build();
    out += "remount carries";
    for (unsigned long flag : {MS_NOSUID, MS_NODEV, MS_NOEXEC})
      if ((plan[1].remount_flags & flag) != 0) out += " " + hex(flag);
    out += "\n";

    become_nobody();
    auto runner = [&](const mount::Plan& p, std::vector<std::string> args) {
      Runner r;
      r.args = {"/bin/testprog"};
      r.args.insert(r.args.end(), args.begin(), args.end());
      r.clone_flags = CLONE_NEWUSER | CLONE_NEWNS;
      r.uid_map = {{0, kNobody, 1}};
      r.gid_map = {{0, kNobody, 1}};
      r.pivot_root = base.file("root");
      r.mounts = p;
      return r;
    };
    // Without a user namespace for nobody there is nothing to test.
    Runner probe;
    probe.args = {bin.file("testprog"), "exit", "0"};
    probe.clone_flags = CLONE_NEWUSER | CLONE_NEWNS;
    if (ChildError e = start_error(probe); e.err != 0) {
      out = "skip: an unprivileged user namespace is not permitted: " + e.message();
      return;
    }

    // The plan as built: the mount succeeds, reading works, writing does not.
    Output cat = capture(runner(plan, {"cat", "/src/hello.txt"}));
    out += "cat " + std::to_string(cat.status) + " " + cat.out;
    out += "write " + capture(runner(plan, {"write", "/src/new.txt", "x"})).out;
    out += "ids " + capture(runner(plan, {"ids"})).out;
    // The same remount without one of the locked flags: the kernel refuses it.
    for (unsigned long flag : {MS_NOSUID, MS_NODEV, MS_NOEXEC}) {
      mount::Plan bad = plan;
      bad[1].remount_flags &= ~flag;
      ChildError e = start_error(runner(bad, {"cat", "/src/hello.txt"}));
      out += "without " + hex(flag) + ": " +
             (e == ChildError{EPERM, ErrorLocation::kMount, 1} ? std::string("EPERM at mount(1)")
                                                               : "got " + e.message()) +
             "\n";
    }
  });
  REQUIRE(WIFEXITED(f.status));
  CHECK(WEXITSTATUS(f.status) == 0);
  if (f.out.starts_with("skip: ")) TB_SKIP(f.out.substr(6));
  CHECK(f.out == "remount carries " + hex(MS_NOSUID) + " " + hex(MS_NODEV) + " " + hex(MS_NOEXEC) +
                     "\n"
                     "cat 0 locked flags\n"
                     "write error EROFS\n"
                     "ids uid=0 gid=0 groups=0\n"
                     "without " +
                     hex(MS_NOSUID) + ": EPERM at mount(1)\n" + "without " + hex(MS_NODEV) +
                     ": EPERM at mount(1)\n" + "without " + hex(MS_NOEXEC) +
                     ": EPERM at mount(1)\n");
  CHECK(test::child_pids().empty());
}
