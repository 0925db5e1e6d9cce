#include "tracebox/tracer/group.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>
#include <utility>

#include "blocking.h"
#include "tracebox/util/error.h"
#include "tracebox/util/unique_fd.h"

namespace tracebox::tracer {

struct GroupHandle::State {
  std::mutex mu;
  std::vector<RunHandle> runs;
  bool cancelled = false;  // by the caller
};

void GroupHandle::cancel() const {
  if (!state_) return;
  std::vector<RunHandle> runs;
  {
    std::lock_guard lock(state_->mu);
    state_->cancelled = true;
    runs = state_->runs;
  }
  for (const RunHandle& r : runs) r.cancel();
}

namespace {

using Clock = std::chrono::steady_clock;

// A pipe end the group holds for a program until that program has started (or failed to).
class HeldFd {
 public:
  explicit HeldFd(UniqueFd fd) : fd_(std::move(fd)) {}
  int get() const { return fd_.get(); }
  void close() {
    std::lock_guard lock(mu_);
    fd_.reset();
  }

 private:
  std::mutex mu_;
  UniqueFd fd_;
};

// The two ends of a new pipe, close-on-exec (the programs get theirs through process.files,
// which the child dup2s into place).
std::pair<UniqueFd, UniqueFd> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw SystemError(errno, "pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    throw SystemError(errno, "fcntl(O_NONBLOCK)");
}

// One relayed pipe: the relay reads what the writer wrote from `in` and writes it to `out`.
struct Relayed {
  std::size_t index = 0;   // in GroupSpec::pipes
  std::size_t writer = 0;  // the writing program
  UniqueFd in, out;        // non-blocking (these file descriptions are the relay's alone)
  std::optional<std::uint64_t> max;
  std::uint64_t transcript_max = 0;
  std::string buf;  // read, not yet written
  std::size_t off = 0;
  GroupPipeResult result;
};

// Moves the bytes of every relayed pipe of one group, on a thread of its own: poll on all of
// them, read when the buffer is empty, write what it holds.
class Relay {
 public:
  // `over_cap(writer)` is called (on the relay thread) when a writer passed its pipe's cap.
  Relay(std::vector<Relayed> pipes, std::function<void(std::size_t)> over_cap)
      : pipes_(std::move(pipes)), over_cap_(std::move(over_cap)) {
    stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_) throw SystemError(errno, "eventfd");
  }
  ~Relay() { finish(); }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  void start() {
    thread_ = std::thread([this] { loop(); });
  }
  // Asks the relay to finish (every program has ended: every end it moves bytes between is
  // closed or about to be) and waits for it.
  void finish() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Relayed>& pipes() { return pipes_; }

 private:
  static constexpr std::size_t kChunk = 64 * 1024;

  // The reader's end is gone: the writer must get EPIPE, and what was held is dropped.
  static void reader_gone(Relayed& p) {
    p.out.reset();
    p.in.reset();
    p.buf.clear();
    p.off = 0;
  }

  void read_some(Relayed& p) {
    p.buf.resize(kChunk);
    const ssize_t n = ::read(p.in.get(), p.buf.data(), kChunk);
    if (n < 0) {
      p.buf.clear();
      if (errno == EAGAIN || errno == EINTR) return;
      p.in.reset();  // no more from the writer
      return;
    }
    if (n == 0) {
      p.buf.clear();
      p.in.reset();  // EOF: the reader gets it once the buffer is written
      return;
    }
    p.buf.resize(static_cast<std::size_t>(n));
    p.off = 0;
    const std::uint64_t before = p.result.bytes;
    p.result.bytes += static_cast<std::uint64_t>(n);
    if (p.max && p.result.bytes > *p.max) {
      // Only what fits under the cap crosses; the writer's end is closed (EPIPE) and its run
      // ended by the group.
      p.buf.resize(static_cast<std::size_t>(*p.max - before));
      p.result.over_cap = true;
      p.in.reset();
      over_cap_(p.writer);
    }
    const std::uint64_t room =
        p.transcript_max > p.result.data.size() ? p.transcript_max - p.result.data.size() : 0;
    p.result.data.append(p.buf, 0,
                         static_cast<std::size_t>(std::min<std::uint64_t>(room, p.buf.size())));
    if (p.result.data.size() < p.result.bytes) p.result.data_truncated = true;
  }

