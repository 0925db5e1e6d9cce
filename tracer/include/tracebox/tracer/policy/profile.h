// Language profiles: data files (JSON) that say what a program of one language may do, and the
// judge's way of running one: a profile prepared once (filter built, file sets compiled) makes
// the Spec of each run with everything runprog applies.
//
//   {
//     "description": "C and C++ programs",
//     "extends": "default",                  // another profile whose lists this one extends
//     "command": ["/usr/bin/python3", "-I", "-B"],   // put before the user's program and args
//     "allow": ["read", "write", ...],       // syscalls allowed (path syscalls: per "files")
//     "deny": {"socket": "EACCES"},          // syscalls that fail with an errno
//     "count": {"set_tid_address": 1},       // syscalls allowed N times
//     "allow_proc": ["clone", "vfork", ...], // added by -allow-proc (ProfileOptions::allow_proc)
//     "files": {"read": [...], "write": [...], "names": [...], "stat": [...], "soft_ban": [...]},
//     "memory_rlimit": true,                 // enforce the memory limit with RLIMIT_DATA too
//     "oom_exit_status": 3,                  // the runtime's own out-of-memory exit: a memory
//                                            // verdict (Limits::memory_exit_status)
//     "env": ["PATH=/usr/bin:/bin"]          // the program's environment
//   }
//
// The file sets ("/a/b" the file, "/a/b/" the tree, "/a/b/*" the children, "/a/b/**" everything
// below but /a/b itself): "read" may be opened for reading and executed; "write" may be opened
// for writing, created by open(O_CREAT), truncated (and read); "names" are directory entries the
// program may create with mkdir, mknod or symlink, and remove, rename, hard-link, chmod, chown or
// utime (writing a file never allows that: /dev/null is "write" only, and must stay so); "stat"
// may be stat'ed; "soft_ban" fails with EACCES instead of ending the run. A rename or hard link
// may not give a file a name that grants more than the one it had.
//
// File entries, the command and the environment may use ${work} (the work directory), ${program}
// (the program's absolute path), ${multiarch} (e.g. x86_64-linux-gnu) and ${memory_mib} (the
// run's memory limit in MiB, e.g. for the JVM's -Xmx${memory_mib}m); "." and ".." in a file
// entry are resolved lexically after substitution ("${work}/../package.json" is the file beside
// the work directory). Unknown keys, unknown syscalls and unknown errno names are errors, so a
// typo cannot silently weaken or break a profile.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/tracer.h"
#include "tracebox/util/error.h"

// The installed profiles of the package a program was built against: find_package(tracebox)
// defines it for the users of tracebox::tracer (the build tree: the source tree's profiles). It
// is read where profile_dirs() is called, in the caller's code.
#ifndef TRACEBOX_PROFILE_DIR
#define TRACEBOX_PROFILE_DIR ""
#endif

