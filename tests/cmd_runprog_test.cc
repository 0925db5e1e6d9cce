// runprog end to end: the built binary on the test programs, its UOJ line, its JSON, its exit
// code and its messages for bad input.
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/support.h"

using tracebox::test::TempDir;
using Json = nlohmann::json;

extern char** environ;

namespace {

const std::string kRunprog = TRACEBOX_RUNPROG;

struct Outcome {
  int code = -1;  // runprog's exit code
  std::string out;
  std::string err;
};

// Runs runprog with `args`: stdin from `in`, stdout and stderr captured. Unless `args` has an
// -out, the program's own stdout goes to /dev/null, so that stdout holds runprog's result only.
// With `signal`, sends it to runprog after `after_ms`.
Outcome runprog(const std::vector<std::string>& args, const std::string& in = "/dev/null",
                int signal = 0, int after_ms = 0) {
  TempDir t;
  std::vector<std::string> argv{kRunprog};
  if (std::find(args.begin(), args.end(), "-out") == args.end()) {
    argv.push_back("-out");
    argv.push_back("/dev/null");
  }
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, t.file("out").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, t.file("err").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, kRunprog.c_str(), &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(err == 0);
  if (signal != 0) {
    ::usleep(static_cast<useconds_t>(after_ms) * 1000);
    ::kill(pid, signal);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  Outcome o;
  o.code = WEXITSTATUS(status);
  o.out = tracebox::test::read_file(t.file("out"));
  o.err = tracebox::test::read_file(t.file("err"));
  return o;
}

// The JSON result on stdout (one line), checked for the exact key set and types.
Json result_json(const Outcome& o, bool with_syscalls = false) {
  INFO("stdout: " << o.out << "stderr: " << o.err);
  REQUIRE(!o.out.empty());
  REQUIRE(o.out.back() == '\n');
  REQUIRE(o.out.find('\n') == o.out.size() - 1);  // one line
  Json j = Json::parse(o.out);
  REQUIRE(j.is_object());
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  std::vector<std::string> want{"error",  "error_location", "errno",     "exit_status",
                                "limit",  "memory_kb",      "setup_ms",  "signal",
                                "status", "time_ms",        "violation", "wall_ms"};
  if (with_syscalls) want.push_back("syscalls");
  std::sort(want.begin(), want.end());
  CHECK(keys == want);  // nlohmann's object iterates in key order
  CHECK(j["status"].is_string());
  CHECK(j["exit_status"].is_number_integer());
  CHECK((j["signal"].is_null() || j["signal"].is_number_integer()));
  for (const char* k : {"time_ms", "wall_ms", "memory_kb", "setup_ms"}) {
    INFO(k);
    CHECK(j[k].is_number_unsigned());
  }
  for (const char* k : {"limit", "error", "error_location", "errno"}) {
    INFO(k);
    CHECK((j[k].is_null() || j[k].is_string()));
  }
  CHECK((j["violation"].is_null() || j["violation"].is_object()));
  if (with_syscalls) CHECK(j["syscalls"].is_object());
  return j;
}

// `text` as "<a> <b> <c> <d>\n", four decimal numbers with single spaces; false otherwise.
bool parse_uoj(const std::string& text, std::array<long, 4>& out) {
  std::size_t at = 0;
  for (int i = 0; i < 4; ++i) {
    const std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == start || at - start > 12) return false;
    out[i] = std::stol(text.substr(start, at - start));
    if (at >= text.size() || text[at] != (i < 3 ? ' ' : '\n')) return false;
    ++at;
  }
  return at == text.size();
}

// The UOJ line's four numbers.
std::array<long, 4> uoj(const Outcome& o) {
  INFO("stdout: " << o.out << "stderr: " << o.err);
  std::array<long, 4> line{};
  REQUIRE(parse_uoj(o.out, line));
  return line;
}

// A -count table row, "<name> <spaces> <count>"; false otherwise.
bool parse_row(const std::string& line, std::string& name, long& n) {
  std::istringstream in(line);
  std::string count, rest;
  if (!(in >> name >> count) || (in >> rest)) return false;
  if (count.empty() || count.find_first_not_of("0123456789") != std::string::npos) return false;
  n = std::stol(count);
  return line.find(' ') == name.size();
}

std::string tracee() { return tracebox::test::tracee(); }
std::string testprog() { return tracebox::test::testprog(); }

std::vector<std::string> with(std::vector<std::string> options, std::vector<std::string> command) {
  options.insert(options.end(), command.begin(), command.end());
  return options;
}

}  // namespace

