// Run groups: several programs started as one unit, each under its own Spec (policy, limits,
// files) with its own verdict, connected by pipes the group creates: an interactive problem's
// solution and interactor, a pipeline of filters. A group is a set of ordinary runs (async_run)
// on one io_context; the group only wires their fds and collects their Results.
//
//   GroupSpec g;
//   g.programs = {{"solution", solution_spec}, {"interactor", interactor_spec}};
//   g.pipes = {{0, 1, 1, 0}, {1, 1, 0, 0}};  // solution's stdout -> interactor's stdin and back
//   g.wall = std::chrono::seconds(5);
//   GroupResult r = run_group(std::move(g));
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tracebox/tracer/handler.h"
#include "tracebox/tracer/result.h"
#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer {

// One program of a group.
struct GroupProgram {
  std::string name;  // for messages and logs ("solution", "interactor")
  // Its run. A pipe end replaces what the Spec says for that fd: process.files[fd], and for fds
  // 0 to 2 the stream of `io` (which becomes unset).
  Spec spec;
  // Its handler; none: spec.make_handler's (none either: every traced syscall is allowed).
  std::shared_ptr<Handler> handler = nullptr;
};

// A pipe from program `from`'s fd `from_fd` (it writes) to program `to`'s fd `to_fd` (it reads).
//
// Without max_bytes and transcript_bytes the two programs share one kernel pipe and the library
// keeps no copy of its ends once each program has started: a reader sees EOF as soon as every
// writer has exited or closed its end, a writer gets EPIPE (SIGPIPE) as soon as the reader has.
//
// With either, the pipe is relayed: the writer writes into one pipe and the reader reads from
// another, and a thread of the group (one for all its relayed pipes) moves the bytes between them
// with poll, read and write, counting them. EOF and EPIPE still cross the relay (the writer's end
// closed: the reader gets EOF once what was written is delivered; the reader's end closed: the
// writer gets EPIPE at its next write, and what the relay held is dropped), but every message
// costs the relay a wakeup and a copy: an interactive exchange of many short messages is slower
// relayed than direct. Ask for a relay only where a cap or a transcript is needed.
struct GroupPipe {
  std::size_t from = 0;
  int from_fd = 1;
  std::size_t to = 0;
  int to_fd = 0;
  // The reader-side cap: the most bytes the reader receives. When the writer has written more,
  // the reader gets the first max_bytes and then EOF, and the writer's run is ended at once
  // (RunHandle::cancel) with the verdict output_limit_exceeded (limit "output"), unless its run
  // had already ended by a limit or a violation of its own (which then stands). A program that
  // writes endlessly into a capped pipe is therefore an output limit, never a hang. The reader's
  // verdict is its own (what it does after the EOF).
  std::optional<std::uint64_t> max_bytes = std::nullopt;
  // Keep the first transcript_bytes bytes that crossed the pipe (GroupPipeResult::data), for a
  // judge's log. 0: none kept.
  std::uint64_t transcript_bytes = 0;
};

struct GroupSpec {
  std::vector<GroupProgram> programs;
  std::vector<GroupPipe> pipes;
  // The group's wall limit, from async_run_group (queueing and set-up included): one deadline
  // for every program (Limits::deadline), enforced by the tracer thread at the same tick for all,
  // so a program still running when it passes ends with time_limit_exceeded, limit "wall", and
  // two programs blocked on each other both do (neither sees its peer die first). Each program's
  // own Limits::wall still counts from its exec. A program the session's max_in_flight holds in
  // its queue spends the group's time there: a group whose programs wait on each other needs as
  // many runs in flight as it has programs.
  std::optional<std::chrono::nanoseconds> wall = std::nullopt;
};

// What crossed one pipe (relayed pipes only; a direct pipe reports nothing).
struct GroupPipeResult {
  bool relayed = false;
  std::uint64_t bytes = 0;      // read from the writer
  bool over_cap = false;        // the writer wrote more than max_bytes
  std::string data;             // the first transcript_bytes of them
  bool data_truncated = false;  // more crossed than `data` holds
};

struct GroupResult {
  // One Result per program, in GroupSpec::programs' order.
  std::vector<Result> results;
  // One per pipe, in GroupSpec::pipes' order.
  std::vector<GroupPipeResult> pipes;
  // Why the group could not start (a bad GroupSpec, no pipe): every Result is then a
  // runner_error saying so. Empty otherwise.
  std::string error;
  std::chrono::microseconds wall_time{0};  // from async_run_group to the last Result
};

// Cancels every program of a group (each ends as runner_error "cancelled"); any thread, any time.
class GroupHandle {
 public:
  struct State;
  GroupHandle() = default;
  explicit GroupHandle(std::shared_ptr<State> s) : state_(std::move(s)) {}
  void cancel() const;

 private:
  std::shared_ptr<State> state_;
};

// Starts every program of `spec` on `io` (async_run each, in order) and posts `completion` once
// every one has a Result and the relay, if any, has delivered or dropped all it held. Every copy
// of a pipe end the group holds is closed as soon as the program that needs it has started (its
// process cloned with it), or has failed to start: no program waits on an end that only the
// library still holds. Never throws for a bad spec: that is GroupResult::error.
GroupHandle async_run_group(asio::io_context& io, GroupSpec spec,
                            std::function<void(GroupResult)> completion);

// The blocking form, on an io_context of its own. RunOptions::stop and ::timeout cancel every
// program.
GroupResult run_group(GroupSpec spec, RunOptions options = {});

}  // namespace tracebox::tracer
