// Small readers of per-process kernel state used for accounting: CPU clocks and /proc files.
// No allocation: they run at every process exit and every tick.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>

namespace tracebox::tracer::proc {

// CPU time (user + system, all threads, dead ones included) of process `tgid`, from its
// process CPU clock; nullopt once the process is gone (reaped).
std::optional<std::int64_t> cpu_ns(pid_t tgid);

// What the memory of task `tid` costs the host at its peak, in bytes: VmHWM (the peak resident
// set) plus VmPTE (its page tables now: a sparse mapping touched page by page grows them without
// growing the resident set). nullopt when unreadable (gone, or a kernel thread).
std::optional<std::uint64_t> peak_memory_bytes(pid_t tid);

// The data segment size (RLIMIT_DATA's measure plus the stack), in bytes, from statm.
std::optional<std::uint64_t> data_bytes(pid_t tid);

// Whether a fault at `addr` in task `tid` is its main stack overflowing its RLIMIT_STACK: `addr`
// lies in the gap just below the [stack] mapping, which has grown to (nearly) the limit. The limit
// in bytes, or nullopt.
std::optional<std::uint64_t> stack_overflow(pid_t tid, std::uint64_t addr);

// The CPU task `tid` last ran on (field 39 of /proc/<tid>/stat), or -1.
int last_cpu(pid_t tid);

// Whether task `tid` is in an interruptible sleep (state S in /proc/<tid>/stat).
bool sleeping(pid_t tid);

// Whether task `tid` is running or waiting for a CPU (state R).
bool runnable(pid_t tid);

// Whether task `tid` has done all of its exit (a zombie: state Z or X), writes to memory included;
// a thread-group leader stays one until its last thread ends.
bool finished(pid_t tid);

// Whether task `tid` is blocked, off the CPU, in the kernel function `where`
// (/proc/<tid>/wchan, which names a function only for a task not on a run queue).
bool asleep_in(pid_t tid, const char* where);

// Calls `f(pid)` for each child of thread `tid` of process `tgid`
// (/proc/<tgid>/task/<tid>/children: live ones and zombies not yet waited for). False when
// unreadable.
// The credentials the kernel checks file access with for task `tid`: the fourth (filesystem)
// values of "Uid:" and "Gid:", "Groups:", and whether "CapEff:" holds CAP_DAC_OVERRIDE or
// CAP_DAC_READ_SEARCH (any directory may then be searched). nullopt when unreadable, or with
// more supplementary groups than it holds.
struct Credentials {
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  gid_t groups[64] = {};
  int n_groups = 0;
  bool dac_exempt = false;
  bool in_group(gid_t gid) const;
};
std::optional<Credentials> credentials(pid_t tid);

template <typename F>
bool for_each_child(pid_t tgid, pid_t tid, F&& f);
bool read_children(pid_t tgid, pid_t tid, char* buf, std::size_t size);

// "Tgid:" and "PPid:" of task `tid`.
struct Ids {
  pid_t tgid = 0;
  pid_t ppid = 0;
};
std::optional<Ids> ids(pid_t tid);

// The pid and process group of task `tid` in its innermost PID namespace (the last values of
// "NSpid:" and "NSpgid:"), as the program itself names them.
struct NsIds {
  pid_t pid = 0;
  pid_t pgid = 0;
};
std::optional<NsIds> ns_ids(pid_t tid);

template <typename F>
bool for_each_child(pid_t tgid, pid_t tid, F&& f) {
  char buf[4096];
  if (!read_children(tgid, tid, buf, sizeof buf)) return false;
  for (char* p = buf; *p != '\0';) {
    char* end = nullptr;
    const long pid = std::strtol(p, &end, 10);
    if (end == p) break;
    f(static_cast<pid_t>(pid));
    p = end;
  }
  return true;
}

}  // namespace tracebox::tracer::proc
