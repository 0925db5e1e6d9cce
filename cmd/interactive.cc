#include "interactive.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <optional>
#include <sstream>

#include "output.h"
#include "tracebox/tracer/group.h"

namespace tracebox::cmd {
namespace {

using tracer::Status;

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string without_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

InteractiveVerdict interactive_verdict(const tracer::Result& sol, const tracer::Result& inter) {
  switch (sol.status) {
    case Status::kTimeLimitExceeded:
      return {"time_limit_exceeded", 4};
    case Status::kMemoryLimitExceeded:
      return {"memory_limit_exceeded", 3};
    case Status::kOutputLimitExceeded:
      return {"output_limit_exceeded", 5};
    case Status::kDisallowedSyscall:
      return {"disallowed_syscall", 6};
    case Status::kRunnerError:
      return {"judgement_failed", 7};
    case Status::kNormal:
    case Status::kSignalled:
    case Status::kNonzeroExitStatus:
      break;
  }
  if (inter.status == Status::kNonzeroExitStatus && inter.exit_status == 1)
    return {"wrong_answer", 1};
  if (inter.status == Status::kNonzeroExitStatus && inter.exit_status == 2)
    return {"presentation_error", 1};
  if (inter.status != Status::kNormal) return {"judgement_failed", 7};
  if (sol.status != Status::kNormal) return {"runtime_error", 2};
  return {"accepted", 0};
}

Options interactor_options(const Options& o, const std::string& input, const std::string& output) {
  std::vector<std::string> args;
  std::istringstream words(o.interactor_opts);
  for (std::string w; words >> w;) args.push_back(w);
  args.push_back("--");
  args.push_back(o.interactor);
  args.push_back(input);
  args.push_back(output);
  args.insert(args.end(), o.interactor_args.begin(), o.interactor_args.end());
  Options io;
  try {
    io = parse_options(args);
  } catch (const UsageError& e) {
    throw UsageError(std::string("-interactor-opts: ") + e.what());
  }
  auto refuse = [](bool set, const char* what) {
    if (set) throw UsageError(std::string("-interactor-opts: ") + what);
  };
  refuse(io.help, "-help is not an interactor option");
  refuse(!io.in.empty() || !io.out.empty(),
         "-in and -out: the interactor's stdin and stdout are the solution's pipes");
  refuse(io.runner != RunnerKind::kPtrace, "-runner: the interactor runs under the tracer");
  refuse(!io.trace_log.empty() || !io.profile_check.empty() || io.json || io.res != "stdout" ||
             !io.interactor.empty(),
         "-trace-log, -profile-check, -json, -res and -interactor are runprog's own options");
  io.add_readable.push_back(input);
  io.add_writable.push_back(output);
  return io;
}

int run_interactive(const Options& o, const Environment& env) {
  if (o.runner != RunnerKind::kPtrace) throw UsageError("-interactor needs the ptrace runner");
  if (o.in.empty())
    throw UsageError("-interactor: -in must name the test's input (given to the interactor)");
  if (!o.out.empty())
    throw UsageError("-out: with -interactor the solution's stdout is the interactor's stdin");
  if (!o.trace_log.empty()) throw UsageError("-trace-log: not with -interactor");

  const std::string input = absolute_path(o.in, env.cwd);
  const std::string output =
      absolute_path(o.interactor_out.empty() ? "/dev/null" : o.interactor_out, env.cwd);
  if (::access(input.c_str(), R_OK) != 0)
    throw UsageError("-in: " + o.in + ": " + errno_text(errno));
  if (output != "/dev/null") {
    // Made (emptied) here, and given to the user the interactor runs as when runprog is root:
    // the interactor opens it by name, as testlib does, with the kernel's checks as that user.
    UniqueFd out(
        ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!out) throw UsageError("-interactor-out: " + o.interactor_out + ": " + errno_text(errno));
    // The interactor's user: its -user (in -interactor-opts), else the sandbox user.
    const tracer::Isolation iso;
    const auto user = interactor_options(o, input, output).user;
    const unsigned uid = user ? user->first : iso.user ? iso.user->uid : 0;
    const unsigned gid = user ? user->second : iso.user ? iso.user->gid : 0;
    if (::geteuid() == 0 && uid != 0 && ::fchown(out.get(), uid, gid) != 0)
      throw UsageError("-interactor-out: " + o.interactor_out + ": " + errno_text(errno));
  }

  Options sol_options = o;
  sol_options.in.clear();  // the test's input is the interactor's; the solution reads the pipe
  std::unique_ptr<Prepared> sol = prepare(sol_options, env);
  std::unique_ptr<Prepared> inter = prepare(interactor_options(o, input, output), env);

  tracer::GroupSpec group;
  // The solution's output through the pipe is held to its output limit (-ol) by a relay; the
  // interactor's answers go directly.
  const std::optional<std::uint64_t> cap = sol->spec.limits.output_bytes;
  // The solution's wall-clock limit (-rtl) is the group's: both are killed at the same tick when
  // it passes, so that two programs waiting on each other both end by it (with the solution's
  // own limit, it would die first and the interactor would see EOF: a wrong answer instead).
  group.wall = sol->spec.limits.wall;
  sol->spec.limits.wall.reset();
  group.programs.push_back({"solution", std::move(sol->spec)});
  group.programs.push_back({"interactor", std::move(inter->spec)});
  group.pipes.push_back({0, 1, 1, 0, cap, 0});
  group.pipes.push_back({1, 1, 0, 0, std::nullopt, 0});

  // SIGINT or SIGTERM cancels both runs, as for a single run.
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  tracer::GroupResult result;
  tracer::GroupHandle handle =
      tracer::async_run_group(io, std::move(group), [&](tracer::GroupResult r) {
        result = std::move(r);
        signals.cancel();
      });
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (!ec) handle.cancel();
  });
  io.run();
  if (result.results.size() != 2) {
    tracer::Result failed;
    failed.error = result.error.empty() ? "the group ended without results" : result.error;
    result.results.assign(2, failed);
  }
  const tracer::Result& s = result.results[0];
  const tracer::Result& i = result.results[1];

  const InteractiveVerdict verdict = interactive_verdict(s, i);
  const int fd = sol->result_fd;
  if (o.show_trace_details) {
    if (s.violation) write_all(2, "runprog: solution: " + violation_text(*s.violation));
    if (i.violation) write_all(2, "runprog: interactor: " + violation_text(*i.violation));
  }
  if (o.json) {
    write_all(fd, "{\"verdict\":\"" + verdict.name +
                      "\",\"solution\":" + without_newline(json_line(s, o.count)) +
                      ",\"interactor\":" + without_newline(json_line(i, o.count)) + "}\n");
  } else {
    if (s.status == Status::kRunnerError)
      write_all(2, "runprog: solution: runner error: " + s.error + "\n");
    if (i.status == Status::kRunnerError)
      write_all(2, "runprog: interactor: runner error: " + i.error + "\n");
    const std::string line = uoj_line(s);
    write_all(fd, std::to_string(verdict.uoj_code) + line.substr(line.find(' ')));
    write_all(fd, uoj_line(i));
  }
  return exit_code(s) != 0 || exit_code(i) != 0 ? 1 : 0;
}

}  // namespace tracebox::cmd
