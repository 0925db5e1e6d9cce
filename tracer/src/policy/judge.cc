#include "tracebox/tracer/policy/judge.h"

#include "tracebox/tracer/policy/exec.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/stat.h>

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
Decision check_exec_target(Context& ctx, const PathSyscall& syscall, const JudgePolicy& judge,
                           const Resolved& target, const std::string& as_given) {
  ExecVerdict v =
      check_exec(ctx.pid(), ctx.tgid(), target, as_given, judge.files, judge.enforce_compat_abis);
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
  const FileSets& files = judge_.files;
  // Each operand's file and its name as given (exec: binfmt_misc matches by it), for the checks
  // that look at several operands (link, rename) or at the file's contents (exec).
  std::vector<Resolved> resolved;
  std::vector<std::string> given;
  std::uint64_t open_flags = 0;
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
    Resolved r;
    if (fd_itself) {
      // Stat-like calls on an open fd are fstat: whatever the fd is, the program has it.
      if (access == Access::kStat) {
        resolved.emplace_back();
        given.emplace_back();
        continue;
      }
      r = resolve_fd(ctx.pid(), ctx.tgid(), dirfd);
      if (r.error != 0) return Decision::deny(r.error);
      if (r.not_a_file) {
        ctx.set_path(r.path);
        return Decision::kill(fmt::format(
            "{} of fd {} ({}) is not allowed: it is no file the policy can grant {}", syscall.name,
            dirfd == AT_FDCWD ? "AT_FDCWD" : std::to_string(dirfd), r.path, to_string(access)));
      }
      path = dirfd == AT_FDCWD ? "." : "/dev/fd/" + std::to_string(dirfd);
    } else {
      r = resolve(ctx.pid(), ctx.tgid(), dirfd, path, follow);
      if (r.error != 0) return Decision::deny(r.error);
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
    if (!permitted(files, access, r.path, ctx.pid())) {
      if (files.soft_banned.contains(r.path)) {
        outcome = Decision::deny(EACCES);
        continue;
      }
      ctx.set_path(r.path);
      return Decision::kill(
          fmt::format("{} of {} ({}) is not allowed", syscall.name, r.path, to_string(access)));
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
      return check_exec_target(ctx, syscall, judge_, resolved.at(0), given.at(0));
    default:
      return outcome;
  }
}

}  // namespace tracebox::tracer::policy
