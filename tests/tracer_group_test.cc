// Run groups (tracer::async_run_group, run_group): programs connected by pipes the group makes,
// each a judge run of the default profile with its own verdict; direct and relayed pipes (a
// reader-side cap, a transcript); a testlib-style interactor (tests/programs/interactor.c) with
// solutions that answer right, wrong, too often, never, endlessly, or leave early.
#include <unistd.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "support/support.h"
#include "tracebox/tracer/group.h"
#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

const policy::PreparedProfile& default_profile() {
  static const auto prepared = policy::prepare_profile("default");
  return *prepared;
}

Spec judge_spec(const TempDir& work, std::vector<std::string> args, Io io = {},
                policy::FileSets grants = {}) {
  policy::RunRequest request;
  request.work_dir = work.path();
  request.args = std::move(args);
  request.io = std::move(io);
  request.cpu = 2s;
  request.wall = 10s;
  request.grants = std::move(grants);
  return default_profile().spec(request);
}

#define TB_SHOW(r) INFO("status " << to_string((r).status) << ": " << (r).error)

struct Game {
  GroupResult result;
  std::string verdict;  // the interactor's output file
};

// The guessing game: the guesser in `mode` against the interactor, secret 777777. Pipe 0 is the
// solution's stdout to the interactor's stdin, pipe 1 the way back.
Game play(const char* mode, std::optional<std::uint64_t> cap = std::nullopt,
          std::uint64_t transcript = 0, std::chrono::nanoseconds wall = 5s) {
  TempDir work;
  const std::string input = work.file("input.txt"), output = work.file("output.txt");
  test::write_file(input, "777777\n");
  policy::FileSets grants;
  grants.readable.add(input);
  grants.writable.add(output);
  GroupSpec g;
  g.programs.push_back({"solution", judge_spec(work, {TRACEBOX_GUESSER, mode},
                                               {Input{}, Output{}, Output::null()})});
  g.programs.push_back({"interactor", judge_spec(work, {TRACEBOX_INTERACTOR, input, output},
                                                 {Input{}, Output{}, Output::null()}, grants)});
  g.pipes.push_back({0, 1, 1, 0, cap, transcript});
  g.pipes.push_back({1, 1, 0, 0, std::nullopt, transcript});
  g.wall = wall;
  Game game;
  game.result = run_group(std::move(g));
  if (::access(output.c_str(), F_OK) == 0) game.verdict = test::read_file(output);
  return game;
}

}  // namespace

TEST_CASE("group: a direct pipe carries every byte, and its reader sees EOF when the writer ends",
          "[tracer][group]") {
  TempDir work;
  GroupSpec g;
  g.programs.push_back({"writer", judge_spec(work, {test::tracee(), "output-bytes", "300000"})});
  g.programs.push_back(
      {"reader", judge_spec(work, {test::tracee(), "copy"},
                            {Input{}, Output::capture(1 << 20), Output::capture(1 << 10)})});
  g.pipes.push_back({0, 1, 1, 0});
  g.wall = 10s;
  const GroupResult r = run_group(std::move(g));
  REQUIRE(r.error.empty());
  REQUIRE(r.results.size() == 2);
  TB_SHOW(r.results[0]);
  CHECK(r.results[0].status == Status::kNormal);
  TB_SHOW(r.results[1]);
  CHECK(r.results[1].status == Status::kNormal);
  CHECK(r.results[1].stdout_data == std::string(300000, 'x'));
  CHECK(r.results[1].stderr_data == "300000 bytes\n");
  CHECK_FALSE(r.pipes[0].relayed);
  // The reader ended on EOF, long before any wall limit.
  CHECK(r.wall_time < 5s);
}

TEST_CASE("group: a writer whose reader has gone gets EPIPE (SIGPIPE), direct or relayed",
          "[tracer][group]") {
  for (bool relayed : {false, true}) {
    INFO("relayed " << relayed);
    TempDir work;
    GroupSpec g;
    g.programs.push_back(
        {"writer", judge_spec(work, {test::tracee(), "output-bytes", "100000000000"})});
    g.programs.push_back({"reader", judge_spec(work, {test::tracee(), "exit", "0"})});
    g.pipes.push_back({0, 1, 1, 0, std::nullopt, relayed ? 16u : 0u});
    g.wall = 10s;
    const GroupResult r = run_group(std::move(g));
    REQUIRE(r.results.size() == 2);
    TB_SHOW(r.results[0]);
    CHECK(r.results[0].status == Status::kSignalled);
    CHECK(r.results[0].signal == SIGPIPE);
    CHECK(r.results[1].status == Status::kNormal);
    CHECK(r.pipes[0].relayed == relayed);
    CHECK(r.wall_time < 5s);
  }
}

