// load_bench: verdicts and service under load, as judges run programs: two at a time beside a
// CPU hog on every CPU, many short runs in flight on one io_context. A report, not a test: these
// machines are shared and noisy, so it prints counts and ratios measured side by side.
//
//   load_bench [RUNS_PER_LIMIT=20] [SHORT_RUNS=20000]
//
// 1. Time limits under load: RUNS_PER_LIMIT runs of a CPU-bound program, two at a time (two
//    tracers, as two runprogs) with a busy process on every CPU, at a CPU limit of 1.5x and of
//    0.6x its solo CPU time: false time limits (a verdict at 1.5x) and missed ones (none at
//    0.6x). Goal: 0 and 0.
// 2. Placement on an idle machine: two runs started together, each one's wall time against its
//    solo wall time (goal: at most 1.15x); a 2-thread CPU-bound program's wall time against its
//    CPU time (goal: at most 0.65x).
// 3. Service: SHORT_RUNS short runs with 50 in flight on one io_context, 1,000 submitted at once,
//    and 4 path-heavy runs in flight at a wall limit of 20x their solo time: wall-clock limits of
//    programs that finish in a millisecond (goal: 0), and throughput.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/tracer.h"

namespace {

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const char* const kWork = TRACEBOX_LOAD_WORK;

double ms(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The judge policy of the static work program: what it calls (found with strace -f), its file.
policy::JudgePolicy judge(bool threads) {
  policy::JudgePolicy j;
  j.allow = {"execve",     "brk",       "arch_prctl", "set_tid_address", "set_robust_list",
             "rseq",       "prlimit64", "readlink",   "getrandom",       "mprotect",
             "exit_group", "read",      "write",      "openat",          "close"};
  if (threads)
    j.allow.insert(j.allow.end(), {"clone", "mmap", "munmap", "futex", "rt_sigprocmask", "madvise",
                                   "exit", "rt_sigaction"});
  j.files.readable.add(kWork);
  j.files.readable.add("/etc/ld.so.cache");
  j.files.readable.add("/proc/self/exe");
  return j;
}

struct Job {
  Spec spec;
  policy::JudgePolicy judge;
};

Job job(std::vector<std::string> args, std::chrono::nanoseconds cpu, std::chrono::nanoseconds wall,
        bool threads = false) {
  Job j;
  j.judge = judge(threads);
  j.spec.process.args = {kWork};
  j.spec.process.args.insert(j.spec.process.args.end(), args.begin(), args.end());
  j.spec.process.files = {forkexec::kCloseFd, forkexec::kCloseFd, forkexec::kCloseFd};
  j.spec.policy = policy::make_policy(j.judge);
  j.spec.limits.cpu = cpu;
  j.spec.limits.wall = wall;
  j.spec.limits.memory_bytes = 256 << 20;
  j.spec.limits.tasks = 8;
  return j;
}

Result run(const Job& j) {
  policy::JudgeHandler h(j.judge);
  return tracer::run(j.spec, h);
}

// A busy process on every CPU, for as long as it lives.
class Hogs {
 public:
  Hogs() {
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        volatile unsigned long x = 0;
        for (;;) x = x + 1;
      }
      pids_.push_back(pid);
    }
  }
  ~Hogs() {
    for (pid_t p : pids_) ::kill(p, SIGKILL);
    for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
  }

 private:
  std::vector<pid_t> pids_;
};

// Two runs at once, each on its own tracer (two threads, as two runprogs would be).
std::pair<Result, Result> pair_of(const Job& a, const Job& b) {
  Result ra, rb;
  std::thread other([&] { rb = run(b); });
  ra = run(a);
  other.join();
  return {ra, rb};
}

}  // namespace

