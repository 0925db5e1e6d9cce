// The table of argument rules (see arguments.h). Each syscall's rules are a small decision tree:
// a switch on the low 32 bits of an integer argument (the first case that matches decides), or a
// test of a pointer against NULL. The same tree compiles to seccomp rules (each switch split into
// disjoint bit patterns, so that the rules exclude each other as seccomp::Builder requires) and
// decides a call in the tracer, so the filter and the violation's reason cannot disagree.
#include "tracebox/tracer/policy/arguments.h"

#include <asm/termbits.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <map>
#include <memory>
#include <stdexcept>

// Newer than some headers.
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#ifndef FS_IOC32_SETFLAGS
#define FS_IOC32_SETFLAGS _IOW('f', 2, int)
#endif
#ifndef FS_IOC32_SETVERSION
#define FS_IOC32_SETVERSION _IOW('v', 2, int)
#endif
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#ifndef IOPRIO_WHO_PROCESS
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_WHO_PGRP 2
#define IOPRIO_WHO_USER 3
#endif

namespace tracebox::tracer::policy {
namespace {

using Cond = seccomp::ArgCondition;
using Kind = ArgumentVerdict::Kind;

// What a violation's reason adds about the call: "{}" in the text becomes it.
enum class Detail {
  kNone,
  kValue,     // the switched argument as an int
  kClockPid,  // the pid a CPU clock id encodes
};

struct Node;
using NodeP = std::shared_ptr<const Node>;

// A leaf's verdict; `reason` follows the syscall's name ("fcntl " + reason).
struct Leaf {
  Kind kind = Kind::kAllow;
  int error = 0;
  const char* reason = "";  // kViolation; kCheck of kTagSelf: the reason if it is not the caller
  Detail detail = Detail::kNone;
  std::uint16_t tag = 0;
  unsigned pid_arg = 0;  // kCheck of kTagSelf
};

// One case of a switch on the low 32 bits of an argument: a range of values (lo..hi), or a bit
// pattern ((x & mask) == value). A switch's cases are all ranges or all patterns.
struct Case {
  bool pattern = false;
  std::uint32_t lo = 0, hi = 0;
  std::uint32_t mask = 0, value = 0;
  NodeP then;
};

struct Node {
  enum class Type { kLeaf, kSwitch, kZero };
  Type type = Type::kLeaf;
  Leaf leaf;
  unsigned arg = 0;
  std::vector<Case> cases;  // kSwitch: the first that matches decides
  NodeP otherwise;          // kSwitch: no case matched; kZero: the argument is not 0
  NodeP zero;               // kZero: the (64-bit) argument is 0
};

NodeP leaf(Leaf l) {
  auto n = std::make_shared<Node>();
  n->leaf = l;
  return n;
}
NodeP allow() { return leaf({}); }
NodeP fail(int err) { return leaf({Kind::kErrno, err, "", Detail::kNone, 0}); }
NodeP violation(const char* reason, Detail detail = Detail::kNone) {
  return leaf({Kind::kViolation, 0, reason, detail, 0});
}
NodeP check(std::uint16_t tag) { return leaf({Kind::kCheck, 0, "", Detail::kNone, tag}); }

// A switch on the low 32 bits of argument `arg`.
NodeP on(unsigned arg, std::vector<Case> cases, NodeP otherwise) {
  if (cases.empty() || std::any_of(cases.begin(), cases.end(), [&](const Case& c) {
        return c.pattern != cases.front().pattern;
      }))
    throw std::logic_error("argument rules: a switch mixes ranges and bit patterns");
  auto n = std::make_shared<Node>();
  n->type = Node::Type::kSwitch;
  n->arg = arg;
  n->cases = std::move(cases);
  n->otherwise = std::move(otherwise);
  return n;
}
Case is(std::uint32_t value, NodeP then) { return {false, value, value, 0, 0, std::move(then)}; }
Case in(std::uint32_t lo, std::uint32_t hi, NodeP then) {
  return {false, lo, hi, 0, 0, std::move(then)};
}
Case bits(std::uint32_t mask, std::uint32_t value, NodeP then) {
  return {true, 0, 0, mask, value, std::move(then)};
}
bool matches(const Case& c, std::uint32_t x) {
  return c.pattern ? (x & c.mask) == c.value : c.lo <= x && x <= c.hi;
}
// A pointer argument: NULL or not (all 64 bits).
NodeP if_zero(unsigned arg, NodeP zero, NodeP nonzero) {
  auto n = std::make_shared<Node>();
  n->type = Node::Type::kZero;
  n->arg = arg;
  n->zero = std::move(zero);
  n->otherwise = std::move(nonzero);
  return n;
}

std::uint32_t low32(std::uint64_t v) { return static_cast<std::uint32_t>(v); }

// ---- The table ----

// pid-taking syscalls: 0, the caller itself; another pid is the tracer's check (kTagSelf): the
// caller's own pid or tid are the caller too (glibc's pthread_getattr_np asks for its thread's
// affinity by tid), any other process is a violation.
NodeP self_only(unsigned arg, NodeP then) {
  return on(arg, {is(0, std::move(then))},
            leaf({Kind::kCheck, 0, "of pid {} would reach another process (only the caller)",
                  Detail::kValue, kTagSelf, arg}));
}

// A clock id (clock_gettime, clock_getres, clock_nanosleep). A negative id is a CPU clock that
// encodes a pid: ((~pid) << 3) | (per-thread ? 4 : 0) | type (type 0..2; 3 is CLOCKFD, a clock
// of an fd). pid 0 is the caller.
NodeP clock_rules() {
  const NodeP ok = allow();
  const NodeP other =
      violation("of the CPU clock of pid {} would reach another process", Detail::kClockPid);
  const NodeP invalid = fail(EINVAL);
  return on(0,
            {
                in(0, 0x7fffffff, ok),  // CLOCK_REALTIME, CLOCK_MONOTONIC...: not a pid
                // pid 0: the caller's own process clocks, CLOCKFD of fd 0, its own thread's.
                in(0xfffffff8u, 0xfffffffau, ok),
                is(0xfffffffbu, invalid),
                in(0xfffffffcu, 0xfffffffeu, ok),
                is(0xffffffffu, invalid),
            },
            on(0,
               {
                   // Thread CPU clocks: the kernel accepts only threads of the caller's own
                   // process (lookup_task), so any tid is safe (pthread_getcpuclockid makes
                   // them; the JVM reads its main thread's).
                   bits(7, 4, ok),
                   bits(7, 5, ok),
                   bits(7, 6, ok),
                   // Another process's CPU clock.
                   bits(7, 0, other),
                   bits(7, 1, other),
                   bits(7, 2, other),
               },
               invalid));  // CLOCKFD (a PTP device's clock) and invalid encodings
}

NodeP fcntl_rules() {
  const NodeP ok = allow();
  return on(
      1,
      {
          is(F_DUPFD, ok),
          is(F_DUPFD_CLOEXEC, ok),
          is(F_GETFD, ok),
          is(F_SETFD, ok),
          is(F_GETFL, ok),
          // O_ASYNC makes the kernel send SIGIO (or F_SETSIG's signal) to the fd's owner.
          is(F_SETFL,
             on(2,
                {bits(O_ASYNC, O_ASYNC,
                      violation("F_SETFL with O_ASYNC would let the kernel signal any process"))},
                ok)),
          // Advisory record locks on files the program opened; released when it ends.
          is(F_GETLK, ok),
          is(F_SETLK, ok),
          is(F_SETLKW, ok),
          is(F_OFD_GETLK, ok),
          is(F_OFD_SETLK, ok),
          is(F_OFD_SETLKW, ok),
          is(12, ok),  // F_GETLK64, F_SETLK64, F_SETLKW64 of 32-bit ABIs (EINVAL on 64-bit)
          is(13, ok),
          is(14, ok),
          // Queries.
          is(F_GETOWN, ok),
          is(F_GETOWN_EX, ok),
          is(F_GETSIG, ok),
          is(F_GETLEASE, ok),
          is(F_GETPIPE_SZ, ok),
          is(F_GET_SEALS, ok),
          is(F_ADD_SEALS, ok),  // memfds only; memfd_create is not in the profiles anyway
          // The fd's owner is the pid or group the kernel signals on I/O: any process.
          is(F_SETOWN, violation("F_SETOWN would let the kernel signal any process")),
          is(F_SETOWN_EX, violation("F_SETOWN_EX would let the kernel signal any process")),
          is(F_SETSIG, violation("F_SETSIG would choose the signal the kernel sends to the fd's "
                                 "owner (any process)")),
          is(F_NOTIFY, violation("F_NOTIFY would let the kernel signal on directory changes "
                                 "(dnotify)")),
          is(F_SETLEASE, violation("F_SETLEASE would hold back other processes' opens of the "
                                   "file and make the kernel signal")),
      },
      // F_SETPIPE_SZ (pipe buffers are kernel memory outside the memory limit), hints, unknown
      // and newer commands: the kernel's own answer to a command it does not know.
      fail(EINVAL));
}

NodeP ioctl_rules() {
  const NodeP ok = allow();
  const NodeP setflags = violation(
      "FS_IOC_SETFLAGS would change the file's attributes "
      "(immutable, append-only...)");
  return on(
      1,
      {
          // What runtimes ask of their fds: is it a terminal, its size, its group, bytes
          // readable, non-blocking and close-on-exec.
          is(TCGETS, ok),
          is(TCGETS2, ok),
          is(TIOCGWINSZ, ok),
          is(TIOCGPGRP, ok),
          is(FIONREAD, ok),
          is(FIONBIO, ok),
          is(FIOCLEX, ok),
          is(FIONCLEX, ok),
          // Refused with a reason: they reach the terminal, the host or other processes.
          is(FIOASYNC, violation("FIOASYNC would let the kernel signal any process (O_ASYNC)")),
          is(FIOSETOWN, violation("FIOSETOWN would let the kernel signal any process")),
          is(SIOCSPGRP, violation("SIOCSPGRP would let the kernel signal any process")),
          is(TIOCSTI, violation("TIOCSTI would type input into the terminal")),
          is(TIOCSPGRP, violation("TIOCSPGRP would change the terminal's foreground group")),
          is(TIOCSCTTY, violation("TIOCSCTTY would take the terminal as its controlling one")),
          is(TIOCCONS, violation("TIOCCONS would redirect the console")),
          is(TIOCLINUX, violation("TIOCLINUX would reach the virtual console")),
          is(TIOCSETD, violation("TIOCSETD would change the terminal's line discipline")),
          is(TIOCSWINSZ, violation("TIOCSWINSZ would resize the terminal and signal its "
                                   "foreground group")),
          is(FS_IOC_SETFLAGS, setflags),
          is(FS_IOC32_SETFLAGS, setflags),
          is(FS_IOC_FSSETXATTR, violation("FS_IOC_FSSETXATTR would change the file's attributes")),
          is(FS_IOC_SETVERSION, violation("FS_IOC_SETVERSION would change the file's generation")),
          is(FS_IOC32_SETVERSION,
             violation("FS_IOC_SETVERSION would change the file's generation")),
      },
      fail(ENOTTY));  // "not a terminal" / "no such request": what the kernel says for others
}

NodeP madvise_rules() {
  const NodeP ok = allow();
  std::vector<Case> cases;
  // Advice about the program's own memory.
  for (int advice : {MADV_NORMAL,        MADV_RANDOM,         MADV_SEQUENTIAL,      MADV_WILLNEED,
                     MADV_DONTNEED,      MADV_FREE,           MADV_DONTFORK,        MADV_DOFORK,
                     MADV_UNMERGEABLE,   MADV_HUGEPAGE,       MADV_NOHUGEPAGE,      MADV_DONTDUMP,
                     MADV_DODUMP,        MADV_WIPEONFORK,     MADV_KEEPONFORK,      MADV_COLD,
                     MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTNEED_LOCKED, MADV_COLLAPSE,
                     MADV_GUARD_INSTALL, MADV_GUARD_REMOVE})
    cases.push_back(is(static_cast<std::uint32_t>(advice), ok));
  cases.push_back(is(MADV_MERGEABLE, violation("MADV_MERGEABLE would let KSM merge its pages "
                                               "with other processes' (a side channel)")));
  cases.push_back(
      is(MADV_HWPOISON, violation("MADV_HWPOISON would poison a physical page of the host")));
  cases.push_back(
      is(MADV_SOFT_OFFLINE,
         violation("MADV_SOFT_OFFLINE would take a physical page of the host offline")));
  // MADV_REMOVE (punches holes in shared files), MADV_PAGEOUT (swap I/O), unknown advice.
  return on(2, std::move(cases), fail(EINVAL));
}

// futex: the priority-inheritance operations read a tid from the futex word and attach the
// waiter to that task, whichever process it belongs to. glibc takes ENOSYS as "no PI mutexes".
NodeP futex_rules() {
  const NodeP ok = allow();
  std::vector<Case> cases;
  for (std::uint32_t flags :
       {0, FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME, FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME})
    for (int op : {FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP,
                   FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET})
      cases.push_back(is(static_cast<std::uint32_t>(op) | flags, ok));
  return on(1, std::move(cases), fail(ENOSYS));
}

// getpriority/setpriority, ioprio_get/ioprio_set: (which, who); who 0 is the caller's own
// process or group; a user is every process of that uid.
NodeP priority_rules(std::uint32_t process, std::uint32_t group, std::uint32_t user) {
  const NodeP own = self_only(1, allow());
  return on(0,
            {is(process, own), is(group, own),
             is(user, violation("for a whole user would reach every process of that user"))},
            fail(EINVAL));
}

// sched_setscheduler(pid, policy, param): the normal policies only.
NodeP scheduler_rules() {
  const NodeP ok = allow();
  const NodeP realtime =
      violation("with a real-time policy would let the run starve the host's processes");
  std::vector<Case> cases;
  for (std::uint32_t reset : {0, SCHED_RESET_ON_FORK}) {
    for (std::uint32_t policy : {SCHED_OTHER, SCHED_BATCH, SCHED_IDLE})
      cases.push_back(is(policy | reset, ok));
    for (std::uint32_t policy : {SCHED_FIFO, SCHED_RR, SCHED_DEADLINE})
      cases.push_back(is(policy | reset, realtime));
  }
  return self_only(0, on(1, std::move(cases), fail(EINVAL)));
}

const std::map<std::string_view, NodeP>& table() {
  static const std::map<std::string_view, NodeP> t = [] {
    std::map<std::string_view, NodeP> m;
    const NodeP clocks = clock_rules();
    for (const char* name : {"clock_gettime", "clock_getres", "clock_nanosleep", "clock_gettime64",
                             "clock_getres_time64", "clock_nanosleep_time64"})
      m[name] = clocks;
    m["fcntl"] = m["fcntl64"] = fcntl_rules();
    m["ioctl"] = ioctl_rules();
    m["madvise"] = madvise_rules();
    m["futex"] = m["futex_time64"] = futex_rules();
    // A limit of another process: pid 0 only. A new limit (not NULL): the tracer checks it.
    m["prlimit64"] =
        on(0, {is(0, if_zero(2, allow(), check(kTagLimit)))},
           violation("of pid {} would reach another process (only 0, the caller, is allowed)",
                     Detail::kValue));
    m["setrlimit"] = check(kTagLimit);
    for (const char* name :
         {"sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
          "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
          "sched_getattr", "get_robust_list", "getpgid", "getsid", "setpgid"})
      m[name] = self_only(0, allow());
    m["sched_setscheduler"] = scheduler_rules();
    m["getpriority"] = m["setpriority"] = priority_rules(PRIO_PROCESS, PRIO_PGRP, PRIO_USER);
    m["ioprio_get"] = m["ioprio_set"] =
        priority_rules(IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER);
    // A destination address reaches a socket by name, as connect would.
    m["sendto"] = if_zero(4, allow(),
                          violation("with a destination address would reach a socket by its name"));
    m["sendmsg"] = m["sendmmsg"] = check(kTagMessage);
    return m;
  }();
  return t;
}

// ---- Splitting a switch into disjoint conditions ----

// A part of a switch's domain that one node decides, as the conditions that select it.
struct Piece {
  std::vector<Cond> conds;
  const Node* then;
};

struct Pattern {
  std::uint32_t mask;
  std::uint32_t value;
  const Node* then;
};

// The region {x : x & mask == value} split by the pattern cases from `from` on: each part lies
// in one case (the first that matches its values) or in none (`otherwise`).
void split(const Node& n, std::uint32_t mask, std::uint32_t value, std::size_t from,
           std::vector<Pattern>& out) {
  for (std::size_t i = from; i < n.cases.size(); ++i) {
    const Case& c = n.cases[i];
    if (((c.value ^ value) & c.mask & mask) != 0) continue;  // no value of the region matches
    const std::uint32_t open = c.mask & ~mask;
    if (open == 0) {  // every value of the region matches
      out.push_back({mask, value, c.then.get()});
      return;
    }
    const std::uint32_t bit = std::uint32_t{1} << (31 - std::countl_zero(open));
    split(n, mask | bit, value | (c.value & bit), i, out);       // may match case i
    split(n, mask | bit, value | (~c.value & bit), i + 1, out);  // cannot
    return;
  }
  out.push_back({mask, value, n.otherwise.get()});
}

// A switch on patterns: disjoint patterns; those that lead to the same node and differ in one
// bit of the same mask are merged.
std::vector<Piece> pattern_pieces(const Node& n) {
  std::vector<Pattern> parts;
  split(n, 0, 0, 0, parts);
  for (bool merged = true; merged;) {
    merged = false;
    for (std::size_t i = 0; i < parts.size() && !merged; ++i)
      for (std::size_t j = i + 1; j < parts.size() && !merged; ++j) {
        Pattern& a = parts[i];
        const Pattern& b = parts[j];
        const std::uint32_t diff = a.value ^ b.value;
        if (a.then != b.then || a.mask != b.mask || std::popcount(diff) != 1) continue;
        a.mask &= ~diff;
        a.value &= ~diff;
        parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(j));
        merged = true;
      }
  }
  std::vector<Piece> out;
  for (const Pattern& p : parts) {
    Piece piece{{}, p.then};
    if (p.mask != 0) piece.conds.push_back(Cond::masked_eq(n.arg, p.mask, p.value));
    out.push_back(std::move(piece));
  }
  return out;
}

// A switch on ranges: the domain 0..2^32-1 cut at every case's bounds, each span given to the
// first case that holds it, neighbours with the same node joined.
std::vector<Piece> range_pieces(const Node& n) {
  constexpr std::uint64_t kEnd = std::uint64_t{1} << 32;
  std::vector<std::uint64_t> cuts = {0, kEnd};
  for (const Case& c : n.cases) {
    cuts.push_back(c.lo);
    cuts.push_back(std::uint64_t{c.hi} + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  struct Span {
    std::uint64_t lo, hi;
    const Node* then;
  };
  std::vector<Span> spans;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const auto x = static_cast<std::uint32_t>(cuts[i]);
    const Node* then = n.otherwise.get();
    for (const Case& c : n.cases)
      if (matches(c, x)) {
        then = c.then.get();
        break;
      }
    if (!spans.empty() && spans.back().then == then)
      spans.back().hi = cuts[i + 1] - 1;
    else
      spans.push_back({cuts[i], cuts[i + 1] - 1, then});
  }
  std::vector<Piece> out;
  for (const Span& s : spans) {
    Piece piece{{}, s.then};
    if (s.lo == s.hi) {
      piece.conds.push_back(Cond::masked_eq(n.arg, 0xffffffffu, s.lo));
    } else {
      if (s.lo > 0) piece.conds.push_back(Cond::ge32(n.arg, s.lo));
      if (s.hi < kEnd - 1) piece.conds.push_back(Cond::le32(n.arg, s.hi));
    }
    out.push_back(std::move(piece));
  }
  return out;
}

seccomp::Action action_of(const Leaf& l, const seccomp::Action& allowed) {
  switch (l.kind) {
    case Kind::kAllow:
      return allowed;
    case Kind::kErrno:
      return seccomp::Action::error(static_cast<std::uint16_t>(l.error));
    case Kind::kViolation:
      return seccomp::Action::trace(kTagArgument);
    case Kind::kCheck:
      return seccomp::Action::trace(l.tag);
  }
  return seccomp::Action::trace(kTagArgument);
}

void emit(const std::string& syscall, const Node& n, const std::vector<Cond>& conds,
          const seccomp::Action& allowed, std::vector<Rule>& out) {
  switch (n.type) {
    case Node::Type::kLeaf:
      out.push_back({syscall, action_of(n.leaf, allowed), conds});
      return;
    case Node::Type::kZero: {
      std::vector<Cond> zero = conds;
      zero.push_back(Cond::eq(n.arg, 0));
      emit(syscall, *n.zero, zero, allowed, out);
      std::vector<Cond> nonzero = conds;
      nonzero.push_back(Cond::ne(n.arg, 0));
      emit(syscall, *n.otherwise, nonzero, allowed, out);
      return;
    }
    case Node::Type::kSwitch: {
      const bool patterns = n.cases.front().pattern;
      for (const Piece& p : patterns ? pattern_pieces(n) : range_pieces(n)) {
        std::vector<Cond> more = conds;
        more.insert(more.end(), p.conds.begin(), p.conds.end());
        emit(syscall, *p.then, more, allowed, out);
      }
      return;
    }
  }
}

const Node* find(std::string_view syscall) {
  auto it = table().find(syscall);
  return it == table().end() ? nullptr : it->second.get();
}

}  // namespace

std::vector<Rule> argument_rules(std::string_view syscall, const seccomp::Action& allowed) {
  std::vector<Rule> out;
  const Node* n = find(syscall);
  if (n == nullptr) return out;
  emit(std::string(syscall), *n, {}, allowed, out);
  // The filter tries a syscall's rules in order: the allowed modes, the common calls, first.
  std::stable_partition(out.begin(), out.end(), [&](const Rule& r) { return r.action == allowed; });
  return out;
}

ArgumentVerdict decide_arguments(std::string_view syscall,
                                 const std::array<std::uint64_t, 6>& args) {
  const Node* n = find(syscall);
  std::uint32_t switched = 0;
  while (n != nullptr && n->type != Node::Type::kLeaf) {
    const std::uint64_t a = args[n->arg];
    if (n->type == Node::Type::kZero) {
      n = a == 0 ? n->zero.get() : n->otherwise.get();
      continue;
    }
    switched = low32(a);
    const Node* next = n->otherwise.get();
    for (const Case& c : n->cases)
      if (matches(c, switched)) {
        next = c.then.get();
        break;
      }
    n = next;
  }
  ArgumentVerdict v;
  if (n == nullptr) return v;
  const Leaf& l = n->leaf;
  v.kind = l.kind;
  v.error = l.error;
  v.tag = l.tag;
  v.pid_arg = l.pid_arg;
  if (*l.reason != '\0') {
    std::string reason = l.reason;
    const auto value = static_cast<std::int32_t>(switched);
    const std::int32_t detail = l.detail == Detail::kClockPid ? ~(value >> 3) : value;
    if (auto at = reason.find("{}"); at != std::string::npos && l.detail != Detail::kNone)
      reason.replace(at, 2, std::to_string(detail));
    v.reason = fmt::format("{} {}", syscall, reason);
  }
  return v;
}

std::string_view never_allowed(std::string_view syscall) {
  static const std::map<std::string_view, std::string_view> kNever = {
      {"ptrace", "it would let the program trace or be traced by any process"},
      {"process_vm_readv", "it reads the memory of the process its pid names"},
      {"process_vm_writev", "it writes the memory of the process its pid names"},
      {"kcmp", "it compares the kernel objects of the processes its pids name"},
      {"pidfd_open", "a pidfd signals (pidfd_send_signal) or waits for any process"},
      {"pidfd_send_signal", "its target is a pidfd, which the signal check cannot see"},
      {"pidfd_getfd", "it takes a file descriptor from another process"},
      {"process_madvise", "it advises on the memory of the process its pidfd names"},
      {"sched_setattr",
       "its policy is in memory, out of the filter's reach (real-time "
       "policies would starve the host)"},
      {"seccomp", "a filter of the program's own could answer the tracer's tags"},
      {"bpf", "BPF programs and maps reach the whole kernel"},
      {"userfaultfd", "it stalls the kernel's accesses to the program's memory at will"},
      {"perf_event_open", "it observes other processes and the kernel"},
      {"io_uring_setup", "io_uring operations bypass seccomp"},
      {"io_uring_enter", "io_uring operations bypass seccomp"},
      {"io_uring_register", "io_uring operations bypass seccomp"},
      {"setns", "it joins the namespace a file descriptor names"},
  };
  auto it = kNever.find(syscall);
  return it == kNever.end() ? std::string_view{} : it->second;
}

std::vector<std::string_view> syscalls_with_argument_rules() {
  std::vector<std::string_view> out;
  for (const auto& [name, node] : table()) out.push_back(name);
  return out;
}

}  // namespace tracebox::tracer::policy
