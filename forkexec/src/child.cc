// THE CHILD, between clone and exec.
//
// Everything in this file runs in the freshly cloned child, which may share the parent's memory
// (CLONE_VM|CLONE_VFORK) and is running on a dedicated stack. Rules for this file:
//   - raw system calls only (raw_syscall.h): no libc wrappers that set errno or take locks;
//   - no allocation, no stdio, no exceptions, no static or thread-local state;
//   - every step reports its failure with fail(location, index, errno), which writes a WireError
//     on the sync socket and exits.
// child_main() is a flat list of steps in their fixed order; the seccomp filter is the last step
// before exec, so that nothing the child itself does has to pass the filter.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cstdint>

#include "child_plan.h"
#include "raw_syscall.h"
#include "tracebox/forkexec/child_error.h"

namespace tracebox::forkexec::detail {
namespace {

using L = ErrorLocation;

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
struct MountAttr {  // struct mount_attr
  std::uint64_t attr_set;
  std::uint64_t attr_clr;
  std::uint64_t propagation;
  std::uint64_t userns_fd;
};

struct Child {
  const ChildPlan& plan;
  int sync;  // the sync socket, wherever it currently is
  // Where failures are written instead of sent: the parent's memory (vfork mode, or any mode
  // once the seccomp filter is loaded), or nullptr.
  WireError* report_to;
};

[[noreturn]] TB_CHILD_FN void exit_now(int status) {
  for (;;) raw_syscall(SYS_exit_group, status);
}

// Reports the failed step to the parent and exits. The socket may be gone (the parent closed
// it): MSG_NOSIGNAL keeps us from dying of SIGPIPE before exiting on our own terms.
[[noreturn]] TB_CHILD_FN void fail(const Child& c, L location, int index, long err) {
  WireError msg{static_cast<std::int32_t>(-err), static_cast<std::uint32_t>(location), index};
  if (err >= 0) msg.err = EINVAL;  // a short read or a bad word: still a failure
  if (c.report_to != nullptr) {
    *c.report_to = msg;
  } else {
    raw_syscall(SYS_sendto, c.sync, reinterpret_cast<long>(&msg), sizeof msg, MSG_NOSIGNAL, 0, 0);
  }
  exit_now(127);
}

struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

// Signal dispositions back to SIG_DFL. Handlers first: none of the parent's may run in a child
// that shares its memory. clone3's CLONE_CLEAR_SIGHAND already did that, so unless `all` (the
// clone fallback) only the signals of `ignored` are reset: a judged program must not inherit the
// host's SIG_IGN for SIGPIPE (ignored signals stay ignored across exec). One call per signal
// that needs it, not one per signal: each is a system call. Signals stay blocked until just
// before exec.
TB_CHILD_FN long set_default_signals(bool all, std::uint64_t ignored) {
  KernelSigaction dfl{};
  for (long sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (!all && (ignored & (std::uint64_t{1} << (sig - 1))) == 0) continue;
    long r = raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
    if (r < 0 && r != -EINVAL) return r;
  }
  return 0;
}

// Reads one parent word; a non-zero word or a short read is the failure of `location`.
TB_CHILD_FN void await_parent(const Child& c, L location) {
  std::int32_t word = 0;
  long n = raw_syscall(SYS_recvfrom, c.sync, reinterpret_cast<long>(&word), sizeof word, 0, 0, 0);
  if (n < 0) fail(c, location, 0, n);
  if (n != sizeof word) exit_now(127);  // the parent gave up on us: nothing to report
  if (word != 0) exit_now(127);         // the parent failed and knows why
}

TB_CHILD_FN void shuffle_fds(Child& c) {
  const ChildPlan& p = c.plan;
  // Pass 1: every source that is not already in place moves to a temporary fd at or above
  // high_fd, so that pass 2 cannot overwrite a source it still needs.
  int tmp[1024];  // n_files is bounded by validation
  for (int i = 0; i < p.n_files; ++i) {
    tmp[i] = p.files[i];
    if (p.files[i] < 0 || p.files[i] == i) continue;
    long r = raw_syscall(SYS_fcntl, p.files[i], F_DUPFD_CLOEXEC, p.high_fd);
    if (r < 0) fail(c, L::kDup, i, r);
    tmp[i] = static_cast<int>(r);
  }
  if (c.sync >= 0) {
    long sync_tmp = raw_syscall(SYS_fcntl, c.sync, F_DUPFD_CLOEXEC, p.high_fd);
    if (sync_tmp < 0) fail(c, L::kDup, p.n_files, sync_tmp);
    c.sync = static_cast<int>(sync_tmp);
  }
  long exec_tmp = -1;
  if (p.exec_fd >= 0) {
    exec_tmp = raw_syscall(SYS_fcntl, p.exec_fd, F_DUPFD_CLOEXEC, p.high_fd);
    if (exec_tmp < 0) fail(c, L::kDup, p.exec_fd_target, exec_tmp);
  }
  // Pass 2: place each entry; the sync socket goes right above the table, the exec fd above it.
  for (int i = 0; i < p.n_files; ++i) {
    long r;
    if (tmp[i] < 0) {
      r = raw_syscall(SYS_close, i);
      if (r == -EBADF) r = 0;
      if (r < 0) fail(c, L::kDup, i, r);
    } else if (tmp[i] == i) {
      r = raw_syscall(SYS_fcntl, i, F_SETFD, 0);
      if (r < 0) fail(c, L::kFcntl, i, r);
    } else {
      r = raw_syscall(SYS_dup3, tmp[i], i, 0);
      if (r < 0) fail(c, L::kDup, i, r);
    }
  }
  if (c.sync >= 0) {
    long r = raw_syscall(SYS_dup3, c.sync, p.n_files, O_CLOEXEC);
    if (r < 0) fail(c, L::kDup, p.n_files, r);
    c.sync = p.n_files;
  }
  if (exec_tmp >= 0) {
    long r = raw_syscall(SYS_dup3, exec_tmp, p.exec_fd_target, O_CLOEXEC);
    if (r < 0) fail(c, L::kDup, p.exec_fd_target, r);
  }
}

// Closes every fd from `from` up, including ones without close-on-exec.
TB_CHILD_FN long close_fds_from(int from) {
  long r = raw_syscall(SYS_close_range, from, ~0U, 0);
  if (r != -ENOSYS) return r;
  // Kernels before 5.9: walk /proc/self/fd with a buffer on our stack.
  long dir = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/fd"),
                         O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    for (int fd = from; fd < 65536; ++fd) raw_syscall(SYS_close, fd);
    return 0;
  }
  alignas(8) char buf[2048];
  for (;;) {
    long n = raw_syscall(SYS_getdents64, dir, reinterpret_cast<long>(buf), sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct Dirent {
        std::uint64_t ino;
        std::int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[1];
      };
      const auto* d = reinterpret_cast<const Dirent*>(buf + off);
      int fd = 0;
      bool number = d->name[0] != '\0';
      for (const char* s = d->name; *s != '\0'; ++s) {
        if (*s < '0' || *s > '9') number = false;
        fd = fd * 10 + (*s - '0');
      }
      if (number && fd >= from && fd != dir) raw_syscall(SYS_close, fd);
      off += d->reclen;
    }
  }
  raw_syscall(SYS_close, dir);
  return 0;
}

TB_CHILD_FN long make_dir(const char* path) {
  long r = raw_syscall(SYS_mkdirat, AT_FDCWD, reinterpret_cast<long>(path), 0755);
  return r == -EEXIST ? 0 : r;
}

TB_CHILD_FN void mount_all(const Child& c) {
  const ChildPlan& p = c.plan;
  for (std::size_t i = 0; i < p.n_mounts; ++i) {
    const ChildMount& m = p.mounts[i];
    const int idx = static_cast<int>(i);
    for (std::size_t k = 0; k < m.n_prefixes; ++k) {
      long r = make_dir(m.prefixes[k]);
      if (r < 0) fail(c, L::kMkdir, idx, r);
    }
    if (m.make_file) {
      long r =
          raw_syscall(SYS_mknodat, AT_FDCWD, reinterpret_cast<long>(m.target), S_IFREG | 0644, 0);
      if (r < 0 && r != -EEXIST) fail(c, L::kMkdir, idx, r);
    }
    long r = raw_syscall(SYS_mount, reinterpret_cast<long>(m.source),
                         reinterpret_cast<long>(m.target), reinterpret_cast<long>(m.fstype),
                         static_cast<long>(m.flags), reinterpret_cast<long>(m.data));
    if (r < 0) fail(c, L::kMount, idx, r);
    // Device nodes: root's, with exactly their permission bits (mknod applies the umask, and
    // after a change of credentials the node would be the new user's).
    for (std::size_t k = 0; k < m.n_nodes; ++k) {
      const ChildNode& n = m.nodes[k];
      const auto path = reinterpret_cast<long>(n.path);
      r = raw_syscall(SYS_mknodat, AT_FDCWD, path, n.mode, static_cast<long>(n.device));
      if (r >= 0) r = raw_syscall(SYS_fchownat, AT_FDCWD, path, 0, 0, AT_SYMLINK_NOFOLLOW);
      if (r >= 0) r = raw_syscall(SYS_fchmodat, AT_FDCWD, path, n.mode & 07777);
      if (r < 0) fail(c, L::kMkdir, idx, r);
    }
    if (m.remount_flags != 0) {
      r = raw_syscall(SYS_mount, 0, reinterpret_cast<long>(m.target), 0,
                      static_cast<long>(m.remount_flags), 0);
      if (r < 0) fail(c, L::kMount, idx, r);
      if ((m.flags & MS_REC) != 0 && (m.remount_flags & MS_RDONLY) != 0) {
        // A remount changes only the top mount: make every submount read-only too (5.12+;
        // older kernels leave submounts as they are).
        MountAttr attr{MOUNT_ATTR_RDONLY, 0, 0, 0};
        r = raw_syscall(SYS_mount_setattr, AT_FDCWD, reinterpret_cast<long>(m.target), AT_RECURSIVE,
                        reinterpret_cast<long>(&attr), sizeof attr);
        if (r < 0 && r != -ENOSYS) fail(c, L::kMount, idx, r);
      }
    }
  }
}

TB_CHILD_FN void pivot(const Child& c) {
  long r = make_dir("old_root");
  if (r < 0) fail(c, L::kPivotRoot, 0, r);
  r = raw_syscall(SYS_pivot_root, reinterpret_cast<long>("."), reinterpret_cast<long>("old_root"));
  if (r < 0) fail(c, L::kPivotRoot, 0, r);
  r = raw_syscall(SYS_umount2, reinterpret_cast<long>("old_root"), MNT_DETACH);
  if (r < 0) fail(c, L::kUmount, 0, r);
  r = raw_syscall(SYS_unlinkat, AT_FDCWD, reinterpret_cast<long>("old_root"), AT_REMOVEDIR);
  if (r < 0) fail(c, L::kRmdir, 0, r);
  r = raw_syscall(SYS_chdir, reinterpret_cast<long>("/"));
  if (r < 0) fail(c, L::kChdirRoot, 0, r);
  r = raw_syscall(SYS_mount, 0, reinterpret_cast<long>("/"), 0,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV);
  if (r < 0) fail(c, L::kRemountReadOnly, 0, r);
}

// Clears every capability set. Without CAP_SETPCAP (an unprivileged caller outside a user
// namespace) there is nothing to drop: such a process holds no capabilities.
TB_CHILD_FN void drop_capabilities(const Child& c) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};  // version 3 reads two elements: bits 0-31 and 32-63
  long r = raw_syscall(SYS_capget, reinterpret_cast<long>(&header), reinterpret_cast<long>(data));
  if (r < 0) fail(c, L::kCapabilities, 0, r);
  if ((data[0].permitted | data[1].permitted | data[0].effective | data[1].effective) == 0) return;
  r = raw_syscall(SYS_prctl, PR_SET_SECUREBITS,
                  SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                      SECBIT_NOROOT | SECBIT_NOROOT_LOCKED);
  if (r < 0) fail(c, L::kSecurebits, 0, r);
  // The bounding set limits what an exec can grant. With no_new_privs an exec grants nothing
  // (setuid bits and file capabilities are ignored), so the ~40 drops are only needed without.
  if (!c.plan.no_new_privs) {
    for (int cap = 0; cap <= c.plan.cap_last_cap; ++cap) {
      r = raw_syscall(SYS_prctl, PR_CAPBSET_DROP, cap);
      if (r < 0 && r != -EINVAL) fail(c, L::kCapabilities, 0, r);
    }
  }
  r = raw_syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (r < 0 && r != -EINVAL) fail(c, L::kCapabilities, 0, r);
  __user_cap_data_struct zero[2]{};
  r = raw_syscall(SYS_capset, reinterpret_cast<long>(&header), reinterpret_cast<long>(zero));
  if (r < 0) fail(c, L::kCapabilities, 0, r);
}

