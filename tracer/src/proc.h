// Small readers of per-process kernel state used for accounting: CPU clocks and /proc files.
// No allocation: they run at every process exit and every tick.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace tracebox::tracer::proc {

// CPU time (user + system, all threads, dead ones included) of process `tgid`, from its
// process CPU clock; nullopt once the process is gone (reaped).
std::optional<std::int64_t> cpu_ns(pid_t tgid);

// VmHWM (peak resident set) of the memory of task `tid`, in bytes; nullopt when unreadable
// (gone, or a kernel thread without memory).
std::optional<std::uint64_t> peak_rss_bytes(pid_t tid);

// The data segment size (RLIMIT_DATA's measure plus the stack), in bytes, from statm.
std::optional<std::uint64_t> data_bytes(pid_t tid);

// Whether task `tid` is in an interruptible sleep (state S in /proc/<tid>/stat).
bool sleeping(pid_t tid);

// "Tgid:" and "PPid:" of task `tid`.
struct Ids {
  pid_t tgid = 0;
  pid_t ppid = 0;
};
std::optional<Ids> ids(pid_t tid);

}  // namespace tracebox::tracer::proc
