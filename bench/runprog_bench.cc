// runprog_bench: the whole-process time of `runprog` running a trivial static program under the
// default profile, side by side with a minimal C launcher (runprog_launcher.c: fork +
// PTRACE_TRACEME + SIGSTOP + seccomp + exec + wait) on the same program.
//
//   runprog_bench [RUNS] [RUNNER...]   (RUNS default 500; RUNPROG_BENCH_RUNS also sets it)
//
// Each extra RUNNER (another build of runprog, say a static one) is run as "RUNNER TINY" too.
//
// Each round runs every variant once, in random order, so that machine noise hits them alike; a
// variant's time is from posix_spawn to the end of waitpid, stdio on /dev/null. After a warm-up
// it prints, per variant, the median, the quartiles and the ratio of medians to the co-located
// launcher (runprog's tracer co-locates itself and the program on one CPU by default; unpinned,
// the launcher pays cross-CPU wake-ups, shown too). Extra variants show where runprog's time
// goes: with -json, and the program run directly (no tracer); and the launcher linked statically,
// the least a launcher process costs (the dynamic loader's work is about a fifth of the launcher's
// time on a VM where every first use of a page is dear).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Variant {
  std::string name;
  std::vector<std::string> argv;
  std::vector<double> us;
};

double run_once(const std::vector<std::string>& argv, posix_spawn_file_actions_t* actions) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], actions, nullptr, args.data(), environ) != 0) {
    std::perror(args[0]);
    std::exit(1);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  const auto end = std::chrono::steady_clock::now();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s exited with status %#x\n", args[0], status);
    std::exit(1);
  }
  return std::chrono::duration<double, std::micro>(end - start).count();
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 500;
  if (const char* env = std::getenv("RUNPROG_BENCH_RUNS")) runs = std::atol(env);
  if (argc > 1) runs = std::atol(argv[1]);
  std::vector<std::string> extra(argv + std::min(argc, 2), argv + argc);
  if (runs < 5) runs = 5;
  const std::string tiny = TRACEBOX_BENCH_TINY;
  const std::string runprog = TRACEBOX_RUNPROG;
  std::vector<Variant> variants = {
      {"launcher -pin (co-located, as runprog's tracer)",
       {TRACEBOX_RUNPROG_LAUNCHER, "-pin", tiny},
       {}},
      {"launcher (unpinned)", {TRACEBOX_RUNPROG_LAUNCHER, tiny}, {}},
      {"runprog (default profile, UOJ line)", {runprog, tiny}, {}},
      {"runprog -json", {runprog, "-json", tiny}, {}},
      {"the program alone (posix_spawn, no tracer)", {tiny}, {}},
      {"launcher -pin, linked static (no dynamic loader)",
       {TRACEBOX_RUNPROG_LAUNCHER_STATIC, "-pin", tiny},
       {}},
  };
  for (const auto& e : extra) variants.push_back({e, {e, tiny}, {}});

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd = 0; fd < 3; ++fd)
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);

  // Each round runs every variant once, in a fresh random order: whichever runs right after
  // another pays for what that one left behind (caches, CPU placement), so no variant may always
  // follow the same one.
  std::vector<std::size_t> order(variants.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::mt19937 rng(12345);
  const long warmup = std::max(5L, runs / 10);
  for (long i = 0; i < warmup + runs; ++i) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t k : order) {
      const double us = run_once(variants[k].argv, &actions);
      if (i >= warmup) variants[k].us.push_back(us);
    }
  }
  posix_spawn_file_actions_destroy(&actions);

  const double floor = quantile(variants[0].us, 0.5);
  std::printf("%ld runs each, interleaved; whole-process wall time in ms\n\n", runs);
  std::printf("| %-50s | %7s | %7s | %7s | %14s |\n", "command", "median", "p25", "p75",
              "/launcher -pin");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(52, '-').c_str(), std::string(9, '-').c_str(),
              std::string(9, '-').c_str(), std::string(9, '-').c_str(),
              std::string(16, '-').c_str());
  for (const auto& v : variants) {
    const double median = quantile(v.us, 0.5);
    std::printf("| %-50s | %7.3f | %7.3f | %7.3f | %13.2fx |\n", v.name.c_str(), median / 1000,
                quantile(v.us, 0.25) / 1000, quantile(v.us, 0.75) / 1000, median / floor);
  }
  const double runprog_median = quantile(variants[2].us, 0.5);
  std::printf(
      "\nrunprog / launcher -pin = %.2f, runprog / launcher unpinned = %.2f "
      "(goal: at most 1.15 pinned)\n",
      runprog_median / floor, runprog_median / quantile(variants[1].us, 0.5));
  for (std::size_t k = 5; k < variants.size(); ++k)
    std::printf("runprog / %s = %.2f\n", variants[k].name.c_str(),
                runprog_median / quantile(variants[k].us, 0.5));
  return 0;
}