// The parent's pid as /proc/self/status shows it (in the namespace of the /proc mount, which is
// the caller's), or -1 when it cannot be read. getppid() cannot tell: in a new PID namespace it
// is 0 for a parent outside, alive or dead.
TB_CHILD_FN long proc_ppid() {
  long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/status"),
                        O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  long n = raw_syscall(SYS_read, fd, reinterpret_cast<long>(buf), sizeof buf - 1);
  raw_syscall(SYS_close, fd);
  const char key[] = "\nPPid:";
  constexpr long kKey = sizeof key - 1;
  for (long i = 0; i + kKey <= n; ++i) {
    bool match = true;
    for (long k = 0; k < kKey && match; ++k) match = buf[i + k] == key[k];
    if (!match) continue;
    long j = i + kKey;
    while (j < n && (buf[j] == ' ' || buf[j] == '\t')) ++j;
    long v = -1;
    for (; j < n && buf[j] >= '0' && buf[j] <= '9'; ++j) v = (v < 0 ? 0 : v * 10) + (buf[j] - '0');
    return v;
  }
  return -1;
}

// PR_SET_PDEATHSIG(SIGKILL), then whether the parent is still `parent` (it may have died before
// the prctl, which would then never fire). `parent` is the caller's pid as getppid() shows it,
// or, from a new PID namespace, as /proc shows it (-1: unknown, not checked).
TB_CHILD_FN long die_with_parent(pid_t parent, bool outside_namespace) {
  long r = raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (r < 0) return r;
  if (parent < 0) return 0;
  const long ppid = outside_namespace ? proc_ppid() : raw_syscall(SYS_getppid);
  if (ppid >= 0 && ppid != parent) exit_now(127);
  return 0;
}

