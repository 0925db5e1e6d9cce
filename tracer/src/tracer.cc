#include "tracebox/tracer/tracer.h"

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <optional>
#include <string>

#include "blocking.h"
#include "session.h"

namespace tracebox::tracer {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::kNormal:
      return "normal";
    case Status::kTimeLimitExceeded:
      return "time_limit_exceeded";
    case Status::kMemoryLimitExceeded:
      return "memory_limit_exceeded";
    case Status::kOutputLimitExceeded:
      return "output_limit_exceeded";
    case Status::kDisallowedSyscall:
      return "disallowed_syscall";
    case Status::kSignalled:
      return "signalled";
    case Status::kNonzeroExitStatus:
      return "nonzero_exit_status";
    case Status::kRunnerError:
      return "runner_error";
  }
  return "runner_error";
}

std::string_view to_string(LimitKind limit) {
  switch (limit) {
    case LimitKind::kNone:
      return "";
    case LimitKind::kCpu:
      return "cpu";
    case LimitKind::kWall:
      return "wall";
    case LimitKind::kMemory:
      return "memory";
    case LimitKind::kOutput:
      return "output";
  }
  return "";
}

Policy& Policy::allow(std::string_view syscall) {
  rules.push_back({std::string(syscall), seccomp::Action::allow(), {}});
  return *this;
}
Policy& Policy::trace(std::string_view syscall, std::uint16_t tag) {
  rules.push_back({std::string(syscall), seccomp::Action::trace(tag), {}});
  return *this;
}
Policy& Policy::deny(std::string_view syscall, int err) {
  rules.push_back(
      {std::string(syscall), seccomp::Action::error(static_cast<std::uint16_t>(err)), {}});
  return *this;
}
Policy& Policy::kill(std::string_view syscall) {
  rules.push_back({std::string(syscall), seccomp::Action::kill_process(), {}});
  return *this;
}

void RunHandle::cancel() const {
  if (!state_) return;
  state_->cancelled = true;
  asio::use_service<Session>(state_->io).wake();
}

RunHandle async_run(asio::io_context& io, Spec spec, std::shared_ptr<Handler> handler,
                    std::function<void(Result)> completion) {
  auto state = std::make_shared<RunHandle::State>(io);
  if (!handler && spec.make_handler) {
    try {
      handler = spec.make_handler();
    } catch (const std::exception& e) {
      Result r;
      r.status = Status::kRunnerError;
      r.error = std::string("Spec::make_handler threw: ") + e.what();
      asio::post(io, [c = std::move(completion), r = std::move(r)]() mutable {
        if (c) c(std::move(r));
      });
      return RunHandle(state);
    }
  }
  // The io_context has work until the completion is called: the run itself is the tracer
  // thread's, which posts nothing before the end.
  auto guarded = [guard = asio::make_work_guard(io), c = std::move(completion)](Result r) mutable {
    if (c) c(std::move(r));
    guard.reset();
  };
  asio::use_service<Session>(io).submit(state, std::move(spec), std::move(handler),
                                        std::move(guarded));
  return RunHandle(state);
}

RunHandle async_run(asio::io_context& io, Spec spec, std::function<void(Result)> completion) {
  return async_run(io, std::move(spec), nullptr, std::move(completion));
}

void configure(asio::io_context& io, SessionOptions options) {
  asio::use_service<Session>(io).configure(options);
}

Metrics metrics(asio::io_context& io) { return asio::use_service<Session>(io).metrics(); }

namespace detail {

bool serve_until(asio::io_context& io, const RunOptions& options, const std::function<bool()>& done,
                 const std::function<void()>& cancel) {
  std::optional<asio::steady_timer> deadline;
  bool timed_out = false;
  if (options.timeout) {
    deadline.emplace(io, *options.timeout);
    deadline->async_wait([&](const asio::error_code& ec) {
      if (ec || done()) return;
      timed_out = true;
      cancel();
    });
  }
  {
    // A stop request from any thread cancels (cancel is thread-safe).
    std::optional<std::stop_callback<std::function<void()>>> on_stop;
    if (options.stop.stop_possible()) on_stop.emplace(options.stop, cancel);
    while (!done() && io.run_one() > 0) {
    }
  }
  if (deadline) deadline->cancel();
  return timed_out;
}

std::string timed_out_error(std::chrono::nanoseconds timeout) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  return "timed out after " + std::to_string(ms.count()) + " ms (RunOptions::timeout)";
}

}  // namespace detail

Result run(Spec spec, Handler& handler, RunOptions options) {
  asio::io_context io;
  std::optional<Result> out;
  // A non-owning pointer: the caller's handler outlives io.run().
  std::shared_ptr<Handler> h(std::shared_ptr<Handler>(), &handler);
  RunHandle handle = async_run(io, std::move(spec), h, [&](Result r) { out = std::move(r); });
  const bool timed_out = detail::serve_until(
      io, options, [&] { return out.has_value(); }, [&handle] { handle.cancel(); });
  if (!out) {
    Result r;
    r.error = "the run ended without a result";
    return r;
  }
  if (timed_out && out->status == Status::kRunnerError && out->error == "cancelled")
    out->error = detail::timed_out_error(*options.timeout);
  return std::move(*out);
}

Result run(Spec spec, RunOptions options) {
  std::shared_ptr<Handler> handler;
  try {
    if (spec.make_handler) handler = spec.make_handler();
  } catch (const std::exception& e) {
    Result r;
    r.error = std::string("Spec::make_handler threw: ") + e.what();
    return r;
  }
  Handler none;
  return run(std::move(spec), handler ? *handler : none, std::move(options));
}

Result run_on_this_thread(Spec spec, std::shared_ptr<Handler> handler,
                          const std::atomic<bool>* cancel, SessionOptions options) {
  Result out;
  out.status = Status::kRunnerError;
  out.error = "the run ended without a result";
  if (!handler && spec.make_handler) {
    try {
      handler = spec.make_handler();
    } catch (const std::exception& e) {
      out.error = std::string("Spec::make_handler threw: ") + e.what();
      return out;
    }
  }
  asio::io_context io;
  auto& session = asio::use_service<Session>(io);
  session.configure(options);
  session.trace_here(cancel);
  session.submit(std::make_shared<RunHandle::State>(io), std::move(spec), std::move(handler),
                 [&](Result r) { out = std::move(r); });
  session.serve_here();
  return out;
}

void set_wakeup_signal(int sig) { detail_set_wakeup_signal(sig); }

}  // namespace tracebox::tracer
