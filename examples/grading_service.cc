// grading_service: a small judge built on the installed tracebox package, written as a grading
// service should be: a language profile loaded by name and prepared once (its seccomp filter and
// file sets shared by every run), each run's input and output owned by the run (stdin from a
// file opened for it, stdout captured with a maximum), a work directory of its own per run, and
// a bounded number of runs in flight on one tracer thread. It prints one line per submission, in
// input order, as soon as it and those before it are done:
//
//   <index> <status> <time_ms> <memory_KiB> <exit_status> <output_bytes>
//
// index counts from 1; status is tracer::to_string(Status); time_ms is CPU time (user + sys of
// the whole process tree); exit_status is the exit code, or the signal number when signalled;
// output_bytes is what the program wrote to stdout (at most --output-kib KiB: more is
// output_limit_exceeded).
//
// Usage:
//   grading_service [options] -- PROGRAM...   (each one a submission, without arguments)
//   grading_service [options] --batch FILE    (one submission a line)
// Options:
//   --profile NAME|FILE   the language profile (default: "default", C and C++ programs), looked
//                         up in the package's installed profiles
//   --cpu-ms N            CPU time limit (default 1000); the wall clock gets 2 s more
//   --memory-mib N        memory limit (default 256)
//   --output-kib N        the most a program may write to stdout (default 1024)
//   --in-flight N         runs in flight at once (default: the library's, twice the CPUs)
//
// A batch line is a program path and its arguments, separated by blanks (no quoting), and
// optionally "< FILE" at the end: the program's stdin (otherwise empty). Empty lines and lines
// starting with '#' are skipped. Exit status: 0 when every submission got a verdict, 1 when some
// run failed in the runner (runner_error, explained on stderr), 2 for bad input.
//
// The submissions run as the profile says (the default profile: a C or C++ program, its files
// the program itself and the libraries), in a fresh work directory each, with the layers a
// judge needs when the service is root: their own user (65534), no capability, their own PID
// namespace.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

namespace {

namespace tracer = tracebox::tracer;
namespace policy = tracebox::tracer::policy;

struct Submission {
  std::vector<std::string> argv;
  std::string input;  // a file for stdin, or "" for an empty one
};

struct Options {
  std::string profile = "default";
  std::chrono::milliseconds cpu{1000};
  std::uint64_t memory_mib = 256;
  std::uint64_t output_kib = 1024;
  std::size_t in_flight = 0;
  std::vector<Submission> submissions;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "usage: grading_service [options] -- PROGRAM...\n"
    "       grading_service [options] --batch FILE\n"
    "options: --profile NAME|FILE --cpu-ms N --memory-mib N --output-kib N --in-flight N\n";

std::uint64_t parse_count(std::string_view flag, std::string_view text, std::uint64_t max) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v == 0 || v > max)
    throw UsageError(std::string(flag) + " wants a whole number from 1 to " + std::to_string(max) +
                     ", not '" + std::string(text) + "'");
  return v;
}

