// Tests of the filter cache (Builder::cache_dir): a cached program is the program build() makes;
// a file is used only when its stored key is the builder's and its program is well formed, and
// only when it and its directory are the effective user's and no one else may write them; no
// failure of the cache fails build().
//
// Most cases plant a "decoy": a well-formed entry with the right key but another policy's
// program. A trusted decoy is used (the positive control); whatever makes a file untrusted must
// make build() ignore the decoy and return the right program.
#include <fcntl.h>
#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "support/support.h"
#include "tracebox/seccomp/filter.h"

namespace {

using tracebox::seccomp::Action;
using tracebox::seccomp::ArgCondition;
using tracebox::seccomp::Builder;
using tracebox::seccomp::Program;
using tracebox::test::TempDir;

// A small judge-like policy; each variant changes one part of the builder's state.
enum class Variant { kBase, kMoreRules, kOtherValue, kDefault, kBadArch, kCompat, kTracer };

Builder policy(Variant v = Variant::kBase) {
  Builder b;
  b.default_action(v == Variant::kDefault ? Action::error(EPERM) : Action::kill_process());
  b.add("read", Action::allow());
  b.add("write", Action::allow());
  b.add("exit_group", Action::allow());
  b.add("mmap", Action::allow(), {ArgCondition::lt(1, v == Variant::kOtherValue ? 8192 : 4096)});
  b.add("openat", Action::trace(1));
  if (v == Variant::kMoreRules) b.add("getpid", Action::allow());
  if (v == Variant::kBadArch) b.bad_arch_action(Action::error(ENOSYS));
  if (v == Variant::kCompat) b.enforce_compat_abis(true);
  if (v == Variant::kTracer) b.for_tracer(true);
  return b;
}

bool same(const Program& a, const Program& b) {
  return a.uses_notify == b.uses_notify && a.instructions.size() == b.instructions.size() &&
         std::memcmp(a.instructions.data(), b.instructions.data(),
                     a.instructions.size() * sizeof(sock_filter)) == 0;
}

std::string bytes_of(const Program& p) {
  return std::string(reinterpret_cast<const char*>(p.instructions.data()),
                     p.instructions.size() * sizeof(sock_filter));
}

// The names in `dir` (hidden temp files included), sorted.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

// A file of the test's own making, replacing whatever is at `path` (symlinks included).
void plant(const std::string& path, const std::string& bytes, mode_t mode = 0600) {
  ::unlink(path.c_str());
  tracebox::test::write_file(path, bytes, static_cast<int>(mode));
}

// A cache with policy()'s entry in it: the file, its bytes, and a decoy (the same key, the
// program of policy(Variant::kMoreRules)). An entry is <key size> <key> <instruction count>
// <instructions>, the sizes 4 bytes little-endian.
struct Cache {
  TempDir t;
  std::string dir = t.file("cache");
  Program want = policy().build();
  std::string file, entry, decoy;

  Cache() {
    REQUIRE(same(policy().cache_dir(dir).build(), want));
    const std::vector<std::string> names = entries(dir);
    REQUIRE(names.size() == 1);
    file = dir + "/" + names[0];
    entry = tracebox::test::read_file(file);
    const std::string program = bytes_of(want);
    REQUIRE(entry.size() > program.size());
    REQUIRE(entry.compare(entry.size() - program.size(), program.size(), program) == 0);
    decoy = entry_with(policy(Variant::kMoreRules).build());
  }
  // The key and its size.
  std::string head() const { return entry.substr(0, entry.size() - bytes_of(want).size() - 4); }
  // An entry of this key with `p`'s instructions.
  std::string entry_with(const Program& p) const {
    std::string e = head();
    for (int i = 0; i < 4; ++i) e += static_cast<char>(p.instructions.size() >> (8 * i));
    return e + bytes_of(p);
  }
  Program build() const { return policy().cache_dir(dir).build(); }
};

}  // namespace