TB_CHILD_FN void sync_with_parent(const Child& c) {
  WireError ready{0, 0, 0};
  long r = raw_syscall(SYS_sendto, c.sync, reinterpret_cast<long>(&ready), sizeof ready,
                       MSG_NOSIGNAL, 0, 0);
  if (r < 0) fail(c, L::kSyncWrite, 0, r);
  await_parent(c, L::kSyncRead);
}

TB_CHILD_FN long exec_program(const ChildPlan& p) {
  for (int attempt = 0;; ++attempt) {
    long r;
    if (p.exec_fd >= 0) {
      r = raw_syscall(SYS_execveat, p.exec_fd_target, reinterpret_cast<long>(""),
                      reinterpret_cast<long>(p.argv), reinterpret_cast<long>(p.envp),
                      AT_EMPTY_PATH);
    } else {
      r = raw_syscall(SYS_execve, reinterpret_cast<long>(p.path), reinterpret_cast<long>(p.argv),
                      reinterpret_cast<long>(p.envp));
    }
    // ETXTBSY: another thread of the host may still hold a write fd to a freshly written
    // program (its fork copies the fd until its own exec); wait for that to pass.
    if (r != -ETXTBSY || attempt >= p.etxtbsy_retries) return r;
    timespec ms{0, 1000 * 1000};
    raw_syscall(SYS_nanosleep, reinterpret_cast<long>(&ms), 0);
  }
}

}  // namespace

