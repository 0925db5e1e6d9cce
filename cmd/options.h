// runprog's command line: go-sandbox's runprog flags (one dash or two) plus our own, parsed into a
// plain Options value. Parsing is a pure function of the arguments: no exit(), no I/O, no global
// state, so that it can be tested and fuzzed directly.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tracebox/util/error.h"

namespace tracebox::cmd {

// A bad command line or a bad input named on it; the message is one line naming the option or
// the file. runprog prints it and exits with 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

enum class RunnerKind { kPtrace, kNs };

struct Options {
  // Limits, as go-sandbox's runprog takes them (decimals allowed everywhere).
  double tl = 1;     // CPU seconds
  double rtl = 0;    // wall seconds; below tl it becomes tl + 2
  double ml = 256;   // memory, MiB
  double ol = 64;    // output (file size), MiB
  double sl = 1024;  // stack, MiB, capped at ml
  // Files for the program's fd 0, 1, 2; empty: runprog's own.
  std::string in, out, err;
  std::string work_path;  // empty: the current directory
  std::string type = "default";
  std::string res = "stdout";                                   // "stdout", "stderr" or a file
  std::vector<std::string> add_readable, add_writable;          // realpath-resolved
  std::vector<std::string> add_readable_raw, add_writable_raw;  // verbatim
  bool unsafe = false;
  bool show_trace_details = false;
  bool allow_proc = false;
  bool memfd = false;
  RunnerKind runner = RunnerKind::kPtrace;
  // Accepted for compatibility with go-sandbox's runprog; they change nothing here (see --help).
  bool cgroup = false, cgroupfd = false, cred = false, nucg = false;

  // Beyond go-sandbox.
  bool json = false;
  bool count = false;
  std::string trace_log;
  std::vector<std::string> profile_dirs;
  bool no_cache = false;  // build the seccomp filter afresh, and keep no copy
  // -profile-check NAME: check the profile and print what it grants; no program, nothing runs.
  std::string profile_check;
  // -interactor PROG: an interactive problem (cmd/interactive.h). The interactor's extra
  // arguments (after INPUT OUTPUT), its own runprog options (whitespace-separated), and the
  // output file testlib gives it ("": /dev/null).
  // -user UID[:GID]: who the program runs as when runprog is root (default 65534:65534, no
  // supplementary groups); parsed into `user`. Never 0.
  std::string user_raw;
  std::optional<std::pair<unsigned, unsigned>> user;
  std::string interactor;
  std::vector<std::string> interactor_args;
  std::string interactor_opts;
  std::string interactor_out;

  // -batch: serve JSON run requests on stdin, one JSON result a line on stdout (cmd/batch.h);
  // -j N: runs at once (0: the CPUs this process may use).
  bool batch = false;
  double jobs = 0;

  // PROGRAM and its ARGS: everything from the first non-option argument or after "--".
  std::vector<std::string> command;
  bool help = false;  // -h, -help, --help: print help_text() and exit 0
};

// Parses `args` (argv without argv[0]). Like Go's flag package, option parsing stops at the first
// argument that is not an option, or after "--"; the rest is the command. Options take one dash
// or two, and a value as "-tl 2", "-tl=2" or "--tl=2"; booleans as "-unsafe" or
// "-unsafe=false". Throws UsageError.
Options parse_options(std::span<const std::string> args);

// The --help text: every option with its default.
std::string help_text();

}  // namespace tracebox::cmd
