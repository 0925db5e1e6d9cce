// runprog -interactor: the guessing game of tests/programs/interactor.c through the runprog
// binary (both verdicts, the UOJ lines and the JSON object), and the verdict rules themselves.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interactive.h"
#include "support/support.h"

extern char** environ;

namespace {

using Json = nlohmann::json;
using tracebox::test::TempDir;
namespace cmd = tracebox::cmd;
namespace tracer = tracebox::tracer;

struct Outcome {
  int code = -1;
  std::string out, err, verdict;  // runprog's stdout and stderr, the interactor's output file
};

// runprog [extra...] -in INPUT -interactor-out OUTPUT -interactor INTERACTOR GUESSER MODE, with
// the secret 777777 in INPUT.
Outcome play(const std::string& mode, std::vector<std::string> extra = {}) {
  TempDir t;
  tracebox::test::write_file(t.file("input.txt"), "777777\n");
  std::vector<std::string> argv{TRACEBOX_RUNPROG};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (const std::string& a :
       {std::string("-in"), t.file("input.txt"), std::string("-interactor-out"),
        t.file("verdict.txt"), std::string("-interactor"), std::string(TRACEBOX_INTERACTOR),
        std::string(TRACEBOX_GUESSER), mode})
    argv.push_back(a);
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, t.file("out").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, t.file("err").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(err == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  Outcome o;
  o.code = WEXITSTATUS(status);
  o.out = tracebox::test::read_file(t.file("out"));
  o.err = tracebox::test::read_file(t.file("err"));
  if (::access(t.file("verdict.txt").c_str(), F_OK) == 0)
    o.verdict = tracebox::test::read_file(t.file("verdict.txt"));
  return o;
}

Json json_of(const Outcome& o) {
  INFO("stdout: " << o.out << "stderr: " << o.err);
  REQUIRE(o.code == 0);
  REQUIRE(!o.out.empty());
  REQUIRE(o.out.find('\n') == o.out.size() - 1);
  Json j = Json::parse(o.out);
  REQUIRE(j.contains("solution"));
  REQUIRE(j.contains("interactor"));
  REQUIRE(j.contains("verdict"));
  return j;
}

}  // namespace

TEST_CASE("runprog -interactor: the right answer is accepted, both verdicts printed",
          "[cmd][interactive]") {
  const Outcome o = play("right");
  INFO("stdout: " << o.out << "stderr: " << o.err);
  CHECK(o.code == 0);
  // Two UOJ lines: the solution's (0: accepted), then the interactor's own (exit 0).
  const auto nl = o.out.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(o.out.substr(0, 2) == "0 ");
  CHECK(o.out.substr(nl + 1, 2) == "0 ");
  CHECK(o.out.ends_with(" 0\n"));
  CHECK(o.verdict.starts_with("ok found 777777 in "));

  const Json j = json_of(play("right", {"-json"}));
  CHECK(j["verdict"] == "accepted");
  CHECK(j["solution"]["status"] == "normal");
  CHECK(j["interactor"]["status"] == "normal");
}

TEST_CASE("runprog -interactor: wrong answers, too many questions and an early exit",
          "[cmd][interactive]") {
  for (const char* mode : {"wrong", "often", "early"}) {
    INFO(mode);
    const Outcome o = play(mode);
    INFO("stdout: " << o.out << "stderr: " << o.err);
    CHECK(o.code == 0);
    CHECK(o.out.substr(0, 2) == "1 ");  // wrong answer
    CHECK(o.verdict.starts_with("wrong answer "));
    const Json j = json_of(play(mode, {"-json"}));
    CHECK(j["verdict"] == "wrong_answer");
    CHECK(j["interactor"]["status"] == "nonzero_exit_status");
    CHECK(j["interactor"]["exit_status"] == 1);
  }
  CHECK(play("early").verdict == "wrong answer unexpected EOF after 1 questions\n");
}

TEST_CASE("runprog -interactor: waiting on each other ends both by the solution's wall limit",
          "[cmd][interactive]") {
  const Json j = json_of(play("never", {"-json", "-rtl", "1", "-interactor-opts", "-rtl 1.5"}));
  CHECK(j["verdict"] == "time_limit_exceeded");
  CHECK(j["solution"]["status"] == "time_limit_exceeded");
  CHECK(j["solution"]["limit"] == "wall");
  // The solution's -rtl is the group's: both are killed at the same tick, so the interactor
  // never sees the solution's end first (which would make it a wrong answer).
  CHECK(j["interactor"]["status"] == "time_limit_exceeded");
  CHECK(j["interactor"]["limit"] == "wall");
  CHECK(j["interactor"]["wall_ms"].get<int>() < 1500);
}

TEST_CASE("runprog -interactor: a solution writing endlessly is held to its -ol",
          "[cmd][interactive]") {
  const Outcome o = play("flood", {"-json", "-ol", "1"});
  const Json j = json_of(o);
  CHECK(j["verdict"] == "output_limit_exceeded");
  CHECK(j["solution"]["status"] == "output_limit_exceeded");
  CHECK(j["interactor"]["exit_status"] == 1);
  CHECK(o.verdict == "wrong answer unexpected EOF after 0 questions\n");
}

TEST_CASE("runprog -interactor: the interactor's own limits and profile", "[cmd][interactive]") {
  // The interactor's CPU limit is its own: a tiny one ends it, which is a judgement failure.
  const Json j = json_of(play("right", {"-json", "-interactor-opts", "-tl 0 -rtl 0.0001"}));
  CHECK(j["interactor"]["status"] == "time_limit_exceeded");
  CHECK(j["verdict"] == "judgement_failed");
  // A profile the interactor cannot have, and options that make no sense for it.
  CHECK(play("right", {"-interactor-opts", "-type no-such-profile"}).code == 2);
  CHECK(play("right", {"-interactor-opts", "-out /tmp/x"}).code == 2);
  CHECK(play("right", {"-out", "/dev/null"}).code == 2);
  CHECK(play("right", {"-runner", "ns"}).code == 2);
}

TEST_CASE("runprog -interactor: the verdict rules (testlib's exit codes)", "[cmd][interactive]") {
  auto result = [](tracer::Status s, int exit_status = 0) {
    tracer::Result r;
    r.status = s;
    r.exit_status = exit_status;
    return r;
  };
  using S = tracer::Status;
  const auto ok = result(S::kNormal);
  CHECK(cmd::interactive_verdict(ok, ok).name == "accepted");
  CHECK(cmd::interactive_verdict(ok, ok).uoj_code == 0);
  CHECK(cmd::interactive_verdict(ok, result(S::kNonzeroExitStatus, 1)).name == "wrong_answer");
  CHECK(cmd::interactive_verdict(ok, result(S::kNonzeroExitStatus, 2)).name ==
        "presentation_error");
  CHECK(cmd::interactive_verdict(ok, result(S::kNonzeroExitStatus, 2)).uoj_code == 1);
  CHECK(cmd::interactive_verdict(ok, result(S::kNonzeroExitStatus, 3)).name == "judgement_failed");
  CHECK(cmd::interactive_verdict(ok, result(S::kTimeLimitExceeded)).name == "judgement_failed");
  // A solution killed by the closed pipe after a wrong answer is still wrong.
  CHECK(
      cmd::interactive_verdict(result(S::kSignalled, 13), result(S::kNonzeroExitStatus, 1)).name ==
      "wrong_answer");
  CHECK(cmd::interactive_verdict(result(S::kSignalled, 11), ok).name == "runtime_error");
  CHECK(cmd::interactive_verdict(result(S::kSignalled, 11), ok).uoj_code == 2);
  // The solution's limits and violations decide first.
  CHECK(cmd::interactive_verdict(result(S::kTimeLimitExceeded), result(S::kNonzeroExitStatus, 1))
            .uoj_code == 4);
  CHECK(cmd::interactive_verdict(result(S::kDisallowedSyscall), ok).uoj_code == 6);
  CHECK(cmd::interactive_verdict(result(S::kRunnerError), ok).uoj_code == 7);
}

TEST_CASE("runprog -interactor: the interactor's own -user writes its output file",
          "[cmd][interactive]") {
  TB_SKIP_UNLESS(::geteuid() == 0, "runprog changes the programs' user only as root");
  // The output file is given to the user the interactor runs as: its -user, not the sandbox
  // user (it could not write the file then, and testlib's verdict would be lost).
  const Outcome o = play("right", {"-interactor-opts", "-user 1234:1235"});
  INFO(o.out << o.err);
  CHECK(o.code == 0);
  CHECK(o.verdict.starts_with("ok found 777777"));
}