TEST_CASE("a normal run: the UOJ line, exit code 0, and the JSON keys and types", "[cmd]") {
  Outcome o = runprog({tracee(), "exit", "0"});
  CHECK(o.code == 0);
  auto [code, time_ms, memory, exit_status] = uoj(o);
  CHECK(code == 0);
  CHECK(time_ms < 1000);
  CHECK(memory > 0);
  CHECK(exit_status == 0);
  CHECK(o.err.empty());

  Outcome j = runprog({"-json", tracee(), "exit", "0"});
  CHECK(j.code == 0);
  Json r = result_json(j);
  CHECK(r["status"] == "normal");
  CHECK(r["exit_status"] == 0);
  CHECK(r["signal"].is_null());
  CHECK(r["limit"].is_null());
  CHECK(r["error"].is_null());
  CHECK(r["error_location"].is_null());
  CHECK(r["errno"].is_null());
  CHECK(r["violation"].is_null());
  CHECK(r["memory_kb"].get<long>() > 0);
  CHECK(r["wall_ms"].get<long>() < 10000);
}

TEST_CASE("each status, its UOJ code and its JSON", "[cmd]") {
  TempDir t;
  struct Case {
    std::string name;
    std::vector<std::string> options;
    std::vector<std::string> command;
    long code;
    std::string status;
    Json limit;
    long exit_status;
    Json signal;
  };
  const std::vector<Case> cases = {
      {"nonzero exit", {}, {tracee(), "exit", "3"}, 2, "nonzero_exit_status", nullptr, 3, nullptr},
      {"signalled", {}, {tracee(), "segv"}, 2, "signalled", nullptr, 11, 11},
      {"memory",
       {"-ml", "16"},
       {tracee(), "touch", "64"},
       3,
       "memory_limit_exceeded",
       "memory",
       1,
       nullptr},
      {"cpu time", {"-tl", "0.2"}, {tracee(), "spin"}, 4, "time_limit_exceeded", "cpu", 9, 9},
      {"wall time",
       {"-tl", "0.2", "-rtl", "0.5", "-allow-proc"},
       {tracee(), "sleep", "5000"},
       4,
       "time_limit_exceeded",
       "wall",
       9,
       9},
      {"output",
       {"-ol", "1", "-out", t.file("big")},
       {tracee(), "output", "4"},
       5,
       "output_limit_exceeded",
       "output",
       9,
       9},
      {"disallowed", {}, {tracee(), "call", "getppid"}, 6, "disallowed_syscall", nullptr, 9, 9},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Outcome text = runprog(with(c.options, c.command));
      CHECK(text.code == 0);
      auto line = uoj(text);
      CHECK(line[0] == c.code);
      CHECK(line[3] == c.exit_status);

      Outcome o = runprog(with(with({"-json"}, c.options), c.command));
      CHECK(o.code == 0);
      Json r = result_json(o);
      CHECK(r["status"] == c.status);
      CHECK(r["limit"] == c.limit);
      CHECK(r["exit_status"] == c.exit_status);
      CHECK(r["signal"] == c.signal);
      CHECK(r["error_location"].is_null());
      CHECK(r["errno"].is_null());
      if (c.status != "nonzero_exit_status") CHECK(r["error"].is_string());
      if (c.name == "cpu time") {
        CHECK(r["time_ms"].get<long>() >= 200);
        CHECK(r["error"] == "CPU time limit");
      }
      if (c.name == "wall time") {
        // A wall-clock kill stays a TLE however little CPU it used (go-sandbox's bug 13).
        CHECK(r["time_ms"].get<long>() < 200);
        CHECK(r["wall_ms"].get<long>() >= 500);
        CHECK(r["wall_ms"].get<long>() < 5000);
        CHECK(r["error"] == "wall clock limit");
      }
      if (c.name == "output") {
        CHECK(std::filesystem::file_size(t.file("big")) == 1 << 20);
        CHECK(r["error"] == "output limit (SIGXFSZ)");
      }
      if (c.name == "disallowed") {
        const Json& v = r["violation"];
        REQUIRE(v.is_object());
        CHECK(v["syscall"] == "getppid");
        CHECK(v["nr"] == 110);
        CHECK(v["arch"] == "x86_64");
        CHECK(v["args"].is_array());
        CHECK(v["args"].size() == 6);
        CHECK(v["path"].is_null());
        CHECK(r["error"].get<std::string>().starts_with("getppid is not allowed by the policy"));
      } else {
        CHECK(r["violation"].is_null());
      }
    }
  }
}

