// The filter builder. build() turns the user's rules into one rule list per ABI (tracer defaults
// added, conditions rewritten to what the ABI's kernel reads, exclusion checked), gives each list
// to its own single-ABI libseccomp context (unconditional actions, and a placeholder for each
// syscall with conditional rules), merges the contexts, exports the BPF, and replaces the
// placeholders by jumps to the argument checks of checks.cc.
#include "tracebox/seccomp/filter.h"

#include <fmt/format.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "cache.h"
#include "rules.h"
#include "tracebox/util/unique_fd.h"

namespace tracebox::seccomp {

namespace {

using detail::complement;
using detail::describe;
using detail::exclusive;
using detail::kMax32;
using detail::kMax64;
using detail::narrow;
using detail::Rule;
using Cond = ArgCondition;

constexpr Action kViolation = Action::trace(kTagViolation);

bool is_kill(const Action& a) {
  return a.kind == Action::Kind::kKillProcess || a.kind == Action::Kind::kKillThread;
}

// Higher is more restrictive: the kernel keeps the action whose SECCOMP_RET_ACTION_FULL value is
// the lowest as a signed number (seccomp_run_filters), kill_process first, allow last.
std::int64_t precedence(const Action& a) {
  return -std::int64_t{static_cast<std::int32_t>(a.to_ret() & SECCOMP_RET_ACTION_FULL)};
}

// ---- Architectures ----

// The ABIs other than the native one that the kernel executes for a process of this machine.
std::vector<std::uint32_t> compat_arches(std::uint32_t native) {
  if (native == SCMP_ARCH_X86_64) return {SCMP_ARCH_X86, SCMP_ARCH_X32};
  if (native == SCMP_ARCH_AARCH64) return {SCMP_ARCH_ARM};
  return {};
}

// clone's flags: the first argument, except on s390 where the stack comes first.
unsigned clone_flags_arg(std::uint32_t arch) {
  return arch == SCMP_ARCH_S390 || arch == SCMP_ARCH_S390X ? 1 : 0;
}

// A pseudo number for a socket or ipc call that libseccomp adds as both the direct syscall and
// the socketcall/ipc multiplexer (i386 and a few other 32-bit ABIs).
bool multiplexed(int nr) {
  return (nr <= __PNR_socket && nr >= __PNR_sendmmsg) || (nr <= __PNR_semop && nr >= __PNR_shmctl);
}

bool exists(std::uint32_t arch, const std::string& name) {
  const int nr = seccomp_syscall_resolve_name_arch(arch, name.c_str());
  return nr >= 0 || multiplexed(nr);
}

// libseccomp's arch names; seccomp_arch_resolve_name() gives their tokens.
constexpr const char* kArchNames[] = {
    "x86_64",   "x86",       "x32",         "aarch64", "arm",      "riscv64", "ppc64le",
    "ppc64",    "ppc",       "s390x",       "s390",    "mips",     "mipsel",  "mips64",
    "mipsel64", "mips64n32", "mipsel64n32", "parisc",  "parisc64",
};

// The libseccomp token for an AUDIT_ARCH value and syscall number (x32 numbers carry bit 30).
std::uint32_t token_for(std::uint32_t arch, long nr) {
  constexpr long kX32Bit = 0x40000000;
  return arch == AUDIT_ARCH_X86_64 && nr >= 0 && (nr & kX32Bit) != 0 ? kArchX32 : arch;
}

// ---- Per-ABI rule lists ----

// What the Builder collected.
struct Spec {
  Action default_action = Action::kill_process();
  Action bad_arch_action = Action::kill_process();
  bool compat = false;
  bool tracer = false;
  bool tracer_namespaces = false;  // for_tracer without its clone/unshare namespace refusals
  std::vector<Rule> rules;         // as given: conditions not yet narrowed
  std::string error;               // the first add() error, thrown by build()
  std::string cache_dir;  // where built programs are kept ("" for none); not part of the filter