TEST_CASE("group: a relayed pipe keeps a bounded transcript and still delivers EOF",
          "[tracer][group]") {
  TempDir work;
  GroupSpec g;
  g.programs.push_back({"writer", judge_spec(work, {test::tracee(), "output-bytes", "200000"})});
  g.programs.push_back(
      {"reader", judge_spec(work, {test::tracee(), "copy"},
                            {Input{}, Output::capture(1 << 20), Output::capture(1 << 10)})});
  g.pipes.push_back({0, 1, 1, 0, std::nullopt, 100});
  const GroupResult r = run_group(std::move(g));
  REQUIRE(r.results.size() == 2);
  TB_SHOW(r.results[1]);
  CHECK(r.results[0].status == Status::kNormal);
  CHECK(r.results[1].status == Status::kNormal);
  CHECK(r.results[1].stdout_data.size() == 200000);
  CHECK(r.pipes[0].relayed);
  CHECK(r.pipes[0].bytes == 200000);
  CHECK(r.pipes[0].data == std::string(100, 'x'));
  CHECK(r.pipes[0].data_truncated);
  CHECK_FALSE(r.pipes[0].over_cap);
}

TEST_CASE("group: a writer past a pipe's cap is output_limit_exceeded, its reader gets the cap",
          "[tracer][group]") {
  TempDir work;
  GroupSpec g;
  // An endless writer: without the cap it would end only by its wall limit.
  g.programs.push_back(
      {"writer", judge_spec(work, {test::tracee(), "output-bytes", "100000000000"})});
  g.programs.push_back(
      {"reader", judge_spec(work, {test::tracee(), "copy"},
                            {Input{}, Output::capture(1 << 20), Output::capture(1 << 10)})});
  g.pipes.push_back({0, 1, 1, 0, 123457, 0});
  g.wall = 10s;
  const GroupResult r = run_group(std::move(g));
  REQUIRE(r.results.size() == 2);
  TB_SHOW(r.results[0]);
  CHECK(r.results[0].status == Status::kOutputLimitExceeded);
  CHECK(r.results[0].limit == LimitKind::kOutput);
  CHECK(r.results[0].error.find("pipe 0 (writer fd 1 -> reader fd 0)") != std::string::npos);
  TB_SHOW(r.results[1]);
  CHECK(r.results[1].status == Status::kNormal);
  CHECK(r.results[1].stdout_data.size() == 123457);
  CHECK(r.pipes[0].over_cap);
  CHECK(r.pipes[0].bytes > 123457);
  CHECK(r.wall_time < 5s);
}

TEST_CASE("group: a bad group is an error result for every program", "[tracer][group]") {
  TempDir work;
  for (int bad = 0; bad < 3; ++bad) {
    GroupSpec g;
    g.programs.push_back({"a", judge_spec(work, {test::tracee(), "exit", "0"})});
    g.programs.push_back({"b", judge_spec(work, {test::tracee(), "exit", "0"})});
    if (bad == 0) g.pipes.push_back({0, 1, 2, 0});  // no program 2
    if (bad == 1) g.pipes.push_back({0, -1, 1, 0});
    if (bad == 2) {
      g.pipes.push_back({0, 1, 1, 0});
      g.pipes.push_back({1, 1, 1, 0});  // b's fd 0 twice
    }
    const GroupResult r = run_group(std::move(g));
    INFO(r.error);
    CHECK_FALSE(r.error.empty());
    REQUIRE(r.results.size() == 2);
    CHECK(r.results[0].status == Status::kRunnerError);
    CHECK(r.results[1].status == Status::kRunnerError);
  }
  const GroupResult empty = run_group(GroupSpec{});
  CHECK_FALSE(empty.error.empty());
}

TEST_CASE("group: the caller can cancel a whole group", "[tracer][group]") {
  TempDir work;
  asio::io_context io;
  GroupSpec g;
  g.programs.push_back({"a", judge_spec(work, {test::tracee(), "sleep", "5000"})});
  g.programs.push_back({"b", judge_spec(work, {test::tracee(), "copy"})});
  g.pipes.push_back({0, 1, 1, 0});
  std::optional<GroupResult> out;
  GroupHandle h = async_run_group(io, std::move(g), [&](GroupResult r) { out = std::move(r); });
  h.cancel();
  io.run();
  REQUIRE(out);
  for (const Result& r : out->results) {
    CHECK(r.status == Status::kRunnerError);
    CHECK(r.error == "cancelled");
  }
}

