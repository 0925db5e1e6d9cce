#include "run.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
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

// Set by SIGINT and SIGTERM: the run is cancelled (read by the tracer at its next wakeup; the
// signal interrupts its wait when the tracing thread takes it).
std::atomic<bool> g_cancel{false};

void on_cancel_signal(int) { g_cancel = true; }

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
  // (every process of it killed and reaped) and is still reported. No SA_RESTART: the signal
  // interrupts the tracer's wait, which then sees the flag.
  struct sigaction cancel {};
  cancel.sa_handler = on_cancel_signal;
  sigemptyset(&cancel.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  ::sigaction(SIGINT, &cancel, &old_int);
  ::sigaction(SIGTERM, &cancel, &old_term);
  tracer::SessionOptions session;
  session.cpus = p.home_cpus;
  // The handler spec.make_handler makes (run_on_this_thread calls it when given none).
  tracer::Result result = tracer::run_on_this_thread(std::move(spec), nullptr, &g_cancel, session);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (logging && !log.flush()) {
    write_all(2, "runprog: -trace-log: " + p.options.trace_log + ": " + errno_text(log.error()) +
                     " (the log is incomplete)\n");
  }
  if (done) done(result);
  return result;
}

}  // namespace tracebox::cmd