TEST_CASE("a program that cannot be executed is a runner error, exit code 1", "[cmd]") {
  TempDir t;
  // The ns runner's failed exec happens past its seccomp filter, after the sync point where it
  // takes hold of the run's /proc and tmpfs.
  for (const char* runner : {"ptrace", "ns"}) {
    if (std::string(runner) == "ns" && !tracebox::test::is_root()) continue;
    INFO(runner);
    Outcome text = runprog({"-runner", runner, t.file("missing")});
    CHECK(text.code == 1);
    CHECK(uoj(text)[0] == 7);
    CHECK(text.err == "runprog: runner error: execve: No such file or directory\n");

    Outcome o = runprog({"-json", "-runner", runner, t.file("missing")});
    CHECK(o.code == 1);
    Json r = result_json(o);
    CHECK(r["status"] == "runner_error");
    CHECK(r["error"] == "execve: No such file or directory");
    CHECK(r["error_location"] == "execve");
    CHECK(r["errno"] == "ENOENT");
    CHECK(r["violation"].is_null());
    CHECK(r["limit"].is_null());
  }
}

TEST_CASE("a reader of stderr that has gone loses runprog no verdict", "[cmd]") {
  // -show-trace-details and the violation's text go to stderr, a pipe nobody reads any more;
  // the verdict goes to -res after them.
  TempDir t;
  const std::string res = t.file("res");
  std::vector<std::string> argv{
      kRunprog, "-show-trace-details", "-json", "-res", res, tracee(), "call", "getppid"};
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  ::close(pipe_fds[0]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 2);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, kRunprog.c_str(), &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipe_fds[1]);
  REQUIRE(err == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  const std::string line = tracebox::test::read_file(res);
  INFO(line);
  REQUIRE_FALSE(line.empty());
  CHECK(Json::parse(line)["status"] == "disallowed_syscall");
}

TEST_CASE("SIGINT or SIGTERM cancels the run: a runner error, still reported", "[cmd]") {
  for (const char* runner : {"ptrace", "ns"}) {
    if (std::string(runner) == "ns" && !tracebox::test::is_root()) continue;
    for (int sig : {SIGINT, SIGTERM}) {
      INFO(runner << " " << sig);
      Outcome o = runprog({"-json", "-runner", runner, "-tl", "20", tracee(), "spin"}, "/dev/null",
                          sig, 300);
      CHECK(o.code == 1);
      Json r = result_json(o);
      CHECK(r["status"] == "runner_error");
      CHECK(r["error"] == "cancelled");
      CHECK(r["time_ms"].get<long>() < 5000);
    }
  }
}

TEST_CASE("each bad input: one line naming it, exit code 2, nothing run", "[cmd]") {
  TempDir t;
  const std::string marker = t.file("created-by-the-program");
  const std::vector<std::string> prog = {tracee(), "open", marker, "c"};
  auto check = [&](std::vector<std::string> options, const std::string& message) {
    INFO(message);
    Outcome o = runprog(with(options, prog));
    CHECK(o.code == 2);
    CHECK(o.out.empty());
    CHECK(o.err == "runprog: " + message + "\n");
    CHECK_FALSE(std::filesystem::exists(marker));
  };
  check({"-nosuch"}, "unknown option -nosuch (see runprog --help)");
  check({"-tl", "abc"}, "-tl: \"abc\" is not a number");
  check({"--tl=1e999"}, "-tl: \"1e999\" is out of range");
  check({"-ml", "-1"}, "-ml: \"-1\" is negative");
  check({"-in", t.file("missing-input")},
        "-in: " + t.file("missing-input") + ": No such file or directory");
  check({"-out", t.file("no-dir/out")},
        "-out: " + t.file("no-dir/out") + ": No such file or directory");
  check({"-err", t.path()}, "-err: " + t.path() + ": Is a directory");
  check({"-res", t.file("no-dir/res")},
        "-res: " + t.file("no-dir/res") + ": No such file or directory");
  check({"-trace-log", t.file("no-dir/log")},
        "-trace-log: " + t.file("no-dir/log") + ": No such file or directory");
  check({"-add-readable", t.file("missing")},
        "-add-readable: " + t.file("missing") + ": No such file or directory");
  check({"-add-writable", t.file("missing")},
        "-add-writable: " + t.file("missing") + ": No such file or directory");
  check({"-add-readable", "/proc/1/environ"},
        "-add-readable: /proc/1/environ: names another process's /proc entry; a program may be "
        "given only its own, as /proc/self/... or /proc/thread-self/...");
  check({"-work-path", t.file("missing")},
        "-work-path: " + t.file("missing") + ": No such file or directory");
  check({"-runner", "container"}, "-runner: unknown runner \"container\" (known: ptrace, ns)");

  // An unknown profile lists the known ones.
  Outcome unknown = runprog(with({"-type", "nosuch"}, prog));
  CHECK(unknown.code == 2);
  CHECK(unknown.out.empty());
  CHECK(unknown.err.starts_with("runprog: -type: unknown profile \"nosuch\" (known: "));
  CHECK(unknown.err.find("default") != std::string::npos);
  CHECK(unknown.err.ends_with(")\n"));
  CHECK(std::count(unknown.err.begin(), unknown.err.end(), '\n') == 1);

  Outcome none = runprog({"-tl", "1"});
  CHECK(none.code == 2);
  CHECK(none.err ==
        "runprog: no program given (usage: runprog [options] [--] PROGRAM [ARGS...])\n");
}

