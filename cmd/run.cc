#include "run.h"

#include <signal.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cerrno>
#include <string>

#include "output.h"

namespace tracebox::cmd {
namespace {

// Writes all of `text` to `fd`; false (errno set) on failure.
bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The -trace-log file, written in large chunks.
class TraceLog {
 public:
  explicit TraceLog(int fd) : fd_(fd) {}
  void add(const tracer::TraceEvent& e) {
    buffer_ += trace_json_line(e);
    if (buffer_.size() >= kChunk) flush();
  }
  // False when a write failed (errno set); later lines are dropped.
  bool flush() {
    if (failed_ == 0 && !write_all(fd_, buffer_)) failed_ = errno;
    buffer_.clear();
    return failed_ == 0;
  }
  int error() const { return failed_; }

 private:
  static constexpr std::size_t kChunk = 64 * 1024;
  int fd_;
  int failed_ = 0;
  std::string buffer_;
};

}  // namespace

tracer::Result run_ptrace(Prepared& p, const std::function<void(const tracer::Result&)>& done) {
  tracer::Spec spec = std::move(p.spec);
  TraceLog log(p.trace_log.get());
  const bool logging = static_cast<bool>(p.trace_log);
  const bool details = p.options.show_trace_details;
  if (logging || details) {
    spec.observer = [&](const tracer::TraceEvent& e) {
      if (logging) log.add(e);
      if (details) write_all(2, trace_text_line(e));
    };
  }
  // As go-sandbox's runprog: SIGINT or SIGTERM cancels the run, which ends as a runner error
  // (every process of it killed and reaped) and is still reported.
  asio::io_context io;
  if (!p.home_cpus.empty()) {
    tracer::SessionOptions session;
    session.cpus = p.home_cpus;
    tracer::configure(io, std::move(session));
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  tracer::Result result;
  auto flush_log = [&] {
    if (logging && !log.flush()) {
      write_all(2, "runprog: -trace-log: " + p.options.trace_log + ": " + errno_text(log.error()) +
                       " (the log is incomplete)\n");
    }
  };
  tracer::RunHandle run = tracer::async_run(io, std::move(spec), [&](tracer::Result r) {
    result = std::move(r);
    signals.cancel();
    if (done) {
      flush_log();
      done(result);
    }
  });
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (!ec) run.cancel();
  });
  io.run();
  if (!done) flush_log();
  return result;
}

}  // namespace tracebox::cmd