  bool named(std::string_view syscall) const {
    return std::any_of(rules.begin(), rules.end(),
                       [&](const Rule& r) { return r.syscall == syscall; });
  }
  // The default action after the tracer's rewrite.
  Action effective_default() const {
    return tracer && is_kill(default_action) ? Action::trace(kTagDefault) : default_action;
  }
  Action effective_bad_arch() const {
    return tracer && is_kill(bad_arch_action) ? Action::trace(kTagBadArch) : bad_arch_action;
  }
};

// Calls of `syscall` matching `guard` (a masked_eq) get `action`; every other rule of `syscall`
// is narrowed to the calls that do not match it.
void add_guard(std::vector<Rule>& rules, const std::string& syscall, const Cond& guard,
               Action action, std::uint64_t max) {
  std::vector<Rule> out;
  for (Rule& r : rules) {
    if (r.syscall != syscall) {
      out.push_back(std::move(r));
      continue;
    }
    for (const Cond& piece : complement(guard)) {
      Rule narrowed = r;
      if (narrow(narrowed, piece, max) && std::find(out.begin(), out.end(), narrowed) == out.end())
        out.push_back(std::move(narrowed));
    }
  }
  Rule guarded{syscall, action, {}};
  if (narrow(guarded, guard, max)) out.push_back(std::move(guarded));
  rules = std::move(out);
}

// Calls of `syscall` with any of the `flags` bits set in argument `arg` get `action`; every rule
// of `syscall` with another action is narrowed to the calls with none of them set. (One guard
// per flag through add_guard would narrow each guard by the later ones: n^2 conditions.)
void add_flag_guards(std::vector<Rule>& rules, const std::string& syscall, unsigned arg,
                     std::uint64_t flags, Action action, std::uint64_t max) {
  std::vector<Rule> out;
  for (Rule& r : rules) {
    if (r.syscall == syscall && r.action != action &&
        !narrow(r, Cond::masked_eq(arg, flags, 0), max))
      continue;
    out.push_back(std::move(r));
  }
  for (std::uint64_t bit = 1; bit != 0; bit <<= 1) {
    if ((flags & bit) == 0) continue;
    Rule guarded{syscall, action, {}};
    if (narrow(guarded, Cond::masked_eq(arg, bit, bit), max)) out.push_back(std::move(guarded));
  }
  rules = std::move(out);
}

// The namespace flags of clone and unshare. CLONE_NEWTIME is 0x80, which clone reads as part of
// the exit signal (CSIGNAL): only unshare (and clone3) take it.
constexpr std::uint64_t kCloneNamespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                           CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                           CLONE_NEWNET;
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

// The clone flags a traced run refuses, with what each would do (violation_reason).
struct RefusedFlag {
  std::uint64_t flag;
  const char* name;
};
constexpr RefusedFlag kRefusedCloneFlags[] = {
    {CLONE_UNTRACED, "CLONE_UNTRACED"}, {CLONE_PARENT, "CLONE_PARENT"},
    {CLONE_NEWNS, "CLONE_NEWNS"},       {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
    {CLONE_NEWUTS, "CLONE_NEWUTS"},     {CLONE_NEWIPC, "CLONE_NEWIPC"},
    {CLONE_NEWUSER, "CLONE_NEWUSER"},   {CLONE_NEWPID, "CLONE_NEWPID"},
    {CLONE_NEWNET, "CLONE_NEWNET"},     {CLONE_NEWTIME, "CLONE_NEWTIME"},
};
constexpr std::uint64_t kRefusedClone = CLONE_UNTRACED | CLONE_PARENT | kCloneNamespaces;
constexpr std::uint64_t kRefusedUnshare = kCloneNamespaces | CLONE_NEWTIME;

// The fail-closed defaults of a traced run (see Builder::for_tracer).
void add_tracer_defaults(const Spec& s, std::vector<Rule>& rules, std::uint32_t arch,
                         std::uint64_t max) {
  // A CLONE_UNTRACED child would not be attached to the tracer; a CLONE_PARENT child would be
  // its caller's sibling (the tracer's own child when the main process makes it, sending the
  // tracer its exit signal); a child in new namespaces would see pids, mounts, users and a
  // network the tracer does not (its pids would name other processes than the tracer checks).
  // The flags are an unsigned long, but clone() reads only their low 32 bits.
  add_flag_guards(rules, "clone", clone_flags_arg(arch),
                  s.tracer_namespaces ? kRefusedClone & ~kCloneNamespaces : kRefusedClone,
                  kViolation, max);
  if (!s.tracer_namespaces) add_flag_guards(rules, "unshare", 0, kRefusedUnshare, kViolation, max);
  // clone3's flags are in memory where BPF cannot read them; ENOSYS makes libc use clone.
  std::erase_if(rules, [](const Rule& r) { return r.syscall == "clone3"; });
  rules.push_back({"clone3", Action::error(ENOSYS), {}});
  if (!s.named("seccomp")) {
    rules.push_back({"seccomp", kViolation, {}});
    // prctl's option is an int: the kernel reads the low 32 bits only.
    add_guard(rules, "prctl", Cond::masked_eq(0, kMax32, PR_SET_SECCOMP), kViolation, max);
  }
  static const std::pair<const char*, Action> kDeniedUnlessNamed[] = {
      {"ptrace", kViolation},
      {"process_vm_writev", kViolation},
      {"bpf", kViolation},
      {"userfaultfd", kViolation},
      {"perf_event_open", kViolation},
      // io_uring operations bypass seccomp; runtimes that probe for it fall back on ENOSYS.
      {"io_uring_setup", Action::error(ENOSYS)},
      {"io_uring_enter", Action::error(ENOSYS)},
      {"io_uring_register", Action::error(ENOSYS)},
  };
  for (const auto& [name, action] : kDeniedUnlessNamed)
    if (!s.named(name)) rules.push_back({name, action, {}});
}

std::vector<Rule> rules_for_abi(const Spec& s, std::uint32_t arch) {
  const std::uint64_t max = detail::args_are_32bit(arch) ? kMax32 : kMax64;
  std::vector<Rule> rules;
  for (const Rule& given : s.rules) {
    Rule r{given.syscall, s.tracer && is_kill(given.action) ? kViolation : given.action, {}};
    if (std::all_of(given.conds.begin(), given.conds.end(),
                    [&](const Cond& c) { return narrow(r, c, max); }))
      rules.push_back(std::move(r));
  }
  if (s.tracer) add_tracer_defaults(s, rules, arch, max);
  std::erase_if(rules, [&](const Rule& r) { return !exists(arch, r.syscall); });
  return rules;
}

void check_exclusive(const std::vector<Rule>& rules, std::uint32_t arch) {
  for (std::size_t i = 0; i < rules.size(); ++i)
    for (std::size_t j = i + 1; j < rules.size(); ++j) {
      const Rule& a = rules[i];
      const Rule& b = rules[j];
      if (a.syscall != b.syscall || a.action == b.action || exclusive(a, b)) continue;
      throw BuildError(fmt::format(
          "rules for '{}' on {} may both match with different actions: {}; {}. Rules with "
          "different actions for one syscall must exclude each other on an argument they "
          "both compare",
          a.syscall, arch_name(arch), describe(a), describe(b)));
    }
}

// Whether BPF sees the arguments of `syscall` as the kernel reads them on `arch`. Not on x32
// (64-bit registers, which some x32 entry points read as 32-bit values), nor where the arguments
// are in memory: multiplexed socket/ipc calls, i386's old mmap and select.
bool arguments_visible(std::uint32_t arch, const std::string& syscall) {
  if (arch == kArchX32) return false;
  if (arch == SCMP_ARCH_X86 && (syscall == "mmap" || syscall == "select")) return false;
  return !multiplexed(seccomp_syscall_resolve_name_arch(arch, syscall.c_str()));
}

// A syscall whose arguments BPF cannot see, and which has conditional rules, gets the most
// restrictive of its actions and the default action, unconditionally.
void collapse_invisible(std::vector<Rule>& rules, std::uint32_t arch, const Action& def) {
  std::vector<Rule> out;
  for (const Rule& r : rules) {
    if (arguments_visible(arch, r.syscall) ||
        std::none_of(rules.begin(), rules.end(),
                     [&](const Rule& o) { return o.syscall == r.syscall && !o.conds.empty(); })) {
      out.push_back(r);
      continue;
    }
    if (std::any_of(out.begin(), out.end(), [&](const Rule& o) { return o.syscall == r.syscall; }))
      continue;  // collapsed at its first rule
    Action strictest = def;
    for (const Rule& o : rules)
      if (o.syscall == r.syscall && precedence(o.action) > precedence(strictest))
        strictest = o.action;
    out.push_back({r.syscall, strictest, {}});
  }
  rules = std::move(out);
}

// ---- libseccomp ----

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

void check(int rc, std::string_view what) {
  if (rc < 0) throw BuildError(fmt::format("libseccomp: {}: {}", what, errno_text(-rc)));
}

Context new_context(std::uint32_t arch, bool native, const Spec& s) {
  const Action def = s.effective_default();
  const Action bad_arch = s.effective_bad_arch();
  Context ctx(seccomp_init(def.to_ret()));
  if (!ctx) throw BuildError("libseccomp: seccomp_init failed for " + def.to_string());
  if (!native) {
    check(seccomp_arch_add(ctx.get(), arch), "seccomp_arch_add");
    check(seccomp_arch_remove(ctx.get(), SCMP_ARCH_NATIVE), "seccomp_arch_remove");
  }
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, bad_arch.to_ret()),
        "SCMP_FLTATR_ACT_BADARCH");
  // forkexec sets no_new_privs itself, before installing the program.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "SCMP_FLTATR_CTL_NNP");
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_TSKIP, 1), "SCMP_FLTATR_API_TSKIP");
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 5)
  // A binary tree of syscall numbers instead of a linear list.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "SCMP_FLTATR_CTL_OPTIMIZE");