TEST_CASE("runprog -res sends the result to stderr or a file", "[cmd]") {
  TempDir t;
  Outcome e = runprog({"-res", "stderr", tracee(), "exit", "4"});
  CHECK(e.code == 0);
  CHECK(e.out.empty());
  std::array<long, 4> line{};
  REQUIRE(parse_uoj(e.err, line));
  CHECK(line[0] == 2);
  CHECK(line[3] == 4);
  Outcome f = runprog({"-json", "-res", t.file("res"), tracee(), "exit", "5"});
  CHECK(f.code == 0);
  CHECK(f.out.empty());
  Outcome as_stdout{0, tracebox::test::read_file(t.file("res")), ""};
  CHECK(result_json(as_stdout)["exit_status"] == 5);
}

TEST_CASE("runprog -count counts every syscall of a known program", "[cmd]") {
  Outcome o = runprog({"-json", "-count", "-allow-proc", tracee(), "call", "getppid"});
  CHECK(o.code == 0);
  Json r = result_json(o, true);
  CHECK(r["status"] == "normal");
  const Json& s = r["syscalls"];
  CHECK(s["getppid"] == 1);
  CHECK(s["write"].get<long>() >= 1);
  CHECK(s["exit_group"] == 1);
  for (const auto& [name, n] : s.items()) CHECK(n.get<long>() >= 1);

  // Text mode: the table on stderr, sorted by count, and the UOJ line on stdout.
  Outcome t = runprog({"-count", "-allow-proc", tracee(), "call", "getppid"});
  CHECK(t.code == 0);
  CHECK(uoj(t)[0] == 0);
  std::istringstream table(t.err);
  std::string line;
  std::getline(table, line);
  CHECK(line.starts_with("syscall "));
  CHECK(line.ends_with(" calls"));
  CHECK(line.find_first_not_of(' ', 7) == line.size() - 5);
  long previous = -1, total = 0, rows = 0;
  bool saw_getppid = false;
  while (std::getline(table, line)) {
    std::string name;
    long n = 0;
    REQUIRE(parse_row(line, name, n));
    if (name == "total") {
      CHECK(n == total);
      break;
    }
    if (previous >= 0) CHECK(n <= previous);
    previous = n;
    total += n;
    ++rows;
    if (name == "getppid") {
      CHECK(n == 1);
      saw_getppid = true;
    }
  }
  CHECK(saw_getppid);
  CHECK(rows == static_cast<long>(s.size()));

  // Without -count there is no "syscalls" key.
  CHECK(result_json(runprog({"-json", tracee(), "exit", "0"}), false)["status"] == "normal");
}

TEST_CASE("runprog -trace-log writes one JSON object per traced syscall", "[cmd]") {
  TempDir t;
  Outcome o =
      runprog({"-json", "-count", "-trace-log", t.file("log"), tracee(), "call", "getppid"});
  CHECK(o.code == 0);
  Json r = result_json(o, true);
  CHECK(r["status"] == "disallowed_syscall");
  std::istringstream log(tracebox::test::read_file(t.file("log")));
  std::vector<Json> lines;
  for (std::string line; std::getline(log, line);) lines.push_back(Json::parse(line));
  REQUIRE(!lines.empty());
  long counted = 0;
  for (const auto& [name, n] : r["syscalls"].items()) counted += n.get<long>();
  CHECK(static_cast<long>(lines.size()) == counted);  // with -count, every syscall
  for (const Json& l : lines) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : l.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"arch", "args", "decision", "errno", "nr", "path", "pid",
                                           "syscall"});
    CHECK(l["pid"].is_number_integer());
    CHECK(l["syscall"].is_string());
    CHECK(l["nr"].is_number_integer());
    CHECK(l["arch"] == "x86_64");
    CHECK(l["args"].size() == 6);
    CHECK((l["decision"] == "allow" || l["decision"] == "deny" || l["decision"] == "kill"));
    CHECK((l["errno"].is_null() || l["errno"].is_string()));
    CHECK((l["path"].is_null() || l["path"].is_string()));
  }
  CHECK(lines.back()["syscall"] == "getppid");
  CHECK(lines.back()["decision"] == "kill");

  // A refused file check reports its path.
  tracebox::test::write_file(t.file("secret"), "x");
  Outcome f = runprog({"-trace-log", t.file("log2"), tracee(), "open", t.file("secret"), "r"});
  CHECK(uoj(f)[0] == 6);
  std::istringstream log2(tracebox::test::read_file(t.file("log2")));
  std::string last;
  for (std::string line; std::getline(log2, line);) last = line;
  Json l = Json::parse(last);
  CHECK(l["syscall"] == "openat");
  CHECK(l["decision"] == "kill");
  CHECK(l["path"] == t.file("secret"));
}