TEST_CASE("a cached program is the one build() makes, and it is used", "[seccomp][cache]") {
  Cache c;
  CHECK((mode_of(c.dir) & 07777) == 0700);  // created
  CHECK((mode_of(c.file) & 07777) == 0600);
  CHECK(c.file.ends_with(".bpf"));

  // A hit: the same program, the file untouched, nothing else written.
  CHECK(same(c.build(), c.want));
  CHECK(tracebox::test::read_file(c.file) == c.entry);
  CHECK(entries(c.dir).size() == 1);

  // The positive control: a trusted entry is used as it is.
  plant(c.file, c.decoy);
  CHECK(same(c.build(), policy(Variant::kMoreRules).build()));
  CHECK(!same(c.build(), c.want));

  // Without a cache directory, nothing is read.
  CHECK(same(policy().cache_dir("").build(), c.want));
}

TEST_CASE("every part of the builder's state is in the key", "[seccomp][cache]") {
  TempDir t;
  const std::string dir = t.file("cache");
  const Variant variants[] = {Variant::kBase,    Variant::kMoreRules, Variant::kOtherValue,
                              Variant::kDefault, Variant::kBadArch,   Variant::kCompat,
                              Variant::kTracer};
  for (Variant v : variants) {
    INFO("variant " << static_cast<int>(v));
    CHECK(same(policy(v).cache_dir(dir).build(), policy(v).build()));
  }
  CHECK(entries(dir).size() == std::size(variants));  // one file each
  // And each one's cached program is its own.
  for (Variant v : variants) {
    INFO("variant " << static_cast<int>(v));
    CHECK(same(policy(v).cache_dir(dir).build(), policy(v).build()));
  }
  CHECK(entries(dir).size() == std::size(variants));
}

TEST_CASE("a file whose stored key differs is ignored", "[seccomp][cache]") {
  Cache c;
  // Another policy's whole entry, under this policy's file name (a hash collision).
  TempDir other;
  // A cache directory of its own must be the effective user's (TempDir is the sandbox user's).
  REQUIRE(::chown(other.path().c_str(), ::geteuid(), ::getegid()) == 0);
  REQUIRE(same(policy(Variant::kMoreRules).cache_dir(other.path()).build(),
               policy(Variant::kMoreRules).build()));
  const std::vector<std::string> names = entries(other.path());
  REQUIRE(names.size() == 1);
  plant(c.file, tracebox::test::read_file(other.file(names[0])));
  CHECK(same(c.build(), c.want));
  CHECK(tracebox::test::read_file(c.file) == c.entry);  // rewritten with the right entry

  // The decoy with one byte of its key changed (the last byte: the last condition's mask), or
  // with the key's size changed.
  std::string near = c.decoy;
  near[c.head().size() - 1] ^= 1;
  plant(c.file, near);
  CHECK(same(c.build(), c.want));
  std::string resized = c.decoy;
  resized[0] ^= 8;
  plant(c.file, resized);
  CHECK(same(c.build(), c.want));
}

TEST_CASE("a corrupted or truncated program is ignored", "[seccomp][cache]") {
  Cache c;
  const std::size_t head = c.head().size() + 4;  // where the instructions start
  const std::size_t n = c.want.instructions.size();
  Program empty, too_long;
  too_long.instructions.assign(BPF_MAXINSNS + 1, {BPF_RET | BPF_K, 0, 0, 0});
  auto with_instruction = [&](std::size_t i, sock_filter f) {
    std::string e = c.entry;
    std::memcpy(e.data() + head + i * sizeof f, &f, sizeof f);
    return e;
  };
  const struct {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"empty", ""},
      {"the key alone", c.head()},
      {"no instructions", c.entry_with(empty)},
      {"a partial instruction", c.entry.substr(0, c.entry.size() - 1)},
      {"an instruction short", c.entry.substr(0, c.entry.size() - sizeof(sock_filter))},
      {"an instruction more", c.entry + std::string(sizeof(sock_filter), '\0')},
      {"more than BPF_MAXINSNS", c.entry_with(too_long)},
      {"not ending in a return", with_instruction(n - 1, {BPF_LD | BPF_W | BPF_ABS, 0, 0, 0})},
      {"a jump past the end", with_instruction(0, {BPF_JMP | BPF_JA, 0, 0, 0xffffffff})},
      {"a branch past the end", with_instruction(0, {BPF_JMP | BPF_JEQ | BPF_K, 255, 255, 0})},
      {"a load outside seccomp_data", with_instruction(0, {BPF_LD | BPF_W | BPF_ABS, 0, 0, 64})},
  };
  for (const auto& k : cases) {
    INFO(k.what);
    plant(c.file, k.bytes);
    CHECK(same(c.build(), c.want));
    CHECK(tracebox::test::read_file(c.file) == c.entry);  // replaced by a good entry
  }
}