#endif
  return ctx;
}

// The conditional rules of one syscall on one ABI, compiled by argument_checks().
struct Check {
  std::uint32_t arch;
  std::string syscall;
  std::vector<Rule> rules;
  Action otherwise;
};

// libseccomp's program returns trace(kReservedTagBase + i) where checks[i] must run.
constexpr std::size_t kMaxChecks = kTagBadArch - kReservedTagBase;

// Gives libseccomp the rules of one ABI: an unconditional action per syscall, or a placeholder
// for the syscall's argument checks.
void add_rules(void* ctx, const std::vector<Rule>& rules, std::uint32_t arch, const Action& def,
               std::vector<Check>& checks) {
  std::vector<std::string> done;
  for (const Rule& first : rules) {
    if (std::find(done.begin(), done.end(), first.syscall) != done.end()) continue;
    done.push_back(first.syscall);
    std::vector<Rule> own;  // the rules that need BPF (the default action needs none)
    for (const Rule& r : rules)
      if (r.syscall == first.syscall && r.action != def &&
          std::find(own.begin(), own.end(), r) == own.end())
        own.push_back(r);
    if (own.empty()) continue;
    // With an unconditional rule, every rule of the syscall has its action (check_exclusive).
    Action action = own.front().action;
    if (std::none_of(own.begin(), own.end(), [](const Rule& r) { return r.conds.empty(); })) {
      if (checks.size() == kMaxChecks)
        throw BuildError(fmt::format("more than {} syscalls with argument conditions", kMaxChecks));
      action = Action::trace(static_cast<std::uint16_t>(kReservedTagBase + checks.size()));
      checks.push_back({arch, first.syscall, std::move(own), def});
    }
    // libseccomp takes the native (or pseudo) number and translates it by name for the ABI.
    const int nr = seccomp_syscall_resolve_name(first.syscall.c_str());
    if (const int rc = seccomp_rule_add(ctx, action.to_ret(), nr, 0); rc < 0)
      check(rc, fmt::format("rule for '{}' on {}", first.syscall, arch_name(arch)));
  }
  // A tracer skips a syscall by setting its number to -1; the filter then runs on -1.
  if (def != Action::allow())
    check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, -1, 0), "rule for syscall -1");
}