TEST_CASE("runprog -show-trace-details prints to stderr and changes no verdict", "[cmd]") {
  Outcome o = runprog({"-json", "-show-trace-details", tracee(), "call", "getppid"});
  CHECK(o.code == 0);
  Json r = result_json(o);
  CHECK(r["status"] == "disallowed_syscall");
  CHECK(r["violation"]["syscall"] == "getppid");
  CHECK(o.err.find("getppid(") != std::string::npos);
  CHECK(o.err.find("= kill") != std::string::npos);
  CHECK(o.err.find("runprog: violation: pid ") != std::string::npos);

  // A forbidden file stays forbidden.
  TempDir t;
  tracebox::test::write_file(t.file("secret"), "x");
  Outcome f = runprog({"-json", "-show-trace-details", tracee(), "open", t.file("secret"), "r"});
  Json fr = result_json(f);
  CHECK(fr["status"] == "disallowed_syscall");
  CHECK(fr["violation"]["path"] == t.file("secret"));
  CHECK(f.err.find(t.file("secret")) != std::string::npos);
}

TEST_CASE("runprog -add-readable and -add-writable grant exactly what they name", "[cmd]") {
  TempDir t;
  std::filesystem::create_directories(t.file("dir/sub"));
  tracebox::test::write_file(t.file("dir/sub/f"), "x");
  tracebox::test::write_file(t.file("file"), "x");
  tracebox::test::write_file(t.file("other"), "x");
  std::filesystem::create_symlink(t.file("file"), t.file("link"));

  auto status = [&](std::vector<std::string> options, std::vector<std::string> command) {
    return result_json(runprog(with(with({"-json"}, options), command)))["status"];
  };
  // A directory grants its tree; symlinks are resolved; nothing else is granted.
  CHECK(status({"-add-readable", t.file("dir")}, {tracee(), "open", t.file("dir/sub/f"), "r"}) ==
        "normal");
  CHECK(status({"-add-readable", t.file("link")}, {tracee(), "open", t.file("file"), "r"}) ==
        "normal");
  CHECK(status({"-add-readable", t.file("file")}, {tracee(), "open", t.file("other"), "r"}) ==
        "disallowed_syscall");
  CHECK(status({"-add-readable", t.file("file")}, {tracee(), "open", t.file("file"), "w"}) ==
        "disallowed_syscall");
  CHECK(status({"-add-writable", t.file("file")}, {tracee(), "open", t.file("file"), "w"}) ==
        "normal");
  CHECK(status({"-add-readable-raw", t.file("dir") + "/*"},
               {tracee(), "open", t.file("dir/sub"), "r"}) == "normal");
  CHECK(status({"-add-readable-raw", t.file("dir") + "/*"},
               {tracee(), "open", t.file("dir/sub/f"), "r"}) == "disallowed_syscall");
  // Relative raw entries are relative to the work path.
  CHECK(status({"-work-path", t.path(), "-add-writable-raw", "dir/"},
               {tracee(), "open", t.file("dir/new"), "c"}) == "normal");
  // The program's own /proc entries, by the name the program uses (not runprog's pid).
  CHECK(status({"-add-readable", "/proc/self/status"},
               {tracee(), "open", "/proc/self/status", "r"}) == "normal");
  CHECK(status({"-add-readable", "/proc/thread-self/status"},
               {tracee(), "open", "/proc/thread-self/status", "r"}) == "normal");
  CHECK(status({}, {tracee(), "open", "/proc/self/status", "r"}) == "disallowed_syscall");
}

