// From Options to a run: the profile loaded and prepared (tracer::policy::PreparedProfile, the
// library's judge defaults), paths resolved, files opened, the tracer Spec made. Every bad input
// is a UsageError naming it, raised before anything runs.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/policy/profile.h"
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

using tracer::policy::multiarch;
using tracer::policy::Profile;
using tracer::policy::ProfileError;
using tracer::policy::ProfileVars;

// A prepared run. Owns the files it opened; spec.process.files refers to them.
struct Prepared {
  Options options;
  Profile profile;
  std::string work_path;     // absolute, symlinks resolved
  std::string program;       // absolute path of the executed file (the final argv[0])
  std::string program_real;  // its realpath, or `program` when it cannot be resolved
  std::vector<std::string> readable, writable;  // resolved -add-readable/-add-writable
  // The profile as the library prepared it (policy, filter), and this run's file sets.
  std::shared_ptr<const tracer::policy::PreparedProfile> prepared;
  tracer::policy::FileSets files;
  const tracer::policy::JudgePolicy& judge() const { return *prepared->judge(); }
  // ptrace runner: complete but for the observer (PreparedProfile::spec, with runprog's files).
  tracer::Spec spec;

  UniqueFd in, out, err, memfd;
  UniqueFd trace_log;
  // Where the result goes: fd 1, fd 2, or the opened -res file (result_file).
  int result_fd = 1;
  UniqueFd result_file;
  // The CPUs runprog could run on before it pinned its main thread (SessionOptions::cpus):
  // empty when it did not pin itself.
  std::vector<int> home_cpus;
};

// Everything but running. Throws UsageError (ProfileError and ConfigError from the profile are
// turned into one).
std::unique_ptr<Prepared> prepare(const Options& options, const Environment& env);

// Adds to `grants` the file grants of -add-readable `readable` and -add-writable `writable`
// (relative paths against `base`), as runprog grants them: symlinks resolved (a missing path is
// an error), a directory's whole tree; a writable directory also gets names on everything below
// it (not its own entry), a writable file its contents only; /proc/self/... and
// /proc/thread-self/... added as written (the program's own entries), another process's
// /proc/<pid> refused. The resolved paths are appended to `readable_real` / `writable_real` when
// given. Throws UsageError whose message starts with `readable_name` or `writable_name`.
void resolve_grants(const std::vector<std::string>& readable,
                    const std::vector<std::string>& writable, const std::string& base,
                    tracer::policy::FileSets& grants, std::vector<std::string>* readable_real,
                    std::vector<std::string>* writable_real,
                    const std::string& readable_name = "-add-readable",
                    const std::string& writable_name = "-add-writable");

// A sealed in-memory copy (memfd_create `name`, at offset 0) of the regular file open as `src`:
// its whole contents, `src`'s offset untouched. Nothing can write, truncate or grow the copy, by
// any fd or any reopening of it (F_SEAL_WRITE, SHRINK, GROW, and SEAL against removing them).
// Throws SystemError (EACCES for a file that is not regular).
UniqueFd sealed_copy(int src, const char* name);

// A path made absolute against `base` and lexically normalised (no "." "..", "//", trailing "/").
std::string absolute_path(const std::string& path, const std::string& base);

}  // namespace tracebox::cmd
