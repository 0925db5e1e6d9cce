// runprog: runs PROGRAM under a judge's limits and syscall policy and prints its verdict
// (go-sandbox's runprog, drop-in; see --help).
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "batch.h"
#include "interactive.h"
#include "options.h"
#include "output.h"
#include "profile_check.h"
#include "run.h"
#include "setup.h"
#include "shared_stream.h"

namespace {

using namespace tracebox;
using namespace tracebox::cmd;

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Pins this thread (and so the threads it makes from then on: the tracer) to the CPU it
// runs on, and returns the CPUs it could use before (empty if it did not pin). One run's
// hand-offs between runprog's threads, the tracer and the program then never cross CPUs; the
// tracer gives the program the CPUs returned (SessionOptions::cpus) when it unpins it, a
// tick after its exec (Placement::Mode::kAuto).
std::vector<int> pin_to_this_cpu() {
  cpu_set_t old;
  CPU_ZERO(&old);
  const int cpu = ::sched_getcpu();
  if (cpu < 0 || ::sched_getaffinity(0, sizeof old, &old) != 0 || CPU_COUNT(&old) < 2) return {};
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &old)) cpus.push_back(c);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (::sched_setaffinity(0, sizeof one, &one) != 0) return {};
  return cpus;
}

int usage_error(const std::string& message) {
  write_all(2, "runprog: " + message + "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // One malloc arena for all of runprog's threads (the relay of the program's output, the ns
  // runner's): a thread's first allocation would otherwise map an arena of its own and fault in
  // fresh pages for all it allocates, while the main arena holds what start-up freed (measured
  // about 3% of a short run when the tracer had a thread of its own). They seldom allocate at once.
  ::mallopt(M_ARENA_MAX, 1);
  // A closed stderr or stdout is a failed write (EPIPE), not runprog's death: a diagnostic to a
  // reader that has gone must not lose the verdict written after it (-res). Programs get SIGPIPE
  // back: the child resets ignored signals to SIG_DFL.
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  std::unique_ptr<Prepared> prepared;
  try {
    Options options = parse_options(args);
    if (options.help) {
      write_all(1, help_text());
      return 0;
    }
    if (options.batch) return run_batch(options, current_environment());
    if (!options.profile_check.empty()) {
      std::string report;
      const int code = check_profile(options, current_environment(), report);
      write_all(1, report);
      return code;
    }
    if (!options.interactor.empty()) return run_interactive(options, current_environment());
    prepared = prepare(options, current_environment());
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  Prepared& p = *prepared;
  const Options& o = p.options;

  tracer::Result result;
  SharedStream shared;
  shared.interpose(p.spec.process.files, p.result_fd);
  // After the relay thread is made: it copies the program's output for the whole run, and must
  // not be held to one CPU (pinned with a busy process, it would slow the program down).
  if (o.runner == RunnerKind::kPtrace) p.home_cpus = pin_to_this_cpu();
  auto report = [&](const tracer::Result& r) {
    shared.finish();  // the result is a line of its own, after all the program wrote
    if (o.show_trace_details && r.violation)
      write_all(2, "runprog: " + violation_text(*r.violation));
    if (o.json) {
      write_all(p.result_fd, json_line(r, o.count));
    } else {
      if (r.status == tracer::Status::kRunnerError)
        write_all(2, "runprog: runner error: " + r.error + "\n");
      if (o.count) write_all(2, count_table(r.syscall_counts));
      write_all(p.result_fd, uoj_line(r));
    }
    return exit_code(r);
  };
  try {
    if (o.runner == RunnerKind::kNs) {
      result = run_ns(p);
    } else {
      // Reported as soon as the run ended (every process of it reaped), then the exit: nothing
      // need be freed, nor the relay thread joined.
      result = run_ptrace(p, [&](const tracer::Result& r) {
        const int code = report(r);
        std::fflush(nullptr);
        ::_exit(code);
      });
    }
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const std::exception& e) {
    result = tracer::Result{};
    result.status = tracer::Status::kRunnerError;
    result.error = e.what();
  }
  return report(result);
}