TEST_CASE("interactive: the right answer is accepted by the interactor", "[tracer][group]") {
  const Game g = play("right", std::nullopt, 64);
  REQUIRE(g.result.results.size() == 2);
  TB_SHOW(g.result.results[0]);
  CHECK(g.result.results[0].status == Status::kNormal);
  TB_SHOW(g.result.results[1]);
  CHECK(g.result.results[1].status == Status::kNormal);
  CHECK(g.verdict.starts_with("ok found 777777 in "));
  // The transcript of both directions, relayed.
  CHECK(g.result.pipes[0].data.starts_with("? 500000\n? 750000\n"));
  CHECK(g.result.pipes[1].data.starts_with(">\n>\n"));
}

TEST_CASE("interactive: a wrong answer is the interactor's exit 1", "[tracer][group]") {
  const Game g = play("wrong");
  REQUIRE(g.result.results.size() == 2);
  CHECK(g.result.results[0].status == Status::kNormal);
  CHECK(g.result.results[1].status == Status::kNonzeroExitStatus);
  CHECK(g.result.results[1].exit_status == 1);
  CHECK(g.verdict == "wrong answer answered 777778, the secret is 777777\n");
}

TEST_CASE("interactive: too many questions is a wrong answer", "[tracer][group]") {
  const Game g = play("often");
  REQUIRE(g.result.results.size() == 2);
  TB_SHOW(g.result.results[1]);
  CHECK(g.result.results[1].status == Status::kNonzeroExitStatus);
  CHECK(g.result.results[1].exit_status == 1);
  CHECK(g.verdict == "wrong answer more than 30 questions\n");
  // The solution read EOF (or wrote into a closed pipe): either way it ended by itself.
  CHECK((g.result.results[0].status == Status::kNormal ||
         g.result.results[0].status == Status::kSignalled));
  CHECK(g.result.wall_time < 4s);
}

TEST_CASE("interactive: two programs waiting on each other both end by the group wall limit",
          "[tracer][group]") {
  const Game g = play("never", std::nullopt, 0, 1s);
  REQUIRE(g.result.results.size() == 2);
  for (const Result& r : g.result.results) {
    TB_SHOW(r);
    CHECK(r.status == Status::kTimeLimitExceeded);
    CHECK(r.limit == LimitKind::kWall);
  }
  CHECK(g.result.wall_time >= 1s);
  CHECK(g.result.wall_time < 4s);
  CHECK(g.verdict.empty());
}

TEST_CASE("interactive: a solution writing endlessly is an output limit through the cap",
          "[tracer][group]") {
  const Game g = play("flood", std::uint64_t{1} << 20);
  REQUIRE(g.result.results.size() == 2);
  TB_SHOW(g.result.results[0]);
  CHECK(g.result.results[0].status == Status::kOutputLimitExceeded);
  // The interactor read the capped megabyte of newlines, then EOF.
  TB_SHOW(g.result.results[1]);
  CHECK(g.result.results[1].status == Status::kNonzeroExitStatus);
  CHECK(g.result.results[1].exit_status == 1);
  CHECK(g.verdict == "wrong answer unexpected EOF after 0 questions\n");
  CHECK(g.result.wall_time < 4s);
}

TEST_CASE("interactive: a solution that leaves early: the interactor sees EOF, not a wall limit",
          "[tracer][group]") {
  for (bool relayed : {false, true}) {
    INFO("relayed " << relayed);
    const Game g = play("early", std::nullopt, relayed ? 1024 : 0, 10s);
    REQUIRE(g.result.results.size() == 2);
    CHECK(g.result.results[0].status == Status::kNormal);
    TB_SHOW(g.result.results[1]);
    CHECK(g.result.results[1].status == Status::kNonzeroExitStatus);
    CHECK(g.result.results[1].exit_status == 1);
    CHECK(g.verdict == "wrong answer unexpected EOF after 1 questions\n");
    CHECK(g.result.results[1].wall_time < 3s);
  }
}

TEST_CASE("interactive: a solution that closes its stdout and lives on: the interactor sees EOF",
          "[tracer][group]") {
  // Only the solution holds its end: no copy of the library's keeps the interactor waiting until
  // the solution's Result (the two would wait on each other until the wall limit).
  for (bool relayed : {false, true}) {
    INFO("relayed " << relayed);
    const Game g = play("close", std::nullopt, relayed ? 1024 : 0, 10s);
    REQUIRE(g.result.results.size() == 2);
    TB_SHOW(g.result.results[0]);
    CHECK(g.result.results[0].status == Status::kNormal);
    TB_SHOW(g.result.results[1]);
    CHECK(g.result.results[1].status == Status::kNonzeroExitStatus);
    CHECK(g.verdict == "wrong answer unexpected EOF after 1 questions\n");
    CHECK(g.result.wall_time < 3s);
  }
}
