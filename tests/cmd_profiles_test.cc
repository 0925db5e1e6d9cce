// The language profiles of cmd/profiles on real programs: each one runs its language's program
// to a normal verdict and the right output, and stops a forbidden action with a violation naming
// the path. The runs are set up the way runprog sets them up: tracer::policy::PreparedProfile
// (the profile's command before the user's, the variables, its limits and rlimits, a JudgeHandler).
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "support/support.h"
#include "tracebox/rlimit/rlimit.h"
#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/policy/profile.h"
#include "tracebox/util/unique_fd.h"

using namespace tracebox;
using namespace std::chrono_literals;
using tracebox::test::TempDir;
using tracer::Status;
namespace fs = std::filesystem;

namespace {

#if defined(__x86_64__)
constexpr const char* kMultiarch = "x86_64-linux-gnu";
#elif defined(__aarch64__)
constexpr const char* kMultiarch = "aarch64-linux-gnu";
#else
constexpr const char* kMultiarch = "unknown-linux-gnu";
#endif

constexpr const char* kJava = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";
constexpr const char* kJavac = "/usr/lib/jvm/java-17-openjdk-amd64/bin/javac";
constexpr const char* kPython = "/usr/bin/python3.11";

std::string profiles_dir() { return std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles"; }

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// Runs a shell command (compilers, outside any sandbox); its output goes to the test's log.
int shell(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// A work directory ("work" inside a temp dir, so that a sibling outside it is at hand) and the
// files the run's stdio goes to, outside the work directory.
struct Sandbox {
  TempDir dir;
  std::string work = dir.file("work");
  Sandbox() {
    fs::create_directory(work);
    test::give_to_program(work);  // the compilers write there
  }
  std::string in_work(const std::string& name) const { return work + "/" + name; }
};

struct Outcome {
  tracer::Result result;
  std::string out, err;
  std::chrono::milliseconds elapsed{0};
};

struct RunOptions {
  RunOptions(std::string profile_, std::vector<std::string> args_, std::string input_ = "",
             std::vector<std::string> dirs_ = {profiles_dir()})
      : profile(std::move(profile_)),
        args(std::move(args_)),
        input(std::move(input_)),
        dirs(std::move(dirs_)) {}
  std::string profile;            // a name looked up in `dirs`, or a path
  std::vector<std::string> args;  // the user's program and arguments (after the command)
  std::string input;              // the program's stdin
  std::vector<std::string> dirs;
  std::uint64_t memory_mib = 512;
  bool allow_proc = false;  // runprog -allow-proc
};

// One run as runprog prepares it: through the library's PreparedProfile, as runprog does.
Outcome run_profile(const Sandbox& box, const RunOptions& o) {
  tracer::policy::ProfileOptions po;
  po.allow_proc = o.allow_proc;
  auto prepared = tracer::policy::PreparedProfile::load(o.profile, po, o.dirs);
  test::write_file(box.dir.file("stdin"), o.input);
  tracer::policy::RunRequest request;
  request.work_dir = box.work;
  request.args = o.args;
  request.io.in = tracer::Input::file(box.dir.file("stdin"));
  request.io.out = tracer::Output::file(box.dir.file("stdout"));
  request.io.err = tracer::Output::file(box.dir.file("stderr"));
  request.cpu = 5s;
  request.wall = 20s;
  request.memory_bytes = o.memory_mib << 20;
  tracer::Spec spec = prepared->spec(request);

  Outcome outcome;
  const auto start = std::chrono::steady_clock::now();
  outcome.result = tracer::run(std::move(spec));
  outcome.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  outcome.out = test::read_file(box.dir.file("stdout"));
  outcome.err = test::read_file(box.dir.file("stderr"));
  const tracer::Result& r = outcome.result;
  std::printf("[profile %s] %s: %s, %lld ms in all, wall %lld ms, cpu %lld ms, %llu KiB\n",
              o.profile.c_str(), o.args.empty() ? "" : o.args[0].c_str(),
              std::string(to_string(r.status)).c_str(),
              static_cast<long long>(outcome.elapsed.count()),
              static_cast<long long>(r.wall_time.count() / 1000),
              static_cast<long long>(r.cpu_time.count() / 1000),
              static_cast<unsigned long long>(r.memory_kib));
  return outcome;
}

// What a failed check needs to be understood.
#define TB_SHOW(o)                                                                            \
  INFO("status " << to_string((o).result.status) << ": " << (o).result.error << "\nstderr:\n" \
                 << (o).err)

void check_normal(const Outcome& o, const std::string& expected) {
  TB_SHOW(o);
  CHECK(o.result.status == Status::kNormal);
  CHECK(o.result.exit_status == 0);
  CHECK(o.out == expected);
}

void check_violation(const Outcome& o, const std::string& path) {
  TB_SHOW(o);
  CHECK(o.result.status == Status::kDisallowedSyscall);
  REQUIRE(o.result.violation.has_value());
  CHECK(o.result.violation->path == path);
}

}  // namespace

TEST_CASE("the shipped profiles load and give policies that can be enforced", "[profiles]") {
  const auto names = tracer::policy::list_profiles({profiles_dir()});
  for (const char* name : {"default", "python3", "java", "compiler"}) {
    INFO("profile " << name);
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
    tracer::policy::Profile p = tracer::policy::load_profile(name, {profiles_dir()});
    CHECK_FALSE(p.description.empty());
    tracer::policy::ProfileVars vars{"/tmp/work", "/tmp/work/prog", kMultiarch};
    for (bool allow_proc : {false, true}) {
      auto judge = tracer::policy::to_judge_policy(p, vars, allow_proc);
      CHECK_NOTHROW(tracer::policy::make_policy(judge));
    }
  }
}

TEST_CASE("every syscall a shipped profile allows is in the README's table of argument modes",
          "[profiles]") {
  const std::string readme = test::read_file(std::string(TRACEBOX_SOURCE_DIR) + "/README.md");
  const auto start = readme.find("### Allowed syscalls and their refused argument modes");
  REQUIRE(start != std::string::npos);
  const std::string table = readme.substr(start, readme.find("\n## ", start) - start);
  for (const std::string& name : tracer::policy::list_profiles({profiles_dir()})) {
    tracer::policy::Profile p = tracer::policy::load_profile(name, {profiles_dir()});
    std::vector<std::string> all = p.allow;
    all.insert(all.end(), p.allow_proc.begin(), p.allow_proc.end());
    for (const auto& [s, n] : p.count) all.push_back(s);
    for (const std::string& s : all) {
      INFO("profile " << name << ": " << s);
      CHECK(table.find("`" + s + "`") != std::string::npos);
    }
  }
}

TEST_CASE("default: a C++ program using iostream", "[profiles]") {
  Sandbox box;
  test::write_file(box.in_work("prog.cpp"), R"(#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>
int main(int argc, char** argv) {
  if (argc > 1) {  // the forbidden action
    std::ifstream secret("/etc/shadow");
    std::string line;
    std::getline(secret, line);
    std::cout << line.size() << std::endl;
    return 0;
  }
  long n = 0;
  std::cin >> n;
  std::vector<long> squares;
  for (long i = 1; i <= n; ++i) squares.push_back(i * i);
  long sum = 0;
  for (long s : squares) sum += s;
  std::map<std::string, long> m{{"n", n}, {"sum", sum}};
  for (const auto& [k, v] : m) std::cout << k << '=' << v << '\n';
  return 0;
}
)");
  REQUIRE(shell("g++ -O2 -o " + box.in_work("prog") + " " + box.in_work("prog.cpp")) == 0);

  check_normal(run_profile(box, {"default", {"./prog"}, "100\n"}), "n=100\nsum=338350\n");
  check_violation(run_profile(box, {"default", {"./prog", "shadow"}}), "/etc/shadow");
}

TEST_CASE("default: what glibc reads for the CPU count and for threads' memory is granted",
          "[profiles]") {
  // sysconf(_SC_NPROCESSORS_ONLN/CONF) and std::thread::hardware_concurrency read
  // /sys/devices/system/cpu/online and possible, OpenMP asks sched_getaffinity of its own thread
  // id; a thread's malloc arena, shrinking after frees,
  // reads /proc/sys/vm/overcommit_memory. Each once was a violation.
  Sandbox box;
  test::write_file(box.in_work("prog.cpp"), R"(#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
int main(int argc, char** argv) {
  cpu_set_t mask;  // as OpenMP's start asks it: by the thread's own id
  const bool ok = sysconf(_SC_NPROCESSORS_ONLN) >= 1 && sysconf(_SC_NPROCESSORS_CONF) >= 1 &&
                  std::thread::hardware_concurrency() >= 1 &&
                  sched_getaffinity(static_cast<pid_t>(syscall(SYS_gettid)), sizeof mask, &mask) == 0;
  std::printf("cpus %s\n", ok ? "ok" : "unknown");
  if (argc > 1) {
    std::thread t([] {
      for (int round = 0; round < 20; ++round) {  // the arena grows, then shrinks
        std::vector<char*> blocks;
        for (int i = 0; i < 2000; ++i) blocks.push_back(static_cast<char*>(std::malloc(3000)));
        for (char* b : blocks) std::memset(b, 1, 16), std::free(b);
      }
    });
    t.join();
    std::puts("thread ok");
  }
  return 0;
}
)");
  REQUIRE(shell("g++ -O2 -pthread -o " + box.in_work("prog") + " " + box.in_work("prog.cpp")) == 0);
  check_normal(run_profile(box, {"default", {"./prog"}}), "cpus ok\n");
  RunOptions threads{"default", {"./prog", "thread"}};
  threads.allow_proc = true;
  check_normal(run_profile(box, threads), "cpus ok\nthread ok\n");
}

TEST_CASE("default: the work directory's files fail with EACCES, and the program runs on",
          "[profiles]") {
  // Contest code looks for an input file of its own and falls back to stdin, or writes a debug
  // file beside its answer: neither may end the run, nor may the work directory's files (the
  // tests may be there) be read, written or named.
  Sandbox box;
  test::write_file(box.in_work("prog.cpp"), R"(#include <cerrno>
#include <cstdio>
#include <fstream>
#include <unistd.h>
int main() {
  if (std::FILE* f = std::fopen("input.txt", "r")) std::freopen("input.txt", "r", stdin);
  std::FILE* w = std::fopen("debug.txt", "w");
  const int write_errno = errno;
  std::ifstream secret("secret.ans");
  const bool removed = unlink("secret.ans") == 0;
  int a = 0, b = 0;
  if (std::scanf("%d %d", &a, &b) != 2) return 3;
  std::printf("%d %s %s %s\n", a + b, w == nullptr && write_errno == EACCES ? "EACCES" : "?",
              secret ? "read" : "unread", removed ? "removed" : "kept");
}
)");
  REQUIRE(shell("g++ -O2 -o " + box.in_work("prog") + " " + box.in_work("prog.cpp")) == 0);
  test::write_file(box.in_work("secret.ans"), "42\n");
  for (bool with_input_file : {false, true}) {
    INFO(with_input_file);
    if (with_input_file) test::write_file(box.in_work("input.txt"), "100 200\n");
    check_normal(run_profile(box, {"default", {"./prog"}, "1 2\n"}), "3 EACCES unread kept\n");
  }
  CHECK(test::read_file(box.in_work("secret.ans")) == "42\n");
  CHECK_FALSE(fs::exists(box.in_work("debug.txt")));
}

TEST_CASE("python3: a script using the standard library", "[profiles]") {
  TB_SKIP_UNLESS(executable(kPython), std::string(kPython) + " is not installed");
  Sandbox box;
  test::write_file(box.in_work("main.py"), R"(import collections
import json
import math
import sys

if len(sys.argv) > 1:  # the forbidden action
    print(open('/etc/shadow').read())
    sys.exit(0)
n = int(sys.stdin.readline())
counts = collections.Counter(i % 3 for i in range(n))
print(json.dumps({"n": n, "isqrt": math.isqrt(n), "counts": sorted(counts.items())}))
)");
  check_normal(run_profile(box, {"python3", {"main.py"}, "100\n"}),
               "{\"n\": 100, \"isqrt\": 10, \"counts\": [[0, 34], [1, 33], [2, 33]]}\n");
  check_violation(run_profile(box, {"python3", {"main.py", "shadow"}}), "/etc/shadow");
}

TEST_CASE("python3 and C++ read their input as /dev/stdin, and may not write it", "[profiles]") {
  Sandbox box;
  test::write_file(box.in_work("prog.cpp"), R"(#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char** argv) {
  if (argc > 1) {  // reopening the input for writing: refused (EACCES), not a violation
    std::ofstream out("/dev/stdin");
    std::cout << (out ? "opened" : "refused") << '\n';
    return 0;
  }
  std::ifstream in("/dev/stdin");
  std::string line;
  std::getline(in, line);
  std::cout << "read " << line << '\n';
}
)");
  REQUIRE(shell("g++ -O2 -o " + box.in_work("prog") + " " + box.in_work("prog.cpp")) == 0);
  check_normal(run_profile(box, {"default", {"./prog"}, "42 and more\n"}), "read 42 and more\n");
  check_normal(run_profile(box, {"default", {"./prog", "write"}, "42\n"}), "refused\n");
  CHECK(test::read_file(box.dir.file("stdin")) == "42\n");

  if (!executable(kPython)) return;
  test::write_file(box.in_work("main.py"), R"(import sys
if len(sys.argv) > 1:
    try:
        open('/dev/stdin', 'w').write('overwritten')
        print('opened')
    except PermissionError:
        print('refused')
    sys.exit(0)
print(open('/dev/stdin').read().split())
)");
  check_normal(run_profile(box, {"python3", {"main.py"}, "1 2 3\n"}), "['1', '2', '3']\n");
  check_normal(run_profile(box, {"python3", {"main.py", "write"}, "1 2 3\n"}), "refused\n");
  CHECK(test::read_file(box.dir.file("stdin")) == "1 2 3\n");
}

TEST_CASE("java: a program with a second thread and collections", "[profiles]") {
  TB_SKIP_UNLESS(executable(kJava) && executable(kJavac), "OpenJDK 17 is not installed");
  Sandbox box;
  test::write_file(box.in_work("Main.java"), R"(import java.nio.file.*;
import java.util.*;

public class Main {
  public static void main(String[] args) throws Exception {
    if (args.length > 0) {  // the forbidden action
      System.out.println(Files.readAllLines(Path.of("/etc/shadow")).size());
      return;
    }
    Scanner in = new Scanner(System.in);
    int n = in.nextInt();
    long[] half = new long[2];
    Thread even = new Thread(() -> { for (int i = 0; i <= n; i += 2) half[0] += i; });
    even.start();
    for (int i = 1; i <= n; i += 2) half[1] += i;
    even.join();
    TreeMap<String, Integer> words = new TreeMap<>();
    for (String w : "b a c a b a".split(" ")) words.merge(w, 1, Integer::sum);
    List<Integer> list = new ArrayList<>(List.of(5, 3, 9, 1));
    Collections.sort(list);
    System.out.println("sum " + (half[0] + half[1]) + " words " + words + " sorted " + list);
  }
}
)");
  REQUIRE(shell("cd " + box.work + " && " + kJavac + " Main.java") == 0);

  // The profile's command ends with -cp . (the work directory): java ... -cp . Main.
  check_normal(run_profile(box, {"java", {"Main"}, "100\n"}),
               "sum 5050 words {a=3, b=2, c=1} sorted [1, 3, 5, 9]\n");
  check_violation(run_profile(box, {"java", {"Main", "shadow"}}), "/etc/shadow");
}

TEST_CASE("java: a program that fills its heap gets a memory verdict, not a runtime error",
          "[profiles]") {
  TB_SKIP_UNLESS(executable(kJava) && executable(kJavac), "OpenJDK 17 is not installed");
  Sandbox box;
  test::write_file(box.in_work("Fill.java"), R"(import java.util.*;

public class Fill {
  public static void main(String[] args) {
    List<long[]> kept = new ArrayList<>();
    for (;;) kept.add(new long[1 << 17]);  // 1 MiB at a time, all of it reachable
  }
}
)");
  REQUIRE(shell("cd " + box.work + " && " + kJavac + " Fill.java") == 0);

  // The heap is capped at the memory limit (-Xmx${memory_mib}m): the limit is reached either way,
  // by measurement or by the JVM's own OutOfMemoryError.
  RunOptions capped("java", {"Fill"});
  capped.memory_mib = 256;
  Outcome o = run_profile(box, capped);
  TB_SHOW(o);
  CHECK(o.result.status == Status::kMemoryLimitExceeded);
  CHECK(o.result.limit == tracer::LimitKind::kMemory);

  // A smaller heap of the user's (a later -Xmx wins): the JVM's OutOfMemoryError ends it with
  // exit status 3 (-XX:+ExitOnOutOfMemoryError), which "oom_exit_status" makes a memory verdict.
  o = run_profile(box, {"java", {"-Xmx32m", "Fill"}});
  TB_SHOW(o);
  CHECK(o.result.status == Status::kMemoryLimitExceeded);
  CHECK(o.result.exit_status == 3);
  CHECK(o.result.error.find("the runtime reported running out of memory") != std::string::npos);
  INFO("stdout:\n" << o.out);
  CHECK((o.out + o.err).find("Terminating due to java.lang.OutOfMemoryError") != std::string::npos);
  CHECK(o.result.memory_kib < 256 * 1024);
}

namespace {

// g++ -O2 ARGS under the compiler profile, in `box`'s work directory.
Outcome compile(const Sandbox& box, std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/g++", "-O2"});
  return run_profile(box, {"compiler", args});
}

}  // namespace

TEST_CASE("compiler: g++ -O2 builds a program that runs", "[profiles]") {
  Sandbox box;
  test::write_file(box.in_work("prog.cpp"), R"(#include <algorithm>
#include <iostream>
#include <vector>
int main() {
  std::vector<int> v;
  for (int x; std::cin >> x;) v.push_back(x);
  std::sort(v.begin(), v.end());
  for (int x : v) std::cout << x << ' ';
  std::cout << '\n';
}
)");
  check_normal(compile(box, {"-o", "prog", "prog.cpp"}), "");
  REQUIRE(fs::exists(box.in_work("prog")));
  // No temporary file is left behind (TMPDIR is the work directory).
  for (const auto& e : fs::directory_iterator(box.work))
    CHECK((e.path().filename() == "prog" || e.path().filename() == "prog.cpp"));
  check_normal(run_profile(box, {"default", {"./prog"}, "3 1 2\n"}), "1 2 3 \n");
}

TEST_CASE("compiler: reading or writing outside the sets is a violation", "[profiles]") {
  Sandbox box;
  SECTION("an #include of a file outside the readable sets") {
    test::write_file(box.in_work("bad.cpp"), "#include \"/etc/shadow\"\nint main() {}\n");
    Outcome o = compile(box, {"-o", "bad", "bad.cpp"});
    // The preprocessor looks for a precompiled /etc/shadow.gch first: that is the violation.
    check_violation(o, "/etc/shadow.gch");
    CHECK(o.result.violation->syscall == "newfstatat");
  }
  SECTION("the assembler reading a file outside the readable sets") {
    test::write_file(box.in_work("bad.cpp"),
                     "asm(\".incbin \\\"/etc/shadow\\\"\");\nint main() {}\n");
    check_violation(compile(box, {"-o", "bad", "bad.cpp"}), "/etc/shadow");
  }
  SECTION("an output outside the work directory") {
    test::write_file(box.in_work("ok.cpp"), "int main() {}\n");
    check_violation(compile(box, {"-o", "../outside", "ok.cpp"}), box.dir.file("outside"));
    CHECK_FALSE(fs::exists(box.dir.file("outside")));
  }
}

TEST_CASE("a user's profile in a directory of their own needs no rebuild", "[profiles]") {
  Sandbox box;
  TempDir mine;
  // It extends the shipped default (found in the later directory) with one more syscall.
  test::write_file(mine.file("withprio.json"), R"({
  "description": "default, and the program may read its scheduling priority",
  "extends": "default",
  "allow": ["getpriority"]
})");
  test::write_file(box.in_work("prio.c"),
                   "#include <stdio.h>\n#include <sys/resource.h>\n"
                   "int main(void) {\n"
                   "  printf(\"nice %d\\n\", getpriority(PRIO_PROCESS, 0));\n"
                   "  return 0;\n"
                   "}\n");
  REQUIRE(shell("gcc -O2 -o " + box.in_work("prio") + " " + box.in_work("prio.c")) == 0);

  const std::vector<std::string> dirs = {mine.path(), profiles_dir()};
  const auto names = tracer::policy::list_profiles(dirs);
  CHECK(std::find(names.begin(), names.end(), "withprio") != names.end());
  tracer::policy::Profile p = tracer::policy::load_profile("withprio", dirs);
  CHECK(p.path == mine.file("withprio.json"));

  Outcome refused = run_profile(box, {"default", {"./prio"}});
  CHECK(refused.result.status == Status::kDisallowedSyscall);
  REQUIRE(refused.result.violation.has_value());
  CHECK(refused.result.violation->syscall == "getpriority");
  const std::string nice = "nice " + std::to_string(::getpriority(PRIO_PROCESS, 0)) + "\n";
  check_normal(run_profile(box, {"withprio", {"./prio"}, "", dirs}), nice);
  // By path too (its "extends" is looked up in the given directories).
  check_normal(run_profile(box, {mine.file("withprio.json"), {"./prio"}}), nice);
}