TB_CHILD_FN int child_main(void* arg) {
  const ChildPlan& p = *static_cast<const ChildPlan*>(arg);
  Child c{p, p.sync_fd, p.shared_error};
  long r;

  // 1. Signals: default dispositions (all signals stay blocked, as the parent left them).
  if ((r = set_default_signals(p.reset_handlers, p.ignored)) < 0) fail(c, L::kSignals, 0, r);
  // 2. The parent's end of the sync socket.
  if (p.parent_fd >= 0 && (r = raw_syscall(SYS_close, p.parent_fd)) < 0) fail(c, L::kClose, 0, r);
  // 3. Die with the thread that started us (the tracer), and check it is still there.
  if (p.pdeathsig && (r = die_with_parent(p.parent_pid, p.outside_namespace)) < 0)
    fail(c, L::kParentDeathSignal, 0, r);
  // 3b. Join the given namespaces (a shared IPC or UTS namespace, say).
  for (std::size_t i = 0; i < p.n_join_ns; ++i)
    if ((r = raw_syscall(SYS_setns, p.join_ns[i], 0)) < 0)
      fail(c, L::kSetns, static_cast<int>(i), r);
  // 4. In a new user namespace, wait until the parent wrote our id maps.
  if (p.user_ns) await_parent(c, L::kUserNsSync);
  // 5. Credentials; keep the capabilities across setuid for the steps that still need them.
  if (p.credential) {
    r = raw_syscall(
        SYS_prctl, PR_SET_SECUREBITS,
        SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED);
    if (r < 0) fail(c, L::kSecurebits, 0, r);
    if (p.setgroups &&
        (r = raw_syscall(SYS_setgroups, p.n_groups, reinterpret_cast<long>(p.groups))) < 0)
      fail(c, L::kSetGroups, 0, r);
    if ((r = raw_syscall(SYS_setresgid, p.gid, p.gid, p.gid)) < 0) fail(c, L::kSetGid, 0, r);
    if ((r = raw_syscall(SYS_setresuid, p.uid, p.uid, p.uid)) < 0) fail(c, L::kSetUid, 0, r);
  }
  // 6. The fd table, then every other fd closed (close-on-exec or not).
  shuffle_fds(c);
  if ((r = close_fds_from(p.close_from)) < 0) fail(c, L::kCloseRange, 0, r);
  // 7. A session of our own, optionally with the terminal on fd 0.
  if ((r = raw_syscall(SYS_setsid)) < 0) fail(c, L::kSetSid, 0, r);
  if (p.ctty && (r = raw_syscall(SYS_ioctl, 0, TIOCSCTTY, 1)) < 0) fail(c, L::kIoctl, 0, r);
  // 8. Mounts: a private "/", the tmpfs that becomes the new root, the planned mounts.
  if (p.new_ns &&
      (r = raw_syscall(SYS_mount, 0, reinterpret_cast<long>("/"), 0, MS_REC | MS_PRIVATE, 0)) < 0)
    fail(c, L::kMountRootPrivate, 0, r);
  if (p.pivot_root != nullptr) {
    r = raw_syscall(SYS_mount, reinterpret_cast<long>("tmpfs"),
                    reinterpret_cast<long>(p.pivot_root), reinterpret_cast<long>("tmpfs"),
                    MS_NOSUID | MS_NODEV, reinterpret_cast<long>("mode=0755"));
    if (r < 0) fail(c, L::kMountTmpfs, 0, r);
    if ((r = raw_syscall(SYS_chdir, reinterpret_cast<long>(p.pivot_root))) < 0)
      fail(c, L::kChdirRoot, 0, r);
  }
  mount_all(c);
  // 9. pivot_root, detach the old root, make the new one read-only.
  if (p.pivot_root != nullptr) pivot(c);
  // 10. Host and domain name (in the child's UTS namespace).
  if (p.hostname != nullptr) {
    const char* s = p.hostname;
    long len = 0;
    while (s[len] != '\0') ++len;
    if ((r = raw_syscall(SYS_sethostname, reinterpret_cast<long>(s), len)) < 0)
      fail(c, L::kSetHostname, 0, r);
  }
  if (p.domainname != nullptr) {
    const char* s = p.domainname;
    long len = 0;
    while (s[len] != '\0') ++len;
    if ((r = raw_syscall(SYS_setdomainname, reinterpret_cast<long>(s), len)) < 0)
      fail(c, L::kSetDomainname, 0, r);
  }
  // 11. Working directory.
  if (p.work_dir != nullptr && (r = raw_syscall(SYS_chdir, reinterpret_cast<long>(p.work_dir))) < 0)
    fail(c, L::kChdir, 0, r);
  // 12. Resource limits, in order.
  for (std::size_t i = 0; i < p.n_rlimits; ++i) {
    std::uint64_t lim[2] = {p.rlimits[i].cur, p.rlimits[i].max};
    r = raw_syscall(SYS_prlimit64, 0, p.rlimits[i].resource, reinterpret_cast<long>(lim), 0);
    if (r < 0) fail(c, L::kRlimit, static_cast<int>(i), r);
  }
  // 12b. Scheduling priority (a tracer thread may run at a higher one than its programs).
  if (p.set_nice && (r = raw_syscall(SYS_setpriority, PRIO_PROCESS, 0, p.nice)) < 0)
    fail(c, L::kNice, 0, r);
  // 13. No new privileges (setuid binaries and file capabilities no longer elevate).
  if (p.no_new_privs && (r = raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
    fail(c, L::kNoNewPrivs, 0, r);
  // 14. Capabilities, unless they are needed until after the sync.
  if (p.drop_caps) drop_capabilities(c);
  // 15. The parent's callback runs while we wait here.
  if (p.sync) sync_with_parent(c);
  // 16. After the sync: our own cgroup namespace, then the capabilities.
  if (p.unshare_cgroup_after_sync && (r = raw_syscall(SYS_unshare, CLONE_NEWCGROUP)) < 0)
    fail(c, L::kUnshareCgroup, 0, r);
  if (p.drop_caps_after_sync) drop_capabilities(c);
  // 17. Become a tracee and stop, so that the tracer sets its options before anything else.
  if (p.ptrace && (r = raw_syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0)) < 0)
    fail(c, L::kPtrace, 0, r);
  if (p.stop && (r = raw_syscall(SYS_kill, raw_syscall(SYS_getpid), SIGSTOP)) < 0)
    fail(c, L::kStop, 0, r);
  // 18. LAST before exec: the seccomp filter, then an empty signal mask.
  if (p.seccomp != nullptr && (r = raw_syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0,
                                               reinterpret_cast<long>(p.seccomp))) < 0)
    fail(c, L::kSeccomp, 0, r);
  // Past the filter, a sendto may be killed: a failure from here on is written to our shared
  // memory, and the parent finds it when the socket closes at our exit.
  if (c.report_to == nullptr) c.report_to = p.late_error;
  std::uint64_t empty = 0;
  if ((r = raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&empty), 0, 8)) < 0)
    fail(c, L::kSignals, 0, r);
  // 19. exec. On success the sync socket closes (close-on-exec): the parent reads EOF.
  r = exec_program(p);
  fail(c, L::kExec, 0, r);
}