void check_names(const Spec& s, const std::vector<std::uint32_t>& arches) {
  for (const Rule& r : s.rules) {
    if (std::any_of(arches.begin(), arches.end(),
                    [&](std::uint32_t a) { return exists(a, r.syscall); }))
      continue;
    if (seccomp_syscall_resolve_name(r.syscall.c_str()) == __NR_SCMP_ERROR)
      throw BuildError(fmt::format("unknown syscall '{}'", r.syscall));
    std::string where;
    for (std::uint32_t a : arches) where += (where.empty() ? "" : ", ") + arch_name(a);
    throw BuildError(fmt::format("syscall '{}' does not exist on {}", r.syscall, where));
  }
}

struct Compiled {
  Context filter;
  std::vector<Check> checks;
};

Compiled compile(const Spec& s) {
  if (!s.error.empty()) throw BuildError(s.error);
  const std::uint32_t native = seccomp_arch_native();
  std::vector<std::uint32_t> arches{native};
  if (s.compat)
    for (std::uint32_t a : compat_arches(native)) arches.push_back(a);
  check_names(s, arches);
  const Action def = s.effective_default();
  Compiled out;
  for (std::uint32_t arch : arches) {
    std::vector<Rule> rules = rules_for_abi(s, arch);
    check_exclusive(rules, arch);
    collapse_invisible(rules, arch, def);
    Context ctx = new_context(arch, arch == native, s);
    add_rules(ctx.get(), rules, arch, def, out.checks);
    if (!out.filter) {
      out.filter = std::move(ctx);
      continue;
    }
    check(seccomp_merge(out.filter.get(), ctx.get()), "seccomp_merge");
    (void)ctx.release();  // seccomp_merge consumed it
  }
  return out;
}

