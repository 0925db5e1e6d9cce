// throughput_bench: many short runs at once, as a judge serves them: a static program that reads
// its input and prints it, run back to back with two in flight on the 2 CPUs, by
//   floor       posix_spawn + waitpid, no sandbox: two threads, each one run at a time;
//   runprog     runprog launched per run (the default profile), two at a time;
//   library/1   tracer::async_run on one io_context, two in flight (one tracer thread);
//   library/1x4 the same with four in flight (SessionOptions' default on 2 CPUs);
//   library/2   two io_contexts on two threads, one in flight each (two tracer threads);
//   here/2      tracer::run_on_this_thread on two threads, one run after another on each;
//   and library/1 and library/2 without the PID namespace, and without any isolation layer:
//   what they cost.
// The library runs use a prepared profile (policy::prepare_profile("default")), owned I/O
// (Input::bytes, Output::capture) and, as root, every isolation layer runprog applies.
//
//   throughput_bench [RUNS=400] [ROUNDS=5] [ONLY]   (ONLY: the floor and the variants naming it)
//
// Each round runs every variant once (RUNS runs), in random order, so that machine noise hits
// them alike. Per variant: the median runs per second and the median CPU time per run (this
// process and everything it waited for: user + system), and both against the floor's.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

extern char** environ;

namespace tb = tracebox::tracer;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kInput = "3 1 4 1 5 9 2 6 5 3 5\n";

struct Sample {
  double runs_per_s;
  double cpu_us_per_run;
};

double cpu_now_us() {
  double us = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    ::getrusage(who, &u);
    us +=
        u.ru_utime.tv_sec * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_sec * 1e6 + u.ru_stime.tv_usec;
  }
  return us;
}

// Runs `body` and measures it as `runs` runs.
Sample measure(int runs, const std::function<void()>& body) {
  const double cpu0 = cpu_now_us();
  const auto t0 = Clock::now();
  body();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return {runs / s, (cpu_now_us() - cpu0) / runs};
}

// posix_spawn `argv` with stdin from `input` (a file) and stdout/stderr on /dev/null; waits.
bool spawn_wait(const std::vector<std::string>& argv, const std::string& input) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, input.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Two threads, each `runs / 2` spawns one after another.
void two_way(int runs, const std::vector<std::string>& argv, const std::string& input,
             std::atomic<int>& failed) {
  auto loop = [&](int n) {
    for (int i = 0; i < n; ++i)
      if (!spawn_wait(argv, input)) ++failed;
  };
  std::thread a(loop, runs / 2);
  loop(runs - runs / 2);
  a.join();
}

// Which isolation layers the library's runs get (Isolation's defaults: all of them).
enum class Layers { kAll, kNoPidNamespace, kNone };

tb::Spec spec_of(const tb::policy::PreparedProfile& profile, const std::string& work,
                 const std::string& program, Layers layers) {
  tb::policy::RunRequest req;
  req.work_dir = work;
  req.args = {program};
  req.io.in = tb::Input::bytes(kInput);
  req.io.out = tb::Output::capture(4096);
  req.cpu = std::chrono::seconds(1);
  tb::Spec spec = profile.spec(req);
  if (layers != Layers::kAll) spec.isolation.pid_namespace = false;
  if (layers == Layers::kNone) {
    spec.isolation.ipc_uts_namespaces = false;
    spec.isolation.user.reset();
  }
  return spec;
}

