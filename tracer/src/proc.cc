#include "proc.h"

#include <linux/capability.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tracebox::tracer::proc {
namespace {

// Reads /proc/<pid>/<name> into `buf` (NUL-terminated); returns the length or -1.
ssize_t read_proc(pid_t pid, const char* name, char* buf, std::size_t size) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), name);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

// The number after "<key>" in a /proc status text.
std::optional<long long> field(const char* text, const char* key) {
  const char* at = std::strstr(text, key);
  if (at == nullptr) return std::nullopt;
  return std::strtoll(at + std::strlen(key), nullptr, 10);
}

}  // namespace

std::optional<std::int64_t> cpu_ns(pid_t tgid) {
  // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED): the kernel's clock for a whole thread group,
  // readable for any process (no permission check), in nanoseconds.
  const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned>(tgid) << 3) | 2);
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return std::nullopt;
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::optional<std::uint64_t> peak_memory_bytes(pid_t tid) {
  char buf[4096];
  if (read_proc(tid, "status", buf, sizeof buf) < 0) return std::nullopt;
  auto kib = field(buf, "VmHWM:");
  if (!kib) return std::nullopt;
  const auto pte = field(buf, "VmPTE:");
  return static_cast<std::uint64_t>(*kib + (pte ? *pte : 0)) * 1024;
}