// Runs one of libseccomp's export functions into a memfd and returns what it wrote.
std::string export_to_string(int (*fn)(const scmp_filter_ctx, int), void* ctx, const char* what) {
  UniqueFd fd(::memfd_create("tracebox-seccomp", MFD_CLOEXEC));
  if (!fd) throw BuildError(fmt::format("memfd_create: {}", errno_text(errno)));
  check(fn(ctx, fd.get()), what);
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  std::string out(size > 0 ? static_cast<std::size_t>(size) : 0, '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw BuildError(fmt::format("reading the {} output: {}", what, errno_text(errno)));
    done += static_cast<std::size_t>(n);
  }
  return out;
}

// Drops what cannot change the result: a load of the word the accumulator already holds on
// every path to it (libseccomp and the argument checks reload the syscall number or an argument
// before each comparison), and `and #0xffffffff` (a no-op on the 32-bit accumulator). Jumps are
// retargeted to the next kept instruction. A shorter program is cheaper to install (the kernel
// checks, converts and compiles each instruction at every run's seccomp()) and to run.
std::vector<sock_filter> drop_redundant(const std::vector<sock_filter>& code) {
  constexpr std::int64_t kUnset = -2, kUnknown = -1;  // else: A holds the word at this offset
  const std::size_t n = code.size();
  std::vector<std::int64_t> in(n, kUnset);
  std::vector<bool> drop(n, false);
  if (n == 0) return code;
  in[0] = kUnknown;
  auto flow = [&](std::size_t to, std::int64_t a) {
    if (to >= n) return;
    in[to] = in[to] == kUnset || in[to] == a ? a : kUnknown;
  };
  for (std::size_t pc = 0; pc < n; ++pc) {
    const sock_filter& f = code[pc];
    std::int64_t a = in[pc] == kUnset ? kUnknown : in[pc];  // unreachable: assume nothing
    if (f.code == (BPF_LD | BPF_W | BPF_ABS)) {
      drop[pc] = a == static_cast<std::int64_t>(f.k);
      a = f.k;
    } else if (f.code == (BPF_ALU | BPF_AND | BPF_K) && f.k == 0xffffffffu) {
      drop[pc] = true;
    } else if (BPF_CLASS(f.code) == BPF_JMP) {
      if (BPF_OP(f.code) == BPF_JA) {
        flow(pc + 1 + f.k, a);
      } else {
        flow(pc + 1 + f.jt, a);
        flow(pc + 1 + f.jf, a);
      }
      continue;
    } else if (BPF_CLASS(f.code) == BPF_RET) {
      continue;
    } else {
      a = kUnknown;  // anything else may change A
    }
    flow(pc + 1, a);
  }
  // Where each old instruction lands: a dropped one at the next kept one.
  std::vector<std::size_t> at(n + 1);
  at[n] = n - static_cast<std::size_t>(std::count(drop.begin(), drop.end(), true));
  for (std::size_t pc = n; pc-- > 0;) at[pc] = drop[pc] ? at[pc + 1] : at[pc + 1] - 1;
  std::vector<sock_filter> out;
  out.reserve(at[n]);
  for (std::size_t pc = 0; pc < n; ++pc) {
    if (drop[pc]) continue;
    sock_filter f = code[pc];
    if (BPF_CLASS(f.code) == BPF_JMP) {
      const std::size_t self = at[pc];
      if (BPF_OP(f.code) == BPF_JA) {
        f.k = static_cast<std::uint32_t>(at[pc + 1 + f.k] - self - 1);
      } else {
        f.jt = static_cast<std::uint8_t>(at[pc + 1 + f.jt] - self - 1);
        f.jf = static_cast<std::uint8_t>(at[pc + 1 + f.jf] - self - 1);
      }
    }
    out.push_back(f);
  }
  return out;
}

