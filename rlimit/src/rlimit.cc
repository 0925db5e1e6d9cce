#include "tracebox/rlimit/rlimit.h"

#include <cstdio>
#include <string>

namespace tracebox::rlimit {
namespace {

// Whole seconds, rounded up: RLIMIT_CPU has a one-second granularity.
rlim_t ceil_seconds(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return 0;
  // Without adding first: d + 999'999'999 ns overflows near nanoseconds::max().
  const auto n = d.count();
  return static_cast<rlim_t>(n / 1'000'000'000 + (n % 1'000'000'000 != 0 ? 1 : 0));
}

std::string size_text(rlim_t v) {
  if (v == RLIM_INFINITY) return "unlimited";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB"};
  if (v < 1024) return std::to_string(v) + " B";
  double x = static_cast<double>(v) / 1024;
  int unit = 0;
  while (x >= 1024 && unit < 2) {
    x /= 1024;
    ++unit;
  }
  char buf[32];
  if (x == static_cast<double>(static_cast<std::uint64_t>(x))) {
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(x), kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", x, kUnits[unit]);
  }
  return buf;
}

std::string count_text(rlim_t v) { return v == RLIM_INFINITY ? "unlimited" : std::to_string(v); }

}  // namespace

std::string RLimit::to_string() const {
  switch (resource) {
    case RLIMIT_CPU: {
      auto s = [](rlim_t v) { return v == RLIM_INFINITY ? "unlimited" : std::to_string(v) + " s"; };
      return "CPU[" + s(cur) + ":" + s(max) + "]";
    }
    case RLIMIT_NOFILE:
      return "OpenFile[" + count_text(cur) + ":" + count_text(max) + "]";
    case RLIMIT_NPROC:
      return "Process[" + count_text(cur) + ":" + count_text(max) + "]";
    case RLIMIT_DATA:
      return "Data[" + size_text(cur) + ":" + size_text(max) + "]";
    case RLIMIT_FSIZE:
      return "File[" + size_text(cur) + ":" + size_text(max) + "]";
    case RLIMIT_STACK:
      return "Stack[" + size_text(cur) + ":" + size_text(max) + "]";
    case RLIMIT_AS:
      return "AddressSpace[" + size_text(cur) + ":" + size_text(max) + "]";
    case RLIMIT_CORE:
      return "Core[" + size_text(cur) + ":" + size_text(max) + "]";
    default:
      return "RLimit" + std::to_string(resource) + "[" + count_text(cur) + ":" + count_text(max) +
             "]";
  }
}

std::vector<RLimit> prepare(const Limits& limits) {
  std::vector<RLimit> out;
  auto both = [&](int res, const std::optional<std::uint64_t>& v) {
    if (v) out.push_back(RLimit{res, static_cast<rlim_t>(*v), static_cast<rlim_t>(*v)});
  };
  if (limits.cpu || limits.cpu_hard) {
    // Only a hard limit: it is the soft limit too (an unlimited soft limit would be above it).
    rlim_t soft = ceil_seconds(limits.cpu ? *limits.cpu : *limits.cpu_hard);
    if (soft == 0) soft = 1;  // a zero limit still gets its first second
    rlim_t hard = limits.cpu_hard ? ceil_seconds(*limits.cpu_hard) : soft;
    if (hard < soft) hard = soft;
    out.push_back(RLimit{RLIMIT_CPU, soft, hard});
  }
  both(RLIMIT_DATA, limits.data_bytes);
  both(RLIMIT_FSIZE, limits.file_size_bytes);
  both(RLIMIT_STACK, limits.stack_bytes);
  both(RLIMIT_AS, limits.address_space_bytes);
  both(RLIMIT_NOFILE, limits.open_files);
  both(RLIMIT_NPROC, limits.processes);
  if (limits.disable_core) out.push_back(RLimit{RLIMIT_CORE, 0, 0});
  return out;
}

std::string to_string(const std::vector<RLimit>& rlimits) {
  std::string text = "RLimits[";
  for (std::size_t i = 0; i < rlimits.size(); ++i) {
    if (i != 0) text += ", ";
    text += rlimits[i].to_string();
  }
  return text + "]";
}

}  // namespace tracebox::rlimit