namespace tracebox::tracer::policy {

// A profile file that cannot be used; the message names the file and the key.
class ProfileError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// A profile as read from its file(s), before variables are substituted.
struct Profile {
  std::string name;
  std::string path;  // the file it came from
  std::string description;
  std::vector<std::string> command;
  std::vector<std::string> allow;
  std::map<std::string, int> deny;
  std::map<std::string, std::uint64_t> count;
  std::vector<std::string> allow_proc;
  std::vector<std::string> read, write, names, stat, soft_ban;
  bool memory_rlimit = true;
  std::optional<int> oom_exit_status;
  std::vector<std::string> env;
};

// Parses one profile document (no "extends" resolution); `origin` names it in errors.
Profile parse_profile(const std::string& text, const std::string& origin);

// Where a profile name is looked up, in order: each directory of $TRACEBOX_PROFILE_PATH
// (colon-separated), `installed` (by default the profiles of the package the caller was built
// against), then those of the prefix this library was configured to install into.
std::vector<std::string> profile_dirs(const std::string& installed = TRACEBOX_PROFILE_DIR);

// Finds and loads a profile: `name_or_path` is a file path (containing '/' or ending in
// ".json") or a name looked up as <dir>/<name>.json in `dirs`, in order. "extends" chains are
// followed (a cycle is an error). Throws ProfileError.
Profile load_profile(const std::string& name_or_path,
                     const std::vector<std::string>& dirs = profile_dirs());

// The names of the profiles found in `dirs`.
std::vector<std::string> list_profiles(const std::vector<std::string>& dirs = profile_dirs());

// The variables a profile may use. ${memory_mib} is an error where memory_mib is unset.
struct ProfileVars {
  std::string work;
  std::string program;
  std::string multiarch;
  std::optional<std::uint64_t> memory_mib = std::nullopt;
};

// ${multiarch} of this build: x86_64-linux-gnu, aarch64-linux-gnu...
const char* multiarch();

// The judge policy of `profile` with variables substituted; `allow_proc` adds "allow_proc".
JudgePolicy to_judge_policy(const Profile& profile, const ProfileVars& vars, bool allow_proc);

// `text` with ${work}, ${program}, ${multiarch} and ${memory_mib} replaced; an unknown ${...} is
// an error.
std::string substitute(const std::string& text, const ProfileVars& vars);

// The errno value of a name such as "EACCES", or -1.
int errno_from_name(const std::string& name);

// Whether `files` let a program write in the directory `dir` (absolute, resolved), or replace
// it or a directory leading to it (by a name grant). A filter cache there would let the program
// choose later runs' filters.
bool may_write_in(const FileSets& files, const std::string& dir);

// How a profile is prepared: the choices that change its policy or its filter.
struct ProfileOptions {
  // Add the profile's "allow_proc" syscalls (runprog -allow-proc): processes, threads, sleeping.
  // The memory limit is then measured only (no RLIMIT_DATA: glibc reserves thread stacks).
  bool allow_proc = false;
  // A syscall no rule names fails with EACCES instead of ending the run (runprog -unsafe).
  bool unsafe = false;
  // What the runs count (Counting::kAll traces every allowed syscall: a filter of its own).
  Counting counting = Counting::kNone;
  // Where built filters are kept between processes (seccomp::Builder::cache_dir), "" for none,
  // and beside them the prepared policy (the tracer Policy make_policy makes of the profile's
  // judge policy, with its filters: seccomp::cache_store_record), so that a later process that
  // prepares the same profile with the same options skips both. Not used when the profile's own
  // file sets let a program write there (may_write_in); the grants a run adds (its work
  // directory, RunRequest::grants) are the caller's to check.
  std::string filter_cache_dir;
  // Whether the runs will have a memory limit (RunRequest::memory_bytes > 0), when known: only
  // the filter they need is built (nullopt: with and without the allocation checks of
  // RLIMIT_DATA); a run that differs builds its own.
  std::optional<bool> memory_limited;
};

// What a judge gives for one run of a prepared profile. The defaults are runprog's.
struct RunRequest {
  // The program's working directory and ${work}: resolved (symlinks) against the current
  // directory. It must exist; the program runs as another user when the caller is root
  // (Isolation::user), so it must be theirs to use (readable, writable where the profile writes).
  std::string work_dir = {};
  // The user's program and its arguments, after the profile's command (a script or class name
  // for an interpreter's profile, the program itself otherwise). A relative program is relative
  // to the work directory; no PATH lookup.
  std::vector<std::string> args = {};
  // Standard input, output and error (tracer::Io). Unset streams are /dev/null.
  Io io = {};
  std::chrono::nanoseconds cpu = std::chrono::seconds(1);  // user + sys of the whole tree
  // Below `cpu` (or unset): cpu + 2 s, as runprog's -rtl.
  std::optional<std::chrono::nanoseconds> wall = std::nullopt;
  // Peak memory of the tree; 0: not limited (measured only, and ${memory_mib} is unset).
  std::uint64_t memory_bytes = std::uint64_t{256} << 20;
  // Any file the program writes, RLIMIT_FSIZE (captured output: Output::capture).
  std::uint64_t output_bytes = std::uint64_t{64} << 20;
  // RLIMIT_STACK, capped at memory_bytes; 0 leaves the stack limit as inherited.
  std::uint64_t stack_bytes = std::uint64_t{1} << 30;
  // More file grants for this run, added to the profile's: e.g. a directory the program may
  // fill, as runprog -add-writable grants it: writable "/d/" and names "/d/**".
  FileSets grants = {};
};

// A profile prepared for many runs: the tracer Policy and its seccomp filter built once
// (PreparedPolicy), the file sets compiled once; a run adds only the entries that name its own
// work directory and program. Immutable: one instance serves any number of runs on any threads.
class PreparedProfile {
 public:
  // Loads `name_or_path` (load_profile) and prepares it. Throws ProfileError, or ConfigError for
  // a policy make_policy refuses.
  static std::shared_ptr<const PreparedProfile> load(
      const std::string& name_or_path, const ProfileOptions& options = {},
      const std::vector<std::string>& dirs = profile_dirs());
  // Prepares a loaded profile. Throws ProfileError, ConfigError.
  static std::shared_ptr<const PreparedProfile> prepare(Profile profile,
                                                        const ProfileOptions& options = {});

  // The Spec of one run, with everything runprog applies: the profile's command before
  // `request.args`, its environment (PATH=/usr/local/bin:/usr/bin:/bin when it has none), the work
  // directory, the limits (tasks: 256 alive at once; the profile's oom_exit_status), rlimits
  // (stack capped at the memory limit, 256 open files, no core dumps), RLIMIT_DATA where the
  // profile and the options allow it, no capability, the isolation layers on (Isolation's
  // defaults), the prepared policy, and a JudgeHandler for each run (Spec::make_handler). Throws
  // ProfileError (a variable the profile cannot have) or ConfigError (a work directory that is
  // not one, no program).
  Spec spec(const RunRequest& request) const;

  // The same with the run's variables and file sets already made (vars(request) and
  // files(vars, request), which spec(request) makes itself), for a caller that keeps them.
  Spec spec(const RunRequest& request, const ProfileVars& vars, FileSets files) const;

  // The parts of spec(), for callers that change one.
  // The variables of a run (the work directory and program resolved).
  ProfileVars vars(const RunRequest& request) const;
  // The run's file sets: the prepared ones (shared as FileSet bases, never copied), with the
  // profile's entries that use ${work}, ${program} or ${memory_mib}, and the request's grants.
  FileSets files(const ProfileVars& vars, const RunRequest& request) const;

  const Profile& profile() const { return profile_; }
  const ProfileOptions& options() const { return options_; }
  // The judge policy without the per-run entries, and the tracer policy made of it.
  const std::shared_ptr<const JudgePolicy>& judge() const { return judge_; }
  const std::shared_ptr<const PreparedPolicy>& policy() const { return policy_; }

 private:
  PreparedProfile() = default;
  Profile profile_;
  ProfileOptions options_;
  std::shared_ptr<const JudgePolicy> judge_;
  std::shared_ptr<const PreparedPolicy> policy_;
  // Entries that name per-run variables, substituted per run: read, write, names, stat, soft_ban.
  std::vector<std::string> run_entries_[5];
};

// PreparedProfile::load, the short way: prepare_profile("python3").
inline std::shared_ptr<const PreparedProfile> prepare_profile(
    const std::string& name_or_path, const ProfileOptions& options = {},
    const std::vector<std::string>& dirs = profile_dirs()) {
  return PreparedProfile::load(name_or_path, options, dirs);
}

}  // namespace tracebox::tracer::policy
