// runprog -batch end to end: the built binary driven through pipes, as a client in another
// language would: verdicts and ids of many requests at once, bad requests, EOF, signals, a closed
// stdout, and SIGKILL of the worker (no program of it may survive).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "options.h"
#include "support/support.h"

namespace test = tracebox::test;
using test::TempDir;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

const std::string kRunprog = TRACEBOX_RUNPROG;

// A running worker with its stdin and stdout as pipes (stderr to a file).
class Worker {
 public:
  explicit Worker(std::vector<std::string> args) {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    std::vector<std::string> argv{kRunprog, "-batch"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, dir_.file("err").c_str(), O_WRONLY | O_CREAT, 0644);
    const int err = posix_spawn(&pid_, kRunprog.c_str(), &fa, nullptr, cargs.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    REQUIRE(err == 0);
  }
  ~Worker() {
    close_stdin();
    close_stdout();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  pid_t pid() const { return pid_; }

  void send(const std::string& line) {
    std::string text = line + "\n";
    REQUIRE(::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
  void send(const Json& request) { send(request.dump()); }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  void close_stdout() {
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }

  // The next result line, parsed; fails after `timeout`.
  Json next(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto end = Clock::now() + timeout;
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        const std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        INFO("line: " << line);
        Json j = Json::parse(line);
        REQUIRE(j.is_object());
        return j;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      INFO("stderr: " << test::read_file(dir_.file("err")));
      REQUIRE(left > 0);
      pollfd p{out_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left));
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n > 0);
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // `n` results, by id (each id once).
  std::map<std::string, Json> results(std::size_t n) {
    std::map<std::string, Json> out;
    for (std::size_t i = 0; i < n; ++i) {
      Json j = next();
      const std::string id = j["id"].dump();
      INFO("result: " << j.dump());
      CHECK(out.count(id) == 0);
      out[id] = j;
    }
    return out;
  }
  // Whether stdout has reached EOF with nothing more written.
  bool at_eof() {
    char c;
    ssize_t n;
    while ((n = ::read(out_, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 0 && buffer_.empty();
  }
  // The worker's exit code, or 128 + the signal that killed it.
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string err() const { return test::read_file(dir_.file("err")); }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string buffer_;
};

Json request(Json id, std::vector<std::string> args) {
  std::vector<std::string> full{test::tracee()};
  full.insert(full.end(), args.begin(), args.end());
  return Json{{"id", std::move(id)}, {"args", full}};
}

// A run that sleeps `ms` milliseconds (nanosleep needs allowProc in the default profile).
Json sleeper(Json id, int ms) {
  Json r = request(std::move(id), {"sleep", std::to_string(ms)});
  r["allowProc"] = true;
  return r;
}

// The pids of this PID namespace (the guard's) but pid 1 and ours: what the worker left.
std::vector<pid_t> others() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid > 1 && pid != ::getpid()) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

// How many processes run the tracee (its comm).
int tracees_running() {
  int n = 0;
  for (pid_t pid : others()) {
    const std::string comm = test::read_file("/proc/" + std::to_string(pid) + "/comm");
    if (comm.starts_with("tracebox_tracee")) ++n;
  }
  return n;
}

// Waits until `n` tracees run (the runs are under way).
void wait_for_tracees(int n) {
  const auto end = Clock::now() + std::chrono::seconds(30);
  while (tracees_running() < n) {
    REQUIRE(Clock::now() < end);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// `n` runs that sleep for a minute (the wall limit allows it).
void send_sleepers(Worker& w, int n) {
  for (int i = 0; i < n; ++i) {
    Json r = sleeper("sleeper" + std::to_string(i), 60000);
    r["clockLimit"] = std::uint64_t{120} * 1'000'000'000;
    w.send(r);
  }
}

}  // namespace

TEST_CASE("mixed verdicts with -j 2 and each result tagged with its id", "[batch]") {
  TB_REQUIRE_GUARD();
  Worker w({"-j", "2"});
  std::map<std::string, std::string> want;  // id (as JSON) -> verdict
  for (int i = 0; i < 6; ++i) {
    Json r = request(i, {"copy"});
    r["files"] = Json::array({{{"content", "input " + std::to_string(i)}},
                              {{"name", "stdout"}, {"max", 1000}},
                              {{"name", "stderr"}, {"max", 1000}}});
    w.send(r);
    want[std::to_string(i)] = "normal";
  }
  Json tle = request("tle", {"spin"});
  tle["cpuLimit"] = 200'000'000;
  w.send(tle);
  want["\"tle\""] = "time_limit_exceeded";
  Json mle = request("mle", {"touch", "256"});
  mle["memoryLimit"] = 32 << 20;
  w.send(mle);
  want["\"mle\""] = "memory_limit_exceeded";
  w.send(request("fork", {"spin-children", "1", "10"}));  // fork without allowProc
  want["\"fork\""] = "disallowed_syscall";
  w.send(request("exit3", {"exit", "3"}));
  want["\"exit3\""] = "nonzero_exit_status";
  Json ole = request(Json::array({"ole", 1}), {"output-bytes", "100000"});
  ole["files"] = Json::array({nullptr, {{"name", "out"}, {"max", 1000}}});
  w.send(ole);
  want["[\"ole\",1]"] = "output_limit_exceeded";
  Json fork_ok = request("fork-allowed", {"spin-children", "1", "10"});
  fork_ok["allowProc"] = true;
  w.send(fork_ok);
  want["\"fork-allowed\""] = "normal";

  auto got = w.results(want.size());
  REQUIRE(got.size() == want.size());
  for (const auto& [id, verdict] : want) {
    INFO("id " << id << ": " << got[id].dump());
    REQUIRE(got.count(id) == 1);
    CHECK(got[id]["verdict"] == verdict);
  }
  for (int i = 0; i < 6; ++i) {
    const Json& r = got[std::to_string(i)];
    CHECK(r["status"] == "Accepted");
    CHECK(r["files"]["stdout"] == "input " + std::to_string(i));
    CHECK(r["files"]["stderr"] == "7 bytes\n");
    CHECK(r["exitStatus"] == 0);
    CHECK(r["time"].get<std::int64_t>() > 0);
    CHECK(r["memory"].get<std::int64_t>() > 0);
  }
  CHECK(got["\"tle\""]["status"] == "Time Limit Exceeded");
  CHECK(got["\"tle\""]["limit"] == "cpu");
  CHECK(got["\"tle\""]["time"].get<std::int64_t>() >= 200'000'000);
  CHECK(got["\"mle\""]["status"] == "Memory Limit Exceeded");
  CHECK(got["\"fork\""]["status"] == "Dangerous Syscall");
  CHECK(got["\"fork\""]["violation"]["syscall"].get<std::string>().find("clone") !=
        std::string::npos);
  CHECK(got["\"exit3\""]["status"] == "Nonzero Exit Status");
  CHECK(got["\"exit3\""]["exitStatus"] == 3);
  CHECK(got["[\"ole\",1]"]["status"] == "Output Limit Exceeded");
  CHECK(got["[\"ole\",1]"]["files"]["out"].get<std::string>() == std::string(1000, 'x'));

  w.close_stdin();
  CHECK(w.wait() == 0);
}

TEST_CASE("the -j option bounds the runs in flight", "[batch]") {
  TB_REQUIRE_GUARD();
  // Four runs of 300 ms of wall time under -j 2 cannot all be done in less than 600 ms.
  Worker w({"-j", "2"});
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) w.send(sleeper(i, 300));
  auto got = w.results(4);
  const auto elapsed = Clock::now() - start;
  for (const auto& [id, r] : got) CHECK(r["verdict"] == "normal");
  CHECK(elapsed >= std::chrono::milliseconds(600));
  w.close_stdin();
  CHECK(w.wait() == 0);
}

TEST_CASE("a bad request gets an error naming the field and the worker goes on", "[batch]") {
  TB_REQUIRE_GUARD();
  TempDir t;
  Worker w({"-j", "2"});
  struct Bad {
    std::string line;
    Json id;
    std::string field;
  };
  const std::string tracee = test::tracee();
  const std::vector<Bad> bad{
      {"{not json", nullptr, ""},
      {"[1, 2]", nullptr, ""},
      {R"({"id": 1, "args": [")" + tracee + R"("], "colour": "red"})", 1, "colour"},
      {R"({"id": 2, "args": [")" + tracee + R"("], "cpuLimit": "1s"})", 2, "cpuLimit"},
      {R"({"id": 3, "args": [")" + tracee + R"("], "memoryLimit": -5})", 3, "memoryLimit"},
      {R"({"id": 4, "args": [")" + tracee + R"("], "cpuLimit": 1.5})", 4, "cpuLimit"},
      {R"({"id": 5})", 5, "args"},
      {R"({"id": 6, "args": []})", 6, "args"},
      {R"({"id": 7, "args": "prog"})", 7, "args"},
      {R"({"id": 8, "args": [")" + tracee + R"(", 3]})", 8, "args[1]"},
      {R"({"id": 9, "args": [")" + t.file("missing") + R"("]})", 9, "args[0]"},
      {R"({"id": 10, "args": [")" + tracee + R"("], "type": "no-such-profile"})", 10, "type"},
      {R"({"id": 11, "args": [")" + tracee + R"("], "workDir": ")" + t.file("none") + R"("})", 11,
       "workDir"},
      {R"({"id": 12, "args": [")" + tracee + R"("], "files": [null, {"content": "x"}]})", 12,
       "files[1].content"},
      {R"({"id": 13, "args": [")" + tracee + R"("], "files": [{"src": "a", "name": "b"}]})", 13,
       "files[0]"},
      {R"({"id": 14, "args": [")" + tracee + R"("], "files": [{"name": "in"}]})", 14,
       "files[0].name"},
      {R"({"id": 15, "args": [")" + tracee + R"("], "files": [null, {"name": "o", "mx": 1}]})", 15,
       "files[1].mx"},
      {R"({"id": 16, "args": [")" + tracee + R"("], "allowProc": "yes"})", 16, "allowProc"},
      {R"({"id": 17, "args": [")" + tracee + R"("], "addReadable": [")" + t.file("none") + R"("]})",
       17, "addReadable"},
      {R"({"id": 18, "args": [")" + tracee + R"("], "addWritable": ["/proc/1/mem"]})", 18,
       "addWritable"},
      {R"({"id": 19, "args": [")" + tracee + R"("], "procLimit": 0})", 19, "procLimit"},
      {R"({"id": 20, "args": [")" + tracee +
           R"("], "files": [null, {"name": "o"}, {"name": "o"}]})",
       20, "files[2].name"},
  };
  for (const auto& b : bad) w.send(b.line);
  Json good = request("good", {"exit", "0"});
  w.send(good);
  for (const auto& b : bad) {
    Json r = w.next();
    INFO("request: " << b.line << "\nresult: " << r.dump());
    CHECK(r["id"] == b.id);
    CHECK(r["status"] == "Invalid Request");
    CHECK(r["verdict"] == "invalid_request");
    CHECK(r["field"] == b.field);
    CHECK(r["error"].get<std::string>().starts_with(b.field));
  }
  Json r = w.next();
  CHECK(r["id"] == "good");
  CHECK(r["verdict"] == "normal");
  w.close_stdin();
  CHECK(w.wait() == 0);
}

TEST_CASE("at EOF the worker finishes what it read and exits 0", "[batch]") {
  TB_REQUIRE_GUARD();
  Worker w({"-j", "2"});
  for (int i = 0; i < 5; ++i) w.send(sleeper(i, 100));
  w.send(request("last", {"exit", "0"}).dump());  // the last line without its newline
  w.close_stdin();
  auto got = w.results(6);
  for (const auto& [id, r] : got) CHECK(r["verdict"] == "normal");
  CHECK(got.count("\"last\"") == 1);
  CHECK(w.at_eof());
  CHECK(w.wait() == 0);
  CHECK(others().empty());
}

TEST_CASE("SIGTERM or SIGINT or SIGHUP kills every run and the worker exits non-zero", "[batch]") {
  TB_REQUIRE_GUARD();
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    INFO("signal " << sig);
    Worker w({"-j", "3"});
    send_sleepers(w, 3);
    wait_for_tracees(3);
    const auto start = Clock::now();
    REQUIRE(::kill(w.pid(), sig) == 0);
    CHECK(w.wait() == 128 + sig);
    CHECK(Clock::now() - start < std::chrono::seconds(10));
    CHECK(others().empty());  // the worker reaped every process of its runs before exiting
  }
}