  void write_some(Relayed& p) {
    const ssize_t n = ::write(p.out.get(), p.buf.data() + p.off, p.buf.size() - p.off);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      reader_gone(p);  // EPIPE (SIGPIPE is blocked on this thread)
      return;
    }
    p.off += static_cast<std::size_t>(n);
    if (p.off == p.buf.size()) {
      p.buf.clear();
      p.off = 0;
    }
  }

  void loop() {
    // No signal runs a handler here; a write to a pipe whose reader is gone is EPIPE, and the
    // thread-directed SIGPIPE it raises is dropped with the thread.
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    bool stopping = false;
    std::vector<pollfd> fds;
    std::vector<std::pair<std::size_t, bool>> which;  // pipe, is its `out`
    for (;;) {
      fds.clear();
      which.clear();
      for (std::size_t i = 0; i < pipes_.size(); ++i) {
        Relayed& p = pipes_[i];
        if (!p.in && p.buf.empty() && p.out) p.out.reset();  // all delivered: EOF to the reader
        if (p.in && p.buf.empty()) {
          fds.push_back({p.in.get(), POLLIN, 0});
          which.emplace_back(i, false);
        }
        // Always watched: POLLERR says the reader has gone, even with nothing to write.
        if (p.out) {
          fds.push_back({p.out.get(), static_cast<short>(p.buf.empty() ? 0 : POLLOUT), 0});
          which.emplace_back(i, true);
        }
      }
      if (fds.empty()) return;
      fds.push_back({stop_.get(), POLLIN, 0});
      // Once every program has ended each end left is closed or has its last bytes: a pass
      // that finds nothing to do within the timeout ends the relay.
      const int ready = ::poll(fds.data(), fds.size(), stopping ? 100 : -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (ready == 0 && stopping) return;
      if (fds.back().revents != 0) stopping = true;
      for (std::size_t k = 0; k + 1 < fds.size(); ++k) {
        if (fds[k].revents == 0) continue;
        Relayed& p = pipes_[which[k].first];
        if (which[k].second) {
          if (!p.out) continue;
          if (fds[k].revents & (POLLERR | POLLHUP | POLLNVAL))
            reader_gone(p);
          else if (fds[k].revents & POLLOUT)
            write_some(p);
        } else if (p.in && p.buf.empty()) {
          read_some(p);  // POLLIN, or POLLHUP: read() says EOF
        }
      }
    }
  }

  std::vector<Relayed> pipes_;
  std::function<void(std::size_t)> over_cap_;
  UniqueFd stop_;
  std::thread thread_;
};

struct Group {
  std::mutex mu;
  std::vector<std::optional<Result>> results;
  std::size_t remaining = 0;
  std::vector<GroupPipe> pipes;
  std::vector<std::string> names;
  std::vector<std::vector<std::shared_ptr<HeldFd>>> held;  // per program
  std::vector<char> capped;                                // per program: ended for a cap
  std::unique_ptr<Relay> relay;
  std::function<void(GroupResult)> completion;
  Clock::time_point start;
  std::shared_ptr<GroupHandle::State> handle;

  std::string pipe_name(std::size_t i) const {
    const GroupPipe& p = pipes[i];
    return fmt::format("pipe {} ({} fd {} -> {} fd {})", i, names[p.from], p.from_fd, names[p.to],
                       p.to_fd);
  }

