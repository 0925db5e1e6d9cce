#include "profile_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "tracebox/tracer/policy/arguments.h"
#include "tracebox/tracer/policy/files.h"
#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/policy/profile.h"

namespace tracebox::cmd {
namespace {

using tracer::policy::substitute;

bool is_signal_syscall(const std::string& name) {
  return name == "kill" || name == "tkill" || name == "tgkill" || name == "rt_sigqueueinfo" ||
         name == "rt_tgsigqueueinfo";
}

// How the policy treats an allowed syscall, as make_policy() will.
std::string treatment(const std::string& name) {
  if (tracer::policy::find_path_syscall(name) != nullptr) return "path-checked";
  if (is_signal_syscall(name)) return "target-checked";
  const auto ruled = tracer::policy::syscalls_with_argument_rules();
  if (std::find(ruled.begin(), ruled.end(), name) != ruled.end()) return "argument rules";
  return "allowed";
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The path an entry names ("/a/b/", "/a/b/*" and "/a/b/**" name the directory /a/b).
std::string entry_path(const std::string& entry) {
  std::string path = entry;
  for (const char* suffix : {"/**", "/*", "/"}) {
    const std::string s = suffix;
    if (path.size() > s.size() && path.ends_with(s)) {
      path.resize(path.size() - s.size());
      break;
    }
  }
  return path.empty() ? "/" : path;
}

std::string entry_kind(const std::string& entry) {
  if (entry == "/") return "the root directory itself";
  if (entry.ends_with("/**")) return "everything below";
  if (entry.ends_with("/*")) return "its entries";
  if (entry.ends_with("/")) return "the tree";
  return "exactly";
}

}  // namespace

int check_profile(const Options& options, const Environment& env, std::string& out) {
  Profile profile;
  try {
    profile = tracer::policy::load_profile(options.profile_check, profile_dirs(options, env));
  } catch (const ProfileError& e) {
    out += std::string("invalid: ") + e.what() + "\n";
    return kProfileInvalid;
  }
  out += "profile " + profile.name + ": " + profile.path + "\n";
  out += "description: " + profile.description + "\n";

  const std::string work =
      absolute_path(options.work_path.empty() ? env.cwd : options.work_path, env.cwd);
  ProfileVars vars{work, "", multiarch(), std::nullopt};
  if (options.ml > 0)
    vars.memory_mib = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(options.ml));
  std::string problems;
  std::string command_missing;
  try {
    if (!profile.command.empty()) {
      const std::string program = substitute(profile.command[0], vars);
      char real[PATH_MAX];
      vars.program = ::realpath(program.c_str(), real) != nullptr ? real : program;
      struct stat st {};
      if (::stat(program.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)
        command_missing = program;
      std::vector<std::string> command;
      for (const auto& c : profile.command) command.push_back(substitute(c, vars));
      out += "command: " + joined(command) + " ARGS..." +
             (command_missing.empty() ? "" : "  [not on this machine]") + "\n";
    } else {
      vars.program = work + "/PROGRAM";
      out += "command: PROGRAM ARGS... (the user's program, run as given)\n";
    }
    for (const auto& e : profile.env) out += "env: " + substitute(e, vars) + "\n";
  } catch (const ProfileError& e) {
    out += std::string("invalid: ") + e.what() + "\n";
    return kProfileInvalid;
  }
  out += std::string("memory_rlimit: ") + (profile.memory_rlimit ? "true" : "false") + "\n";
  if (profile.oom_exit_status)
    out += "oom_exit_status: " + std::to_string(*profile.oom_exit_status) + " (a memory verdict)\n";

  // The policy and its filter, as a run prepares them, without and with -allow-proc.
  for (bool allow_proc : {false, true}) {
    try {
      tracer::policy::ProfileOptions po;
      po.allow_proc = allow_proc;
      tracer::policy::PreparedProfile::prepare(profile, po);
    } catch (const std::exception& e) {
      problems +=
          std::string("invalid") + (allow_proc ? " with -allow-proc" : "") + ": " + e.what() + "\n";
    }
  }
  if (!problems.empty()) {
    out += problems;
    return kProfileInvalid;
  }

  std::vector<std::string> kinds = {"allowed", "argument rules", "path-checked", "target-checked"};
  for (const auto& kind : kinds) {
    std::vector<std::string> names;
    for (const auto& s : profile.allow)
      if (treatment(s) == kind) names.push_back(s);
    if (!names.empty())
      out +=
          "syscalls, " + kind + " (" + std::to_string(names.size()) + "): " + joined(names) + "\n";
  }
  std::vector<std::string> proc;
  for (const auto& s : profile.allow_proc)
    if (std::find(profile.allow.begin(), profile.allow.end(), s) == profile.allow.end() &&
        !profile.deny.count(s) && !profile.count.count(s))
      proc.push_back(s);
  if (!proc.empty()) out += "syscalls with -allow-proc: " + joined(proc) + "\n";
  for (const auto& [name, err] : profile.deny) {
    const char* e = strerrorname_np(err);
    out += "syscall " + name + " fails with " + (e != nullptr ? e : std::to_string(err)) + "\n";
  }
  for (const auto& [name, n] : profile.count)
    out += "syscall " + name + " allowed " + std::to_string(n) + " time(s)\n";

  // The file sets, each entry looked up on this machine.
  int absent = 0;
  const std::pair<const char*, const std::vector<std::string>*> sets[] = {
      {"read", &profile.read},
      {"write", &profile.write},
      {"names", &profile.names},
      {"stat", &profile.stat},
      {"soft_ban", &profile.soft_ban}};
  for (const auto& [set, entries] : sets) {
    for (const auto& raw : *entries) {
      std::string entry;
      try {
        entry = substitute(raw, vars);
      } catch (const ProfileError& e) {
        out += std::string("invalid: ") + e.what() + "\n";
        return kProfileInvalid;
      }
      const std::string path = absolute_path(entry_path(entry), "/");
      struct stat st {};
      const bool exists = ::lstat(path.c_str(), &st) == 0;
      const bool needs_dir = entry != path && entry != "/";
      std::string note;
      if (!exists) {
        // A soft-banned name is usually one a runtime probes and must not get: absent is fine.
        note = std::string(set) == "soft_ban" ? "  (absent here)" : "  ABSENT here";
        if (std::string(set) != "soft_ban") ++absent;
      } else if (needs_dir && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
        note = "  NOT A DIRECTORY here";
        ++absent;
      }
      out +=
          "files." + std::string(set) + ": " + entry + " (" + entry_kind(entry) + ")" + note + "\n";
    }
  }

  if (!command_missing.empty()) {
    out += "verdict: valid, but its command " + command_missing +
           " is not on this machine (is the runtime installed?)\n";
    return kProfileNotInstalled;
  }
  out += "verdict: valid";
  if (absent > 0)
    out += "; " + std::to_string(absent) +
           " granted name(s) absent here (a runtime's probes of files that may not exist are "
           "granted on purpose; check the others for typos)";
  out += "\n";
  return kProfileValid;
}

}  // namespace tracebox::cmd
