// batch_bench: throughput of short runs (a static program that reads a line and prints it, under
// the default profile, stdin given inline and stdout captured) through three doors, side by side
// in one process, interleaved by round:
//   (a) the batch worker: runprog -batch -j 2, requests written and results read through pipes;
//   (b) runprog launched per run, two at a time (-in FILE -out FILE -json);
//   (c) the library: a PreparedProfile, async_run with 2 in flight on one io_context.
// Prints runs per second for each (median of the rounds) and the ratios. Goal (issue 13): the
// worker within 1.2x of the library's throughput. A report, not a test: these machines are
// shared and noisy; read the ratios.
//
//   batch_bench [RUNS_PER_ROUND=200] [ROUNDS=3]
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

extern char** environ;

namespace {

using namespace tracebox;
using Clock = std::chrono::steady_clock;

const std::string kProgram = TRACEBOX_BENCH_ECHO;
const std::string kRunprog = TRACEBOX_RUNPROG;
const std::string kInput = "1 2 3\n";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

pid_t spawn(std::vector<std::string> argv, int in, int out) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// (a) Runs per second through one worker; `bad` counts results that are not Accepted.
double via_worker(int runs, const std::string& work, int& bad) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return 0;
  const auto start = Clock::now();
  const pid_t pid = spawn({kRunprog, "-batch", "-j", "2", "-work-path", work}, in[0], out[1]);
  ::close(in[0]);
  ::close(out[1]);
  if (pid < 0) return 0;
  std::thread writer([&] {
    for (int i = 0; i < runs; ++i) {
      const std::string line = "{\"id\":" + std::to_string(i) + ",\"args\":[\"" + kProgram +
                               "\"],\"files\":[{\"content\":\"1 2 3\\n\"},{\"name\":\"stdout\","
                               "\"max\":4096}]}\n";
      if (!write_all(in[1], line)) break;
    }
    ::close(in[1]);
  });
  std::string buffer;
  char chunk[65536];
  int lines = 0;
  for (ssize_t n; (n = ::read(out[0], chunk, sizeof chunk)) > 0;) {
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buffer.find('\n')) != std::string::npos; buffer.erase(0, nl + 1)) {
      ++lines;
      if (buffer.substr(0, nl).find("\"status\":\"Accepted\"") == std::string::npos) ++bad;
    }
  }
  writer.join();
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double s = seconds_since(start);
  bad += runs - lines;
  return lines / s;
}

// (b) Runs per second with runprog started for each run, two at a time.
double via_runprog(int runs, const std::string& work, int& bad) {
  const std::string input = work + "/input";
  {
    int fd = ::open(input.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    write_all(fd, kInput);
    ::close(fd);
  }
  std::atomic<int> next{0}, failed{0};
  const auto start = Clock::now();
  auto lane = [&](int lane_no) {
    const std::string result = work + "/result" + std::to_string(lane_no);
    const std::string output = work + "/output" + std::to_string(lane_no);
    while (next.fetch_add(1) < runs) {
      const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      const int res = ::open(result.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const pid_t pid =
          spawn({kRunprog, "-json", "-work-path", work, "-in", input, "-out", output, kProgram},
                devnull, res);
      ::close(devnull);
      ::close(res);
      int status = 0;
      if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0)
        ++failed;
    }
  };
  std::thread a(lane, 0), b(lane, 1);
  a.join();
  b.join();
  const double s = seconds_since(start);
  bad += failed;
  return runs / s;
}

// (c) Runs per second through the library, 2 in flight.
double via_library(int runs, const std::string& work, int& bad) {
  const auto start = Clock::now();
  tracer::policy::ProfileOptions options;
  options.memory_limited = true;
  auto profile = tracer::policy::prepare_profile("default", options);
  asio::io_context io;
  tracer::configure(io, {.max_in_flight = 2});
  for (int i = 0; i < runs; ++i) {
    tracer::policy::RunRequest request;
    request.work_dir = work;
    request.args = {kProgram};
    request.io.in = tracer::Input::bytes(kInput);
    request.io.out = tracer::Output::capture(4096);
    tracer::async_run(io, profile->spec(request), [&](tracer::Result r) {
      if (r.status != tracer::Status::kNormal || r.stdout_data != kInput) ++bad;
    });
  }
  io.run();
  return runs / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  char tmpl[] = "/tmp/batch_bench.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string work = tmpl;
  ::chmod(tmpl, 0777);  // the programs run as another user when this is root

  std::vector<double> worker, runprog, library;
  int bad_worker = 0, bad_runprog = 0, bad_library = 0;
  for (int r = 0; r < rounds; ++r) {
    worker.push_back(via_worker(runs, work, bad_worker));
    runprog.push_back(via_runprog(runs, work, bad_runprog));
    library.push_back(via_library(runs, work, bad_library));
  }
  const double w = median(worker), p = median(runprog), l = median(library);
  std::printf("short runs, %d per round, %d rounds (median runs/s; failed runs)\n", runs, rounds);
  std::printf("  (a) runprog -batch -j 2      %8.1f  (%d failed)\n", w, bad_worker);
  std::printf("  (b) runprog per run, 2 lanes %8.1f  (%d failed)\n", p, bad_runprog);
  std::printf("  (c) library, 2 in flight     %8.1f  (%d failed)\n", l, bad_library);
  std::printf("library / worker: %.2fx (goal: at most 1.2x)\n", w > 0 ? l / w : 0.0);
  std::printf("worker / runprog per run: %.2fx\n", p > 0 ? w / p : 0.0);
  for (const char* f : {"/input", "/result0", "/result1", "/output0", "/output1"})
    ::unlink((work + f).c_str());
  ::rmdir(tmpl);
  return bad_worker + bad_runprog + bad_library == 0 ? 0 : 1;
}
