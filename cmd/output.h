// How runprog prints a result: go-sandbox's UOJ line, one JSON object, the -count table, and the
// per-syscall lines of -trace-log and -show-trace-details.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tracebox/tracer/result.h"
#include "tracebox/tracer/tracer.h"

namespace tracebox::cmd {

// UOJ's code: 0 normal, 2 runtime error (signalled, nonzero exit), 3 memory, 4 time, 5 output,
// 6 disallowed syscall, 7 runner error.
int uoj_code(tracer::Status status);

// "<code> <time_ms> <memory_KiB> <exit_status>\n"; time is CPU time rounded to the nearest ms.
std::string uoj_line(const tracer::Result& result);

// The result as one JSON object on one line (ending with "\n"): status, exit_status, signal,
// time_ms, wall_ms, memory_kb, setup_ms, limit, error, error_location, errno, violation, and
// syscalls when `with_syscalls`.
std::string json_line(const tracer::Result& result, bool with_syscalls);

// The -count table: one "name count" row per syscall, by count (descending) then name, and a
// total.
std::string count_table(const std::map<std::string, std::uint64_t>& counts);

// One -trace-log line (ending with "\n"): {"pid", "syscall", "nr", "arch", "args", "decision",
// "errno", "path"}.
std::string trace_json_line(const tracer::TraceEvent& event);

// One -show-trace-details line: "[pid 12] openat(0xffffff9c, 0x7ffd...) = allow /etc/ld.so.cache".
std::string trace_text_line(const tracer::TraceEvent& event);

// The violation in a readable form, for -show-trace-details.
std::string violation_text(const tracer::Violation& violation);

// runprog's exit code for a result: 1 for a runner error, else 0.
int exit_code(const tracer::Result& result);

}  // namespace tracebox::cmd
