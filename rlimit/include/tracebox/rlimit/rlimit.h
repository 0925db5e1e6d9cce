// Resource limits of a run as plain values, turned into the ordered list the child applies.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tracebox::rlimit {

// One setrlimit the child performs: prlimit64(0, resource, {cur, max}).
struct RLimit {
  int resource = 0;
  rlim_t cur = 0;
  rlim_t max = 0;

  // Readable form: CPU[1 s:3 s], Data[256 MiB:256 MiB], OpenFile[256:256], Core[0 B:0 B].
  std::string to_string() const;
  friend bool operator==(const RLimit&, const RLimit&) = default;
};

// The limits a run may set; an empty field leaves that resource as inherited.
struct Limits {
  // CPU time. RLIMIT_CPU counts whole seconds, so the soft limit is rounded *up* to the next
  // second (the kernel's SIGXCPU is a backstop); an exact sub-second limit is enforced by the
  // tracer, which reads this same value.
  std::optional<std::chrono::nanoseconds> cpu;
  // Hard CPU limit (SIGKILL); rounded up as well and never below the soft limit.
  std::optional<std::chrono::nanoseconds> cpu_hard;
  std::optional<std::uint64_t> data_bytes;           // RLIMIT_DATA
  std::optional<std::uint64_t> file_size_bytes;      // RLIMIT_FSIZE (SIGXFSZ beyond it)
  std::optional<std::uint64_t> stack_bytes;          // RLIMIT_STACK
  std::optional<std::uint64_t> address_space_bytes;  // RLIMIT_AS
  std::optional<std::uint64_t> open_files;           // RLIMIT_NOFILE
  std::optional<std::uint64_t> processes;            // RLIMIT_NPROC (counts per real uid!)
  bool disable_core = true;                          // RLIMIT_CORE = 0
};

// The rlimits for `limits`, in the fixed order CPU, Data, File, Stack, AddressSpace, OpenFile,
// Process, Core; only set fields appear. Soft == hard except for CPU.
std::vector<RLimit> prepare(const Limits& limits);

// "RLimits[CPU[1 s:3 s], ...]".
std::string to_string(const std::vector<RLimit>& rlimits);

}  // namespace tracebox::rlimit