std::vector<Submission> read_batch(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the batch file " + path);
  std::vector<Submission> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    Submission s;
    for (std::string w; words >> w;) s.argv.push_back(w);
    if (s.argv.empty() || s.argv[0].starts_with('#')) continue;
    if (s.argv.size() >= 3 && s.argv[s.argv.size() - 2] == "<") {
      s.input = s.argv.back();
      s.argv.resize(s.argv.size() - 2);
    }
    out.push_back(std::move(s));
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
    if (a == "--profile") {
      o.profile = std::string(value());
    } else if (a == "--cpu-ms") {
      o.cpu = std::chrono::milliseconds(parse_count(a, value(), 3'600'000));
    } else if (a == "--memory-mib") {
      o.memory_mib = parse_count(a, value(), 1 << 20);
    } else if (a == "--output-kib") {
      o.output_kib = parse_count(a, value(), 1 << 20);
    } else if (a == "--in-flight") {
      o.in_flight = parse_count(a, value(), 4096);
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
    for (; i < argc; ++i) o.submissions.push_back({{argv[i]}, ""});
  }
  if (o.submissions.empty()) throw UsageError("no submissions");
  // A missing program or input is the caller's mistake, not a verdict.
  for (const auto& s : o.submissions) {
    struct stat st {};
    if (::stat(s.argv[0].c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        ::access(s.argv[0].c_str(), X_OK) != 0)
      throw UsageError("not an executable file: " + s.argv[0]);
    if (!s.input.empty() && ::access(s.input.c_str(), R_OK) != 0)
      throw UsageError("cannot read the input " + s.input);
  }
  return o;
}

// A fresh directory for one run, removed with this object. When the service is root the program
// runs as another user (tracer::Isolation::user): the directory is made theirs.
class WorkDir {
 public:
  WorkDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/grading-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("mkdtemp: cannot make " + templ);
    path_ = templ;
    ::chmod(path_.c_str(), 0755);
    const tracer::Isolation isolation;
    if (::geteuid() == 0 && isolation.user &&
        ::chown(path_.c_str(), isolation.user->uid, isolation.user->gid) != 0)
      throw std::runtime_error("chown " + path_);
  }
  ~WorkDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void print_line(std::size_t index, const tracer::Result& r) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::printf("%zu %s %lld %llu %d %zu\n", index, std::string(tracer::to_string(r.status)).c_str(),
              static_cast<long long>(duration_cast<milliseconds>(r.cpu_time).count()),
              static_cast<unsigned long long>(r.memory_kib), r.exit_status, r.stdout_data.size());
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

  // The profile, prepared once: its filter is built here, not per run, and every run shares it
  // (it is immutable: runs on other threads and io_contexts could share it too).
  std::shared_ptr<const policy::PreparedProfile> profile;
  try {
    profile = policy::prepare_profile(opts.profile);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grading_service: --profile %s: %s\n", opts.profile.c_str(), e.what());
    return 2;
  }
  std::fprintf(stderr, "grading_service: profile %s (%s)\n", profile->profile().name.c_str(),
               profile->profile().path.c_str());

  // One io_context, run by this thread only: it is the tracer of every submission. Runs beyond
  // --in-flight wait in the tracer's queue (their clocks start when they do).
  asio::io_context io;
  tracer::configure(io, {.max_in_flight = opts.in_flight});
  std::vector<std::optional<tracer::Result>> results(opts.submissions.size());
  std::size_t next_to_print = 0;
  bool runner_failed = false;
  const tracer::Input no_input = tracer::Input::bytes("");  // one memory file, read by any run
  for (std::size_t i = 0; i < opts.submissions.size(); ++i) {
    const Submission& s = opts.submissions[i];
    auto work = std::make_shared<WorkDir>();
    policy::RunRequest request;
    request.work_dir = work->path();
    request.args = s.argv;
    request.cpu = opts.cpu;
    request.wall = 2 * opts.cpu + std::chrono::seconds(2);  // a sleeping program ends too
    request.memory_bytes = opts.memory_mib << 20;
    // Owned I/O: the input is opened for the run when it starts; stdout is captured (a memory
    // file: more than its maximum is output_limit_exceeded); stderr goes nowhere.
    request.io.in = s.input.empty() ? no_input : tracer::Input::file(s.input);
    request.io.out = tracer::Output::capture(opts.output_kib << 10);
    request.io.err = tracer::Output::null();
    tracer::Result failed;
    tracer::Spec spec;
    try {
      spec = profile->spec(request);
    } catch (const std::exception& e) {  // a profile variable this run cannot give, say
      failed.error = e.what();
      results[i] = failed;
      runner_failed = true;
      continue;
    }
    tracer::async_run(io, std::move(spec), [&, i, work](tracer::Result r) {
      runner_failed |= r.status == tracer::Status::kRunnerError;
      results[i] = std::move(r);
      // Keep input order: print the finished prefix.
      for (; next_to_print < results.size() && results[next_to_print]; ++next_to_print)
        print_line(next_to_print + 1, *results[next_to_print]);
    });
  }
  io.run();

  if (next_to_print != results.size()) {
    // Runs that failed before they were started (and so were never printed by a completion).
    for (; next_to_print < results.size() && results[next_to_print]; ++next_to_print)
      print_line(next_to_print + 1, *results[next_to_print]);
  }
  if (next_to_print != results.size()) {
    std::fprintf(stderr, "grading_service: %zu submissions got no result\n",
                 results.size() - next_to_print);
    return 1;
  }
  return runner_failed ? 1 : 0;
}