TEST_CASE("group- or world-writable files and directories are ignored", "[seccomp][cache]") {
  Cache c;
  for (mode_t mode : {0620, 0602, 0666}) {
    INFO("file mode " << std::oct << mode);
    plant(c.file, c.decoy, mode);
    CHECK(same(c.build(), c.want));
  }
  plant(c.file, c.decoy);
  for (mode_t mode : {0770, 0707, 01777}) {
    INFO("directory mode " << std::oct << mode);
    REQUIRE(::chmod(c.dir.c_str(), mode) == 0);
    CHECK(same(c.build(), c.want));
    CHECK(tracebox::test::read_file(c.file) == c.decoy);  // nothing written there either
    CHECK(entries(c.dir).size() == 1);
  }
  REQUIRE(::chmod(c.dir.c_str(), 0700) == 0);
  CHECK(same(c.build(), policy(Variant::kMoreRules).build()));  // trusted again
}

TEST_CASE("files and directories of another user are ignored", "[seccomp][cache]") {
  TB_SKIP_UNLESS(tracebox::test::is_root(), "chown needs root");
  Cache c;
  constexpr uid_t kNobody = 65534;
  plant(c.file, c.decoy);
  REQUIRE(::chown(c.file.c_str(), kNobody, kNobody) == 0);
  CHECK(same(c.build(), c.want));

  plant(c.file, c.decoy);
  REQUIRE(::chown(c.dir.c_str(), kNobody, kNobody) == 0);
  CHECK(same(c.build(), c.want));
  CHECK(tracebox::test::read_file(c.file) == c.decoy);  // nothing written there
  REQUIRE(::chown(c.dir.c_str(), 0, 0) == 0);
  CHECK(same(c.build(), policy(Variant::kMoreRules).build()));  // trusted again
}

TEST_CASE("symlinks and FIFOs in place of the file or the directory are ignored",
          "[seccomp][cache]") {
  Cache c;
  // A symlink to a trusted decoy: not followed, and replaced (the target is not written).
  const std::string target = c.t.file("decoy");
  plant(target, c.decoy);
  ::unlink(c.file.c_str());
  REQUIRE(::symlink(target.c_str(), c.file.c_str()) == 0);
  CHECK(same(c.build(), c.want));
  CHECK(tracebox::test::read_file(target) == c.decoy);
  CHECK(S_ISREG(mode_of(c.file)));

  // A FIFO: the open does not block.
  ::unlink(c.file.c_str());
  REQUIRE(::mkfifo(c.file.c_str(), 0600) == 0);
  CHECK(same(c.build(), c.want));

  // The directory a symlink to a trusted directory holding a decoy.
  TempDir real;
  REQUIRE(::chown(real.path().c_str(), ::geteuid(), ::getegid()) ==
          0);  // trusted, but for the link
  plant(real.path() + "/" + std::filesystem::path(c.file).filename().string(), c.decoy);
  const std::string link = c.t.file("link");
  REQUIRE(::symlink(real.path().c_str(), link.c_str()) == 0);
  CHECK(same(policy().cache_dir(link).build(), c.want));
  CHECK(entries(real.path()).size() == 1);
}