// THE NAMESPACE INIT (Runner::pid_namespace): pid 1 of the program's PID namespace. It shares the
// caller's memory (CLONE_VM) on a stack of its own, so the same rules hold: raw syscalls only.
// It closes every fd, then reaps whatever is reparented to it until it is killed; the kernel
// then kills every process left in the namespace. Every signal is blocked (the caller blocked
// them around the clone): nothing the program sends can run code here, and a namespace's init
// gets no signal from inside that it has no handler for anyway.
TB_CHILD_FN int init_main(void* arg) {
  const auto* plan = static_cast<const InitPlan*>(arg);
  const pid_t parent = plan->tracer_pid;  // the plan is at the top of our own stack mapping
  const bool pdeathsig = plan->pdeathsig;
  // No handler of the caller's may stay installed (clone3 cleared them); what it ignores, the
  // init may ignore too: every signal stays blocked here.
  if (plan->reset_handlers) set_default_signals(true, 0);
  if (pdeathsig && die_with_parent(parent, true) < 0) exit_now(127);
  raw_syscall(SYS_close_range, 0, ~0U, 0);
  std::uint64_t sigchld = std::uint64_t{1} << (SIGCHLD - 1);
  for (;;) {
    while (raw_syscall(SYS_wait4, -1, 0, WNOHANG | __WALL, 0) > 0) {
    }
    raw_syscall(SYS_rt_sigtimedwait, reinterpret_cast<long>(&sigchld), 0, 0, 8);
  }
}

}  // namespace tracebox::forkexec::detail