int main(int argc, char** argv) {
  const int per_limit = argc > 1 ? std::atoi(argv[1]) : 20;
  const int short_runs = argc > 2 ? std::atoi(argv[2]) : 20000;

  // Calibration: work of about 300 ms of CPU, on an idle machine.
  long millions = 100;
  {
    Result r = run(job({"spin", std::to_string(millions)}, 60s, 120s));
    const double t = ms(r.cpu_time);
    if (t > 0) millions = std::max(1L, static_cast<long>(millions * 300.0 / t));
  }
  const std::string work = std::to_string(millions);
  std::vector<double> solo_cpu, solo_wall;
  for (int i = 0; i < 5; ++i) {
    Result r = run(job({"spin", work}, 60s, 120s));
    solo_cpu.push_back(ms(r.cpu_time));
    solo_wall.push_back(ms(r.wall_time));
  }
  const double cpu_ms = median(solo_cpu), wall_ms = median(solo_wall);
  std::printf("work: spin %s: solo CPU %.1f ms, wall %.1f ms (median of 5)\n\n", work.c_str(),
              cpu_ms, wall_ms);

  // 1. Time limits under load.
  std::printf("1. time limits, two runs at a time beside a busy process on every CPU:\n");
  {
    Hogs hogs;
    for (const double factor : {1.5, 0.6}) {
      const auto limit = std::chrono::microseconds(static_cast<long>(cpu_ms * factor * 1000));
      const Job j = job({"spin", work}, limit, 60s);
      int tle = 0, other = 0;
      std::vector<double> cpus;
      for (int i = 0; i < per_limit; i += 2) {
        auto [a, b] = pair_of(j, j);
        for (const Result& r : {a, b}) {
          cpus.push_back(ms(r.cpu_time));
          if (r.status == Status::kTimeLimitExceeded && r.limit == LimitKind::kCpu)
            ++tle;
          else if (r.status != Status::kNormal)
            ++other;
        }
      }
      const int runs = static_cast<int>(cpus.size());
      std::printf(
          "   limit %.1fx (%.0f ms): %d runs, %d time limits, %d other verdicts; "
          "CPU median %.1f ms, max %.1f ms -> %s %d\n",
          factor, ms(limit), runs, tle, other, median(cpus),
          *std::max_element(cpus.begin(), cpus.end()),
          factor > 1 ? "false time limits:" : "missed time limits:", factor > 1 ? tle : runs - tle);
    }
  }

  // 2. Placement, idle machine.
  std::printf("\n2. placement (idle machine):\n");
  {
    const Job j = job({"spin", work}, 60s, 120s);
    std::vector<double> ratios;
    for (int i = 0; i < 5; ++i) {
      auto [a, b] = pair_of(j, j);
      ratios.push_back(ms(a.wall_time) / wall_ms);
      ratios.push_back(ms(b.wall_time) / wall_ms);
    }
    std::printf(
        "   two runs started together: wall / solo wall median %.2fx, max %.2fx "
        "(goal <= 1.15x)\n",
        median(ratios), *std::max_element(ratios.begin(), ratios.end()));
    const Job two = job({"spin2", work}, 60s, 120s, true);
    std::vector<double> thread_ratios;
    for (int i = 0; i < 5; ++i) {
      Result r = run(two);
      if (r.status != Status::kNormal)
        std::printf("   spin2: %s %s\n", std::string(to_string(r.status)).c_str(), r.error.c_str());
      thread_ratios.push_back(ms(r.wall_time) / ms(r.cpu_time));
    }
    std::printf("   a 2-thread CPU-bound program: wall / CPU median %.2fx (goal <= 0.65x)\n",
                median(thread_ratios));
  }

  // 3. Service on one io_context.
  std::printf("\n3. many runs on one io_context:\n");
  auto many = [&](int n, std::size_t in_flight, const Job& j, const char* what) {
    asio::io_context io;
    if (in_flight != 0) configure(io, SessionOptions{in_flight});
    std::atomic<int> wall{0}, bad{0};
    std::vector<std::shared_ptr<policy::JudgeHandler>> handlers;
    const auto start = Clock::now();
    std::int64_t queue_max = 0;
    for (int i = 0; i < n; ++i) {
      auto h = std::make_shared<policy::JudgeHandler>(j.judge);
      async_run(io, j.spec, h, [&](Result r) {
        if (r.status == Status::kTimeLimitExceeded && r.limit == LimitKind::kWall)
          ++wall;
        else if (r.status != Status::kNormal)
          ++bad;
        queue_max = std::max<std::int64_t>(queue_max, r.queue_time.count());
      });
    }
    io.run();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "   %s: %d runs in %.1f s (%.0f runs/s), wall-clock limits %d (goal 0), other "
        "verdicts %d, longest queue %.0f ms\n",
        what, n, secs, n / secs, wall.load(), bad.load(), static_cast<double>(queue_max) / 1000.0);
  };
  const Job quick = job({"echo"}, 1s, 1s);
  many(short_runs, 50, quick, "short runs, 50 in flight");
  many(1000, 0, quick, "1,000 submitted at once (default admission)");
  {
    // Path-heavy: about 150 ms alone.
    long opens = 2000;
    Result r = run(job({"opens", std::to_string(opens)}, 60s, 120s));
    if (r.wall_time.count() > 0)
      opens = std::max(1L, static_cast<long>(opens * 150.0 / ms(r.wall_time)));
    Result solo = run(job({"opens", std::to_string(opens)}, 60s, 120s));
    const auto limit = std::chrono::microseconds(20 * solo.wall_time.count());
    std::printf("   path-heavy: opens %ld, solo wall %.1f ms, wall limit %.0f ms\n", opens,
                ms(solo.wall_time), ms(limit));
    many(60, 4, job({"opens", std::to_string(opens)}, 60s, limit),
         "60 path-heavy runs, 4 in flight");
  }
  return 0;
}
