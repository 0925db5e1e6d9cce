// From Options to a run: the profile loaded and substituted, paths resolved, files opened, the
// tracer Spec and the judge policy built. Every bad input is a UsageError naming it, raised
// before anything runs.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "profile.h"
#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/tracer.h"
#include "tracebox/util/unique_fd.h"

namespace tracebox::cmd {

// What runprog reads from its surroundings (kept out of the functions, so that they stay testable).
struct Environment {
  std::string cwd;           // absolute
  std::string profile_path;  // $TRACEBOX_PROFILE_PATH, colon-separated
  std::string exe_dir;       // the directory of runprog's executable ("" if unknown)
};

// The current directory, $TRACEBOX_PROFILE_PATH and the executable's directory.
Environment current_environment();

// Where -type NAME is looked up, in order: each -profile-dir, $TRACEBOX_PROFILE_PATH,
// <exe_dir>/../share/tracebox/profiles (an installed runprog, wherever its prefix went), the
// configured install prefix's profiles, the source tree's.
std::vector<std::string> profile_dirs(const Options& options, const Environment& env);

// ${multiarch} of this build: x86_64-linux-gnu, aarch64-linux-gnu...
const char* multiarch();

// Tag of the rule that stands for -unsafe's default (EACCES) when every syscall is counted.
inline constexpr std::uint16_t kTagUnsafe = 0x100;

// A prepared run. Owns the files it opened; spec.process.files refers to them.
struct Prepared {
  Options options;
  Profile profile;
  std::string work_path;     // absolute, symlinks resolved
  std::string program;       // absolute path of the executed file (the final argv[0])
  std::string program_real;  // its realpath, or `program` when it cannot be resolved
  std::vector<std::string> readable, writable;  // resolved -add-readable/-add-writable
  tracer::policy::JudgePolicy judge;
  tracer::Spec spec;  // ptrace runner: complete but for the observer

  UniqueFd in, out, err, memfd;
  UniqueFd trace_log;
  // Where the result goes: fd 1, fd 2, or the opened -res file (result_file).
  int result_fd = 1;
  UniqueFd result_file;
};

// Everything but running. Throws UsageError (ProfileError and ConfigError from the profile are
// turned into one).
std::unique_ptr<Prepared> prepare(const Options& options, const Environment& env);

// A sealed in-memory copy (memfd_create `name`, at offset 0) of the regular file open as `src`:
// its whole contents, `src`'s offset untouched. Nothing can write, truncate or grow the copy, by
// any fd or any reopening of it (F_SEAL_WRITE, SHRINK, GROW, and SEAL against removing them).
// Throws SystemError (EACCES for a file that is not regular).
UniqueFd sealed_copy(int src, const char* name);

// A path made absolute against `base` and lexically normalised (no "." "..", "//", trailing "/").
std::string absolute_path(const std::string& path, const std::string& base);

// The Handler of a runprog run: the judge, plus -unsafe's EACCES when counting.
class RunHandler : public tracer::policy::JudgeHandler {
 public:
  using JudgeHandler::JudgeHandler;
  tracer::Decision on_syscall(tracer::Context& ctx) override;
};

}  // namespace tracebox::cmd