TEST_CASE("a cache that cannot be written does not fail build()", "[seccomp][cache]") {
  TempDir t;
  const Program want = policy().build();
  // A file where the directory should be; a missing parent; a directory no one can create files
  // in (procfs, even for root).
  tracebox::test::write_file(t.file("file"), "x");
  for (const std::string& dir : {t.file("file"), t.file("missing/cache"), std::string("/proc")}) {
    INFO(dir);
    CHECK(same(policy().cache_dir(dir).build(), want));
  }
  CHECK(tracebox::test::read_file(t.file("file")) == "x");

  // A read-only directory (root writes there all the same).
  const std::string ro = t.file("ro");
  REQUIRE(::mkdir(ro.c_str(), 0500) == 0);
  CHECK(same(policy().cache_dir(ro).build(), want));
  if (!tracebox::test::is_root()) CHECK(entries(ro).empty());

  // A file size limit below the entry's size (which holds the key too), but not below the
  // program's (build() writes libseccomp's part to a memfd): no write, no SIGXFSZ.
  REQUIRE(::mkdir(t.file("small").c_str(), 0700) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      const rlim_t size = bytes_of(want).size();
      const rlimit small{size, size};
      bool ok = ::setrlimit(RLIMIT_FSIZE, &small) == 0;
      ok = ok && same(policy().cache_dir(t.file("small")).build(), want);
      ok = ok && std::filesystem::is_empty(t.file("small"));
      ::_exit(ok ? 0 : 1);
    } catch (...) {
      ::_exit(2);
    }
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("after a store, files of ours unused for 30 days are swept, once per directory",
          "[seccomp][cache]") {
  TempDir t;
  const std::string dir = t.file("cache");
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  const std::time_t now = std::time(nullptr);
  constexpr std::time_t kDay = 24 * 3600;
  // A file (or whatever is at `name`) last read `atime_ago` and written `mtime_ago` ago.
  auto aged = [&](const std::string& name, std::time_t atime_ago, std::time_t mtime_ago) {
    const timespec times[2] = {{now - atime_ago, 0}, {now - mtime_ago, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (dir + "/" + name).c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
  };
  auto planted = [&](const std::string& name, std::time_t atime_ago, std::time_t mtime_ago) {
    plant(dir + "/" + name, "not a program");
    aged(name, atime_ago, mtime_ago);
  };
  // Ours, unused for 40 days: swept.
  planted("00000000000000aa.bpf", 40 * kDay, 40 * kDay);
  planted("00000000000000bb.rec", 40 * kDay, 40 * kDay);
  planted(".00000000000000cc.bpf.123-456.tmp", 2 * kDay, 2 * kDay);  // a killed writer's
  // Ours, in use: written 40 days ago but read yesterday, written today, a temporary file of an
  // hour (a writer may still be at it): kept.
  planted("00000000000000dd.bpf", 1 * kDay, 40 * kDay);
  planted("00000000000000ee.rec", 0, 0);
  planted(".00000000000000ff.rec.124-457.tmp", 3600, 3600);
  // Not ours, or not a file, however old: kept (and a symlink's target untouched).
  for (const char* name : {"notes.txt", "00000000000000AA.bpf", "0000000000000aa.bpf",
                           "00000000000000aa.bpf.orig", "00000000000000aa.so", ".swept"})
    planted(name, 40 * kDay, 40 * kDay);
  tracebox::test::write_file(t.file("target"), "outside");
  REQUIRE(::symlink(t.file("target").c_str(), (dir + "/00000000000000ab.bpf").c_str()) == 0);
  aged("00000000000000ab.bpf", 40 * kDay, 40 * kDay);
  REQUIRE(::mkdir((dir + "/00000000000000ac.rec").c_str(), 0700) == 0);
  aged("00000000000000ac.rec", 40 * kDay, 40 * kDay);

  // A miss stores its entry, then sweeps.
  const std::vector<std::string> before = entries(dir);
  REQUIRE(same(policy().cache_dir(dir).build(), policy().build()));
  std::vector<std::string> want = before;
  std::erase_if(want, [](const std::string& n) {
    return n == "00000000000000aa.bpf" || n == "00000000000000bb.rec" ||
           n == ".00000000000000cc.bpf.123-456.tmp";
  });
  std::vector<std::string> after = entries(dir);
  REQUIRE(after.size() == want.size() + 1);  // the new entry
  std::erase_if(after, [&](const std::string& n) {
    return std::find(before.begin(), before.end(), n) == before.end();
  });
  CHECK(after == want);
  CHECK(tracebox::test::read_file(t.file("target")) == "outside");

  // Once per process and directory: a later store does not sweep this one again.
  planted("000000000000a1a1.bpf", 40 * kDay, 40 * kDay);
  REQUIRE(same(policy(Variant::kMoreRules).cache_dir(dir).build(),
               policy(Variant::kMoreRules).build()));
  CHECK(std::filesystem::exists(dir + "/000000000000a1a1.bpf"));
}