// The program of `s`: libseccomp's dispatch with the argument checks appended.
std::vector<sock_filter> build_code(const Spec& s) {
  const Compiled compiled = compile(s);
  const std::string bytes =
      export_to_string(seccomp_export_bpf, compiled.filter.get(), "seccomp_export_bpf");
  if (bytes.size() % sizeof(sock_filter) != 0)
    throw BuildError("libseccomp: seccomp_export_bpf wrote a partial instruction");
  std::vector<sock_filter> code(bytes.size() / sizeof(sock_filter));
  std::memcpy(code.data(), bytes.data(), bytes.size());
  // Append the argument checks, and turn each placeholder return into a jump to its check.
  const std::size_t dispatch_size = code.size();
  std::vector<std::size_t> starts;
  for (const Check& c : compiled.checks) {
    starts.push_back(code.size());
    const std::vector<sock_filter> more = detail::argument_checks(c.rules, c.otherwise, c.arch);
    code.insert(code.end(), more.begin(), more.end());
  }
  for (std::size_t pc = 0; pc < dispatch_size; ++pc) {
    sock_filter& f = code[pc];
    const std::uint32_t tag = f.k & SECCOMP_RET_DATA;
    if (f.code != (BPF_RET | BPF_K) || (f.k & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_TRACE ||
        tag < kReservedTagBase || tag - kReservedTagBase >= starts.size())
      continue;
    f = {BPF_JMP | BPF_JA, 0, 0,
         static_cast<std::uint32_t>(starts[tag - kReservedTagBase] - pc - 1)};
  }
  code = drop_redundant(code);
  if (code.size() > BPF_MAXINSNS)
    throw BuildError(fmt::format("the filter has {} instructions, more than the kernel's {}",
                                 code.size(), BPF_MAXINSNS));
  return code;
}

}  // namespace

// ---- Action, ArgCondition ----

