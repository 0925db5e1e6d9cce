// What a Context shows the handler: the tracer's view of one seccomp stop.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tracebox/tracer/handler.h"
#include "tracee.h"

namespace tracebox::tracer {

struct Context::Info {
  pid_t tid = 0;
  pid_t tgid = 0;
  tracee::SyscallInfo syscall;
  std::string_view name;
  std::string_view arch_name;
  std::optional<std::string> path;
  bool first_exec = false;  // the child's own execve of the program
  // The run's live tasks and processes, for in_run() / group_in_run().
  std::function<bool(pid_t)> in_run;
  std::function<bool(pid_t)> group_in_run;
};

}  // namespace tracebox::tracer
