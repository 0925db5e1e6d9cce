// Profiles through the library (tracer/policy/profile.h): loaded by name from the installed (here:
// the source tree's) profiles or by path, "oom_exit_status" and ${memory_mib}, and the judge Spec
// PreparedProfile::spec makes: everything runprog applies, the layers on as root.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "support/support.h"
#include "tracebox/rlimit/rlimit.h"
#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

using namespace tracebox;
using namespace tracebox::tracer;
using namespace std::chrono_literals;
using tracebox::test::TempDir;

namespace {

std::string source_profiles() { return std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles"; }

// $TRACEBOX_PROFILE_PATH for one scope.
struct ProfilePath {
  explicit ProfilePath(const std::string& dirs) {
    ::setenv("TRACEBOX_PROFILE_PATH", dirs.c_str(), 1);
  }
  ~ProfilePath() { ::unsetenv("TRACEBOX_PROFILE_PATH"); }
};

// The value of `key` in /proc/<pid>/status text ("CapEff", "Uid"...).
std::string status_field(const std::string& status, const std::string& key) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(key + ":")) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "(absent)";
}

std::string profile_error(const std::string& text) {
  try {
    policy::parse_profile(text, "test.json");
  } catch (const policy::ProfileError& e) {
    return e.what();
  }
  return "no error";
}

#define TB_SHOW(r) INFO("status " << to_string((r).status) << ": " << (r).error)

}  // namespace

TEST_CASE("profile: names are found in the package's profiles, $TRACEBOX_PROFILE_PATH first",
          "[tracer][profile]") {
  // In this build tree, the package's profiles are the source tree's (TRACEBOX_PROFILE_DIR).
  const auto dirs = policy::profile_dirs();
  REQUIRE_FALSE(dirs.empty());
  CHECK(dirs.front() == source_profiles());
  policy::Profile python = policy::load_profile("python3");
  CHECK(python.path == source_profiles() + "/python3.json");
  CHECK(python.command.front() == "/usr/bin/python3.11");

  TempDir mine;
  test::write_file(mine.file("default.json"), R"({"description": "mine", "extends": ")" +
                                                  source_profiles() +
                                                  R"(/default.json", "allow": ["getppid"]})");
  {
    ProfilePath env(mine.path() + "::/nonexistent");
    CHECK(policy::profile_dirs().front() == mine.path());
    policy::Profile p = policy::load_profile("default");
    CHECK(p.description == "mine");
    CHECK(std::find(p.allow.begin(), p.allow.end(), "getppid") != p.allow.end());
    CHECK(std::find(p.allow.begin(), p.allow.end(), "read") != p.allow.end());  // extended
  }
  CHECK(policy::load_profile("default").description != "mine");
  try {
    policy::PreparedProfile::load("no-such-profile");
    FAIL("an unknown profile loaded");
  } catch (const policy::ProfileError& e) {
    CHECK(std::string(e.what()).starts_with("unknown profile \"no-such-profile\" (known: "));
    CHECK(std::string(e.what()).find("python3") != std::string::npos);
  }
}