TEST_CASE("runprog -unsafe turns unknown syscalls into EACCES, and counts them", "[cmd]") {
  Outcome o = runprog({"-json", "-unsafe", tracee(), "call", "getppid"});
  CHECK(result_json(o)["status"] == "normal");
  CHECK(o.err.empty());

  TempDir t;
  Outcome c = runprog({"-json", "-unsafe", "-count", "-out", t.file("out"), "-trace-log",
                       t.file("log"), tracee(), "call", "getppid"});
  Json r = result_json(c, true);
  CHECK(r["status"] == "normal");
  CHECK(r["syscalls"]["getppid"] == 1);
  CHECK(tracebox::test::read_file(t.file("out")) == "ret=0\n");  // the tracee's "failed"
  std::istringstream log(tracebox::test::read_file(t.file("log")));
  bool denied = false;
  for (std::string line; std::getline(log, line);) {
    Json l = Json::parse(line);
    if (l["syscall"] != "getppid") continue;
    CHECK(l["decision"] == "deny");
    CHECK(l["errno"] == "EACCES");
    denied = true;
  }
  CHECK(denied);

  // File checks still end the run.
  tracebox::test::write_file(t.file("secret"), "x");
  CHECK(result_json(runprog({"-json", "-unsafe", tracee(), "open", t.file("secret"),
                             "r"}))["status"] == "disallowed_syscall");
}

TEST_CASE("runprog -allow-proc: fork, threads, sleeping, and every process traced", "[cmd]") {
  Outcome o = runprog({"-json", "-count", "-allow-proc", tracee(), "chain", "2", "getppid"});
  Json r = result_json(o, true);
  CHECK(r["status"] == "normal");
  CHECK(r["syscalls"]["getppid"] == 1);  // called by the grandchild, and counted
  CHECK(r["syscalls"]["execve"] == 2);   // both re-executions, traced

  Outcome th = runprog({"-json", "-allow-proc", tracee(), "thread-call", "getppid"});
  CHECK(result_json(th)["status"] == "normal");
  // Without it: clone (a small -sl, or the thread stack would not fit RLIMIT_DATA first).
  Json no = result_json(runprog({"-json", "-sl", "8", tracee(), "thread-call", "getppid"}));
  CHECK(no["status"] == "disallowed_syscall");
  CHECK(no["violation"]["syscall"] == "clone");

  // A main thread that ends with pthread_exit (a zombie until the last thread ends) while the
  // other thread's opens are checked: each check goes on without it.
  TempDir t;
  tracebox::test::write_file(t.file("f"), "x");
  Outcome lone = runprog({"-json", "-allow-proc", "-add-readable", t.file("f"), "-out",
                          t.file("out"), tracee(), "leader-exits", t.file("f"), "20"});
  Json l = result_json(lone);
  INFO(l.dump());
  CHECK(l["status"] == "normal");
  CHECK(tracebox::test::read_file(t.file("out")) == "opened=20\n");

  CHECK(result_json(runprog({"-json", "-allow-proc", tracee(), "sleep", "10"}))["status"] ==
        "normal");
  Json sleep = result_json(runprog({"-json", tracee(), "sleep", "10"}));
  CHECK(sleep["status"] == "disallowed_syscall");
  CHECK(sleep["violation"]["syscall"] == "clock_nanosleep");
}

TEST_CASE("runprog starts a run on its own CPU and leaves a CPU-bound program every CPU", "[cmd]") {
  // runprog pins its threads and the program's start to one CPU (no hand-off crosses CPUs); a
  // program that is not syscall-heavy gets back every CPU a tick after its exec, so that a
  // busy CPU cannot hold it.
  const unsigned all = std::thread::hardware_concurrency();
  TB_SKIP_UNLESS(all > 1, "needs more than one CPU");
  TempDir t;
  Outcome o = runprog({"-json", "-out", t.file("out"), tracee(), "cpus-after", "60"});
  CHECK(result_json(o)["status"] == "normal");
  CHECK(tracebox::test::read_file(t.file("out")) == "cpus=1 then " + std::to_string(all) + "\n");
}

TEST_CASE("options after PROGRAM are the program's, with one dash or two", "[cmd]") {
  TempDir t;
  Outcome o =
      runprog({"-out", t.file("args"), "--tl=2", testprog(), "args", "-tl", "--json", "--", "x"});
  CHECK(o.code == 0);
  CHECK(uoj(o)[0] == 0);
  const std::string want = testprog() + std::string("\0args\0-tl\0--json\0--\0x\0", 22);
  CHECK(tracebox::test::read_file(t.file("args")) == want);

  Outcome single = runprog({"-tl", "0.2", "-json", tracee(), "spin"});
  Outcome dual = runprog({"--tl=0.2", "--json", tracee(), "spin"});
  CHECK(result_json(single)["limit"] == "cpu");
  CHECK(result_json(dual)["limit"] == "cpu");
}

