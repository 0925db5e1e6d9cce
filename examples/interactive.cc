// interactive: an interactive problem judged with a run group of the installed tracebox package.
// The solution and a testlib-style interactor run as one group (tracer::run_group), each a judge
// run of the "default" profile (C and C++ programs) with its own limits and verdict; the
// interactor's stdout is the solution's stdin and the solution's stdout is the interactor's
// stdin. The interactor runs as "INTERACTOR INPUT OUTPUT" (testlib's convention) and its exit
// code decides: 0 accepted, 1 wrong answer, 2 presentation error, anything else a failure. The
// solution's output through its pipe is capped (a relay counts it: past the cap the solution is
// an output limit and the interactor reads EOF), and the first bytes each way are kept.
//
// Usage: interactive INPUT INTERACTOR -- SOLUTION [ARGS...]
// Prints:
//   solution <status> <time_ms> <exit_status>
//   interactor <status> <time_ms> <exit_status>
//   output <the interactor's output file, one line>
//   transcript <the first bytes the solution wrote, escaped>
//   verdict <accepted | wrong_answer | presentation_error | runtime_error | <the solution's
//            limit or violation> | judgement_failed>
// Exit status: 0 with a verdict, 2 for bad usage.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tracebox/tracer/group.h"
#include "tracebox/tracer/policy/profile.h"

namespace {

namespace tracer = tracebox::tracer;
namespace policy = tracebox::tracer::policy;
using namespace std::chrono_literals;

std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

std::string verdict(const tracer::Result& sol, const tracer::Result& inter) {
  using S = tracer::Status;
  if (sol.status != S::kNormal && sol.status != S::kNonzeroExitStatus &&
      sol.status != S::kSignalled)
    return std::string(tracer::to_string(sol.status));
  if (inter.status == S::kNonzeroExitStatus && inter.exit_status == 1) return "wrong_answer";
  if (inter.status == S::kNonzeroExitStatus && inter.exit_status == 2) return "presentation_error";
  if (inter.status != S::kNormal) return "judgement_failed";
  return sol.status == S::kNormal ? "accepted" : "runtime_error";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5 || std::string(argv[3]) != "--") {
    std::cerr << "usage: interactive INPUT INTERACTOR -- SOLUTION [ARGS...]\n";
    return 2;
  }
  const std::string input = std::filesystem::absolute(argv[1]);
  const std::string interactor = std::filesystem::absolute(argv[2]);
  std::vector<std::string> solution(argv + 4, argv + argc);

  // A work directory for the two runs, theirs to use: the programs run as user 65534 when this
  // process is root.
  char dir_template[] = "/tmp/interactive-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return 1;
  const std::string work = dir_template;
  const std::string output = work + "/output.txt";
  std::ofstream(output).close();
  if (::geteuid() == 0 &&
      (::chown(work.c_str(), 65534, 65534) != 0 || ::chown(output.c_str(), 65534, 65534) != 0)) {
    std::cerr << "interactive: cannot give " << work << " to the sandbox user\n";
    return 1;
  }

  int code = 0;
  try {
    const auto profile = policy::prepare_profile("default");
    policy::RunRequest sol;
    sol.work_dir = work;
    sol.args = solution;
    sol.cpu = 1s;
    sol.wall = 3s;
    policy::RunRequest inter;
    inter.work_dir = work;
    inter.args = {interactor, input, output};
    inter.cpu = 2s;
    inter.wall = 4s;
    inter.grants.readable.add(std::filesystem::canonical(input).string());
    inter.grants.writable.add(output);

    tracer::GroupSpec group;
    group.programs.push_back({"solution", profile->spec(sol)});
    group.programs.push_back({"interactor", profile->spec(inter)});
    // The solution's stdout to the interactor's stdin, capped at 1 MiB, its first 256 bytes
    // kept; the interactor's stdout to the solution's stdin, directly.
    group.pipes.push_back({0, 1, 1, 0, std::uint64_t{1} << 20, 256});
    group.pipes.push_back({1, 1, 0, 0});
    group.wall = 5s;
    const tracer::GroupResult r = tracer::run_group(std::move(group));
    if (!r.error.empty()) throw std::runtime_error(r.error);

    const char* names[] = {"solution", "interactor"};
    for (std::size_t i = 0; i < 2; ++i) {
      const tracer::Result& res = r.results[i];
      std::cout << names[i] << ' ' << tracer::to_string(res.status) << ' '
                << res.cpu_time.count() / 1000 << ' ' << res.exit_status << '\n';
      if (res.status == tracer::Status::kRunnerError)
        std::cerr << "interactive: " << names[i] << ": " << res.error << '\n';
    }
    std::ifstream out(output);
    std::string line;
    std::getline(out, line);
    std::cout << "output " << line << '\n';
    std::cout << "transcript " << escaped(r.pipes[0].data) << '\n';
    std::cout << "verdict " << verdict(r.results[0], r.results[1]) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "interactive: " << e.what() << '\n';
    code = 2;
  }
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  return code;
}