TEST_CASE("profile: \"oom_exit_status\" and ${memory_mib}", "[tracer][profile]") {
  CHECK(policy::parse_profile(R"({"oom_exit_status": 3})", "t").oom_exit_status == 3);
  CHECK_FALSE(policy::parse_profile("{}", "t").oom_exit_status);
  for (const char* bad : {"0", "256", "\"3\"", "1.5", "-3", "true"})
    CHECK(profile_error(std::string(R"({"oom_exit_status": )") + bad + "}") ==
          "profile test.json: \"oom_exit_status\" must be an exit status from 1 to 255");

  policy::ProfileVars vars{"/w", "/w/p", "x86_64-linux-gnu", 256};
  CHECK(policy::substitute("-Xmx${memory_mib}m", vars) == "-Xmx256m");
  vars.memory_mib.reset();
  CHECK_THROWS_WITH(policy::substitute("-Xmx${memory_mib}m", vars),
                    "${memory_mib} in \"-Xmx${memory_mib}m\" needs a memory limit");

  // java caps the heap at the memory limit, and its OutOfMemoryError is a memory verdict; kotlin
  // extends java and keeps both.
  for (const char* name : {"java", "kotlin"}) {
    INFO(name);
    policy::Profile p = policy::load_profile(name);
    CHECK(p.oom_exit_status == 3);
    CHECK(std::find(p.command.begin(), p.command.end(), "-Xmx${memory_mib}m") != p.command.end());
    CHECK(std::find(p.command.begin(), p.command.end(), "-XX:+ExitOnOutOfMemoryError") !=
          p.command.end());
    TempDir work;
    policy::RunRequest request;
    request.work_dir = work.path();
    request.args = {"Main"};
    request.memory_bytes = 100 << 20;
    const Spec s = policy::prepare_profile(name)->spec(request);
    CHECK(std::find(s.process.args.begin(), s.process.args.end(), "-Xmx100m") !=
          s.process.args.end());
    CHECK(s.limits.memory_exit_status == 3);
    CHECK_FALSE(s.memory_rlimit);
    request.memory_bytes = 0;  // no memory limit: no heap size to give
    CHECK_THROWS_AS(policy::prepare_profile(name)->spec(request), policy::ProfileError);
  }
}