std::string Action::to_string() const {
  switch (kind) {
    case Kind::kAllow:
      return "allow";
    case Kind::kTrace:
      switch (data) {
        case kTagDefault:
          return "trace(default)";
        case kTagViolation:
          return "trace(violation)";
        case kTagBadArch:
          return "trace(bad_arch)";
        default:
          return fmt::format("trace({})", data);
      }
    case Kind::kErrno:
      return fmt::format("errno({})", errno_name(data));
    case Kind::kKillProcess:
      return "kill_process";
    case Kind::kKillThread:
      return "kill_thread";
    case Kind::kLog:
      return "log";
    case Kind::kNotify:
      return "notify";
  }
  return "unknown";
}

std::uint32_t Action::to_ret() const {
  switch (kind) {
    case Kind::kAllow:
      return SECCOMP_RET_ALLOW;
    case Kind::kTrace:
      return SECCOMP_RET_TRACE | data;
    case Kind::kErrno:
      return SECCOMP_RET_ERRNO | data;
    case Kind::kKillProcess:
      return SECCOMP_RET_KILL_PROCESS;
    case Kind::kKillThread:
      return SECCOMP_RET_KILL_THREAD;
    case Kind::kLog:
      return SECCOMP_RET_LOG;
    case Kind::kNotify:
      return SECCOMP_RET_USER_NOTIF;
  }
  return SECCOMP_RET_KILL_PROCESS;
}

// ---- Builder ----

struct Builder::State : Spec {};

Builder::Builder() : state_(std::make_unique<State>()) {}
Builder::~Builder() = default;
Builder::Builder(Builder&&) noexcept = default;
Builder& Builder::operator=(Builder&&) noexcept = default;

namespace {
// Why `a` cannot be used, or "": errno values the kernel cannot return, and trace tags at or
// above kReservedTagBase other than the library's own (the tracer and build() would misread them).
std::string check_action(const Action& a) {
  // The kernel caps errno values at MAX_ERRNO; libseccomp refuses them.
  constexpr std::uint16_t kMaxErrno = 4095;
  if (a.kind == Action::Kind::kErrno && a.data >= kMaxErrno)
    return fmt::format("errno {} is out of range (0..{})", a.data, kMaxErrno - 1);
  if (a.kind != Action::Kind::kTrace || a.data < kReservedTagBase || a.data == kTagDefault ||
      a.data == kTagViolation || a.data == kTagBadArch)
    return {};
  return fmt::format("trace tag {:#x} is reserved (user tags are below {:#x})", a.data,
                     kReservedTagBase);
}
}  // namespace

Builder& Builder::default_action(Action action) {
  if (state_->error.empty()) state_->error = check_action(action);
  state_->default_action = action;
  return *this;
}

Builder& Builder::add(std::string_view syscall, Action action,
                      std::vector<ArgCondition> conditions) {
  if (!state_->error.empty()) return *this;
  std::string error = check_action(action);
  for (const ArgCondition& c : conditions)
    if (c.arg > 5 && error.empty())
      error = fmt::format("argument index {} is out of range (0..5)", c.arg);
  if (!error.empty()) {
    state_->error = fmt::format("rule for '{}': {}", syscall, error);
    return *this;
  }
  state_->rules.push_back({std::string(syscall), action, std::move(conditions)});
  return *this;
}

Builder& Builder::enforce_compat_abis(bool enforce) {
  state_->compat = enforce;
  return *this;
}

Builder& Builder::bad_arch_action(Action action) {
  if (state_->error.empty()) state_->error = check_action(action);
  state_->bad_arch_action = action;
  return *this;
}

Builder& Builder::for_tracer(bool enabled) {
  state_->tracer = enabled;
  return *this;
}

Builder& Builder::allow_new_namespaces(bool allow) {
  state_->tracer_namespaces = allow;
  return *this;
}

Builder& Builder::cache_dir(std::string dir) {
  state_->cache_dir = std::move(dir);
  return *this;
}

