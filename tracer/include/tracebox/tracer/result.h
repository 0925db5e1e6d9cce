// The outcome of a traced run: verdict, usage and, for a violation, what was attempted.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tracebox/forkexec/child_error.h"

namespace tracebox::tracer {

// The verdict of a run.
enum class Status {
  kNormal,
  kTimeLimitExceeded,
  kMemoryLimitExceeded,
  kOutputLimitExceeded,
  kDisallowedSyscall,
  kSignalled,
  kNonzeroExitStatus,
  kRunnerError,
};
// "normal", "time_limit_exceeded", ... (stable: used in JSON results).
std::string_view to_string(Status status);

// Which limit ended the run.
enum class LimitKind { kNone, kCpu, kWall, kMemory, kOutput };
// "cpu", "wall", "memory", "output", or "" for kNone.
std::string_view to_string(LimitKind limit);

// A syscall the policy refused.
struct Violation {
  pid_t pid = 0;
  std::string syscall;  // name for `arch`, or "" when unknown
  long nr = -1;
  std::string arch;  // "x86_64", "i386", "x32", ...
  std::array<std::uint64_t, 6> args{};
  std::optional<std::string> path;  // the resolved path, for file checks
  std::string reason;               // why it was refused
};

// Everything a run reports. The first cause recorded decides the status.
struct Result {
  Status status = Status::kRunnerError;
  int exit_status = 0;                      // the exit code, or the signal number when signalled
  std::optional<int> signal;                // the signal that ended the main process, if any
  std::chrono::microseconds cpu_time{0};    // user + system, whole process tree
  std::chrono::microseconds wall_time{0};   // from the first exec to the end (0: no exec)
  std::chrono::microseconds setup_time{0};  // from the run's admission to its first exec
  std::chrono::microseconds queue_time{0};  // waiting for admission (SessionOptions)
  std::uint64_t memory_kib = 0;             // peak memory of the process tree
  LimitKind limit = LimitKind::kNone;
  std::string error;  // runner errors and violations: a readable explanation
  std::optional<forkexec::ChildError> child_error;
  std::optional<Violation> violation;
  // Per-syscall counts, when the run asked for them.
  std::map<std::string, std::uint64_t> syscall_counts;
  // ptrace stops the tracer served for this run.
  std::uint64_t stops = 0;
  // What the program wrote to a captured stdout or stderr (Output::capture), at most its
  // max_bytes.
  std::string stdout_data;
  std::string stderr_data;
};

}  // namespace tracebox::tracer
