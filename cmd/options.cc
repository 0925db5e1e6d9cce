#include "options.h"

// CLI11 includes <iostream>, whose static std::ios_base::Init object builds the standard streams
// and, with them, the locale and its facets when the program starts: about 0.15 ms of runprog's
// start, for streams it never uses (it writes with write(2), prints its own help and errors,
// and calls none of CLI11's printing: App::exit, Timer, config output). With libstdc++ the
// header is left out and its stream objects declared instead; anything that would use them is
// an error of runprog's own, caught by its tests (the objects are never constructed).
#if defined(__GLIBCXX__) && !defined(_GLIBCXX_IOSTREAM)
#include <istream>
#include <ostream>
#define _GLIBCXX_IOSTREAM 1
namespace std {
extern istream cin;
extern ostream cout, cerr, clog;
}  // namespace std
#endif
#include <CLI/App.hpp>
#include <CLI/Config.hpp>
#include <CLI/Formatter.hpp>
#include <charconv>
#include <cmath>
#include <cstring>

namespace tracebox::cmd {
namespace {

// The largest limits we take: seconds that fit a nanosecond count, MiB that fit a byte count.
constexpr double kMaxSeconds = 1e9;
constexpr double kMaxMiB = 1099511627776.0;  // 2^40 MiB = 1 EiB

// Every option, once: its name (without dashes), its kind, the field it sets, and its --help
// line. Parsing walks this table; --help is rendered by CLI11 from it. (Parsing does not build a
// CLI11 App: that alone costs ~70 us a run, more than the rest of the option handling together,
// see bench/runprog_bench.cc.)
enum class Kind { kNumber, kText, kList, kFlag, kRunner };

struct OptionDef {
  const char* name;
  Kind kind;
  double Options::*number;
  std::string Options::*text;
  std::vector<std::string> Options::*list;
  bool Options::*flag;
  double max;         // kNumber: the largest value taken
  const char* shown;  // kText: the default as --help shows it
  const char* help;
};

constexpr OptionDef number(const char* name, double Options::*field, double max, const char* help) {
  return {name, Kind::kNumber, field, nullptr, nullptr, nullptr, max, nullptr, help};
}
constexpr OptionDef text(const char* name, std::string Options::*field, const char* shown,
                         const char* help) {
  return {name, Kind::kText, nullptr, field, nullptr, nullptr, 0, shown, help};
}
constexpr OptionDef list(const char* name, std::vector<std::string> Options::*field,
                         const char* help) {
  return {name, Kind::kList, nullptr, nullptr, field, nullptr, 0, nullptr, help};
}
constexpr OptionDef flag(const char* name, bool Options::*field, const char* help) {
  return {name, Kind::kFlag, nullptr, nullptr, nullptr, field, 0, nullptr, help};
}

constexpr OptionDef kOptions[] = {
    number("tl", &Options::tl, kMaxSeconds, "CPU time limit, seconds (decimals allowed)"),
    number("rtl", &Options::rtl, kMaxSeconds, "wall-clock limit, seconds; below -tl it is tl + 2"),
    number("ml", &Options::ml, kMaxMiB, "memory limit, MiB (peak of the process tree)"),
    number("ol", &Options::ol, kMaxMiB, "output limit, MiB (size of each file written)"),
    number("sl", &Options::sl, kMaxMiB, "stack limit, MiB (at most -ml)"),
    text("in", &Options::in, "\"\"", "the program's stdin (\"\": runprog's own)"),
    text("out", &Options::out, "\"\"", "the program's stdout, truncated (\"\": runprog's own)"),
    text("err", &Options::err, "\"\"", "the program's stderr, truncated (\"\": runprog's own)"),
    text("work-path", &Options::work_path, "\"\"",
         "where the program starts (\"\": the current directory)"),
    text("type", &Options::type, "default", "profile: a name (see -profile-dir) or a .json file"),
    text("res", &Options::res, "stdout", "where the result goes: stdout, stderr or a file"),
    list("add-readable", &Options::add_readable,
         "readable file or directory tree (or /proc/self/...); repeatable"),
    list("add-writable", &Options::add_writable,
         "writable file (contents only), or directory tree whose entries may also be created, "
         "renamed and removed; repeatable"),
    list("add-readable-raw", &Options::add_readable_raw,
         "readable file-set entry, verbatim; repeatable"),
    list("add-writable-raw", &Options::add_writable_raw,
         "writable file-set entry, verbatim; repeatable"),
    flag("unsafe", &Options::unsafe, "syscalls the profile does not name fail with EACCES"),
    flag("show-trace-details", &Options::show_trace_details,
         "traced syscalls, violation to stderr"),
    flag("allow-proc", &Options::allow_proc, "allow processes, threads, sleeping (all traced)"),
    flag("memfd", &Options::memfd, "execute a sealed in-memory copy of PROGRAM"),
    text("user", &Options::user_raw, "65534:65534",
         "as root: the program's uid[:gid] (no supplementary groups; never 0)"),
    {"runner", Kind::kRunner, nullptr, nullptr, nullptr, nullptr, 0, "ptrace",
     "ptrace or ns (see Runners below)"},
    flag("cgroup", &Options::cgroup, "accepted for compatibility; no effect"),
    flag("cgroupfd", &Options::cgroupfd, "accepted for compatibility; no effect"),
    flag("cred", &Options::cred, "accepted for compatibility; no effect"),
    flag("nucg", &Options::nucg, "accepted for compatibility; no effect"),
    flag("json", &Options::json, "the result as one JSON object on one line"),
    flag("count", &Options::count, "count every syscall (a table on stderr, or in the JSON)"),
    text("trace-log", &Options::trace_log, "\"\"", "one JSON line per traced syscall to this file"),
    list("profile-dir", &Options::profile_dirs, "look for profiles here first; repeatable"),
    flag("no-cache", &Options::no_cache, "build the seccomp filter afresh (see Filter cache)"),
    flag("batch", &Options::batch,
         "serve run requests: one JSON object a line on stdin, one result a line on stdout"),
    number("j", &Options::jobs, 4096, "-batch: runs at once (0: the CPUs)"),
    text("profile-check", &Options::profile_check, "\"\"",
         "check profile NAME (or a .json file), print what it grants; runs nothing"),
    text("interactor", &Options::interactor, "\"\"",
         "interactive problem: run PROG as the interactor (see Interactive problems)"),
    list("interactor-arg", &Options::interactor_args,
         "an argument for the interactor, after INPUT OUTPUT; repeatable"),
    text("interactor-opts", &Options::interactor_opts, "\"\"",
         "the interactor's own runprog options, e.g. \"-tl 5 -ml 512 -type default\""),
    text("interactor-out", &Options::interactor_out, "\"\"",
         "the output file given to the interactor (\"\": /dev/null)"),
};

const OptionDef* find_option(std::string_view name) {
  for (const auto& o : kOptions)
    if (name == o.name) return &o;
  return nullptr;
}

// A finite, non-negative decimal number no larger than `max` ("1", "0.5", "+2", "1e3"); rejects
// "abc", "1e999", "-1", "nan", "inf", "0x10" and trailing junk. Throws UsageError naming `option`.
double parse_number(const std::string& option, const std::string& s, double max) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') ++b;
  double v = 0;
  auto [p, ec] = std::from_chars(b, e, v);
  auto fail = [&](const char* why) { throw UsageError("-" + option + ": \"" + s + "\" " + why); };
  if (ec == std::errc::result_out_of_range) fail("is out of range");
  if (ec != std::errc() || p != e || b == e || !std::isfinite(v)) fail("is not a number");
  if (v < 0) fail("is negative");
  if (v > max) fail("is too large");
  return v;
}

// Go's strconv.ParseBool.
bool parse_go_bool(const std::string& v, bool& out) {
  static const char* const kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char* const kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (const char* t : kTrue)
    if (v == t) return out = true, true;
  for (const char* f : kFalse)
    if (v == f) return out = false, true;
  return false;
}

constexpr const char* kFooter = R"(
Options take one dash or two, and a value as "-tl 2", "-tl=2" or "--tl=2"; booleans as
"-unsafe" or "-unsafe=false". Option parsing stops at the first argument that is not an option,
or after "--": the rest is PROGRAM and its ARGS (so "runprog -tl 1 ./prog -x" passes -x to
prog). PROGRAM is a path (no PATH lookup); a relative one is relative to the work path, where
the program starts. The profile's "command" goes before it.

Files and policy. -add-readable and -add-writable resolve symlinks (a missing path is an
error); a directory grants its whole tree. Writing a file never allows removing, renaming,
linking, chmod, chown or utime of it: those need the "names" set. -add-writable DIR grants write
on DIR's tree and names on everything below DIR (not DIR's own entry); -add-writable FILE grants
write only (so a program given /dev/null cannot delete or chmod it). /proc/self/... and
/proc/thread-self/... are the program's own entries, added as written; another /proc/<pid> is an
error. The -raw forms add file-set entries as written (write only, no names): "/a/b" the file,
"/a/b/" the tree, "/a/b/*" its children, "/a/b/**" everything below /a/b; relative ones are
relative to the work path.
-unsafe: a syscall the profile does not name fails with EACCES instead of ending the run
(file-check violations and exhausted budgets still end it). -allow-proc adds the profile's
allow_proc list (fork and threads via clone, vfork, wait4, clock_nanosleep...); clone3 fails with
ENOSYS so that glibc uses clone, and every new process and thread is traced; as glibc reserves
each thread's stack at the stack limit's size, the memory limit is then measured only (no
RLIMIT_DATA).
-show-trace-details prints each traced syscall with its decision (every syscall with -count)
and the violation to stderr; it does not change the policy. -memfd runs a sealed copy of
PROGRAM made before the run. Numbers are decimal, finite and not negative; 0 is a limit of
zero (but -sl 0 leaves the stack as it is).