TEST_CASE("profile: PreparedProfile::spec applies everything runprog applies",
          "[tracer][profile]") {
  TempDir work;
  const auto prepared = policy::prepare_profile("default");
  policy::RunRequest request;
  request.work_dir = work.path();
  request.args = {"./prog", "x"};
  request.cpu = 1500ms;
  request.memory_bytes = 64 << 20;
  request.output_bytes = 2 << 20;
  request.stack_bytes = 8 << 20;
  const Spec s = prepared->spec(request);
  CHECK(s.process.args == std::vector<std::string>{"./prog", "x"});
  CHECK(s.process.path == work.file("prog"));
  CHECK(s.process.work_dir == work.path());
  CHECK(s.process.env == std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin"});
  CHECK(s.process.drop_caps);
  CHECK(rlimit::to_string(s.process.rlimits) ==
        "RLimits[Stack[8 MiB:8 MiB], OpenFile[256:256], Core[0 B:0 B]]");
  CHECK(s.limits.cpu == 1500ms);
  CHECK(s.limits.wall == 3500ms);  // no wall limit given: cpu + 2 s
  CHECK(s.limits.memory_bytes == 64u << 20);
  CHECK(s.limits.output_bytes == 2u << 20);
  CHECK(s.limits.tasks == 256);
  CHECK_FALSE(s.limits.memory_exit_status);
  CHECK(s.memory_rlimit);
  CHECK(s.prepared_policy == prepared->policy());
  CHECK(s.policy.rules.empty());
  CHECK(s.make_handler);
  CHECK(s.io.in.kind() == Input::Kind::kNull);
  CHECK(s.io.out.kind() == Output::Kind::kNull);
  CHECK(s.io.err.kind() == Output::Kind::kNull);
  // The isolation layers are Isolation's defaults: all on.
  CHECK(s.isolation.pid_namespace);
  CHECK(s.isolation.ipc_uts_namespaces);
  CHECK(s.isolation.user);
  CHECK(s.isolation.drop_caps);

  // The stack is capped at the memory limit; a wall limit above cpu is kept; allow_proc measures
  // memory without RLIMIT_DATA.
  request.stack_bytes = 1 << 30;
  request.wall = 5s;
  const Spec t = prepared->spec(request);
  CHECK(t.limits.wall == 5s);
  CHECK(rlimit::to_string(t.process.rlimits) ==
        "RLimits[Stack[64 MiB:64 MiB], OpenFile[256:256], Core[0 B:0 B]]");
  policy::ProfileOptions proc;
  proc.allow_proc = true;
  CHECK_FALSE(policy::prepare_profile("default", proc)->spec(request).memory_rlimit);

  request.work_dir = work.file("missing");
  CHECK_THROWS_AS(prepared->spec(request), ConfigError);
}

TEST_CASE(
    "profile: a judge run in two lines leaves the program no capability, another user, "
    "its own PID namespace",
    "[tracer][profile]") {
  TempDir work;
  // The two lines: the profile, once; a Spec per run. (Reading its own status is granted here.)
  const auto cpp = policy::prepare_profile("default");
  policy::RunRequest request{.work_dir = work.path(),
                             .args = {test::testprog(), "cat", "/proc/self/status"},
                             .io = {.out = Output::capture(1 << 16)}};
  request.grants.readable.add("/proc/self/status");
  Result r = run(cpp->spec(request));
  TB_SHOW(r);
  REQUIRE(r.status == Status::kNormal);
  const std::string& status = r.stdout_data;
  INFO(status);
  // No capability held, none to inherit. (The bounding set is left as it was: under
  // no_new_privs an exec grants nothing whatever it says, see forkexec's drop_capabilities.)
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapAmb"})
    CHECK(status_field(status, cap) == "0000000000000000");
  CHECK(status_field(status, "NoNewPrivs") == "1");
  CHECK(status_field(status, "Seccomp") == "2");
  if (test::is_root()) {
    CHECK(status_field(status, "Uid") == "65534\t65534\t65534\t65534");
    CHECK(status_field(status, "Gid") == "65534\t65534\t65534\t65534");
    CHECK(status_field(status, "Groups") == "");
    // Two pid levels: the host's, and 2 in the run's own namespace (its init is 1).
    const std::string nspid = status_field(status, "NSpid");
    CHECK(nspid.ends_with("\t2"));
    CHECK(nspid.find('\t') == nspid.rfind('\t'));
  }
  // Without the grant the same read is a violation naming the path.
  request.grants = {};
  Result refused = run(cpp->spec(request));
  CHECK(refused.status == Status::kDisallowedSyscall);
  REQUIRE(refused.violation);
  CHECK(refused.violation->path == "/proc/self/status");
}

TEST_CASE(
    "profile: one prepared profile, two work directories: a run reads its own, not the "
    "other's",
    "[tracer][profile]") {
  // A profile by path that extends the shipped default with the work directory's tree: a
  // per-run entry (${work}), substituted for each run on top of the shared sets.
  TempDir dir;
  test::write_file(dir.file("tree.json"),
                   R"({"extends": "default", "files": {"read": ["${work}/"]}})");
  const auto prepared =
      policy::PreparedProfile::load(dir.file("tree.json"), {}, {source_profiles()});
  TempDir one, two;
  test::write_file(one.file("data"), "one's\n");
  test::write_file(two.file("data"), "two's\n");
  auto read = [&](const TempDir& work, const std::string& file) {
    policy::RunRequest request;
    request.work_dir = work.path();
    request.args = {test::testprog(), "cat", file};
    request.io.out = Output::capture(100);
    return run(prepared->spec(request));
  };
  Result r = read(one, one.file("data"));
  TB_SHOW(r);
  CHECK(r.status == Status::kNormal);
  CHECK(r.stdout_data == "one's\n");
  r = read(two, two.file("data"));
  CHECK(r.stdout_data == "two's\n");
  r = read(one, two.file("data"));
  CHECK(r.status == Status::kDisallowedSyscall);
  REQUIRE(r.violation);
  CHECK(r.violation->path == two.file("data"));
  // The shared sets hold no run's entries.
  CHECK_FALSE(prepared->judge()->files.allows(policy::Access::kRead, one.file("data")));
}

TEST_CASE("profile: unsafe fails a syscall no rule names with EACCES, counted with Counting::kAll",
          "[tracer][profile]") {
  TempDir work;
  for (Counting counting : {Counting::kNone, Counting::kAll}) {
    INFO("counting " << static_cast<int>(counting));
    policy::ProfileOptions options;
    options.unsafe = true;
    options.counting = counting;
    policy::RunRequest request;
    request.work_dir = work.path();
    request.args = {test::tracee(), "call", "getppid"};  // only with -allow-proc
    request.io.out = Output::capture(100);
    Result r = run(policy::prepare_profile("default", options)->spec(request));
    TB_SHOW(r);
    CHECK(r.status == Status::kNormal);
    CHECK(r.stdout_data == "ret=0\n");  // the call failed (the tracee prints 1 for a parent)
    if (counting == Counting::kAll) CHECK(r.syscall_counts["getppid"] == 1);
  }
}