// `runs` runs on one io_context with `in_flight` at once; counts the ones that were not right.
void library(asio::io_context& io, int runs, int in_flight,
             const tb::policy::PreparedProfile& profile, const std::string& work,
             const std::string& program, std::atomic<int>& failed, Layers layers = Layers::kAll) {
  tb::configure(io, tb::SessionOptions{static_cast<std::size_t>(in_flight)});
  int started = 0;
  std::function<void()> start_one = [&] {
    if (started == runs) return;
    ++started;
    tb::async_run(io, spec_of(profile, work, program, layers), nullptr, [&](tb::Result r) {
      if (r.status != tb::Status::kNormal || r.stdout_data != kInput) ++failed;
      start_one();
    });
  };
  for (int i = 0; i < in_flight; ++i) start_one();
  io.run();
  io.restart();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 400;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  if (runs < 2 || rounds < 1) {
    std::fprintf(stderr, "usage: throughput_bench [RUNS>=2] [ROUNDS>=1]\n");
    return 2;
  }
  // The program and its input in a directory anyone may read: as root the library runs it as
  // another user, and the build tree may be private (a clone in /root).
  char tmpl[] = "/tmp/tracebox-throughput-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return std::perror("mkdtemp"), 1;
  const std::string dir = tmpl;
  ::chmod(dir.c_str(), 0755);
  const std::string program = dir + "/echo", input = dir + "/input";
  std::filesystem::copy_file(TRACEBOX_BENCH_ECHO, program);
  ::chmod(program.c_str(), 0755);
  {
    FILE* f = std::fopen(input.c_str(), "w");
    std::fputs(kInput.c_str(), f);
    std::fclose(f);
  }
  std::shared_ptr<const tb::policy::PreparedProfile> profile;
  try {
    profile = tb::policy::prepare_profile("default");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "throughput_bench: the default profile: %s\n", e.what());
    return 1;
  }

  struct Variant {
    std::string name;
    std::function<void(std::atomic<int>&)> run;
    std::vector<double> rate = {}, cpu = {};
    int failed = 0;
  };
  asio::io_context one, two_a, two_b;
  std::vector<Variant> variants;
  variants.push_back({"floor (posix_spawn + waitpid, 2 threads)",
                      [&](std::atomic<int>& f) { two_way(runs, {program}, input, f); }});
  variants.push_back({"runprog per run, 2 at a time", [&](std::atomic<int>& f) {
                        two_way(runs, {TRACEBOX_RUNPROG, "-tl", "1", program}, input, f);
                      }});
  variants.push_back({"library, 1 io_context, 2 in flight", [&](std::atomic<int>& f) {
                        library(one, runs, 2, *profile, dir, program, f);
                      }});
  variants.push_back({"library, 1 io_context, 4 in flight (the default)", [&](std::atomic<int>& f) {
                        library(one, runs, 4, *profile, dir, program, f);
                      }});
  variants.push_back({"library, 2 io_contexts on 2 threads", [&](std::atomic<int>& f) {
                        std::thread t(
                            [&] { library(two_b, runs / 2, 1, *profile, dir, program, f); });
                        library(two_a, runs - runs / 2, 1, *profile, dir, program, f);
                        t.join();
                      }});

  variants.push_back({"library, run_on_this_thread on 2 threads", [&](std::atomic<int>& f) {
                        auto loop = [&](int n) {
                          for (int i = 0; i < n; ++i) {
                            tb::Result r = tb::run_on_this_thread(
                                spec_of(*profile, dir, program, Layers::kAll), nullptr);
                            if (r.status != tb::Status::kNormal || r.stdout_data != kInput) ++f;
                          }
                        };
                        std::thread t(loop, runs / 2);
                        loop(runs - runs / 2);
                        t.join();
                      }});

  // What the layers cost: the same without the PID namespace (and its init), and without any
  // (no IPC/UTS namespaces, the caller's own uid; capabilities are still dropped), on one
  // io_context and on two.
  for (const auto& [layers, what] : {std::pair{Layers::kNoPidNamespace, "no PID namespace"},
                                     std::pair{Layers::kNone, "no isolation layer"}}) {
    variants.push_back({std::string("library/1, ") + what, [&, layers](std::atomic<int>& f) {
                          library(one, runs, 2, *profile, dir, program, f, layers);
                        }});
    variants.push_back(
        {std::string("library/2, ") + what, [&, layers](std::atomic<int>& f) {
           std::thread t([&] { library(two_b, runs / 2, 1, *profile, dir, program, f, layers); });
           library(two_a, runs - runs / 2, 1, *profile, dir, program, f, layers);
           t.join();
         }});
  }

  // A third argument keeps only the variants whose name contains it (for profiling one).
  if (argc > 3)
    std::erase_if(variants, [&](const Variant& v) {
      return v.name != variants[0].name && v.name.find(argv[3]) == std::string::npos;
    });

  std::mt19937 rng(12345);
  std::vector<std::size_t> order(variants.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // A warm-up round (page cache, filter JIT, the IPC/UTS namespaces) that does not count.
  for (auto& v : variants) {
    std::atomic<int> f{0};
    v.run(f);
  }
  for (int round = 0; round < rounds; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      Variant& v = variants[i];
      std::atomic<int> f{0};
      Sample s = measure(runs, [&] { v.run(f); });
      v.rate.push_back(s.runs_per_s);
      v.cpu.push_back(s.cpu_us_per_run);
      v.failed += f;
    }
  }
  std::filesystem::remove_all(dir);

  const double floor_rate = median(variants[0].rate), floor_cpu = median(variants[0].cpu);
  std::printf("%d runs per variant per round, %d rounds, interleaved; medians\n\n", runs, rounds);
  std::printf("| variant | runs/s | x floor | CPU us/run | x floor | failed |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const auto& v : variants) {
    const double rate = median(v.rate), cpu = median(v.cpu);
    std::printf("| %s | %.0f | %.2f | %.0f | %.2f | %d |\n", v.name.c_str(), rate,
                rate / floor_rate, cpu, cpu / floor_cpu, v.failed);
  }
  std::printf("\ngoals: library at 0.70x the floor's runs/s or better, CPU per run within 1.5x\n");
  int failed = 0;
  for (const auto& v : variants) failed += v.failed;
  return failed == 0 ? 0 : 1;
}
