#include "setup.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "tracebox/rlimit/rlimit.h"

#ifndef TRACEBOX_INSTALLED_PROFILES
#define TRACEBOX_INSTALLED_PROFILES ""
#endif
#ifndef TRACEBOX_SOURCE_PROFILES
#define TRACEBOX_SOURCE_PROFILES ""
#endif

namespace tracebox::cmd {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::uint64_t mib_to_bytes(double mib) {
  return static_cast<std::uint64_t>(std::llround(mib * kMiB));
}

std::chrono::nanoseconds seconds_to_ns(double s) {
  return std::chrono::nanoseconds(std::llround(s * 1e9));
}

// "<option>: <file>: <strerror>".
[[noreturn]] void file_error(const std::string& option, const std::string& file, int err) {
  throw UsageError(option + ": " + file + ": " + errno_text(err));
}

// realpath(3) of `path` (relative to `base`), or an errno.
std::string real_path(const std::string& path, const std::string& base, int& err) {
  const std::string abs = absolute_path(path, base);
  char buf[PATH_MAX];
  if (::realpath(abs.c_str(), buf) == nullptr) {
    err = errno;
    return {};
  }
  err = 0;
  return buf;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A file-set entry for a resolved path: the whole tree for a directory, the file otherwise.
std::string entry_for(const std::string& real) {
  if (!is_directory(real) || real == "/") return real;
  return real + "/";
}

// "/proc/self", "/proc/thread-self" or below: the program's own /proc entry, which only the
// tracer can name (resolving it here would name runprog's). nullopt for any other path; a
// UsageError for another process's /proc/<pid>: no run may be given it.
std::optional<std::string> own_proc_entry(const std::string& option, const std::string& abs) {
  if (!abs.starts_with("/proc/")) return std::nullopt;
  const std::string rest = abs.substr(6);
  const std::string first = rest.substr(0, rest.find('/'));
  if (first == "self" || first == "thread-self") {
    // A directory grants its tree, as for any other path (runprog's own entry has the same
    // shape; lstat: /proc/self/cwd is a link, not the directory it points to).
    struct stat st {};
    const bool dir = ::lstat(abs.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    return dir ? abs + "/" : abs;
  }
  if (!first.empty() && first.find_first_not_of("0123456789") == std::string::npos)
    throw UsageError(option + ": " + abs +
                     ": names another process's /proc entry; a program may be given only its "
                     "own, as /proc/self/... or /proc/thread-self/...");
  return std::nullopt;
}

// A raw entry, verbatim but for a relative path, which is relative to the work path (as in
// go-sandbox); the "/" (tree) and "/*" (children) suffixes are kept.
std::string raw_entry(const std::string& raw, const std::string& work) {
  if (raw.ends_with("/*")) {
    std::string dir = absolute_path(raw.substr(0, raw.size() - 2), work);
    return dir == "/" ? "/*" : dir + "/*";
  }
  if (raw.size() > 1 && raw.ends_with("/")) {
    std::string dir = absolute_path(raw, work);
    return dir == "/" ? "/" : dir + "/";
  }
  return absolute_path(raw, work);
}

UniqueFd open_file(const std::string& option, const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) file_error(option, path, errno);
  return UniqueFd(fd);
}

// A sealed in-memory copy of `path` (go-sandbox's -memfd).
UniqueFd copy_to_memfd(const std::string& path) {
  UniqueFd src(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) file_error("-memfd", path, errno);
  try {
    return sealed_copy(src.get(), "runprog");
  } catch (const SystemError& e) {
    file_error("-memfd", path, e.code());
  }
}

// Where the tracer keeps built seccomp filters: $TRACEBOX_CACHE_DIR if set ("" disables the
// cache), else /var/cache/tracebox for root; no cache otherwise. A cache entry chooses a later
// run's filter, so the cache must be out of reach of every judged program: a user's own cache
// (~/.cache) is exactly where a program run from the home directory could write.
std::string default_cache_dir() {
  if (const char* dir = std::getenv("TRACEBOX_CACHE_DIR")) return dir;
  if (::geteuid() == 0) return "/var/cache/tracebox";
  return {};
}

// `dir` made absolute with its symlinks resolved (when missing: its parent's), or "".
std::string resolve_dir(const std::string& dir, const std::string& cwd) {
  int err = 0;
  std::string real = real_path(dir, cwd, err);
  if (err == 0) return real;
  const std::string abs = absolute_path(dir, cwd);
  const std::size_t slash = abs.rfind('/');
  const std::string parent = real_path(slash == 0 ? "/" : abs.substr(0, slash), "/", err);
  if (err != 0) return {};
  return (parent == "/" ? "" : parent) + abs.substr(slash);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// The user's PROGRAM and ARGS as they follow the profile's command. go-sandbox's habit names the
// interpreter again (runprog -type python3 /usr/bin/python3 sol.py): when PROGRAM is the file the
// command runs (symlinks followed: /usr/bin/python3 is python3.11), it is dropped, so that sol.py
// is what the interpreter runs. Another executable outside the work directory in its place would
// become the interpreter's script or class name: that is refused with a message saying how to call
// the profile.
std::vector<std::string> user_arguments(const Prepared& p,
                                        const std::vector<std::string>& command) {
  if (p.profile.command.empty() || command.empty()) return command;
  const std::string given = absolute_path(command[0], p.work_path);
  if (same_file(given, p.program_real)) return {command.begin() + 1, command.end()};
  struct stat st {};
  int err = 0;
  const std::string real = real_path(given, "/", err);
  const bool in_work = err == 0 && real.starts_with(p.work_path + "/");
  if (err == 0 && !in_work && ::stat(real.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      (st.st_mode & 0111) != 0) {
    std::string runs;
    for (const auto& c : p.profile.command) runs += (runs.empty() ? "" : " ") + c;
    throw UsageError("-type " + p.profile.name + ": the profile runs \"" + runs +
                     "\" before the program's arguments, and " + command[0] +
                     " is another program; give the arguments alone (runprog -type " +
                     p.profile.name + " [options] [--] ARGS..., e.g. the script or class), or " +
                     command[0] + " itself with a profile that has no command");
  }
  return command;
}

}  // namespace

UniqueFd sealed_copy(int src, const char* name) {
  struct stat st {};
  if (::fstat(src, &st) != 0) throw SystemError(errno, "fstat");
  if (!S_ISREG(st.st_mode)) throw SystemError(EACCES, "not a regular file");
  UniqueFd mem(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem) throw SystemError(errno, "memfd_create");
  off_t offset = 0;  // sendfile's own offset: the source's stays where it was
  while (offset < st.st_size) {
    ssize_t n = ::sendfile(mem.get(), src, &offset, static_cast<std::size_t>(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "sendfile");
    if (n == 0) break;  // the file shrank meanwhile: the copy is what was there
  }
  if (::lseek(mem.get(), 0, SEEK_SET) != 0) throw SystemError(errno, "lseek");
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) !=
      0)
    throw SystemError(errno, "F_ADD_SEALS");
  return mem;
}

Environment current_environment() {
  Environment env;
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof buf) != nullptr) env.cwd = buf;
  if (const char* p = std::getenv("TRACEBOX_PROFILE_PATH")) env.profile_path = p;
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string exe(buf, static_cast<std::size_t>(n));
    env.exe_dir = exe.substr(0, exe.rfind('/'));
  }
  return env;
}