  // Called once, by the last program's completion.
  void finish() {
    if (relay) relay->finish();
    GroupResult out;
    out.pipes.resize(pipes.size());
    if (relay)
      for (Relayed& r : relay->pipes()) out.pipes[r.index] = std::move(r.result);
    bool user_cancelled;
    {
      std::lock_guard lock(handle->mu);
      user_cancelled = handle->cancelled;
    }
    for (auto& r : results) out.results.push_back(std::move(*r));
    for (std::size_t i = 0; i < pipes.size(); ++i) {
      if (!out.pipes[i].over_cap) continue;
      Result& w = out.results[pipes[i].from];
      const bool by_program = w.status == Status::kNormal ||
                              w.status == Status::kNonzeroExitStatus ||
                              w.status == Status::kSignalled;
      const bool by_cap = w.status == Status::kRunnerError && w.error == "cancelled" &&
                          !user_cancelled && capped[pipes[i].from];
      if (!by_program && !by_cap) continue;
      w.status = Status::kOutputLimitExceeded;
      w.limit = LimitKind::kOutput;
      w.error =
          fmt::format("output limit: {} past its {} bytes", pipe_name(i), *pipes[i].max_bytes);
    }
    out.wall_time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    auto c = std::move(completion);
    if (c) c(std::move(out));
  }
};

std::string check(const GroupSpec& spec) {
  if (spec.programs.empty()) return "a group needs a program";
  std::set<std::pair<std::size_t, int>> used;
  for (std::size_t i = 0; i < spec.pipes.size(); ++i) {
    const GroupPipe& p = spec.pipes[i];
    for (auto [prog, fd] : {std::pair{p.from, p.from_fd}, std::pair{p.to, p.to_fd}}) {
      if (prog >= spec.programs.size())
        return fmt::format("pipe {}: no program {} (the group has {})", i, prog,
                           spec.programs.size());
      if (fd < 0 || fd >= 1024) return fmt::format("pipe {}: fd {} out of range", i, fd);
      if (!used.emplace(prog, fd).second)
        return fmt::format("pipe {}: fd {} of program {} is already an end of another pipe", i, fd,
                           prog);
    }
  }
  return {};
}

// Makes fd `fd` of `spec`'s program the held end.
void place(Spec& spec, int fd, int number) {
  auto& files = spec.process.files;
  if (files.size() <= static_cast<std::size_t>(fd))
    files.resize(static_cast<std::size_t>(fd) + 1, forkexec::kCloseFd);
  files[static_cast<std::size_t>(fd)] = number;
  if (fd == 0) spec.io.in = Input();
  if (fd == 1) spec.io.out = Output();
  if (fd == 2) spec.io.err = Output();
}

}  // namespace