Program Builder::build() const {
  const Spec& s = *state_;
  Program program;
  const auto notify = [](const Action& a) { return a.kind == Action::Kind::kNotify; };
  program.uses_notify =
      notify(s.default_action) || notify(s.bad_arch_action) ||
      std::any_of(s.rules.begin(), s.rules.end(), [&](const Rule& r) { return notify(r.action); });
  std::string key;
  if (!s.cache_dir.empty() && s.error.empty())
    key = detail::cache_key(s.default_action, s.bad_arch_action, s.compat,
                            s.tracer ? (s.tracer_namespaces ? 2 : 1) : 0, s.rules);
  if (!key.empty()) {
    if (auto cached = detail::cache_load(s.cache_dir, key)) {
      program.instructions = std::move(*cached);
      return program;
    }
  }
  program.instructions = build_code(s);
  if (!key.empty()) detail::cache_store(s.cache_dir, key, program.instructions);
  return program;
}

std::string Builder::to_pfc() const {
  const Compiled compiled = compile(*state_);
  std::string text =
      export_to_string(seccomp_export_pfc, compiled.filter.get(), "seccomp_export_pfc");
  if (compiled.checks.empty()) return text;
  text += "#\n# argument checks (tracebox's BPF), run where the code above says TRACE(n):\n";
  for (std::size_t i = 0; i < compiled.checks.size(); ++i) {
    const Check& c = compiled.checks[i];
    text += fmt::format("# TRACE({}): syscall \"{}\" on {}, the first rule that holds\n",
                        kReservedTagBase + i, c.syscall, arch_name(c.arch));
    for (const Rule& r : c.rules) text += "#   " + describe(r) + "\n";
    text += "#   otherwise " + c.otherwise.to_string() + "\n";
  }
  return text;
}

// ---- Violations ----

std::string violation_reason(std::string_view syscall, std::uint32_t arch,
                             const std::array<std::uint64_t, 6>& args) {
  const bool is_clone = syscall == "clone";
  if (is_clone || syscall == "unshare") {
    const std::uint64_t flags = args[is_clone ? clone_flags_arg(arch) : 0] &
                                (is_clone ? kRefusedClone : kRefusedUnshare) & kMax32;
    std::string names;
    for (const RefusedFlag& f : kRefusedCloneFlags)
      if ((flags & f.flag) != 0) names += (names.empty() ? "" : "|") + std::string(f.name);
    if (!names.empty()) {
      const char* why = (flags & CLONE_UNTRACED) != 0 ? "would escape the tracer"
                        : (flags & CLONE_PARENT) != 0
                            ? "would give the child its caller's parent (the tracer, for the "
                              "main process)"
                            : "would create namespaces the tracer does not see into";
      return fmt::format("{} with {} {}", syscall, names, why);
    }
  }
  return fmt::format("{} is forbidden by the policy", syscall);
}

// ---- Names and numbers ----

std::string syscall_name(std::uint32_t arch, long nr) {
  if (nr < 0 || nr > INT32_MAX) return {};
  char* name = seccomp_syscall_resolve_num_arch(token_for(arch, nr), static_cast<int>(nr));
  if (name == nullptr) return {};
  std::string out(name);
  std::free(name);
  return out;
}

long syscall_number(std::uint32_t arch, std::string_view name) {
  const std::string n(name);
  const int nr = seccomp_syscall_resolve_name_arch(arch, n.c_str());
  if (nr >= 0) return nr;
  if (!multiplexed(nr)) return -1;
  // libseccomp names the multiplexed call; the direct syscall (i386 socket = 359) is found by
  // resolving numbers back to names.
  for (int candidate = 0; candidate < 1024; ++candidate)
    if (syscall_name(arch, candidate) == n) return candidate;
  return -1;
}

std::uint32_t native_arch() {
  const std::uint32_t token = seccomp_arch_native();
  return token == kArchX32 ? AUDIT_ARCH_X86_64 : token;
}

std::string arch_name(std::uint32_t arch, long nr) {
  const std::uint32_t token = token_for(arch, nr);
  for (const char* name : kArchNames)
    if (seccomp_arch_resolve_name(name) == token)
      return std::string_view(name) == "x86" ? "i386" : name;
  return fmt::format("arch {:#010x}", arch);
}

}  // namespace tracebox::seccomp