TEST_CASE("a closed stdout (EPIPE) kills every run and the worker exits 1", "[batch]") {
  TB_REQUIRE_GUARD();
  Worker w({"-j", "3"});
  send_sleepers(w, 2);
  wait_for_tracees(2);
  w.close_stdout();
  w.send(request("quick", {"exit", "0"}));  // its result cannot be written
  CHECK(w.wait() == 1);
  CHECK(w.err().find("Broken pipe") != std::string::npos);
  CHECK(others().empty());
}

TEST_CASE("the worker killed with SIGKILL leaves no process behind", "[batch]") {
  TB_REQUIRE_GUARD();
  Worker w({"-j", "4"});
  send_sleepers(w, 3);
  Json forker = request("forker", {"spin-children", "3", "60000"});
  forker["allowProc"] = true;
  forker["cpuLimit"] = std::uint64_t{600} * 1'000'000'000;
  forker["clockLimit"] = std::uint64_t{600} * 1'000'000'000;
  w.send(forker);
  wait_for_tracees(3 + 4);  // three sleepers, the forker and its three children
  REQUIRE(::kill(w.pid(), SIGKILL) == 0);
  CHECK(w.wait() == 128 + SIGKILL);
  // PTRACE_O_EXITKILL kills every tracee as the tracer dies, and each run's namespace init dies
  // with it (PR_SET_PDEATHSIG); what is left is reaped by the guard's init. Nothing may stay,
  // running or stopped.
  const auto end = Clock::now() + std::chrono::seconds(10);
  while (!others().empty() && Clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  INFO("left: " << others().size());
  CHECK(others().empty());
}

TEST_CASE("the -batch and -j options parse as documented", "[batch]") {
  using tracebox::cmd::parse_options;
  using tracebox::cmd::UsageError;
  auto parse = [](std::vector<std::string> args) { return parse_options(args); };
  auto o = parse({"-batch", "-j", "3", "-tl", "2", "-type", "python3"});
  CHECK(o.batch);
  CHECK(o.jobs == 3);
  CHECK(o.tl == 2);
  CHECK(o.command.empty());
  CHECK(parse({"-batch"}).jobs == 0);
  CHECK_THROWS_AS(parse({"-j", "2", "./prog"}), UsageError);              // -j needs -batch
  CHECK_THROWS_AS(parse({"-batch", "-j", "1.5"}), UsageError);            // not a whole number
  CHECK_THROWS_AS(parse({"-batch", "./prog"}), UsageError);               // no PROGRAM
  CHECK_THROWS_AS(parse({"-batch", "-in", "x"}), UsageError);             // per-request files
  CHECK_THROWS_AS(parse({"-batch", "-runner", "ns"}), UsageError);        // the ptrace runner only
  CHECK_THROWS_AS(parse({"-batch", "-trace-log", "t.log"}), UsageError);  // not per worker
  CHECK_THROWS_AS(parse({"-batch", "-interactor", "./i"}), UsageError);  // a run group, not a batch
}

TEST_CASE("the worker's -user sets the uid and gid of every request's program as root", "[batch]") {
  TB_REQUIRE_GUARD();
  TB_SKIP_UNLESS(::geteuid() == 0, "the programs' user changes only as root");
  Worker w({"-user", "2345:2346"});
  Json r = Json{{"id", 1},
                {"args", {std::string(TRACEBOX_HOSTILE), "euid"}},
                {"files", Json::array({nullptr, Json{{"name", "stdout"}, {"max", 100}}, nullptr})}};
  w.send(r);
  w.close_stdin();
  auto got = w.results(1);
  REQUIRE(got.count("1") == 1);
  CHECK(got["1"]["verdict"] == "normal");
  CHECK(got["1"]["files"]["stdout"] == "euid=2345\n");
  CHECK(w.wait() == 0);
}