TEST_CASE("files: -in, -out and -err, and relative programs start in the work path", "[cmd]") {
  TempDir t;
  tracebox::test::write_file(t.file("input"), "10\n");
  // The README's example program (C++ iostream), its output and errors in one file.
  Outcome o = runprog({"-in", t.file("input"), "-out", t.file("out"), "-err", t.file("out"),
                       TRACEBOX_EXAMPLE_HELLO});
  CHECK(uoj(o)[0] == 0);
  CHECK(tracebox::test::read_file(t.file("out")) == "Hello! 1 + ... + 10 = 55\n");
  tracebox::test::write_file(t.file("input"), "x\n");
  Outcome bad = runprog({"-in", t.file("input"), "-out", t.file("out"), "-err", t.file("out"),
                         TRACEBOX_EXAMPLE_HELLO});
  CHECK(uoj(bad)[0] == 2);
  CHECK(tracebox::test::read_file(t.file("out")) == "expected a non-negative number\n");

  std::filesystem::copy_file(tracee(), t.file("prog"));
  Outcome rel = runprog({"-json", "-work-path", t.path(), "./prog", "exit", "7"});
  CHECK(result_json(rel)["exit_status"] == 7);
  Outcome mem = runprog({"-json", "-memfd", tracee(), "exit", "6"});
  CHECK(result_json(mem)["exit_status"] == 6);
}

TEST_CASE("runprog -runner ns: a bound file is readable, writing outside /w and /tmp fails",
          "[cmd]") {
  TB_SKIP_UNLESS(tracebox::test::is_root(), "the ns runner's namespaces need root here");
  TempDir t;
  tracebox::test::write_file(t.file("data"), "bound data\n");
  Outcome o = runprog({"-runner", "ns", "-json", "-add-readable", t.file("data"), "-out",
                       t.file("out"), testprog(), "cat", t.file("data")});
  CHECK(o.code == 0);
  Json r = result_json(o);
  CHECK(r["status"] == "normal");
  CHECK(tracebox::test::read_file(t.file("out")) == "bound data\n");

  auto write_to = [&](const std::string& path) {
    Outcome w = runprog({"-runner", "ns", "-add-readable", t.file("data"), "-out", t.file("w"),
                         testprog(), "write", path, "x"});
    CHECK(w.code == 0);
    return tracebox::test::read_file(t.file("w"));
  };
  CHECK(write_to("/w/file") == "ok\n");
  CHECK(write_to("/dev/null") == "ok\n");
  CHECK(write_to("/tmp/file") == "ok\n");
  CHECK(write_to("/file") == "error EROFS\n");
  CHECK(write_to("/usr/file") == "error EROFS\n");
  CHECK(write_to(t.file("data")) == "error EROFS\n");  // bound read-only
  CHECK_FALSE(std::filesystem::exists("/w/file"));

  // As root: the sandbox user with no supplementary group and no capability, pid 2 beside an
  // init of ours (its parent, runprog, is outside the namespace: 0).
  runprog({"-runner", "ns", "-out", t.file("status"), testprog(), "cat", "/proc/self/status"});
  const std::string status = tracebox::test::read_file(t.file("status"));
  INFO(status);
  CHECK(status.find("\nUid:\t65534\t65534\t65534\t65534\n") != std::string::npos);
  CHECK(status.find("\nGid:\t65534\t65534\t65534\t65534\n") != std::string::npos);
  const auto groups = status.find("\nGroups:");
  REQUIRE(groups != std::string::npos);
  CHECK(status.substr(groups + 8, status.find('\n', groups + 1) - groups - 8)
            .find_first_not_of(" \t") == std::string::npos);
  CHECK(status.find("\nCapPrm:\t0000000000000000\n") != std::string::npos);
  CHECK(status.find("\nCapEff:\t0000000000000000\n") != std::string::npos);
  CHECK(status.find("\nNSpid:\t2\n") != std::string::npos);
  runprog({"-runner", "ns", "-allow-proc", "-out", t.file("pidns"), testprog(), "pidns"});
  CHECK(tracebox::test::read_file(t.file("pidns")) == "pid=2 ppid=0\n");

  // The unbound rest of the host is not there.
  Outcome hidden =
      runprog({"-runner", "ns", "-out", t.file("h"), testprog(), "cat", t.file("out")});
  CHECK(tracebox::test::read_file(t.file("h")) == "error No such file or directory\n");

  // Its verdicts.
  Json tle = result_json(runprog({"-runner", "ns", "-json", "-tl", "0.2", tracee(), "spin"}));
  CHECK(tle["status"] == "time_limit_exceeded");
  CHECK(tle["limit"] == "cpu");
  CHECK(tle["time_ms"].get<long>() >= 200);
  Json sys = result_json(runprog({"-runner", "ns", "-json", tracee(), "call", "getppid"}));
  CHECK(sys["status"] == "disallowed_syscall");
  CHECK(sys["signal"] == 31);
  Json missing = result_json(runprog({"-runner", "ns", "-json", t.file("missing")}));
  CHECK(missing["status"] == "runner_error");
  CHECK(missing["error_location"] == "execve");
  CHECK(missing["errno"] == "ENOENT");
}

