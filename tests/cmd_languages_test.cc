// Every shipped language profile on real programs, through the built runprog binary (black box):
// the compile step under the language's compile profile, then under its run profile a hello
// world, a typical solution (2*10^5 numbers read fast, sorted, printed), the language's deep
// recursion or thread idiom, reading /dev/stdin by name, and two forbidden actions (a file outside
// the sets, a socket) that must be refused. Hello world and the deep idiom run again with both
// CPUs busy: what a runtime reads to size itself must be granted on a busy machine too.
//
// The languages are one table (kLanguages): a row names the toolchain files (the test skips
// without them), the programs (tests/programs/languages, see its README), the compile step and the
// run step. One CTest test per row. Beside the table: the numpy profile, an interpreter given twice
// on the command line, and -profile-check.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

#include "support/support.h"

using tracebox::test::TempDir;
using Json = nlohmann::json;
namespace fs = std::filesystem;

extern char** environ;

namespace {

const std::string kRunprog = TRACEBOX_RUNPROG;
const std::string kPrograms = std::string(TRACEBOX_SOURCE_DIR) + "/tests/programs/languages";

// A runprog step: the profile and the arguments after its "command". In the arguments, {src} is
// the program's file name and {stem} that name without its extension.
struct Step {
  std::string profile;
  std::vector<std::string> args;
};

struct Language {
  std::string name;
  std::vector<std::string> needs;  // the toolchain's files: the test skips without them
  std::string hello, main;         // programs in tests/programs/languages
  std::optional<Step> compile;     // run in the work directory, before the runs
  Step run;
  // The deep idiom starts a thread: the run gets -allow-proc, as a judge that allows threads
  // gives it. (Runtimes that always need threads have clone in their profile.)
  bool deep_needs_proc = false;
};

const std::string kJdk = "/usr/lib/jvm/java-17-openjdk-amd64/bin/";

// clang-format off
const std::vector<Language> kLanguages = {
  {"c (gcc)", {"/usr/bin/gcc"}, "hello.c", "main.c",
   Step{"compiler", {"/usr/bin/gcc", "-O2", "-o", "{stem}", "{src}"}},
   Step{"default", {"./{stem}"}}},
  {"c++ (g++)", {"/usr/bin/g++"}, "hello.cpp", "main.cpp",
   Step{"compiler", {"/usr/bin/g++", "-O2", "-o", "{stem}", "{src}"}},
   Step{"default", {"./{stem}"}}},
  {"c++ (clang++)", {"/usr/bin/clang++"}, "hello.cpp", "main.cpp",
   Step{"clang", {"/usr/bin/clang++", "-O2", "-o", "{stem}", "{src}"}},
   Step{"default", {"./{stem}"}}},
  {"python3", {"/usr/bin/python3.11"}, "hello.py", "main.py", std::nullopt,
   Step{"python3", {"{src}"}}, true},
  {"pypy3", {"/usr/bin/pypy3.9"}, "hello.py", "main.py", std::nullopt,
   Step{"pypy3", {"{src}"}}, true},
  {"java", {kJdk + "java", kJdk + "javac"}, "Hello.java", "Main.java",
   Step{"javac", {"{src}"}},
   Step{"java", {"{stem}"}}},
  {"kotlin", {"/usr/bin/kotlinc", kJdk + "java"}, "Hello.kt", "Main.kt",
   Step{"kotlinc", {"{src}"}},
   Step{"kotlin", {"{stem}Kt"}}},
  {"go", {"/usr/bin/go"}, "hello.go", "main.go",
   Step{"go-build", {"build", "-o", "{stem}", "{src}"}},
   Step{"go", {"./{stem}"}}},
  {"rust", {"/usr/bin/rustc"}, "hello.rs", "main.rs",
   Step{"rustc", {"-O", "-o", "{stem}", "{src}"}},
   Step{"rust", {"./{stem}"}}, true},
  {"javascript (node)", {"/usr/bin/node"}, "hello.js", "main.js", std::nullopt,
   Step{"node", {"{src}"}}},
  {"pascal (fpc)", {"/usr/bin/fpc"}, "hello.pas", "main.pas",
   Step{"fpc", {"-O2", "{src}"}},
   Step{"pascal", {"./{stem}"}}},
  {"haskell (ghc)", {"/usr/bin/ghc"}, "hello.hs", "main.hs",
   Step{"ghc", {"-O2", "{src}"}},
   Step{"haskell", {"./{stem}"}}},
  {"ruby", {"/usr/bin/ruby3.1"}, "hello.rb", "main.rb", std::nullopt,
   Step{"ruby", {"{src}"}}},
  {"php", {"/usr/bin/php8.2"}, "hello.php", "main.php", std::nullopt,
   Step{"php", {"{src}"}}},
  {"perl", {"/usr/bin/perl"}, "hello.pl", "main.pl", std::nullopt,
   Step{"perl", {"{src}"}}},
  {"lua", {"/usr/bin/lua5.4"}, "hello.lua", "main.lua", std::nullopt,
   Step{"lua", {"{src}"}}},
  {"c# (mono)", {"/usr/bin/mcs", "/usr/bin/mono"}, "hello.cs", "main.cs",
   Step{"mcs", {"-optimize+", "-out:{stem}.exe", "{src}"}},
   Step{"mono", {"{stem}.exe"}}},
  {"ocaml", {"/usr/bin/ocamlopt"}, "hello.ml", "main.ml",
   Step{"ocamlopt", {"-O3", "unix.cmxa", "-o", "{stem}", "{src}"}},
   Step{"ocaml", {"./{stem}"}}},
  {"fortran", {"/usr/bin/gfortran"}, "hello.f90", "main.f90",
   Step{"gfortran", {"/usr/bin/gfortran", "-O2", "-o", "{stem}", "{src}"}},
   Step{"fortran", {"./{stem}"}}},
  {"d (gdc)", {"/usr/bin/gdc"}, "hello.d", "main.d",
   Step{"gdc", {"/usr/bin/gdc", "-O2", "-o", "{stem}", "{src}"}},
   Step{"d", {"./{stem}"}}},
  {"d (ldc)", {"/usr/bin/ldc2"}, "hello.d", "main.d",
   Step{"ldc", {"-O", "-of={stem}", "{src}"}},
   Step{"d", {"./{stem}"}}},
};
// clang-format on

struct Outcome {
  int code = -1;       // runprog's exit code
  Json result;         // its JSON result
  std::string out;     // the program's stdout
  std::string err;     // the program's stderr
  std::string stderr;  // runprog's own stderr
};

std::string substituted(const std::string& arg, const std::string& src) {
  const std::string stem = src.substr(0, src.rfind('.'));
  std::string out;
  for (std::size_t i = 0; i < arg.size();) {
    if (arg.compare(i, 5, "{src}") == 0) {
      out += src;
      i += 5;
    } else if (arg.compare(i, 6, "{stem}") == 0) {
      out += stem;
      i += 6;
    } else {
      out += arg[i++];
    }
  }
  return out;
}

// A work directory (the sandbox user's, as a judge prepares it) inside a temp dir that also
// holds the run's stdio files and a readable file outside every profile's sets.
struct Box {
  TempDir dir;
  std::string work = dir.file("work");
  std::string secret = dir.file("secret");
  Box() {
    fs::create_directory(work);
    tracebox::test::give_to_program(work);
    tracebox::test::write_file(secret, "the judge's answer\n");
  }
};

// runprog -json -type STEP.profile -work-path WORK [options] -- ARGS, with `input` as stdin.
Outcome runprog(const Box& box, const Step& step, const std::string& src,
                const std::vector<std::string>& extra, const std::string& input,
                std::vector<std::string> options = {}) {
  tracebox::test::write_file(box.dir.file("in"), input);
  std::vector<std::string> argv{kRunprog,     "-json",
                                "-type",      step.profile,
                                "-work-path", box.work,
                                "-in",        box.dir.file("in"),
                                "-out",       box.dir.file("out"),
                                "-err",       box.dir.file("err"),
                                "-res",       box.dir.file("res")};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("--");
  for (const auto& a : step.args) argv.push_back(substituted(a, src));
  argv.insert(argv.end(), extra.begin(), extra.end());

  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, box.dir.file("runprog-err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, kRunprog.c_str(), &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(err == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  Outcome o;
  o.code = WEXITSTATUS(status);
  o.out = tracebox::test::read_file(box.dir.file("out"));
  o.err = tracebox::test::read_file(box.dir.file("err"));
  o.stderr = tracebox::test::read_file(box.dir.file("runprog-err"));
  const std::string res = tracebox::test::read_file(box.dir.file("res"));
  std::string shown;
  for (const auto& a : argv) shown += a + " ";
  std::printf("%s\n  -> %s", shown.c_str(), res.c_str());
  if (!res.empty()) o.result = Json::parse(res, nullptr, false);
  return o;
}

std::string status(const Outcome& o) {
  return o.result.is_object() ? o.result.value("status", "?") : "no result";
}

// What a failed check needs to be understood.
#define TB_SHOW(o)                                                          \
  INFO("result: " << (o).result.dump() << "\nrunprog's stderr:\n"           \
                  << (o).stderr << "\nthe program's stdout:\n"              \
                  << (o).out.substr(0, 2000) << "\nthe program's stderr:\n" \
                  << (o).err.substr(0, 4000))

void check_normal(const Outcome& o, const std::string& expected) {
  TB_SHOW(o);
  CHECK(o.code == 0);
  CHECK(status(o) == "normal");
  CHECK(o.out == expected);
}

// Two processes spinning on both CPUs while the object lives.
class CpuHog {
 public:
  CpuHog() {
    for (int i = 0; i < 2; ++i) {
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        for (;;) __asm__ volatile("" ::: "memory");  // spin until killed
      }
      pids_.push_back(pid);
    }
  }
  ~CpuHog() {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  CpuHog(const CpuHog&) = delete;
  CpuHog& operator=(const CpuHog&) = delete;

 private:
  std::vector<pid_t> pids_;
};

void run_language(const Language& lang) {
  for (const auto& path : lang.needs)
    TB_SKIP_UNLESS(fs::exists(path), lang.name + ": " + path +
                                         " is not installed (scripts/languages.sh installs "
                                         "every toolchain)");
  Box box;
  for (const auto& src : {lang.hello, lang.main}) {
    fs::copy_file(kPrograms + "/" + src, box.work + "/" + src);
    if (!lang.compile) continue;
    INFO("compiling " << src);
    const Outcome c = runprog(box, *lang.compile, src, {}, "",
                              {"-tl", "120", "-rtl", "300", "-ml", "4096", "-ol", "256"});
    TB_SHOW(c);
    REQUIRE(status(c) == "normal");
  }
  const std::string hello = lang.hello;
  const std::string main = lang.main;
  const std::vector<std::string> proc =
      lang.deep_needs_proc ? std::vector<std::string>{"-allow-proc"} : std::vector<std::string>{};

  {
    INFO("hello world");
    check_normal(runprog(box, lang.run, hello, {}, ""), "Hello, World!\n");
  }
  {
    INFO("a typical solution: 2*10^5 numbers read, sorted, printed");
    std::mt19937_64 rng(20240601);
    std::uniform_int_distribution<long long> dist(-1000000000LL, 1000000000LL);
    std::vector<long long> numbers(200000);
    for (auto& x : numbers) x = dist(rng);
    std::ostringstream in;
    in << numbers.size() << '\n';
    for (std::size_t i = 0; i < numbers.size(); ++i) in << numbers[i] << (i % 10 == 9 ? '\n' : ' ');
    std::sort(numbers.begin(), numbers.end());
    std::ostringstream want;
    for (std::size_t i = 0; i < numbers.size(); ++i)
      want << numbers[i] << (i + 1 < numbers.size() ? ' ' : '\n');
    // Seconds of CPU, as a judge gives the slower languages: the point is that it runs, and this
    // machine is shared (a busy host has made a Haskell sort take 1.1 s here).
    check_normal(runprog(box, lang.run, main, {"sort"}, in.str(), {"-tl", "5"}), want.str());
  }
  {
    INFO("the deep recursion idiom" << (lang.deep_needs_proc ? " (a thread: -allow-proc)" : ""));
    std::vector<std::string> options = proc;
    options.insert(options.end(), {"-tl", "5"});  // as for the sort: pypy3 takes 0.9 s here
    check_normal(runprog(box, lang.run, main, {"deep"}, "", options), "depth 100000\n");
  }
  {
    INFO("reading /dev/stdin by name");
    check_normal(runprog(box, lang.run, main, {"stdin"}, "1 2 3\n4 5\n"), "sum 15\n");
  }
  {
    INFO("opening a file outside the sets: a violation naming it");
    const Outcome o = runprog(box, lang.run, main, {"file", box.secret}, "");
    TB_SHOW(o);
    CHECK(status(o) == "disallowed_syscall");
    CHECK(o.result["violation"].is_object());
    if (o.result["violation"].is_object()) CHECK(o.result["violation"]["path"] == box.secret);
    CHECK(o.out.find("judge") == std::string::npos);
  }
  {
    INFO("a socket: refused (EACCES, or a violation)");
    const Outcome o = runprog(box, lang.run, main, {"socket"}, "");
    TB_SHOW(o);
    CHECK(o.out.find("socket ok") == std::string::npos);
    CHECK((status(o) == "disallowed_syscall" || o.out.starts_with("refused")));
  }
  {
    INFO("both CPUs busy: hello world and the deep idiom");
    CpuHog hog;
    check_normal(runprog(box, lang.run, hello, {}, ""), "Hello, World!\n");
    std::vector<std::string> options = proc;
    options.insert(options.end(), {"-tl", "5"});  // as for the sort: pypy3 takes 0.9 s here
    check_normal(runprog(box, lang.run, main, {"deep"}, "", options), "depth 100000\n");
  }
}

}  // namespace

TEST_CASE("python3-numpy: numpy imports and computes, and under python3 fails at import",
          "[languages]") {
  TB_SKIP_UNLESS(fs::exists("/usr/bin/python3.11"), "python3.11 is not installed");
  TB_SKIP_UNLESS(fs::exists("/usr/lib/python3/dist-packages/numpy/__init__.py"),
                 "python3-numpy is not installed (scripts/languages.sh installs it)");
  Box box;
  tracebox::test::write_file(box.work + "/np.py", R"(import sys
import numpy as np
a = np.array([int(x) for x in sys.stdin.read().split()], dtype=np.int64)
print(int(a.sum()), np.sort(a)[::-1].tolist(), round(float(np.linalg.det(np.array([[2.0, 1.0], [1.0, 3.0]]))), 6))
if len(sys.argv) > 1:
    import yaml  # another package of dist-packages: not granted
)");
  check_normal(runprog(box, Step{"python3-numpy", {"np.py"}}, "np.py", {}, "3 1 2\n"),
               "6 [3, 2, 1] 5.0\n");
  {
    INFO("another package of dist-packages is not importable");
    const Outcome o = runprog(box, Step{"python3-numpy", {"np.py"}}, "np.py", {"yaml"}, "1\n");
    TB_SHOW(o);
    CHECK(status(o) == "nonzero_exit_status");
    CHECK(o.err.find("ModuleNotFoundError: No module named 'yaml'") != std::string::npos);
  }
  {
    INFO("python3 (without numpy) fails at the import, with a clear message");
    const Outcome o = runprog(box, Step{"python3", {"np.py"}}, "np.py", {}, "3 1 2\n");
    TB_SHOW(o);
    CHECK(status(o) == "nonzero_exit_status");
    CHECK(o.err.find("ModuleNotFoundError: No module named 'numpy'") != std::string::npos);
    CHECK(o.out.empty());
  }
}

namespace {

// runprog with `args` as given: its exit code, stdout and stderr.
Outcome runprog_raw(const Box& box, const std::vector<std::string>& args) {
  std::vector<std::string> argv{kRunprog};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, box.dir.file("raw-out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, box.dir.file("raw-err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, kRunprog.c_str(), &fa, nullptr, cargs.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  Outcome o;
  o.code = WEXITSTATUS(status);
  o.out = tracebox::test::read_file(box.dir.file("raw-out"));
  o.stderr = tracebox::test::read_file(box.dir.file("raw-err"));
  return o;
}

}  // namespace

TEST_CASE("an interpreter given twice runs the script, another program is refused with a message",
          "[languages]") {
  TB_SKIP_UNLESS(fs::exists("/usr/bin/python3.11"), "python3.11 is not installed");
  Box box;
  fs::copy_file(kPrograms + "/hello.py", box.work + "/hello.py");
  // go-sandbox's habit: the interpreter, then the script. /usr/bin/python3 links to python3.11,
  // the file the profile's command runs.
  for (const char* interpreter : {"/usr/bin/python3.11", "/usr/bin/python3"}) {
    INFO(interpreter);
    check_normal(runprog(box, Step{"python3", {interpreter, "{src}"}}, "hello.py", {}, ""),
                 "Hello, World!\n");
  }
  // Another executable in its place would become python's script: refused before anything runs.
  const Outcome o =
      runprog_raw(box, {"-type", "python3", "-work-path", box.work, "/usr/bin/perl", "hello.py"});
  INFO("stderr: " << o.stderr);
  CHECK(o.code == 2);
  CHECK(o.stderr.find("-type python3: the profile runs \"/usr/bin/python3.11 -I -B\"") !=
        std::string::npos);
  CHECK(o.stderr.find("give the arguments alone") != std::string::npos);
  // A script in the work directory that happens to be executable is the user's program.
  tracebox::test::write_file(box.work + "/run.py", "print('ran')\n", 0755);
  check_normal(runprog(box, Step{"python3", {"run.py"}}, "run.py", {}, ""), "ran\n");
}

TEST_CASE("runprog -profile-check: every shipped profile is valid", "[languages]") {
  Box box;
  const std::string dir = std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles";
  int checked = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    const std::string name = e.path().stem();
    INFO("profile " << name);
    const Outcome o = runprog_raw(box, {"-profile-check", name, "-work-path", box.work});
    INFO(o.out << o.stderr);
    // 1: valid, but the runtime is not installed on this machine.
    CHECK((o.code == 0 || o.code == 1));
    CHECK(o.out.starts_with("profile " + name + ": " + e.path().string() + "\n"));
    CHECK(o.out.find("\nverdict: valid") != std::string::npos);
    CHECK(o.out.find("\ninvalid") == std::string::npos);
    ++checked;
  }
  CHECK(checked >= 30);
}

TEST_CASE("runprog -profile-check: what makes a profile invalid, absent or not installed",
          "[languages]") {
  Box box;
  auto check = [&](const std::string& json) {
    tracebox::test::write_file(box.dir.file("mine.json"), json);
    return runprog_raw(box, {"-profile-dir", std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles",
                             "-profile-check", box.dir.file("mine.json"), "-work-path", box.work});
  };
  struct Case {
    std::string json, says;
  };
  const std::vector<Case> invalid = {
      {R"({"extends": "default", "allow": ["no_such_call"]})", "unknown syscall"},
      {R"({"extends": "default", "allow": ["statfs"]})",
       "takes a path that the file policy does not check"},
      {R"({"extends": "default", "allow": ["ptrace"]})", "cannot be allowed"},
      {R"({"extends": "default", "count": {"mkdir": 1}})", "takes a path: it cannot have a budget"},
      {R"({"extends": "default", "files": {"read": ["${home}/x"]}})", "unknown variable"},
      {R"({"extends": "default", "deny": {"socket": "ENOTANERRNO"}})", "unknown errno"},
      {R"({"extends": "nonexistent-base"})", "unknown profile"},
      {R"({"extends": "default", "typo": 1})", "is not a profile key"},
  };
  for (const auto& c : invalid) {
    INFO(c.json);
    const Outcome o = check(c.json);
    INFO(o.out << o.stderr);
    CHECK(o.code == 2);
    CHECK(o.out.find(c.says) != std::string::npos);
  }
  {
    // A grant of a name absent here: listed, the profile stays valid.
    const Outcome o =
        check(R"({"extends": "default", "files": {"read": ["/nonexistent/tracebox-probe"]}})");
    INFO(o.out);
    CHECK(o.code == 0);
    CHECK(o.out.find("files.read: /nonexistent/tracebox-probe (exactly)  ABSENT here") !=
          std::string::npos);
  }
  {
    const Outcome o = check(R"({"extends": "default", "command": ["/nonexistent/interpreter"]})");
    INFO(o.out);
    CHECK(o.code == 1);
    CHECK(o.out.find("is not on this machine") != std::string::npos);
  }
  {
    const Outcome o = runprog_raw(box, {"-profile-check", "python3", "/usr/bin/python3"});
    CHECK(o.code == 2);
    CHECK(o.stderr.find("takes no PROGRAM") != std::string::npos);
  }
}

namespace {

// One Catch2 test case per row, named "language: NAME".
struct LanguageTest : Catch::ITestInvoker {
  explicit LanguageTest(const Language& l) : lang(l) {}
  void invoke() const override { run_language(lang); }
  const Language& lang;
};

const bool kRegistered = [] {
  static std::deque<std::string> names;  // Catch keeps pointers to the names
  for (const auto& lang : kLanguages) {
    names.push_back(lang.name);
    Catch::AutoReg(new LanguageTest(lang), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                   Catch::NameAndTags{Catch::StringRef(names.back()), "[languages]"});
  }
  return true;
}();

}  // namespace