std::vector<std::string> profile_dirs(const Options& options, const Environment& env) {
  std::vector<std::string> dirs = options.profile_dirs;
  std::string_view rest = env.profile_path;
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string_view d = rest.substr(0, colon);
    if (!d.empty()) dirs.emplace_back(d);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  if (!env.exe_dir.empty()) {
    std::string relative = absolute_path("../share/tracebox/profiles", env.exe_dir);
    if (relative != TRACEBOX_INSTALLED_PROFILES) dirs.push_back(std::move(relative));
  }
  for (const char* d : {TRACEBOX_INSTALLED_PROFILES, TRACEBOX_SOURCE_PROFILES})
    if (*d != '\0') dirs.emplace_back(d);
  return dirs;
}

std::string absolute_path(const std::string& path, const std::string& base) {
  std::string joined = path.starts_with("/") ? path : base + "/" + path;
  std::vector<std::string_view> parts;
  std::string_view rest = joined;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

void resolve_grants(const std::vector<std::string>& readable,
                    const std::vector<std::string>& writable, const std::string& base,
                    tracer::policy::FileSets& grants, std::vector<std::string>* readable_real,
                    std::vector<std::string>* writable_real, const std::string& readable_name,
                    const std::string& writable_name) {
  int err = 0;
  for (const auto& r : readable) {
    if (auto own = own_proc_entry(readable_name, absolute_path(r, base))) {
      grants.readable.add(*own);  // the ns runner's /proc shows it anyway
      continue;
    }
    std::string real = real_path(r, base, err);
    if (err != 0) file_error(readable_name, r, err);
    own_proc_entry(readable_name, real);  // a link into another process's /proc
    if (readable_real != nullptr) readable_real->push_back(real);
    grants.readable.add(entry_for(real));
  }
  for (const auto& w : writable) {
    if (auto own = own_proc_entry(writable_name, absolute_path(w, base))) {
      grants.writable.add(*own);
      continue;
    }
    std::string real = real_path(w, base, err);
    if (err != 0) file_error(writable_name, w, err);
    own_proc_entry(writable_name, real);
    if (writable_real != nullptr) writable_real->push_back(real);
    // A directory: its tree may be written, and the entries below it (not its own) created,
    // removed and renamed. A file: its contents only (its name stays: /dev/null is not
    // deleted by a program allowed to write it).
    const std::string entry = entry_for(real);
    grants.writable.add(entry);
    if (entry.size() > 1 && entry.ends_with("/")) grants.names.add(entry + "**");
  }
}

std::unique_ptr<Prepared> prepare(const Options& options, const Environment& env) {
  using tracer::policy::load_profile;
  using tracer::policy::substitute;
  auto prep = std::make_unique<Prepared>();
  Prepared& p = *prep;
  p.options = options;
  auto profile_error = [&](const Error& e) -> UsageError {
    return UsageError(std::string("-type: profile ") + p.profile.path + ": " + e.what());
  };

  // The profile.
  try {
    p.profile = load_profile(options.type, profile_dirs(options, env));
  } catch (const ProfileError& e) {
    throw UsageError(std::string("-type: ") + e.what());
  }

  // The work path and the program.
  int err = 0;
  p.work_path = real_path(options.work_path.empty() ? env.cwd : options.work_path, env.cwd, err);
  if (err != 0)
    file_error("-work-path", options.work_path.empty() ? env.cwd : options.work_path, err);
  if (!is_directory(p.work_path)) file_error("-work-path", options.work_path, ENOTDIR);

  tracer::policy::RunRequest request;
  request.work_dir = p.work_path;
  request.cpu = seconds_to_ns(options.tl);
  request.wall = seconds_to_ns(options.rtl);  // below -tl: -tl + 2
  request.memory_bytes = mib_to_bytes(options.ml);
  request.output_bytes = mib_to_bytes(options.ol);
  request.stack_bytes = mib_to_bytes(options.sl);

  ProfileVars vars{p.work_path, "", multiarch(), std::nullopt};
  if (request.memory_bytes > 0)
    vars.memory_mib = std::max<std::uint64_t>(1, request.memory_bytes >> 20);
  try {
    std::string argv0 =
        p.profile.command.empty() ? options.command[0] : substitute(p.profile.command[0], vars);
    p.program = absolute_path(argv0, p.work_path);
    p.program_real = real_path(p.program, "/", err);
    if (err != 0) p.program_real = p.program;  // the run reports the exec failure
    vars.program = p.program_real;
  } catch (const ProfileError& e) {
    throw profile_error(e);
  }
  request.args = user_arguments(p, options.command);

  // The file grants of the command line.
  tracer::policy::FileSets& grants = request.grants;
  resolve_grants(options.add_readable, options.add_writable, env.cwd, grants, &p.readable,
                 &p.writable);
  for (const auto& r : options.add_readable_raw) grants.readable.add(raw_entry(r, p.work_path));
  for (const auto& w : options.add_writable_raw) grants.writable.add(raw_entry(w, p.work_path));

  // The profile prepared by the library, with the filter cache unless this run's program may
  // write there (it would choose later runs' filters): the profile's sets with this run's
  // variables and grants decide.
  tracer::policy::ProfileOptions po;
  po.allow_proc = options.allow_proc;
  po.unsafe = options.unsafe;
  po.counting = options.count ? tracer::Counting::kAll : tracer::Counting::kNone;
  po.memory_limited = options.ml > 0;
  try {
    if (!options.no_cache) {
      const std::string dir = default_cache_dir();
      const std::string real = dir.empty() ? "" : resolve_dir(dir, env.cwd);
      if (!real.empty()) {
        tracer::policy::FileSets all =
            tracer::policy::to_judge_policy(p.profile, vars, options.allow_proc).files;
        grants.readable.for_each([&](const std::string& e) { all.readable.add(e); });
        grants.writable.for_each([&](const std::string& e) { all.writable.add(e); });
        grants.names.for_each([&](const std::string& e) { all.names.add(e); });
        if (!tracer::policy::may_write_in(all, real)) po.filter_cache_dir = real;
      }
    }
    p.prepared = tracer::policy::PreparedProfile::prepare(p.profile, po);
    const ProfileVars run_vars = p.prepared->vars(request);
    p.files = p.prepared->files(run_vars, request);
    p.spec = p.prepared->spec(request, run_vars, p.files);
    if (options.user && p.spec.isolation.user)
      p.spec.isolation.user =
          forkexec::Credential{options.user->first, options.user->second, {}, false};
  } catch (const ConfigError& e) {  // ProfileError too
    throw profile_error(e);
  }

  // The files, in the order a user reads the command line's outcome: the result first.
  if (options.res == "stdout") {
    p.result_fd = 1;
  } else if (options.res == "stderr") {
    p.result_fd = 2;
  } else {
    p.result_file = open_file("-res", options.res, O_WRONLY | O_CREAT | O_TRUNC);
    p.result_fd = p.result_file.get();
  }
  if (!options.in.empty()) p.in = open_file("-in", options.in, O_RDONLY);
  if (!options.out.empty()) p.out = open_file("-out", options.out, O_WRONLY | O_CREAT | O_TRUNC);
  if (!options.err.empty()) {
    if (options.err == options.out) {
      p.err = UniqueFd(::fcntl(p.out.get(), F_DUPFD_CLOEXEC, 3));  // one file, one offset
      if (!p.err) file_error("-err", options.err, errno);
    } else {
      p.err = open_file("-err", options.err, O_WRONLY | O_CREAT | O_TRUNC);
    }
  }
  if (!options.trace_log.empty())
    p.trace_log = open_file("-trace-log", options.trace_log, O_WRONLY | O_CREAT | O_TRUNC);
  if (options.memfd) p.memfd = copy_to_memfd(p.program);

  // What runprog does its own way: its files (held by Prepared for the whole run; the result
  // stream may share one, see SharedStream), -memfd, and -ml 0 as go-sandbox's runprog takes it.
  tracer::Spec& spec = p.spec;
  spec.io = {};
  spec.process.files = {p.in ? p.in.get() : 0, p.out ? p.out.get() : 1, p.err ? p.err.get() : 2};
  if (p.memfd) {
    spec.process.exec_fd = p.memfd.get();
    spec.process.path.clear();
  }
  spec.limits.memory_bytes = request.memory_bytes;
  return prep;
}

}  // namespace tracebox::cmd