GroupHandle async_run_group(asio::io_context& io, GroupSpec spec,
                            std::function<void(GroupResult)> completion) {
  auto handle = std::make_shared<GroupHandle::State>();
  auto group = std::make_shared<Group>();
  group->start = Clock::now();
  group->handle = handle;
  group->completion = std::move(completion);
  const std::size_t n = spec.programs.size();
  group->results.resize(n);
  group->remaining = n;
  group->held.resize(n);
  group->capped.assign(n, 0);
  for (const auto& p : spec.programs) group->names.push_back(p.name.empty() ? "program" : p.name);

  auto fail = [&](std::string why) {
    asio::post(io, [group, why = std::move(why), n] {
      GroupResult out;
      out.error = why;
      out.pipes.resize(group->pipes.size());
      for (std::size_t i = 0; i < n; ++i) {
        Result r;
        r.status = Status::kRunnerError;
        r.error = "group: " + why;
        out.results.push_back(std::move(r));
      }
      auto c = std::move(group->completion);
      if (c) c(std::move(out));
    });
    return GroupHandle(handle);
  };

  if (std::string why = check(spec); !why.empty()) return fail(std::move(why));
  group->pipes = spec.pipes;

  std::vector<Relayed> relayed;
  try {
    for (std::size_t i = 0; i < spec.pipes.size(); ++i) {
      const GroupPipe& p = spec.pipes[i];
      auto hold = [&](std::size_t prog, int fd, UniqueFd end) {
        auto h = std::make_shared<HeldFd>(std::move(end));
        place(spec.programs[prog].spec, fd, h->get());
        group->held[prog].push_back(std::move(h));
      };
      auto [r, w] = make_pipe();
      if (!p.max_bytes && p.transcript_bytes == 0) {
        hold(p.from, p.from_fd, std::move(w));
        hold(p.to, p.to_fd, std::move(r));
        continue;
      }
      // Relayed: writer -> (w, r) -> relay -> (w2, r2) -> reader.
      auto [r2, w2] = make_pipe();
      set_nonblocking(r.get());
      set_nonblocking(w2.get());
      hold(p.from, p.from_fd, std::move(w));
      hold(p.to, p.to_fd, std::move(r2));
      Relayed rel;
      rel.index = i;
      rel.writer = p.from;
      rel.in = std::move(r);
      rel.out = std::move(w2);
      rel.max = p.max_bytes;
      rel.transcript_max = p.transcript_bytes;
      rel.result.relayed = true;
      relayed.push_back(std::move(rel));
    }
    if (!relayed.empty()) {
      std::weak_ptr<GroupHandle::State> weak = handle;
      std::weak_ptr<Group> weak_group = group;
      group->relay = std::make_unique<Relay>(std::move(relayed), [weak, weak_group](std::size_t w) {
        auto h = weak.lock();
        auto g = weak_group.lock();
        if (!h || !g) return;
        RunHandle run;
        {
          std::lock_guard lock(h->mu);
          if (w < h->runs.size()) run = h->runs[w];
        }
        {
          std::lock_guard lock(g->mu);
          g->capped[w] = 1;
        }
        run.cancel();
      });
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  std::vector<RunHandle> runs;
  for (std::size_t i = 0; i < n; ++i) {
    GroupProgram& prog = spec.programs[i];
    Spec& s = prog.spec;
    // The group's wall clock: one deadline for all, from now (queueing and set-up included),
    // so that programs waiting on each other are all killed at the same tick; each one's own
    // wall limit still counts from its exec.
    if (spec.wall) {
      const auto end = group->start + *spec.wall;
      s.limits.deadline = s.limits.deadline ? std::min(*s.limits.deadline, end) : end;
    }
    // The child holds its own copies from its clone on: the group's are closed there, so that
    // only programs hold pipe ends (a reader sees EOF when its writers are gone).
    s.process.sync = [user = std::move(s.process.sync), held = group->held[i]](pid_t pid) {
      const int err = user ? user(pid) : 0;
      for (const auto& h : held) h->close();
      return err;
    };
    runs.push_back(async_run(io, std::move(s), std::move(prog.handler), [group, i](Result r) {
      // Not started, or started: either way the group's copies are not needed any more.
      for (const auto& h : group->held[i]) h->close();
      bool last;
      {
        std::lock_guard lock(group->mu);
        group->results[i] = std::move(r);
        last = --group->remaining == 0;
      }
      if (last) group->finish();
    }));
  }
  bool cancelled;
  {
    std::lock_guard lock(handle->mu);
    handle->runs = runs;
    cancelled = handle->cancelled;
  }
  if (cancelled)
    for (const RunHandle& r : runs) r.cancel();
  // Only now: a cap passed from here on can cancel its writer's run.
  if (group->relay) group->relay->start();
  return GroupHandle(handle);
}

GroupResult run_group(GroupSpec spec, RunOptions options) {
  asio::io_context io;
  std::optional<GroupResult> out;
  GroupHandle handle =
      async_run_group(io, std::move(spec), [&](GroupResult r) { out = std::move(r); });
  const bool timed_out = detail::serve_until(
      io, options, [&] { return out.has_value(); }, [&handle] { handle.cancel(); });
  if (!out) {
    GroupResult r;
    r.error = "the group ended without a result";
    return r;
  }
  if (timed_out)
    for (Result& r : out->results)
      if (r.status == Status::kRunnerError && r.error == "cancelled")
        r.error = detail::timed_out_error(*options.timeout);
  return std::move(*out);
}

}  // namespace tracebox::tracer
