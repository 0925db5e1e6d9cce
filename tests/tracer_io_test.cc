// Owned I/O (tracer::Io): stdin from bytes, a path or a duplicated fd; stdout and stderr into a
// path, a duplicated fd or a capture with a maximum. The runs are judge runs of the default
// profile (tracer::policy::PreparedProfile), as a grading service makes them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/support.h"
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

// A judge run of the tracee with `args` in `work`.
Spec tracee_spec(const TempDir& work, std::vector<std::string> args, Io io) {
  policy::RunRequest request;
  request.work_dir = work.path();
  request.args = {test::tracee()};
  request.args.insert(request.args.end(), args.begin(), args.end());
  request.io = std::move(io);
  request.cpu = 2s;
  request.wall = 10s;
  return default_profile().spec(request);
}

#define TB_SHOW(r) INFO("status " << to_string((r).status) << ": " << (r).error)

}  // namespace

TEST_CASE("io: Input::bytes is read from its start by every run, and no run can change it",
          "[tracer][io]") {
  TempDir work;
  const Input in = Input::bytes("hello\nworld\n");
  const Spec spec =
      tracee_spec(work, {"copy"}, {in, Output::capture(1 << 20), Output::capture(1 << 20)});
  for (int i = 0; i < 2; ++i) {  // a copy of the Spec reads the same bytes from their start
    Result r = run(spec);
    TB_SHOW(r);
    CHECK(r.status == Status::kNormal);
    CHECK(r.stdout_data == "hello\nworld\n");
    CHECK(r.stderr_data == "12 bytes\n");
  }
  // The memory file is sealed: not even its maker can write it.
  errno = 0;
  CHECK(::write(in.held_fd(), "x", 1) < 0);
  CHECK(errno == EPERM);
}

