// runprog's pure parts: the command line (parse_options), paths, and the printed forms of a
// result (UOJ line, JSON, the -count table).
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "options.h"
#include "output.h"
#include "setup.h"
#include "support/support.h"
#include "tracebox/rlimit/rlimit.h"

using namespace tracebox;
using namespace tracebox::cmd;

namespace {

Options parse(std::vector<std::string> args) { return parse_options(args); }

std::string usage_error(std::vector<std::string> args) {
  try {
    parse_options(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("go-sandbox's defaults", "[cmd][options]") {
  Options o = parse({"prog"});
  CHECK(o.tl == 1);
  CHECK(o.rtl == 0);
  CHECK(o.ml == 256);
  CHECK(o.ol == 64);
  CHECK(o.sl == 1024);
  CHECK(o.in.empty());
  CHECK(o.out.empty());
  CHECK(o.err.empty());
  CHECK(o.work_path.empty());
  CHECK(o.type == "default");
  CHECK(o.res == "stdout");
  CHECK(o.runner == RunnerKind::kPtrace);
  CHECK_FALSE(o.unsafe);
  CHECK_FALSE(o.show_trace_details);
  CHECK_FALSE(o.allow_proc);
  CHECK_FALSE(o.json);
  CHECK_FALSE(o.count);
  CHECK(o.command == std::vector<std::string>{"prog"});
}

TEST_CASE("options take one dash or two, values joined or separate", "[cmd][options]") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-tl", "0.5", "-ml=64", "-unsafe", "-in", "a", "prog"},
           {"--tl", "0.5", "--ml=64", "--unsafe", "--in=a", "prog"},
           {"-tl=0.5", "--ml", "64", "-unsafe=true", "--in", "a", "prog"},
           {"-tl=+0.5", "-ml=6.4e1", "-unsafe=1", "-in=a", "--", "prog"}}) {
    Options o = parse(args);
    CHECK(o.tl == 0.5);
    CHECK(o.ml == 64);
    CHECK(o.unsafe);
    CHECK(o.in == "a");
    CHECK(o.command == std::vector<std::string>{"prog"});
  }
  CHECK_FALSE(parse({"-unsafe=false", "prog"}).unsafe);
  CHECK_FALSE(parse({"-unsafe", "-unsafe=F", "prog"}).unsafe);
  CHECK(parse({"-tl", "1", "-tl", "3", "prog"}).tl == 3);  // the last one wins, as in Go
  CHECK(parse({"-runner", "ns", "prog"}).runner == RunnerKind::kNs);
  CHECK(parse({"-in=", "prog"}).in.empty());
  CHECK(parse({"-in", "-dash", "prog"}).in == "-dash");  // a value may start with a dash
}

TEST_CASE("parsing stops at the program or after --", "[cmd][options]") {
  Options o = parse({"-tl", "2", "./prog", "-x", "--tl=5", "--", "y"});
  CHECK(o.tl == 2);
  CHECK(o.command == std::vector<std::string>{"./prog", "-x", "--tl=5", "--", "y"});
  CHECK(parse({"--", "-prog", "-tl"}).command == std::vector<std::string>{"-prog", "-tl"});
  CHECK(parse({"-", "x"}).command == std::vector<std::string>{"-", "x"});
}

TEST_CASE("repeatable options keep every value in order", "[cmd][options]") {
  Options o =
      parse({"-add-readable", "a", "--add-readable=b", "-add-writable", "c", "-add-readable-raw",
             "/r/", "-add-writable-raw=/w/*", "-profile-dir", "d1", "-profile-dir", "d2", "prog"});
  CHECK(o.add_readable == std::vector<std::string>{"a", "b"});
  CHECK(o.add_writable == std::vector<std::string>{"c"});
  CHECK(o.add_readable_raw == std::vector<std::string>{"/r/"});
  CHECK(o.add_writable_raw == std::vector<std::string>{"/w/*"});
  CHECK(o.profile_dirs == std::vector<std::string>{"d1", "d2"});
}

TEST_CASE("help is asked for, not an error", "[cmd][options]") {
  CHECK(parse({"-h"}).help);
  CHECK(parse({"-help"}).help);
  CHECK(parse({"--help"}).help);
  const std::string help = help_text();
  for (const char* line :
       {"--tl NUM=1 ", "--rtl NUM=0 ", "--ml NUM=256 ", "--ol NUM=64 ", "--sl NUM=1024 ",
        "--type TEXT=default ", "--res TEXT=stdout ", "--runner TEXT=ptrace ", "--unsafe=false ",
        "--json=false ", "--count=false ", "--allow-proc=false ", "--show-trace-details=false ",
        "--in TEXT=\"\" ", "--trace-log TEXT=\"\" ", "--add-readable PATH=none ...",
        "--profile-dir PATH=none ..."}) {
    INFO(line);
    CHECK(help.find(line) != std::string::npos);
  }
  CHECK(help.find("Usage: runprog [options] [--] PROGRAM [ARGS...]") != std::string::npos);
}

TEST_CASE("every bad command line is one message naming the option", "[cmd][options]") {
  CHECK(usage_error({"-nosuch", "prog"}) == "unknown option -nosuch (see runprog --help)");
  CHECK(usage_error({"--nosuch=1", "prog"}) == "unknown option -nosuch (see runprog --help)");
  CHECK(usage_error({"-tl", "abc", "prog"}) == "-tl: \"abc\" is not a number");
  CHECK(usage_error({"-tl", "1e999", "prog"}) == "-tl: \"1e999\" is out of range");
  CHECK(usage_error({"-tl", "-1", "prog"}) == "-tl: \"-1\" is negative");
  CHECK(usage_error({"-tl", "nan", "prog"}) == "-tl: \"nan\" is not a number");
  CHECK(usage_error({"-rtl=inf", "prog"}) == "-rtl: \"inf\" is not a number");
  CHECK(usage_error({"-ml", "0x10", "prog"}) == "-ml: \"0x10\" is not a number");
  CHECK(usage_error({"-ol", "5MB", "prog"}) == "-ol: \"5MB\" is not a number");
  CHECK(usage_error({"-sl=", "prog"}) == "-sl: \"\" is not a number");
  CHECK(usage_error({"-tl", "2e9", "prog"}) == "-tl: \"2e9\" is too large");
  CHECK(usage_error({"-tl"}) == "-tl needs a value");
  CHECK(usage_error({"-unsafe=yes", "prog"}) == "-unsafe: invalid boolean value \"yes\"");
  CHECK(usage_error({"-runner", "container", "prog"}) ==
        "-runner: unknown runner \"container\" (known: ptrace, ns)");
  CHECK(usage_error({"-type=", "prog"}) == "-type: empty profile name");
  CHECK(usage_error({"-res", "", "prog"}) == "-res: empty (stdout, stderr or a file)");
  CHECK(usage_error({"---tl", "1", "prog"}) == "bad option syntax: ---tl");
  CHECK(usage_error({"-tl", "1"}) ==
        "no program given (usage: runprog [options] [--] PROGRAM [ARGS...])");
  CHECK(usage_error({}) == "no program given (usage: runprog [options] [--] PROGRAM [ARGS...])");
  CHECK(usage_error({"-count", "-runner", "ns", "prog"}) ==
        "-count needs the ptrace runner (the ns runner has no tracer)");
  CHECK(usage_error({"-trace-log", "t", "-runner", "ns", "prog"}) ==
        "-trace-log needs the ptrace runner (the ns runner has no tracer)");
}

TEST_CASE("go-sandbox's compatibility flags are accepted", "[cmd][options]") {
  Options o = parse({"-cgroup", "-cgroupfd", "-cred", "-nucg", "-memfd", "prog"});
  CHECK(o.cgroup);
  CHECK(o.cgroupfd);
  CHECK(o.cred);
  CHECK(o.nucg);
  CHECK(o.memfd);
}

TEST_CASE("paths are made absolute lexically", "[cmd][options]") {
  CHECK(absolute_path("a/b", "/w") == "/w/a/b");
  CHECK(absolute_path("./a/../b/", "/w") == "/w/b");
  CHECK(absolute_path("/x//y/.", "/w") == "/x/y");
  CHECK(absolute_path("../../..", "/w") == "/");
}

TEST_CASE("the profile search path", "[cmd][options]") {
  Options o = parse({"-profile-dir", "/p1", "-profile-dir", "/p2", "prog"});
  Environment env{"/cwd", "/e1::/e2", "/opt/tb/bin"};
  auto dirs = profile_dirs(o, env);
  REQUIRE(dirs.size() == 7);
  CHECK(dirs[0] == "/p1");
  CHECK(dirs[1] == "/p2");
  CHECK(dirs[2] == "/e1");
  CHECK(dirs[3] == "/e2");
  CHECK(dirs[4] == "/opt/tb/share/tracebox/profiles");  // next to an installed runprog
  CHECK(dirs[5].ends_with("/tracebox/profiles"));       // the configured prefix
  CHECK(dirs[6] == std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles");
}

TEST_CASE("a result printed as go-sandbox's line and as JSON", "[cmd][output]") {
  tracer::Result r;
  r.status = tracer::Status::kSignalled;
  r.exit_status = 11;
  r.signal = 11;
  r.cpu_time = std::chrono::microseconds(1499);
  r.wall_time = std::chrono::microseconds(2500);
  r.setup_time = std::chrono::microseconds(400);
  r.memory_kib = 1234;
  r.error = "killed by signal 11 (SEGV)";
  CHECK(uoj_line(r) == "2 1 1234 11\n");
  CHECK(json_line(r, false) ==
        R"j({"status":"signalled","exit_status":11,"signal":11,"time_ms":1,"wall_ms":3,)j"
        R"j("memory_kb":1234,"setup_ms":0,"limit":null,"error":"killed by signal 11 (SEGV)",)j"
        R"j("error_location":null,"errno":null,"violation":null})j"
        "\n");

  tracer::Result v;
  v.status = tracer::Status::kDisallowedSyscall;
  v.violation =
      tracer::Violation{7, "openat", 257, "x86_64", {1, 2, 3, 4, 5, 6}, "/etc/shadow", "no"};
  v.syscall_counts = {{"read", 3}, {"openat", 1}};
  CHECK(json_line(v, true) ==
        R"j({"status":"disallowed_syscall","exit_status":0,"signal":null,"time_ms":0,"wall_ms":0,)j"
        R"j("memory_kb":0,"setup_ms":0,"limit":null,"error":null,"error_location":null,)j"
        R"j("errno":null,"violation":{"syscall":"openat","nr":257,"arch":"x86_64",)j"
        R"j("args":[1,2,3,4,5,6],"path":"/etc/shadow"},"syscalls":{"openat":1,"read":3}})j"
        "\n");

  tracer::Result e;
  e.status = tracer::Status::kRunnerError;
  e.child_error = forkexec::ChildError{ENOENT, forkexec::ErrorLocation::kExec, 0};
  e.error = "execve: No such file or directory";
  auto j = nlohmann::json::parse(json_line(e, false));
  CHECK(j["error_location"] == "execve");
  CHECK(j["errno"] == "ENOENT");
  CHECK(uoj_line(e) == "7 0 0 0\n");
  CHECK(exit_code(e) == 1);
  CHECK(exit_code(v) == 0);

  using S = tracer::Status;
  CHECK(uoj_code(S::kNormal) == 0);
  CHECK(uoj_code(S::kNonzeroExitStatus) == 2);
  CHECK(uoj_code(S::kSignalled) == 2);
  CHECK(uoj_code(S::kMemoryLimitExceeded) == 3);
  CHECK(uoj_code(S::kTimeLimitExceeded) == 4);
  CHECK(uoj_code(S::kOutputLimitExceeded) == 5);
  CHECK(uoj_code(S::kDisallowedSyscall) == 6);
  CHECK(uoj_code(S::kRunnerError) == 7);
}

TEST_CASE("the -count table is sorted by count, then name", "[cmd][output]") {
  CHECK(count_table({{"write", 2}, {"read", 5}, {"brk", 2}, {"clock_nanosleep", 1}}) ==
        "syscall              calls\n"
        "read                     5\n"
        "brk                      2\n"
        "write                    2\n"
        "clock_nanosleep          1\n"
        "total                   10\n");
}

TEST_CASE("the run a command line prepares: limits, rlimits, files, environment", "[cmd][setup]") {
  tracebox::test::TempDir t;
  Environment env{t.path(), "", ""};
  auto prepared = [&](std::vector<std::string> args) {
    args.push_back("./prog");
    return prepare(parse_options(args), env);
  };
  using namespace std::chrono_literals;
  auto p = prepared({"-tl", "1.5", "-rtl", "1", "-ml", "64", "-ol", "2", "-sl", "8"});
  const tracer::Spec& s = p->spec;
  CHECK(s.limits.cpu == 1500ms);
  CHECK(s.limits.wall == 3500ms);  // rtl below tl: tl + 2
  CHECK(s.limits.memory_bytes == 64u << 20);
  CHECK(s.limits.output_bytes == 2u << 20);
  CHECK(s.memory_rlimit);
  CHECK(s.counting == tracer::Counting::kNone);
  CHECK(s.process.args == std::vector<std::string>{"./prog"});
  CHECK(s.process.path == t.file("prog"));  // relative to the work path
  CHECK(s.process.env == std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin"});
  CHECK(s.process.files == std::vector<int>{0, 1, 2});
  CHECK(s.process.work_dir == p->work_path);
  CHECK(rlimit::to_string(s.process.rlimits) ==
        "RLimits[Stack[8 MiB:8 MiB], OpenFile[256:256], Core[0 B:0 B]]");
  REQUIRE(s.prepared_policy);  // the library's prepared profile (policy and filter)
  CHECK(s.policy.rules.empty());
  CHECK(s.prepared_policy->policy().default_action == seccomp::Action::kill_process());
  CHECK(s.limits.tasks == 256);
  CHECK(s.make_handler);

  // The stack is capped at the memory limit; -rtl above -tl is kept.
  auto q = prepared({"-rtl", "5", "-ml", "16", "-count"});
  CHECK(q->spec.limits.wall == 5s);
  CHECK(rlimit::to_string(q->spec.process.rlimits) ==
        "RLimits[Stack[16 MiB:16 MiB], OpenFile[256:256], Core[0 B:0 B]]");
  CHECK(q->spec.counting == tracer::Counting::kAll);

  // -allow-proc and -ml 0 measure memory without RLIMIT_DATA; -unsafe fails unknown syscalls.
  CHECK_FALSE(prepared({"-allow-proc"})->spec.memory_rlimit);
  CHECK_FALSE(prepared({"-ml", "0"})->spec.memory_rlimit);
  CHECK(prepared({"-unsafe"})->spec.prepared_policy->policy().default_action ==
        seccomp::Action::error(EACCES));
  CHECK(prepared({"-unsafe", "-count"})->spec.prepared_policy->policy().default_action ==
        seccomp::Action::trace(tracer::policy::kTagUnknown));
}

TEST_CASE(
    "setup: -add-writable grants a file's contents, a directory's tree and the names below it",
    "[cmd][setup]") {
  tracebox::test::TempDir t;
  std::filesystem::create_directories(t.file("dir"));
  tracebox::test::write_file(t.file("file"), "x");
  Environment env{t.path(), "", ""};
  auto files = [&](std::vector<std::string> args) {
    args.push_back("./prog");
    return prepare(parse_options(args), env)->files;
  };
  using tracer::policy::Access;
  const auto dir = files({"-add-writable", t.file("dir")});
  CHECK(dir.allows(Access::kWrite, t.file("dir/new")));
  CHECK(dir.allows(Access::kName, t.file("dir/new")));
  CHECK(dir.allows(Access::kName, t.file("dir/sub/new")));
  CHECK_FALSE(dir.allows(Access::kName, t.file("dir")));  // not the directory's own entry
  CHECK_FALSE(dir.allows(Access::kName, t.file("other")));
  const auto file = files({"-add-writable", t.file("file")});
  CHECK(file.allows(Access::kWrite, t.file("file")));
  CHECK_FALSE(file.allows(Access::kName, t.file("file")));
  const auto null = files({"-add-writable", "/dev/null"});
  CHECK(null.allows(Access::kWrite, "/dev/null"));
  CHECK_FALSE(null.allows(Access::kName, "/dev/null"));
  // The raw form adds the entry as written, for writing only.
  const auto raw = files({"-add-writable-raw", t.file("dir") + "/"});
  CHECK(raw.allows(Access::kWrite, t.file("dir/new")));
  CHECK_FALSE(raw.allows(Access::kName, t.file("dir/new")));
}

TEST_CASE("setup: -add-readable /proc/self is the program's own entry, another pid an error",
          "[cmd][setup]") {
  tracebox::test::TempDir t;
  Environment env{t.path(), "", ""};
  auto prepared = [&](std::vector<std::string> args) {
    args.push_back("./prog");
    return prepare(parse_options(args), env);
  };
  auto error = [&](std::vector<std::string> args) -> std::string {
    try {
      prepared(std::move(args));
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  };
  using tracer::policy::Access;
  // As written, not resolved in runprog (which would name runprog's own /proc/<pid>).
  auto p = prepared({"-add-readable", "/proc/self/status", "-add-readable", "/proc/self/task",
                     "-add-readable", "/proc/thread-self/comm"});
  const auto& sets = p->files;
  CHECK(sets.readable.entries().count("/proc/self/status") == 1);
  CHECK(sets.readable.entries().count("/proc/self/task/") == 1);  // a directory: its tree
  CHECK(sets.readable.entries().count("/proc/thread-self/comm") == 1);
  CHECK(sets.allows(Access::kRead, "/proc/self/status"));
  CHECK_FALSE(sets.allows(Access::kRead, "/proc/" + std::to_string(::getpid()) + "/status"));
  CHECK(p->readable.empty());  // nothing for the ns runner to bind
  const std::string message =
      ": names another process's /proc entry; a program may be given only its own, as "
      "/proc/self/... or /proc/thread-self/...";
  CHECK(error({"-add-readable", "/proc/1/status"}) == "-add-readable: /proc/1/status" + message);
  const std::string mine = "/proc/" + std::to_string(::getpid());
  CHECK(error({"-add-readable", mine}) == "-add-readable: " + mine + message);
  CHECK(error({"-add-writable", "/proc/1/comm"}) == "-add-writable: /proc/1/comm" + message);
  // Through a symlink too.
  std::filesystem::create_symlink("/proc/1/status", t.file("link"));
  CHECK(error({"-add-readable", t.file("link")}) == "-add-readable: /proc/1/status" + message);
  // The rest of /proc resolves as any path.
  CHECK(prepared({"-add-readable", "/proc/meminfo"})->files.allows(Access::kRead, "/proc/meminfo"));
}
