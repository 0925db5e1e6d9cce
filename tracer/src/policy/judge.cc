#include "tracebox/tracer/policy/judge.h"

#include "tracebox/tracer/policy/exec.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/stat.h>

#include <linux/audit.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace tracebox::tracer::policy {
namespace {

Access open_access(std::uint64_t flags) {
  if ((flags & O_ACCMODE) != O_RDONLY) return Access::kWrite;
  if ((flags & (O_CREAT | O_TRUNC)) != 0) return Access::kWrite;
  return Access::kRead;  // O_PATH too: such an fd can still be fexecve'd or fstat'ed
}

bool is_signal_syscall(std::string_view name) {
  return name == "kill" || name == "tkill" || name == "tgkill" || name == "rt_sigqueueinfo" ||
         name == "rt_tgsigqueueinfo";
}

bool open_follows(std::uint64_t flags) {
  if ((flags & O_NOFOLLOW) != 0) return false;
  return !((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0);
}

// Whether the sets allow `access` to `path`, which the calling thread `tid` may also name
// /proc/thread-self/...: resolve() names it /proc/self/task/<tid>/..., and a policy (runprog
// -add-readable /proc/thread-self/...) may grant it by either name.
bool permitted(const FileSets& files, Access access, const std::string& path, pid_t tid) {
  if (files.allows(access, path)) return true;
  const std::string task = "/proc/self/task/" + std::to_string(tid);
  if (path != task && !path.starts_with(task + "/")) return false;
  return files.allows(access, "/proc/thread-self" + path.substr(task.size()));
}

bool is_directory(const std::string& host) {
  struct stat st {};
  return ::lstat(host.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// link and rename give a file a new name: the new name may not grant what the old one did not
// (a read-only file hard-linked or moved into a writable directory would become writable). With
// RENAME_EXCHANGE each file takes the other's name.
Decision check_new_name(Context& ctx, const PathSyscall& syscall, const FileSets& files,
                        const std::vector<Resolved>& names) {
  const Resolved& from = names.at(0);
  const Resolved& to = names.at(1);
  const bool exchange =
      syscall.kind == PathSyscall::Kind::kRename && syscall.open_flags_arg >= 0 &&
      (ctx.arg(static_cast<unsigned>(syscall.open_flags_arg)) & RENAME_EXCHANGE) != 0;
  auto refuse = [&](const Resolved& a, const Resolved& b, Access gained) {
    ctx.set_path(a.path);
    return Decision::kill(
        fmt::format("{} of {} to {} is not allowed: {} grants {}, which {} does not", syscall.name,
                    a.path, b.path, b.path, to_string(gained), a.path));
  };
  if (auto gained = files.gained(from.path, to.path, is_directory(from.host)))
    return refuse(from, to, *gained);
  if (exchange) {
    if (auto gained = files.gained(to.path, from.path, is_directory(to.host)))
      return refuse(to, from, *gained);
  }
  return Decision::allow();
}

// What the kernel will run (see exec.h).
Decision check_exec_target(Context& ctx, const PathSyscall& syscall, const FileSets& files,
                           bool enforce_compat_abis, const Resolved& target,
                           const std::string& as_given) {
  ExecVerdict v = check_exec(ctx.pid(), ctx.tgid(), target, as_given, files, enforce_compat_abis);
  switch (v.kind) {
    case ExecVerdict::Kind::kAllow:
      return Decision::allow();
    case ExecVerdict::Kind::kDeny:
      return Decision::deny(v.error);
    case ExecVerdict::Kind::kViolation:
      break;
  }
  ctx.set_path(v.path);
  return Decision::kill(fmt::format("{} of {}: {}", syscall.name, target.path, v.reason));
}

// Whether `pid` names the stopped thread or its process, as the tracer numbers them or as the
// program does (the innermost numbers of NSpid/NStgid, when the run has a PID namespace).
bool is_caller(const Context& ctx, pid_t pid) {
  if (pid <= 0) return false;
  if (pid == ctx.pid() || pid == ctx.tgid()) return true;
  std::ifstream status("/proc/" + std::to_string(ctx.pid()) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (!line.starts_with("NSpid:") && !line.starts_with("NStgid:")) continue;
    const auto last = line.find_last_of(" \t");
    if (last != std::string::npos && line.substr(last + 1) == std::to_string(pid)) return true;
  }
  return false;
}

// The hard limit of `resource` from /proc/<tid>/limits: a header, then one line per resource in
// the kernel's order, "<name padded to 26> <soft> <hard> [units]", "unlimited" for infinity.
bool hard_limit_from_proc(pid_t tid, std::uint32_t resource, std::uint64_t& hard) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/limits");
  std::string line;
  for (std::uint32_t i = 0; i <= resource + 1; ++i)
    if (!std::getline(in, line)) return false;
  if (line.size() <= 26) return false;
  std::istringstream fields(line.substr(26));
  std::string soft, max;
  if (!(fields >> soft >> max)) return false;
  if (max == "unlimited") {
    hard = RLIM64_INFINITY;
    return true;
  }
  char* end = nullptr;
  hard = std::strtoull(max.c_str(), &end, 10);
  return end != nullptr && *end == '\0';
}

// Allows `name` (with `allowed`) in the modes its argument rules allow.
void add_allowed(Policy& p, const std::string& name, const seccomp::Action& allowed) {
  if (std::string_view why = never_allowed(name); !why.empty())
    throw ConfigError(fmt::format("syscall \"{}\" cannot be allowed: {}", name, why));
  std::vector<Rule> rules = argument_rules(name, allowed);
  if (rules.empty()) rules.push_back({name, allowed, {}});
  p.rules.insert(p.rules.end(), rules.begin(), rules.end());
}

}  // namespace

Policy make_policy(const JudgePolicy& judge, Counting counting) {
  Policy p;
  if (judge.unknown_errno > 0) {
    if (judge.unknown_errno >= 4096)
      throw ConfigError(fmt::format("unknown_errno {} is not an errno", judge.unknown_errno));
    p.default_action =
        counting == Counting::kAll
            ? seccomp::Action::trace(kTagUnknown)
            : seccomp::Action::error(static_cast<std::uint16_t>(judge.unknown_errno));
  }
  p.enforce_compat_abis = judge.enforce_compat_abis;
  p.unknown_hint = judge.unknown_hint;
  p.hints = judge.hints;
  std::set<std::string> seen;
  auto once = [&](const std::string& name) {
    if (!seen.insert(name).second)
      throw ConfigError("syscall \"" + name + "\" is listed more than once in the policy");
  };
  for (const auto& name : judge.allow) {
    once(name);
    if (find_path_syscall(name) != nullptr) {
      p.trace(name, kTagPath);
    } else if (is_signal_syscall(name)) {
      p.trace(name, kTagSignal);
    } else if (takes_path(name)) {
      throw ConfigError("syscall \"" + name +
                        "\" takes a path that the file policy does not check; allowing it would "
                        "bypass the file sets (deny it instead)");
    } else {
      add_allowed(p, name, seccomp::Action::allow());
    }
  }
  for (const auto& [name, err] : judge.deny) {
    once(name);
    p.deny(name, err);
  }
  for (const auto& [name, n] : judge.budgets) {
    once(name);
    if (takes_path(name))
      throw ConfigError("syscall \"" + name + "\" takes a path: it cannot have a budget");
    add_allowed(p, name, seccomp::Action::trace(kTagBudget));
  }
  return p;
}

JudgeHandler::JudgeHandler(std::shared_ptr<const JudgePolicy> judge,
                           std::shared_ptr<const FileSets> files)
    : judge_(std::move(judge)),
      files_(files ? std::move(files) : std::shared_ptr<const FileSets>(judge_, &judge_->files)),
      paths_(*files_) {}

Decision JudgeHandler::on_syscall(Context& ctx) {
  const std::string name(ctx.syscall_name());
  switch (ctx.tag()) {
    case kTagUnknown:
      if (judge_->unknown_errno > 0) return Decision::deny(judge_->unknown_errno);
      break;
    case kTagBudget:
      return count(name);
    case kTagPath:
      if (const PathSyscall* s = find_path_syscall(name)) return check_paths(ctx, *s);
      break;
    case kTagSignal:
      if (is_signal_syscall(name)) return check_signal(ctx);
      break;
    case kTagArgument: {
      std::array<std::uint64_t, 6> args{};
      for (unsigned i = 0; i < args.size(); ++i) args[i] = ctx.arg(i);
      ArgumentVerdict v = decide_arguments(name, args);
      if (v.kind == ArgumentVerdict::Kind::kViolation) return Decision::kill(std::move(v.reason));
      // The filter refused what the table allows: an ABI whose arguments BPF cannot see (x32)
      // gets the strictest of the syscall's rules.
      return Decision::kill(
          fmt::format("{}: its arguments cannot be checked on the {} ABI", name, ctx.arch_name()));
    }
    case kTagSelf:
      return check_self(ctx);
    case kTagLimit:
      if (Decision d = check_limit(ctx); d.kind != Decision::Kind::kAllow) return d;
      return count(name);
    case kTagMessage:
      if (Decision d = check_message(ctx); d.kind != Decision::Kind::kAllow) return d;
      return count(name);
    default:
      break;
  }
  return Decision::kill(
      fmt::format("{} is traced with tag {:#x}, which the judge does not know", name, ctx.tag()));
}

Decision JudgeHandler::count(const std::string& name) {
  auto it = judge_->budgets.find(name);
  if (it == judge_->budgets.end()) return Decision::allow();  // allowed, not budgeted
  const std::uint64_t used = ++used_[name];
  if (used > it->second)
    return Decision::kill(
        fmt::format("{} is allowed {} time(s); this was call {}", name, it->second, used));
  return Decision::allow();
}

Decision JudgeHandler::check_self(Context& ctx) {
  const std::string name(ctx.syscall_name());
  std::array<std::uint64_t, 6> args{};
  for (unsigned i = 0; i < args.size(); ++i) args[i] = ctx.arg(i);
  ArgumentVerdict v = decide_arguments(name, args);
  if (v.kind != ArgumentVerdict::Kind::kCheck || v.tag != kTagSelf)
    return Decision::kill(
        fmt::format("{}: its arguments cannot be checked on the {} ABI", name, ctx.arch_name()));
  // pid_t: the kernel reads the low 32 bits.
  const auto pid = static_cast<pid_t>(static_cast<std::int32_t>(args[v.pid_arg]));
  if (!is_caller(ctx, pid)) return Decision::kill(std::move(v.reason));
  // The caller itself: decided as pid 0 is.
  args[v.pid_arg] = 0;
  ArgumentVerdict own = decide_arguments(name, args);
  switch (own.kind) {
    case ArgumentVerdict::Kind::kAllow:
      return count(name);
    case ArgumentVerdict::Kind::kErrno:
      return Decision::deny(own.error);
    case ArgumentVerdict::Kind::kViolation:
      return Decision::kill(std::move(own.reason));
    case ArgumentVerdict::Kind::kCheck:
      break;
  }
  return Decision::kill(fmt::format("{} of its own pid needs a check the judge cannot make", name));
}

Decision JudgeHandler::check_limit(Context& ctx) {
  const std::string_view name = ctx.syscall_name();
  const bool prlimit = name == "prlimit64";
  // The resource is an int; prlimit64's pid is 0 here (the filter refuses others).
  const auto resource = static_cast<std::uint32_t>(ctx.arg(prlimit ? 1 : 0));
  const std::uint64_t addr = ctx.arg(prlimit ? 2 : 1);
  std::uint64_t want_max = 0;
  if (prlimit || (ctx.arch() & __AUDIT_ARCH_64BIT) != 0) {
    std::array<std::uint64_t, 2> l{};  // struct rlimit64 {cur, max}
    if (int err = ctx.read(addr, std::as_writable_bytes(std::span(l))); err != 0)
      return Decision::deny(err);
    want_max = l[1];
  } else {
    std::array<std::uint32_t, 2> l{};  // a 32-bit ABI's struct rlimit; ~0 is infinity
    if (int err = ctx.read(addr, std::as_writable_bytes(std::span(l))); err != 0)
      return Decision::deny(err);
    want_max = l[1] == ~std::uint32_t{0} ? RLIM64_INFINITY : l[1];
  }
  // The current limits of the caller's process, as the kernel will compare them.
  std::array<std::uint64_t, 2> now{};
  if (::syscall(SYS_prlimit64, ctx.pid(), resource, nullptr, now.data()) != 0) {
    const int err = errno;  // EINVAL for an unknown resource, as the call would get
    // A tracee with other credentials (a user namespace of its own) refuses prlimit64 to the
    // tracer; its /proc/<pid>/limits is readable by anyone.
    if (err != EPERM || !hard_limit_from_proc(ctx.pid(), resource, now[1]))
      return Decision::deny(err);
  }
  // Raising a hard limit needs CAP_SYS_RESOURCE: a program that has it (run as root without
  // dropping capabilities) would lift the limits the run is given. EPERM is what an
  // unprivileged caller gets from the kernel.
  if (want_max > now[1]) return Decision::deny(EPERM);
  return Decision::allow();
}

Decision JudgeHandler::check_message(Context& ctx) {
  const std::string_view name = ctx.syscall_name();
  // struct msghdr starts with msg_name; struct mmsghdr is a msghdr and an unsigned int. A
  // 32-bit ABI's pointers and sizes are 32-bit (compat_msghdr, 28 bytes).
  const bool wide = (ctx.arch() & __AUDIT_ARCH_64BIT) != 0;
  const std::size_t pointer = wide ? 8 : 4;
  const std::size_t stride = wide ? sizeof(mmsghdr) : 32;
  std::size_t count = 1;
  if (name == "sendmmsg")
    count = std::min<std::uint64_t>(static_cast<std::uint32_t>(ctx.arg(2)),
                                    UIO_MAXIOV);  // the kernel's cap
  if (count == 0) return Decision::allow();
  std::vector<std::byte> headers((count - 1) * stride + pointer);
  if (int err = ctx.read(ctx.arg(1), headers); err != 0) return Decision::deny(err);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t msg_name = 0;
    std::memcpy(&msg_name, headers.data() + i * stride, pointer);  // little- or zero-extended
    if (msg_name == 0) continue;
    return Decision::kill(
        count == 1 && name == "sendmsg"
            ? fmt::format("{} with a destination address (msg_name) would reach a socket by its "
                          "name",
                          name)
            : fmt::format("{} with a destination address (msg_name of message {}) would reach a "
                          "socket by its name",
                          name, i));
  }
  return Decision::allow();
}

Decision JudgeHandler::check_signal(Context& ctx) {
  const std::string_view name = ctx.syscall_name();
  // The target is a pid_t (an int): the kernel reads the low 32 bits.
  const auto target = static_cast<pid_t>(static_cast<std::int32_t>(ctx.arg(0)));
  bool ok;
  if (name == "kill" || name == "rt_sigqueueinfo") {
    // kill(0) is the caller's own group (the run has a session of its own); kill(-1) is every
    // process the caller may signal: never.
    ok = target == 0 || (target > 0 && ctx.in_run(target)) ||
         (target < -1 && ctx.group_in_run(-target));
  } else {
    ok = target > 0 && ctx.in_run(target);  // tkill(tid), tgkill(tgid, ...), rt_tgsigqueueinfo
  }
  if (ok) return Decision::allow();
  return Decision::kill(
      fmt::format("{} of pid {}, which is not a process of this run", name, target));
}

Decision JudgeHandler::check_paths(Context& ctx, const PathSyscall& syscall) {
  Decision outcome = Decision::allow();
  const FileSets& files = *files_;
  // Each operand's file and its name as given (exec: binfmt_misc matches by it), for the checks
  // that look at several operands (link, rename) or at the file's contents (exec).
  std::vector<Resolved> resolved;
  std::vector<std::string> given;
  resolved.reserve(syscall.operands.size());
  given.reserve(syscall.operands.size());
  std::uint64_t open_flags = 0;
  // The program's first exec runs the file the caller chose (perhaps a sealed copy in a memfd,
  // which has no name): not a question for the file sets. What the kernel makes of it (its
  // interpreters, its ABI) still is.
  const bool callers_choice = syscall.kind == PathSyscall::Kind::kExec && ctx.first_exec();
  for (const PathOperand& op : syscall.operands) {
    const auto flags =
        op.flags_arg >= 0 ? static_cast<int>(ctx.arg(static_cast<unsigned>(op.flags_arg))) : 0;
    const int dirfd = op.dirfd_arg >= 0 ? static_cast<int>(static_cast<std::int32_t>(
                                              ctx.arg(static_cast<unsigned>(op.dirfd_arg))))
                                        : AT_FDCWD;
    // "The fd itself": fchmod(fd), utimensat(fd, NULL), and "" or NULL with AT_EMPTY_PATH
    // (fstat is newfstatat(fd, "", AT_EMPTY_PATH); fchownat, fchmodat2, linkat and execveat take
    // it too). It is checked by the name of the file the fd refers to.
    bool fd_itself = op.path_arg < 0;
    std::string path;
    if (!fd_itself) {
      const std::uint64_t addr = ctx.arg(static_cast<unsigned>(op.path_arg));
      const bool empty_path = op.flags_arg >= 0 && (flags & AT_EMPTY_PATH) != 0;
      if (addr == 0 && (op.null_ok || empty_path)) {
        fd_itself = true;
      } else {
        StringRead read = ctx.read_string(addr);
        if (read.error != 0) return Decision::deny(read.error);  // EFAULT, ENAMETOOLONG
        if (read.value.empty() && !empty_path && !op.empty_ok) return Decision::deny(ENOENT);
        fd_itself = read.value.empty();
        path = std::move(read.value);
      }
    }
    Access access = op.access;
    bool follow = op.follow;
    if (op.flags_arg >= 0) {
      follow = op.at_follow ? (flags & AT_SYMLINK_FOLLOW) != 0
                            : follow && (flags & AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (syscall.kind == PathSyscall::Kind::kOpen) {
      open_flags = syscall.open_flags_arg >= 0
                       ? ctx.arg(static_cast<unsigned>(syscall.open_flags_arg))
                       : static_cast<std::uint64_t>(O_CREAT | O_WRONLY | O_TRUNC);
      access = open_access(open_flags);
      follow = open_follows(open_flags);
    } else if (syscall.kind == PathSyscall::Kind::kOpenat2) {
      // The whole open_how, as the kernel copies it: flags, mode, resolve.
      open_how how{};
      if (ctx.arg(3) < sizeof how) return Decision::deny(EINVAL);
      if (int err = ctx.read(ctx.arg(2), std::as_writable_bytes(std::span(&how, 1))); err != 0)
        return Decision::deny(err);
      if ((how.resolve & RESOLVE_IN_ROOT) != 0) {
        // Resolution relative to dirfd as a root is not what the checker walks: refuse.
        return Decision::deny(EPERM);
      }
      open_flags = how.flags;
      access = open_access(how.flags);
      follow = open_follows(how.flags);
    }
    // A syscall that writes or changes names may change what a path leads to: nothing
    // remembered stays (PathCache). After a chroot, the program's root is not the tracer's.
    if (access == Access::kWrite || access == Access::kName) paths_.clear();
    if (syscall.name == "chroot") paths_.disable();
    Resolved r;
    PathCache::Entry* cached = nullptr;
    if (fd_itself) {
      // Stat-like calls on an open fd are fstat: whatever the fd is, the program has it.
      if (access == Access::kStat) {
        resolved.emplace_back();
        given.emplace_back();
        continue;
      }
      r = resolve_fd(ctx.pid(), ctx.tgid(), dirfd);
      if (r.error != 0) return Decision::deny(r.error);
      if (r.not_a_file && callers_choice) {
        r.host = "/proc/" + std::to_string(ctx.pid()) + "/fd/" + std::to_string(dirfd);
        r.not_a_file = false;
      }
      if (r.not_a_file) {
        ctx.set_path(r.path);
        return Decision::kill(fmt::format(
            "{} of fd {} ({}) is not allowed: it is no file the policy can grant {}", syscall.name,
            dirfd == AT_FDCWD ? "AT_FDCWD" : std::to_string(dirfd), r.path, to_string(access)));
      }
      path = dirfd == AT_FDCWD ? "." : "/dev/fd/" + std::to_string(dirfd);
    } else {
      // An absolute path the run named before, through directories that cannot change, needs
      // no walk; one walked through such directories only is remembered (PathCache).
      r = resolve(ctx.pid(), ctx.tgid(), dirfd, path, follow, &paths_);
      // Past a directory the program may not search, the sets decide as if the path existed
      // (then EACCES, the kernel's answer): a violation tells nothing of what is there.
      if (r.error != 0 && !r.unreachable) return Decision::deny(r.error);
      cached = paths_.last();
      if (r.fd >= 0) {
        // /dev/stdin, /dev/fd/N, /proc/self/fd/N: an open may reopen the fd within its own mode;
        // nothing else goes through /proc/self/fd.
        const bool opens =
            syscall.kind == PathSyscall::Kind::kOpen || syscall.kind == PathSyscall::Kind::kOpenat2;
        const int err = opens ? fd_reopen_error(r, open_flags, files) : EACCES;
        if (err != 0) outcome = Decision::deny(err);
        resolved.push_back(std::move(r));
        given.push_back(std::move(path));
        continue;
      }
      if (r.proc_refused) {
        outcome = Decision::deny(EACCES);
        continue;
      }
    }
    // The sets' answer for a remembered path is remembered with it.
    const auto a = static_cast<std::size_t>(access);
    bool allowed;
    if (cached != nullptr && cached->allowed[a] >= 0) {
      allowed = cached->allowed[a] != 0;
    } else {
      allowed = permitted(files, access, r.path, ctx.pid());
      if (cached != nullptr) cached->allowed[a] = allowed ? 1 : 0;
    }
    if (!callers_choice && !allowed) {
      if (files.soft_banned.contains(r.path)) {
        outcome = Decision::deny(EACCES);
        continue;
      }
      ctx.set_path(r.path);
      return Decision::kill(
          fmt::format("{} of {} ({}) is not allowed", syscall.name, r.path, to_string(access)));
    }
    if (r.unreachable) {
      outcome = Decision::deny(EACCES);
      continue;
    }
    resolved.push_back(std::move(r));
    given.push_back(std::move(path));
  }
  if (outcome.kind != Decision::Kind::kAllow) return outcome;
  switch (syscall.kind) {
    case PathSyscall::Kind::kLink:
    case PathSyscall::Kind::kRename:
      return check_new_name(ctx, syscall, files, resolved);
    case PathSyscall::Kind::kExec:
      return check_exec_target(ctx, syscall, files, judge_->enforce_compat_abis, resolved.at(0),
                               given.at(0));
    default:
      return outcome;
  }
}

}  // namespace tracebox::tracer::policy