TEST_CASE(
    "io: Input::fd duplicates the fd when made: closing it and reusing its number after "
    "async_run changes nothing",
    "[tracer][io]") {
  TempDir work;
  test::write_file(work.file("first"), "first file\n");
  test::write_file(work.file("second"), "second file\n");
  int fd = ::open(work.file("first").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  Spec spec = tracee_spec(work, {"copy"}, {Input::fd(fd), Output::capture(1 << 20), {}});

  asio::io_context io;
  std::optional<Result> result;
  async_run(io, std::move(spec), [&](Result r) { result = std::move(r); });
  // The service is done with its fd: it closes it, and the next file it opens gets the same
  // number. The run, started later on the io thread, must still read the first file.
  REQUIRE(::close(fd) == 0);
  const int reused = ::open(work.file("second").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(reused == fd);
  io.run();
  ::close(reused);
  REQUIRE(result);
  TB_SHOW(*result);
  CHECK(result->status == Status::kNormal);
  CHECK(result->stdout_data == "first file\n");

  // A closed fd cannot be given at all: the error is the caller's, at once.
  CHECK_THROWS_AS(Input::fd(reused), SystemError);
  CHECK_THROWS_AS(Output::fd(reused), SystemError);
}

TEST_CASE("io: a pipe given as Input::fd, its write end closed", "[tracer][io]") {
  TempDir work;
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  REQUIRE(::write(p[1], "through a pipe\n", 15) == 15);
  ::close(p[1]);
  Input in = Input::fd(p[0]);
  ::close(p[0]);  // the Input holds its own duplicate
  Result r = run(tracee_spec(work, {"copy"}, {in, Output::capture(1 << 20), {}}));
  TB_SHOW(r);
  CHECK(r.status == Status::kNormal);
  CHECK(r.stdout_data == "through a pipe\n");
}

TEST_CASE(
    "io: Input::file and Output::file are opened when the run starts, a missing input is "
    "a runner_error naming it",
    "[tracer][io]") {
  TempDir work;
  TempDir files;
  test::write_file(files.file("in"), "from a file\n");
  Spec spec = tracee_spec(work, {"copy"},
                          {Input::file(files.file("in")), Output::file(files.file("out")),
                           Output::file(files.file("err"))});
  // Nothing is opened yet: the input may still change, the outputs do not exist.
  test::write_file(files.file("in"), "changed before the run\n");
  struct stat st {};
  CHECK(::stat(files.file("out").c_str(), &st) != 0);
  Result r = run(std::move(spec));
  TB_SHOW(r);
  CHECK(r.status == Status::kNormal);
  CHECK(test::read_file(files.file("out")) == "changed before the run\n");
  CHECK(test::read_file(files.file("err")) == "23 bytes\n");
  CHECK(r.stdout_data.empty());

  Result missing = run(tracee_spec(work, {"copy"}, {Input::file(files.file("missing")), {}, {}}));
  CHECK(missing.status == Status::kRunnerError);
  CHECK(missing.error == "stdin: " + files.file("missing") + ": No such file or directory");
}

TEST_CASE("io: Output::file does not follow a symbolic link left in its place", "[tracer][io]") {
  // A program that could write in the directory of the judge's output file leaves a link there,
  // named as the next run's output, to a file the judge (root) may write and it may not. The
  // library opens the output with the caller's rights: it must not truncate the link's target.
  TempDir work;
  TempDir shared;
  for (const std::string target : {"secret", "missing"}) {
    INFO("a link to " << target);
    if (target == "secret") test::write_file(shared.file("secret"), "precious\n", 0600);
    const std::string link = shared.file("out-" + target);
    REQUIRE(::symlink(shared.file(target).c_str(), link.c_str()) == 0);
    Result r = run(tracee_spec(work, {"output-bytes", "10"}, {{}, Output::file(link), {}}));
    CHECK(r.status == Status::kRunnerError);
    CHECK(r.error == "stdout: " + link + ": Too many levels of symbolic links");
    if (target == "secret") {
      CHECK(test::read_file(shared.file("secret")) == "precious\n");
    } else {
      struct stat st {};
      CHECK(::lstat(shared.file("missing").c_str(), &st) != 0);  // not created either
    }
  }
}

TEST_CASE("io: Output::capture puts stdout and stderr in the Result", "[tracer][io]") {
  TempDir work;
  Result r = run(tracee_spec(work, {"copy"},
                             {Input::bytes("abc"), Output::capture(100), Output::capture(100)}));
  TB_SHOW(r);
  CHECK(r.status == Status::kNormal);
  CHECK(r.stdout_data == "abc");
  CHECK(r.stderr_data == "3 bytes\n");

  // Exactly its maximum is within it.
  Result full = run(tracee_spec(work, {"output-bytes", "4096"}, {{}, Output::capture(4096), {}}));
  TB_SHOW(full);
  CHECK(full.status == Status::kNormal);
  CHECK(full.stdout_data == std::string(4096, 'x'));
}

TEST_CASE(
    "io: a captured output past its maximum (where a service would use a pipe) is "
    "output_limit_exceeded, its first bytes kept",
    "[tracer][io]") {
  TempDir work;
  SECTION("the program goes on writing: SIGXFSZ ends it") {
    Result r =
        run(tracee_spec(work, {"output-bytes", "1000000"}, {{}, Output::capture(10000), {}}));
    TB_SHOW(r);
    CHECK(r.status == Status::kOutputLimitExceeded);
    CHECK(r.limit == LimitKind::kOutput);
    CHECK(r.stdout_data == std::string(10000, 'x'));
  }
  SECTION("one byte past the maximum, then the program exits") {
    Result r = run(tracee_spec(work, {"output-bytes", "10001"}, {{}, Output::capture(10000), {}}));
    TB_SHOW(r);
    CHECK(r.status == Status::kOutputLimitExceeded);
    CHECK(r.exit_status == 0);
    CHECK(r.error == "output limit: stdout past its 10000 bytes");
    CHECK(r.stdout_data.size() == 10000);
  }
  SECTION("SIGXFSZ blocked, EFBIG ignored, exit 0: still past its maximum") {
    Result r = run(tracee_spec(work, {"output-bytes", "1000000", "blocked"},
                               {{}, Output::capture(10000), {}}));
    TB_SHOW(r);
    CHECK(r.status == Status::kOutputLimitExceeded);
    CHECK(r.stdout_data.size() == 10000);
  }
  SECTION("stderr's maximum, stdout within its own") {
    Result r = run(tracee_spec(
        work, {"copy"},
        {Input::bytes(std::string(5000, 'y')), Output::capture(1 << 20), Output::capture(4)}));
    TB_SHOW(r);
    CHECK(r.status == Status::kOutputLimitExceeded);
    CHECK(r.stdout_data == std::string(5000, 'y'));
    CHECK(r.stderr_data == "5000");
  }
  SECTION("Limits::output_bytes below the capture's maximum binds it too") {
    policy::RunRequest request;
    request.work_dir = work.path();
    request.args = {test::tracee(), "output-bytes", "100000"};
    request.io.out = Output::capture(1 << 20);
    request.output_bytes = 3000;
    Result r = run(default_profile().spec(request));
    TB_SHOW(r);
    CHECK(r.status == Status::kOutputLimitExceeded);
    CHECK(r.stdout_data.size() == 3000);
  }
}

TEST_CASE("io: a set stream replaces its entry of process.files, an unset one keeps it",
          "[tracer][io]") {
  TempDir work;
  Spec spec = tracee_spec(work, {"copy"}, {});
  const int out = ::open(work.file("out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  spec.io = {};
  spec.io.in = Input::bytes("kept apart\n");
  spec.io.err = Output::capture(100);
  spec.process.files = {0, out, 2};  // stdout to the caller's file, as before Io
  Result r = run(std::move(spec));
  ::close(out);
  TB_SHOW(r);
  CHECK(r.status == Status::kNormal);
  CHECK(test::read_file(work.file("out")) == "kept apart\n");
  CHECK(r.stderr_data == "11 bytes\n");
  CHECK(r.stdout_data.empty());
}