TEST_CASE(
    "runprog keeps its filter and prepared policy in $TRACEBOX_CACHE_DIR, unless -no-cache or it "
    "is writable",
    "[cmd]") {
  TempDir t;
  struct CacheDir {  // $TRACEBOX_CACHE_DIR for the runs of this case
    explicit CacheDir(const std::string& dir) { ::setenv("TRACEBOX_CACHE_DIR", dir.c_str(), 1); }
    ~CacheDir() { ::unsetenv("TRACEBOX_CACHE_DIR"); }
  };
  auto files = [](const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      names.push_back(e.path().filename().string());
    return names;
  };
  const std::vector<std::string> disallowed = {"-json", tracee(), "call", "getppid"};
  const std::vector<std::string> normal = {"-json", tracee(), "exit", "0"};

  // The first run builds the filter and the policy and stores them (creating the directory): a
  // filter (.bpf) and a record of the prepared policy (.rec); the second reads the record.
  const std::string cache = t.file("cache");
  auto kinds = [&] {
    std::vector<std::string> out;
    for (const auto& name : files(cache)) out.push_back(name.substr(name.rfind('.')));
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<std::string> both = {".bpf", ".rec"};
  {
    CacheDir env(cache);
    for (const auto* args : {&disallowed, &disallowed}) {
      Json r = result_json(runprog(*args));
      CHECK(r["status"] == "disallowed_syscall");
      CHECK(r["violation"]["syscall"] == "getppid");
    }
    CHECK(kinds() == both);
    Json r = result_json(runprog(normal));  // the same profile: the same policy
    CHECK(r["status"] == "normal");
    CHECK(kinds() == both);
    r = result_json(runprog(with({"-allow-proc"}, normal)));  // another policy: its own
    CHECK(r["status"] == "normal");
    CHECK(kinds() == std::vector<std::string>{".bpf", ".bpf", ".rec", ".rec"});
  }

  // -no-cache neither reads nor writes; nor does a run that may write in the cache directory.
  const std::string empty = t.file("empty");
  REQUIRE(::mkdir(empty.c_str(), 0700) == 0);
  CacheDir env(empty);
  Json r = result_json(runprog(with({"-no-cache"}, disallowed)));
  CHECK(r["status"] == "disallowed_syscall");
  CHECK(files(empty).empty());
  for (const std::string& grant : {empty, t.path()}) {
    INFO("-add-writable " << grant);
    r = result_json(runprog(with({"-add-writable", grant}, disallowed)));
    CHECK(r["status"] == "disallowed_syscall");
    CHECK(files(empty).empty());
  }
  r = result_json(runprog(disallowed));  // the control
  CHECK(files(empty).size() == 2);
}

TEST_CASE("runprog's code and read-only data are laid out for 2 MiB mappings", "[cmd]") {
  // cmd/CMakeLists.txt: each starts at a 2 MiB boundary of the file and of the address space and
  // is padded to whole 2 MiB (text_pad.ld), so that the kernel maps them by 2 MiB entries where
  // the page cache holds the file in 2 MiB folios. The mapping itself depends on the page cache
  // and the kernel; the layout is the build's.
  const std::string elf = tracebox::test::read_file(kRunprog);
  Elf64_Ehdr eh{};
  REQUIRE(elf.size() >= sizeof eh);
  std::memcpy(&eh, elf.data(), sizeof eh);
  REQUIRE(std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
  REQUIRE(eh.e_ident[EI_CLASS] == ELFCLASS64);
  REQUIRE(eh.e_phentsize == sizeof(Elf64_Phdr));
  REQUIRE(eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr) <= elf.size());
  constexpr std::uint64_t kHuge = 2 * 1024 * 1024;
  int code = 0, rodata = 0;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    std::memcpy(&ph, elf.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    // The read-only segments: the code, the read-only data, and the ELF headers' own (small,
    // at offset 0).
    if ((ph.p_flags & PF_X) == 0 && ph.p_offset == 0) continue;
    INFO("segment at offset " << ph.p_offset << ", flags " << ph.p_flags);
    CHECK(ph.p_offset % kHuge == 0);
    CHECK(ph.p_vaddr % kHuge == 0);
    CHECK(ph.p_filesz == ph.p_memsz);
    CHECK(ph.p_memsz % kHuge == 0);
    ++((ph.p_flags & PF_X) != 0 ? code : rodata);
  }
  CHECK(code == 1);
  CHECK(rodata == 1);
}