Output: one line "<code> <time_ms> <memory_KiB> <exit_status>" (go-sandbox's runprog): code 0
normal, 2 runtime error (signalled or nonzero exit), 3 memory, 4 time (CPU or wall), 5 output,
6 disallowed syscall, 7 runner error; time is CPU time (user+sys of the whole process tree);
exit_status is the exit code or the signal number. With -json, one JSON object instead:
status, exit_status, signal, time_ms, wall_ms, memory_kb, setup_ms, limit, error,
error_location, errno, violation, and syscalls with -count.

Exit code: 0 with a verdict, 1 on a runner error, 2 on a bad command line or input. SIGINT
or SIGTERM cancels the run: it is killed and reported as a runner error ("cancelled").

Profiles (-type NAME) are NAME.json in, in order: each -profile-dir, the directories of
$TRACEBOX_PROFILE_PATH (colon-separated), the installed and the source profile directories.
A profile with a command (an interpreter, a JVM, a compiler) runs it before PROGRAM and ARGS:
"runprog -type python3 sol.py". PROGRAM naming the command's own file again is dropped
("runprog -type python3 /usr/bin/python3 sol.py" runs sol.py); another executable outside the
work directory in its place is an error. -profile-check NAME checks a profile without running
anything (unknown syscalls, path syscalls the file checker cannot handle, file entries absent on
this machine) and prints what it grants; exit code 0 valid, 1 valid but its command is not
installed, 2 invalid.

Filter cache. The ptrace runner keeps the seccomp filters it builds in $TRACEBOX_CACHE_DIR
(unset: /var/cache/tracebox for root, no cache for other users; set but empty: no cache), which
saves rebuilding one (about 0.3 ms) on later runs. A cached filter is
used only if it and the directory belong to runprog's user and no one else may write them, and
it was built from the same policy by the same runprog, libseccomp and kernel. A run whose
profile or -add-writable lets the program write there does not use the cache, nor does one with
-no-cache; keep the cache out of every run's reach all the same, as such a run could leave a
filter there for the others. Files no run has read for 30 days (those of older builds, say) are
removed when a new filter is stored.

Runners. ptrace (default): every process and thread of the program is traced; CPU time is
exact (sub-second) over the whole tree, memory is the tree's peak RSS, file accesses are checked
against the profile. ns: no tracer; the program runs in new mount, PID, UTS, IPC, network and
cgroup namespaces (and a user namespace when runprog is not root) on a read-only root with
/usr /bin /lib /lib64 /etc/alternatives, /dev/null /dev/zero /dev/random /dev/urandom (nodes of
its own as root, the host's read-only otherwise), a read-only /proc, tmpfs /w (the work
directory) and /tmp (each at most the memory limit), the -add-readable paths (read-only) and
-add-writable paths (read-write) at their own paths; seccomp allows the profile's syscalls and
kills on any other. As root the program runs as 65534 with no capabilities, as pid 2 beside an
init of runprog's. CPU time and memory are sampled every 10 ms over every process of its PID
namespace (children it never waits for, orphans) plus the tmpfs contents; memory counts each
process's peak RSS and page tables. A regular file as stdin is given as a sealed copy, and as
stdout or stderr as an empty memfd written to the file when the run is over (the program cannot
reach the file's earlier contents). An allocation refused by RLIMIT_DATA shows only as the
program's own failure; a syscall violation is reported without the syscall's name.

Interactive problems. -interactor PROG runs PROGRAM (the solution) and PROG (the interactor)
together with testlib's conventions: the interactor runs as "PROG INPUT OUTPUT [ARGS...]" with
INPUT the -in file (the test's input, which the interactor's user must be able to read),
OUTPUT the -interactor-out file (made empty by runprog and, as root, given to the user the
interactor runs as) and ARGS the -interactor-arg values; the interactor's stdout is the
solution's stdin and the solution's stdout is the interactor's stdin. Each runs under its own
profile and limits: the solution under the command line's, the interactor under the options
in -interactor-opts (runprog's defaults where it names none; not -in, -out, -runner, -json,
-res). The solution's output through the pipe is held to its -ol: past it the solution is an
output limit and the interactor reads EOF. Each ends by its own limits (two programs waiting on
each other end by their -rtl). The interactor's exit code decides as testlib's: 0 ok, 1 wrong
answer, 2 presentation error, 3 or anything else a failure. Output: two lines, the solution's
"<code> <time_ms> <memory_KiB> <exit_status>" with code 0 accepted, 1 wrong answer or
presentation error, 2 to 6 the solution's own runtime error or limit, 7 runner error or
judgement failed (the interactor failed); then the interactor's own line. With -json, one
object: {"verdict": "accepted" | "wrong_answer" | "presentation_error" | "runtime_error" |
"time_limit_exceeded" | "memory_limit_exceeded" | "output_limit_exceeded" |
"disallowed_syscall" | "judgement_failed", "solution": {...}, "interactor": {...}}, each
result as a single run's object. A limit or violation of the solution decides first, then the
interactor's wrong answer (a solution killed by the closed pipe after it is still wrong).

Compatibility: -cgroup and -cgroupfd are accepted and change nothing (the tracer already
accounts CPU and memory over the whole process tree); -cred and -nucg only concern go-sandbox's
container runner, which runprog does not have.)";

// Prints the usage line as Go's flag package users know it.
class Formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return "Usage: runprog [options] [--] PROGRAM [ARGS...]\n";
  }
};

