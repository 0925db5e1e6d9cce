// runprog -interactor: an interactive problem's solution and interactor run as one group
// (tracer::async_run_group), with testlib's conventions.
#pragma once

#include <string>
#include <vector>

#include "options.h"
#include "setup.h"
#include "tracebox/tracer/result.h"

namespace tracebox::cmd {

// The solution's verdict as the interactor's exit code decides it (testlib: 0 ok, 1 wrong
// answer, 2 presentation error, 3 fail): a limit or a violation of the solution first, then the
// interactor's wrong answer or presentation error (a solution that died of the closed pipe
// after it is still wrong), then the solution's runtime error; an interactor that failed (exit 3
// or any other code, a limit, a violation, a signal) is a judgement failure.
struct InteractiveVerdict {
  // "accepted", "wrong_answer", "presentation_error", "runtime_error", "time_limit_exceeded",
  // "memory_limit_exceeded", "output_limit_exceeded", "disallowed_syscall", "judgement_failed".
  std::string name;
  // The UOJ code of the solution's line: 0 accepted, 1 wrong answer or presentation error, 2 to
  // 6 as runprog's (the solution's own verdict), 7 runner error or judgement failed.
  int uoj_code = 7;
};
InteractiveVerdict interactive_verdict(const tracer::Result& solution,
                                       const tracer::Result& interactor);

// The interactor's command line: -interactor-opts split on whitespace, then the interactor,
// `input`, `output` and each -interactor-arg. Throws UsageError.
Options interactor_options(const Options& options, const std::string& input,
                           const std::string& output);

// Runs `options` (with -interactor set) and prints the verdicts; returns runprog's exit code.
// Bad input is a UsageError, thrown before anything runs.
int run_interactive(const Options& options, const Environment& env);

}  // namespace tracebox::cmd
