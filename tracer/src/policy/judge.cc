#include "tracebox/tracer/policy/judge.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>

#include <cerrno>
#include <set>

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

}  // namespace

Policy make_policy(const JudgePolicy& judge) {
  Policy p;
  p.enforce_compat_abis = judge.enforce_compat_abis;
  p.unknown_hint = judge.unknown_hint;
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
      p.allow(name);
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
    p.trace(name, kTagBudget);
  }
  return p;
}

Decision JudgeHandler::on_syscall(Context& ctx) {
  const std::string name(ctx.syscall_name());
  if (ctx.tag() == kTagBudget) {
    auto it = judge_.budgets.find(name);
    const std::uint64_t used = ++used_[name];
    if (it == judge_.budgets.end() || used > it->second) {
      return Decision::kill(fmt::format("{} is allowed {} time(s); this was call {}", name,
                                        it == judge_.budgets.end() ? 0 : it->second, used));
    }
    return Decision::allow();
  }
  if (ctx.tag() == kTagPath) {
    if (const PathSyscall* s = find_path_syscall(name)) return check_paths(ctx, *s);
  }
  if (ctx.tag() == kTagSignal && is_signal_syscall(name)) return check_signal(ctx);
  return Decision::kill(
      fmt::format("{} is traced with tag {:#x}, which the judge does not know", name, ctx.tag()));
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
  for (const PathOperand& op : syscall.operands) {
    const std::uint64_t addr = ctx.arg(static_cast<unsigned>(op.path_arg));
    const auto flags =
        op.flags_arg >= 0 ? static_cast<int>(ctx.arg(static_cast<unsigned>(op.flags_arg))) : 0;
    if (addr == 0 && op.null_ok) continue;  // utimensat(fd, NULL, ...): the fd itself
    StringRead path = ctx.read_string(addr);
    if (path.error != 0) return Decision::deny(path.error);  // EFAULT, ENAMETOOLONG
    if (path.value.empty()) {
      // "" with AT_EMPTY_PATH is the dirfd itself (fstat is newfstatat(fd, "")): already open.
      if (op.flags_arg >= 0 && (flags & AT_EMPTY_PATH) != 0) continue;
      return Decision::deny(ENOENT);
    }
    Access access = op.access;
    bool follow = op.follow;
    if (op.flags_arg >= 0) {
      follow = op.at_follow ? (flags & AT_SYMLINK_FOLLOW) != 0
                            : follow && (flags & AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (syscall.kind == PathSyscall::Kind::kOpen) {
      const std::uint64_t open_flags =
          syscall.open_flags_arg >= 0 ? ctx.arg(static_cast<unsigned>(syscall.open_flags_arg))
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
      access = open_access(how.flags);
      follow = open_follows(how.flags);
    }
    const int dirfd = op.dirfd_arg >= 0 ? static_cast<int>(static_cast<std::int32_t>(
                                              ctx.arg(static_cast<unsigned>(op.dirfd_arg))))
                                        : AT_FDCWD;
    Resolved r = resolve(ctx.pid(), ctx.tgid(), dirfd, path.value, follow);
    if (r.error != 0) return Decision::deny(r.error);
    if (r.proc_refused) {
      outcome = Decision::deny(EACCES);
      continue;
    }
    if (judge_.files.allows(access, r.path)) continue;
    if (judge_.files.soft_banned.contains(r.path)) {
      outcome = Decision::deny(EACCES);
      continue;
    }
    ctx.set_path(r.path);
    return Decision::kill(
        fmt::format("{} of {} ({}) is not allowed", syscall.name, r.path, to_string(access)));
  }
  return outcome;
}

}  // namespace tracebox::tracer::policy