std::optional<std::uint64_t> data_bytes(pid_t tid) {
  char buf[256];
  if (read_proc(tid, "statm", buf, sizeof buf) < 0) return std::nullopt;
  unsigned long long v[6] = {};
  if (std::sscanf(buf, "%llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) !=
      6)
    return std::nullopt;
  return static_cast<std::uint64_t>(v[5]) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

int last_cpu(pid_t tid) {
  char buf[1024];
  if (read_proc(tid, "stat", buf, sizeof buf) < 0) return -1;
  const char* p = std::strrchr(buf, ')');  // the command name may contain anything
  if (p == nullptr) return -1;
  // Field 3 (state) follows ") "; the CPU is field 39.
  for (int field = 2; field < 39 && p != nullptr; ++field) p = std::strchr(p + 1, ' ');
  if (p == nullptr) return -1;
  return static_cast<int>(std::strtol(p + 1, nullptr, 10));
}

namespace {
// The state letter of task `tid` (field 3 of /proc/<tid>/stat), or 0 when unreadable.
char state(pid_t tid) {
  char buf[512];
  if (read_proc(tid, "stat", buf, sizeof buf) < 0) return 0;
  const char* close = std::strrchr(buf, ')');  // the command name may contain anything
  return close != nullptr && close[1] == ' ' ? close[2] : 0;
}
}  // namespace

bool sleeping(pid_t tid) { return state(tid) == 'S'; }

bool runnable(pid_t tid) { return state(tid) == 'R'; }

bool finished(pid_t tid) {
  const char s = state(tid);
  return s == 'Z' || s == 'X';
}

bool asleep_in(pid_t tid, const char* where) {
  char buf[128];
  return read_proc(tid, "wchan", buf, sizeof buf) > 0 && std::strcmp(buf, where) == 0;
}

bool read_children(pid_t tgid, pid_t tid, char* buf, std::size_t size) {
  char name[48];
  std::snprintf(name, sizeof name, "task/%d/children", static_cast<int>(tid));
  // A list longer than the buffer is cut: the caller then sees fewer children, so it must treat
  // a full buffer as unreadable.
  const ssize_t n = read_proc(tgid, name, buf, size);
  return n >= 0 && static_cast<std::size_t>(n) < size - 1;
}

bool Credentials::in_group(gid_t gid) const {
  if (gid == fsgid) return true;
  for (int i = 0; i < n_groups; ++i)
    if (groups[i] == gid) return true;
  return false;
}

std::optional<Credentials> credentials(pid_t tid) {
  char buf[4096];
  if (read_proc(tid, "status", buf, sizeof buf) < 0) return std::nullopt;
  // The numbers of the line starting with `key`, at most `max`; -1 past `max`.
  auto numbers = [&](const char* key, unsigned long long* out, int max, int base) {
    const char* at = std::strstr(buf, key);
    if (at == nullptr) return 0;
    at += std::strlen(key);
    int n = 0;
    for (;;) {
      while (*at == ' ' || *at == '\t') ++at;
      if (*at == '\n' || *at == '\0') return n;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(at, &end, base);
      if (end == at) return n;
      if (n == max) return -1;
      out[n++] = v;
      at = end;
    }
  };
  unsigned long long uid[4], gid[4], cap[1], groups[64];
  if (numbers("\nUid:", uid, 4, 10) != 4 || numbers("\nGid:", gid, 4, 10) != 4 ||
      numbers("\nCapEff:", cap, 1, 16) != 1)
    return std::nullopt;
  const int n = numbers("\nGroups:", groups, 64, 10);
  if (n < 0) return std::nullopt;
  Credentials c;
  c.fsuid = static_cast<uid_t>(uid[3]);
  c.fsgid = static_cast<gid_t>(gid[3]);
  for (int i = 0; i < n; ++i) c.groups[i] = static_cast<gid_t>(groups[i]);
  c.n_groups = n;
  c.dac_exempt = (cap[0] & ((1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_DAC_READ_SEARCH))) != 0;
  return c;
}

std::optional<Ids> ids(pid_t tid) {
  char buf[4096];
  if (read_proc(tid, "status", buf, sizeof buf) < 0) return std::nullopt;
  auto tgid = field(buf, "\nTgid:");
  auto ppid = field(buf, "\nPPid:");
  if (!tgid || !ppid) return std::nullopt;
  return Ids{static_cast<pid_t>(*tgid), static_cast<pid_t>(*ppid)};
}

std::optional<std::uint64_t> stack_overflow(pid_t tid, std::uint64_t addr) {
  // The soft stack limit, from /proc (prlimit64 on another user's process needs
  // CAP_SYS_RESOURCE, which a tracer may lack): "Max stack size  <soft>  <hard>  bytes".
  std::uint64_t soft = 0;
  {
    char buf[4096];
    if (read_proc(tid, "limits", buf, sizeof buf) < 0) return std::nullopt;
    const char* at = std::strstr(buf, "Max stack size");
    if (at == nullptr) return std::nullopt;
    at += std::strlen("Max stack size");
    while (*at == ' ') ++at;
    if (*at < '0' || *at > '9') return std::nullopt;  // "unlimited"
    soft = std::strtoull(at, nullptr, 10);
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/maps", static_cast<int>(tid));
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return std::nullopt;
  char line[512];
  std::uint64_t start = 0, end = 0;
  bool found = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strstr(line, "[stack]") == nullptr) continue;
    found = std::sscanf(line, "%lx-%lx", &start, &end) == 2;
    break;
  }
  std::fclose(f);
  if (!found || addr >= start) return std::nullopt;
  // The kernel keeps a gap (stack_guard_gap, 1 MiB by default) below a stack; the fault of an
  // overflow lands in it, or in the page just below the mapping.
  constexpr std::uint64_t kGap = 1 << 20, kSlack = 256 << 10;
  if (start - addr > kGap + kSlack) return std::nullopt;
  if (end - addr + kSlack < soft) return std::nullopt;
  return soft;
}

namespace {
// The last number on the line starting with `key` ("\nNSpid:" -> "1234\t2" -> 2).
std::optional<long long> last_on_line(const char* text, const char* key) {
  const char* at = std::strstr(text, key);
  if (at == nullptr) return std::nullopt;
  const char* p = at + std::strlen(key);
  std::optional<long long> last;
  for (;;) {
    while (*p == ' ' || *p == '\t') ++p;
    if (*p < '0' || *p > '9') break;
    char* end = nullptr;
    last = std::strtoll(p, &end, 10);
    p = end;
  }
  return last;
}
}  // namespace

std::optional<NsIds> ns_ids(pid_t tid) {
  char buf[4096];
  if (read_proc(tid, "status", buf, sizeof buf) < 0) return std::nullopt;
  auto pid = last_on_line(buf, "\nNSpid:");
  auto pgid = last_on_line(buf, "\nNSpgid:");
  if (!pid || !pgid) return std::nullopt;
  return NsIds{static_cast<pid_t>(*pid), static_cast<pid_t>(*pgid)};
}

}  // namespace tracebox::tracer::proc
