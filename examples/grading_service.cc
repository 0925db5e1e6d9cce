// grading_service: a small judge built on the installed tracebox package. It runs a batch of
// submissions concurrently on one tracer thread (one asio::io_context, tracer::async_run) and
// prints one line per submission, in input order, as soon as it and those before it are done:
//
//   <index> <status> <time_ms> <memory_KiB> <exit_status>
//
// index counts from 1; status is tracer::to_string(Status); time_ms is CPU time (user + sys of
// the whole process tree); exit_status is the exit code, or the signal number when signalled.
//
// Usage:
//   grading_service [--cpu-ms N] [--memory-mib N] -- PROGRAM...   (each one a submission)
//   grading_service [--cpu-ms N] [--memory-mib N] --batch FILE    (one command line a line)
//
// A batch line is a program path and its arguments, separated by blanks (no quoting); empty
// lines and lines starting with '#' are skipped. Exit status: 0 when every submission got a
// verdict, 1 when some run failed in the runner (runner_error, explained on stderr), 2 for bad
// input.
//
// The submissions run with stdin, stdout and stderr on /dev/null, an empty environment, and the
// policy of a single-threaded C or C++ program. A deployment would also give them their own
// user, mounts and working directory (forkexec::Runner has the fields for it).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/tracer/tracer.h"
#include "tracebox/util/unique_fd.h"

namespace {

using namespace std::chrono_literals;
namespace tracer = tracebox::tracer;
namespace seccomp = tracebox::seccomp;

// The tag of the rule that traces execve: the first exec (the submission itself) is not judged,
// every later one reaches the handler.
constexpr std::uint16_t kTagExec = 1;

// What a glibc C or C++ program needs, and nothing that starts processes or threads.
constexpr std::string_view kAllowed =
    "read write readv writev close fstat newfstatat statx lseek pread64 ioctl fcntl "
    "openat access faccessat faccessat2 readlink readlinkat getcwd uname "
    "mmap mprotect munmap mremap brk madvise "
    "rt_sigaction rt_sigprocmask rt_sigreturn tgkill getpid gettid "
    "exit exit_group arch_prctl set_tid_address set_robust_list rseq getrandom futex "
    "clock_gettime clock_nanosleep nanosleep sched_yield sched_getaffinity";

tracer::Policy judge_policy() {
  tracer::Policy p;
  std::istringstream names{std::string(kAllowed)};
  for (std::string name; names >> name;) p.allow(name);
  // getrlimit (glibc calls prlimit64 with no new limit), never setting a limit.
  p.rules.push_back({"prlimit64", seccomp::Action::allow(), {seccomp::ArgCondition::eq(2, 0)}});
  p.trace("execve", kTagExec);
  return p;
}

// Allows nothing beyond the policy: every traced syscall ends the run as a violation.
class JudgeHandler : public tracer::Handler {
 public:
  tracer::Decision on_syscall(tracer::Context& ctx) override {
    return tracer::Decision::kill(std::string(ctx.syscall_name()) +
                                  " is not allowed for a submission");
  }
};

struct Options {
  std::chrono::milliseconds cpu{1000};
  std::uint64_t memory_mib = 256;
  std::vector<std::vector<std::string>> submissions;  // argv of each
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "usage: grading_service [--cpu-ms N] [--memory-mib N] -- PROGRAM...\n"
    "       grading_service [--cpu-ms N] [--memory-mib N] --batch FILE\n";

std::uint64_t parse_count(std::string_view flag, std::string_view text, std::uint64_t max) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v == 0 || v > max)
    throw UsageError(std::string(flag) + " wants a whole number from 1 to " + std::to_string(max) +
                     ", not '" + std::string(text) + "'");
  return v;
}

std::vector<std::vector<std::string>> read_batch(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the batch file " + path);
  std::vector<std::vector<std::string>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> argv;
    for (std::string w; words >> w;) argv.push_back(w);
    if (argv.empty() || argv[0].starts_with('#')) continue;
    out.push_back(std::move(argv));
  }
  if (in.bad()) throw UsageError("error reading the batch file " + path);
  return out;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::optional<std::string> batch;
  bool programs = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw UsageError(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--cpu-ms") {
      o.cpu = std::chrono::milliseconds(parse_count(a, value(), 3'600'000));
    } else if (a == "--memory-mib") {
      o.memory_mib = parse_count(a, value(), 1 << 20);
    } else if (a == "--batch") {
      batch = std::string(value());
    } else if (a == "--") {
      programs = true;
      ++i;
      break;
    } else {
      throw UsageError("unknown argument '" + std::string(a) + "'");
    }
  }
  if (programs == batch.has_value()) throw UsageError("give either -- PROGRAM... or --batch FILE");
  if (batch) {
    o.submissions = read_batch(*batch);
  } else {
    for (; i < argc; ++i) o.submissions.push_back({argv[i]});
  }
  if (o.submissions.empty()) throw UsageError("no submissions");
  // A missing program is the caller's mistake, not a verdict.
  for (const auto& s : o.submissions) {
    struct stat st {};
    if (::stat(s[0].c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(s[0].c_str(), X_OK) != 0)
      throw UsageError("not an executable file: " + s[0]);
  }
  return o;
}

tracer::Spec make_spec(const Options& o, const std::vector<std::string>& argv, int null_fd) {
  tracer::Spec spec;
  spec.process.args = argv;
  spec.process.env = {"PATH=/usr/bin:/bin"};
  spec.process.files = {null_fd, null_fd, null_fd};
  spec.policy = judge_policy();
  spec.limits.cpu = o.cpu;
  spec.limits.wall = 3 * o.cpu + 2s;  // a sleeping program ends too (not a CPU TLE)
  spec.limits.memory_bytes = o.memory_mib << 20;
  spec.limits.output_bytes = 64ull << 20;
  return spec;
}

void print_line(std::size_t index, const tracer::Result& r) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::printf("%zu %s %lld %llu %d\n", index, std::string(tracer::to_string(r.status)).c_str(),
              static_cast<long long>(duration_cast<milliseconds>(r.cpu_time).count()),
              static_cast<unsigned long long>(r.memory_kib), r.exit_status);
  std::fflush(stdout);
  if (r.status == tracer::Status::kRunnerError || r.status == tracer::Status::kDisallowedSyscall)
    std::fprintf(stderr, "grading_service: submission %zu: %s\n", index, r.error.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  try {
    opts = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "grading_service: %s\n%s", e.what(), kUsage);
    return 2;
  }

  tracebox::UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) {
    std::perror("grading_service: /dev/null");
    return 1;
  }

  // One io_context, run by this thread only: it is the tracer of every submission.
  asio::io_context io;
  auto handler = std::make_shared<JudgeHandler>();
  std::vector<std::optional<tracer::Result>> results(opts.submissions.size());
  std::size_t next_to_print = 0;
  bool runner_failed = false;
  for (std::size_t i = 0; i < opts.submissions.size(); ++i) {
    tracer::async_run(
        io, make_spec(opts, opts.submissions[i], null.get()), handler, [&, i](tracer::Result r) {
          runner_failed |= r.status == tracer::Status::kRunnerError;
          results[i] = std::move(r);
          // Keep input order: print the finished prefix.
          for (; next_to_print < results.size() && results[next_to_print]; ++next_to_print)
            print_line(next_to_print + 1, *results[next_to_print]);
        });
  }
  io.run();

  if (next_to_print != results.size()) {
    std::fprintf(stderr, "grading_service: %zu submissions got no result\n",
                 results.size() - next_to_print);
    return 1;
  }
  return runner_failed ? 1 : 0;
}
