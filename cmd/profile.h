// Language profiles: data files (JSON) that say what a program of one language may do.
//
//   {
//     "description": "C and C++ programs",
//     "extends": "default",                  // another profile whose lists this one extends
//     "command": ["/usr/bin/python3", "-I", "-B"],   // put before the user's program and args
//     "allow": ["read", "write", ...],       // syscalls allowed (path syscalls: per "files")
//     "deny": {"socket": "EACCES"},          // syscalls that fail with an errno
//     "count": {"set_tid_address": 1},       // syscalls allowed N times
//     "allow_proc": ["clone", "vfork", ...], // added by -allow-proc
//     "files": {"read": [...], "write": [...], "names": [...], "stat": [...], "soft_ban": [...]},
//     "memory_rlimit": true,                 // enforce the memory limit with RLIMIT_DATA too
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
// (the program's absolute path) and ${multiarch} (e.g. x86_64-linux-gnu); "." and ".." in a file
// entry are resolved lexically after substitution ("${work}/../package.json" is the file beside
// the work directory). Unknown keys, unknown syscalls and unknown errno names are errors, so a
// typo cannot silently weaken or break a profile.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tracebox/tracer/policy/judge.h"
#include "tracebox/util/error.h"

namespace tracebox::cmd {

// A profile file that cannot be used; the message names the file and the key.
class ProfileError : public Error {
 public:
  using Error::Error;
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
  std::vector<std::string> env;
};

// Parses one profile document (no "extends" resolution); `origin` names it in errors.
Profile parse_profile(const std::string& text, const std::string& origin);

// Finds and loads a profile: `name_or_path` is a file path (containing '/' or ending in
// ".json") or a name looked up as <dir>/<name>.json in `dirs`, in order. "extends" chains are
// followed (a cycle is an error).
Profile load_profile(const std::string& name_or_path, const std::vector<std::string>& dirs);

// The names of the profiles found in `dirs`.
std::vector<std::string> list_profiles(const std::vector<std::string>& dirs);

// The variables a profile may use.
struct ProfileVars {
  std::string work;
  std::string program;
  std::string multiarch;
};

// The judge policy of `profile` with variables substituted; `allow_proc` adds "allow_proc".
tracer::policy::JudgePolicy to_judge_policy(const Profile& profile, const ProfileVars& vars,
                                            bool allow_proc);

// `text` with ${work}, ${program} and ${multiarch} replaced; an unknown ${...} is an error.
std::string substitute(const std::string& text, const ProfileVars& vars);

// The errno value of a name such as "EACCES", or -1.
int errno_from_name(const std::string& name);

}  // namespace tracebox::cmd