constexpr const char* kDescription =
    "runprog: run a program under a judge's limits and syscall policy, and print its verdict.";

}  // namespace

// "UID" or "UID:GID", decimal, each below 2^32 - 1 (the kernel's "no id"); the gid defaults to
// the uid. 0 is refused: root's files and its exemption from permission checks would be the
// program's, which is one of the layers of the security model gone.
std::pair<unsigned, unsigned> parse_user(const std::string& text) {
  auto number = [&](std::string_view part) {
    unsigned long long v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v >= 0xffffffffULL)
      throw UsageError("-user: \"" + text + "\" is not UID or UID:GID (decimal ids)");
    return static_cast<unsigned>(v);
  };
  const auto colon = text.find(':');
  const unsigned uid = number(std::string_view(text).substr(0, colon));
  const unsigned gid =
      colon == std::string::npos ? uid : number(std::string_view(text).substr(colon + 1));
  if (uid == 0 || gid == 0)
    throw UsageError("-user: \"" + text +
                     "\": the program may not run as root (uid or gid 0): it would read and "
                     "write whatever root may");
  return {uid, gid};
}

Options parse_options(std::span<const std::string> args) {
  Options o;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;  // the program
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    if (name.empty() || name[0] == '-' || name[0] == '=')
      throw UsageError("bad option syntax: " + a);
    std::string value;
    const auto eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "h" || name == "help") {
      o.help = true;
      return o;
    }
    const OptionDef* def = find_option(name);
    if (def == nullptr) throw UsageError("unknown option -" + name + " (see runprog --help)");
    if (def->kind == Kind::kFlag) {
      bool on = true;
      if (has_value && !parse_go_bool(value, on))
        throw UsageError("-" + name + ": invalid boolean value \"" + value + "\"");
      o.*def->flag = on;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) throw UsageError("-" + name + " needs a value");
      value = args[++i];
    }
    switch (def->kind) {
      case Kind::kNumber:
        o.*def->number = parse_number(name, value, def->max);
        break;
      case Kind::kText:
        o.*def->text = std::move(value);
        break;
      case Kind::kList:
        (o.*def->list).push_back(std::move(value));
        break;
      case Kind::kRunner:
        if (value == "ptrace") {
          o.runner = RunnerKind::kPtrace;
        } else if (value == "ns") {
          o.runner = RunnerKind::kNs;
        } else {
          throw UsageError("-runner: unknown runner \"" + value + "\" (known: ptrace, ns)");
        }
        break;
      case Kind::kFlag:
        break;
    }
  }
  o.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());

  if (o.type.empty()) throw UsageError("-type: empty profile name");
  if (o.res.empty()) throw UsageError("-res: empty (stdout, stderr or a file)");
  if (o.runner == RunnerKind::kNs && o.count)
    throw UsageError("-count needs the ptrace runner (the ns runner has no tracer)");
  if (o.runner == RunnerKind::kNs && !o.trace_log.empty())
    throw UsageError("-trace-log needs the ptrace runner (the ns runner has no tracer)");
  if (!o.user_raw.empty()) o.user = parse_user(o.user_raw);
  if (o.jobs != std::floor(o.jobs)) throw UsageError("-j: not a whole number");
  if (o.jobs != 0 && !o.batch) throw UsageError("-j needs -batch");
  if (o.batch) {
    if (!o.command.empty())
      throw UsageError("-batch takes no PROGRAM (" + o.command[0] +
                       "): each request names its own");
    if (!o.profile_check.empty() || !o.in.empty() || !o.out.empty() || !o.err.empty() ||
        o.res != "stdout" || o.runner != RunnerKind::kPtrace || o.count || !o.trace_log.empty() ||
        o.memfd || o.show_trace_details || !o.add_readable_raw.empty() ||
        !o.add_writable_raw.empty() || !o.interactor.empty() || !o.interactor_args.empty() ||
        !o.interactor_opts.empty() || !o.interactor_out.empty())
      throw UsageError(
          "-batch takes only -j, -profile-dir, -type, -work-path, -tl, -rtl, -ml, -ol, -sl, "
          "-allow-proc, -unsafe, -user, -add-readable and -add-writable (the defaults of its "
          "requests)");
    return o;
  }
  if (!o.profile_check.empty()) {
    if (!o.command.empty())
      throw UsageError("-profile-check runs nothing: it takes no PROGRAM (" + o.command[0] + ")");
    return o;
  }
  if (o.command.empty())
    throw UsageError("no program given (usage: runprog [options] [--] PROGRAM [ARGS...])");
  if (o.command[0].empty()) throw UsageError("empty program path");
  return o;
}

std::string help_text() {
  CLI::App app(kDescription, "runprog");
  app.set_help_flag();
  app.footer(kFooter);
  auto formatter = std::make_shared<Formatter>();
  formatter->column_width(36);
  app.formatter(formatter);
  Options defaults;
  for (const auto& d : kOptions) {
    const std::string name = std::string("--") + d.name;
    switch (d.kind) {
      case Kind::kNumber: {
        std::string shown = std::to_string(defaults.*d.number);
        shown.erase(shown.find_last_not_of('0') + 1);
        if (shown.back() == '.') shown.pop_back();
        app.add_option(name, d.help)->type_name("NUM")->default_str(shown);
        break;
      }
      case Kind::kText:
      case Kind::kRunner:
        app.add_option(name, d.help)->type_name("TEXT")->default_str(d.shown);
        break;
      case Kind::kList:
        app.add_option(name, d.help)->type_name("PATH")->default_str("none")->expected(0, -1);
        break;
      case Kind::kFlag:
        app.add_flag(name, d.help)->default_str(defaults.*d.flag ? "true" : "false");
        break;
    }
  }
  return app.help();
}

}  // namespace tracebox::cmd
