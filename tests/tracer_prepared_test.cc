// Prepared policies (tracer::PreparedPolicy, policy::PreparedProfile): built once, used as they
// are by every run whose settings they were built for, shared by runs on several io_contexts and
// threads at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/support.h"
#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

// What the tracee needs for "exit" and "call getuid"; getppid is left out (a violation).
Policy tracee_policy() {
  Policy p;
  std::istringstream names(
      "read write close fstat newfstatat lseek mmap mprotect munmap brk rt_sigaction "
      "rt_sigprocmask rt_sigreturn ioctl pread64 access faccessat faccessat2 openat execve exit "
      "exit_group arch_prctl set_tid_address set_robust_list rseq prlimit64 getrandom futex "
      "madvise getpid gettid clock_gettime readlink fcntl uname mremap statx readlinkat getuid");
  for (std::string name; names >> name;) p.allow(name);
  return p;
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

#define TB_SHOW(r) INFO("status " << to_string((r).status) << ": " << (r).error)

}  // namespace

TEST_CASE(
    "prepared: the run uses the prepared filter as it is, and builds one only for other "
    "settings",
    "[tracer][prepared]") {
  // A run that builds a filter stores it in its Spec's filter cache: an empty cache directory
  // that stays empty shows that no run built one. (The cache is used only when it is the
  // caller's alone: not the TempDir itself, which the sandbox user owns.)
  TempDir dir;
  const std::string cache_dir = dir.file("cache");
  REQUIRE(::mkdir(cache_dir.c_str(), 0700) == 0);

  const auto prepared = PreparedPolicy::prepare(tracee_policy());
  REQUIRE(prepared->filter(false));
  REQUIRE(prepared->filter(true));
  auto spec = [&] {
    Spec s;
    s.process.args = {test::tracee(), "call", "getuid"};
    s.prepared_policy = prepared;
    s.filter_cache_dir = cache_dir;
    s.limits.cpu = 2s;
    s.limits.memory_bytes = 64 << 20;  // RLIMIT_DATA: the filter with the allocation checks
    return s;
  };
  Handler allow_all;
  for (bool memory_rlimit : {true, false}) {
    INFO("memory_rlimit " << memory_rlimit);
    Spec s = spec();
    s.memory_rlimit = memory_rlimit;
    Result r = run(std::move(s), allow_all);
    TB_SHOW(r);
    CHECK(r.status == Status::kNormal);
    CHECK(files_in(cache_dir) == 0);
  }
  // Its verdicts are the policy's: getppid is named by no rule.
  Spec refused = spec();
  refused.process.args = {test::tracee(), "call", "getppid"};
  Result r = run(std::move(refused), allow_all);
  CHECK(r.status == Status::kDisallowedSyscall);
  REQUIRE(r.violation);
  CHECK(r.violation->syscall == "getppid");
  CHECK(files_in(cache_dir) == 0);

  // Counting every syscall needs a filter of its own: this run builds it (and caches it).
  Spec counted = spec();
  counted.counting = Counting::kAll;
  r = run(std::move(counted), allow_all);
  TB_SHOW(r);
  CHECK(r.status == Status::kNormal);
  CHECK(r.syscall_counts["getuid"] == 1);
  CHECK(files_in(cache_dir) == 1);

  // Prepared for one setting only: the other is built when a run needs it.
  PrepareOptions only_with;
  only_with.data_rlimit = true;
  const auto half = PreparedPolicy::prepare(tracee_policy(), only_with);
  CHECK(half->filter(true));
  CHECK_FALSE(half->filter(false));
  Spec without = spec();
  without.prepared_policy = half;
  without.memory_rlimit = false;
  r = run(std::move(without), allow_all);
  CHECK(r.status == Status::kNormal);
  CHECK(files_in(cache_dir) == 2);
}

TEST_CASE("prepared: a Spec with a prepared policy and rules of its own is a runner_error",
          "[tracer][prepared]") {
  Spec s;
  s.process.args = {test::tracee(), "exit", "0"};
  s.prepared_policy = PreparedPolicy::prepare(tracee_policy());
  s.policy.allow("getppid");
  Handler allow_all;
  Result r = run(std::move(s), allow_all);
  CHECK(r.status == Status::kRunnerError);
  CHECK(r.error.find("a prepared policy and rules of its own") != std::string::npos);
}

TEST_CASE("prepared: one prepared profile shared by runs on two io_contexts on two threads at once",
          "[tracer][prepared]") {
  const auto prepared = policy::prepare_profile("default");
  constexpr int kThreads = 2;
  constexpr int kRuns = 12;
  struct Outcome {
    Status status = Status::kRunnerError;
    int exit_status = -1;
    std::string violation;
    std::string out;
  };
  std::vector<std::vector<Outcome>> outcomes(kThreads, std::vector<Outcome>(kRuns));
  std::latch start(kThreads);
  auto serve = [&](int t) {
    TempDir work;
    asio::io_context io;
    configure(io, {.max_in_flight = 4});
    start.arrive_and_wait();  // both threads make and start their runs together
    for (int i = 0; i < kRuns; ++i) {
      policy::RunRequest request;
      request.work_dir = work.path();
      // Every third run calls getppid, which the default profile does not allow.
      request.args = {test::tracee()};
      if (i % 3 == 2) {
        request.args.insert(request.args.end(), {"call", "getppid"});
      } else {
        request.args.insert(request.args.end(), {"copy"});
        request.io.in = Input::bytes("run " + std::to_string(t) + "." + std::to_string(i));
      }
      request.io.out = Output::capture(100);
      async_run(io, prepared->spec(request), [&outcomes, t, i](Result r) {
        Outcome& o = outcomes[t][i];
        o.status = r.status;
        o.exit_status = r.exit_status;
        o.violation = r.violation ? r.violation->syscall : "";
        o.out = r.stdout_data;
      });
    }
    io.run();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(serve, t);
  for (auto& th : threads) th.join();

  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kRuns; ++i) {
      INFO("thread " << t << ", run " << i);
      const Outcome& o = outcomes[t][i];
      if (i % 3 == 2) {
        CHECK(o.status == Status::kDisallowedSyscall);
        CHECK(o.violation == "getppid");
      } else {
        CHECK(o.status == Status::kNormal);
        CHECK(o.out == "run " + std::to_string(t) + "." + std::to_string(i));
      }
    }
  }
}
