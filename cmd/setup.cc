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

// Whether the run's file policy lets the program write in `dir` (resolved), or replace `dir` or
// a directory leading to it.
bool run_may_write(const tracer::policy::FileSets& files, const std::string& dir) {
  // Written in place, or renamed or linked into place (names).
  for (const auto* set : {&files.writable, &files.names}) {
    if (set->contains(dir + "/0000000000000000.bpf")) return true;
    for (std::string d = dir; !d.empty(); d.resize(d.rfind('/')))
      if (set->contains(d)) return true;
  }
  return false;
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

const char* multiarch() {
#if defined(__x86_64__)
  return "x86_64-linux-gnu";
#elif defined(__aarch64__)
  return "aarch64-linux-gnu";
#elif defined(__i386__)
  return "i386-linux-gnu";
#elif defined(__arm__)
  return "arm-linux-gnueabihf";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64-linux-gnu";
#else
#error "unknown multiarch triplet for this architecture"
#endif
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

tracer::Decision RunHandler::on_syscall(tracer::Context& ctx) {
  if (ctx.tag() == kTagUnsafe) return tracer::Decision::deny(EACCES);
  return JudgeHandler::on_syscall(ctx);
}

std::unique_ptr<Prepared> prepare(const Options& options, const Environment& env) {
  auto prep = std::make_unique<Prepared>();
  Prepared& p = *prep;
  p.options = options;

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

  ProfileVars vars{p.work_path, "", multiarch()};
  std::vector<std::string> args;
  try {
    std::string argv0 =
        p.profile.command.empty() ? options.command[0] : substitute(p.profile.command[0], vars);
    p.program = absolute_path(argv0, p.work_path);
    p.program_real = real_path(p.program, "/", err);
    if (err != 0) p.program_real = p.program;  // the run reports the exec failure
    vars.program = p.program_real;
    for (const auto& c : p.profile.command) args.push_back(substitute(c, vars));
  } catch (const ProfileError& e) {
    throw UsageError(std::string("-type: profile ") + p.profile.path + ": " + e.what());
  }
  const std::vector<std::string> user = user_arguments(p, options.command);
  args.insert(args.end(), user.begin(), user.end());

  // The file policy.
  try {
    p.judge = to_judge_policy(p.profile, vars, options.allow_proc);
  } catch (const ProfileError& e) {
    throw UsageError(std::string("-type: profile ") + p.profile.path + ": " + e.what());
  }
  for (const auto& r : options.add_readable) {
    if (auto own = own_proc_entry("-add-readable", absolute_path(r, env.cwd))) {
      p.judge.files.readable.add(*own);  // the ns runner's /proc shows it anyway
      continue;
    }
    std::string real = real_path(r, env.cwd, err);
    if (err != 0) file_error("-add-readable", r, err);
    own_proc_entry("-add-readable", real);  // a link into another process's /proc
    p.readable.push_back(real);
    p.judge.files.readable.add(entry_for(real));
  }
  for (const auto& w : options.add_writable) {
    if (auto own = own_proc_entry("-add-writable", absolute_path(w, env.cwd))) {
      p.judge.files.writable.add(*own);
      continue;
    }
    std::string real = real_path(w, env.cwd, err);
    if (err != 0) file_error("-add-writable", w, err);
    own_proc_entry("-add-writable", real);
    p.writable.push_back(real);
    // A directory: its tree may be written, and the entries below it (not its own) created,
    // removed and renamed. A file: its contents only (its name stays: /dev/null is not
    // deleted by a program allowed to write it).
    const std::string entry = entry_for(real);
    p.judge.files.writable.add(entry);
    if (entry.size() > 1 && entry.ends_with("/")) p.judge.files.names.add(entry + "**");
  }
  for (const auto& r : options.add_readable_raw)
    p.judge.files.readable.add(raw_entry(r, p.work_path));
  for (const auto& w : options.add_writable_raw)
    p.judge.files.writable.add(raw_entry(w, p.work_path));

  tracer::Spec& spec = p.spec;
  try {
    spec.policy = tracer::policy::make_policy(p.judge);
  } catch (const ConfigError& e) {
    throw UsageError(std::string("-type: profile ") + p.profile.path + ": " + e.what());
  }
  if (options.unsafe) {
    spec.policy.default_action =
        options.count ? seccomp::Action::trace(kTagUnsafe) : seccomp::Action::error(EACCES);
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

  // The process.
  forkexec::Runner& proc = spec.process;
  proc.args = std::move(args);
  if (p.memfd) {
    proc.exec_fd = p.memfd.get();
  } else if (proc.args[0] != p.program) {
    proc.path = p.program;  // relative to the work path, whatever the child's cwd
  }
  if (p.profile.env.empty()) proc.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  try {
    for (const auto& e : p.profile.env) proc.env.push_back(substitute(e, vars));
  } catch (const ProfileError& e) {
    throw UsageError(std::string("-type: profile ") + p.profile.path + ": " + e.what());
  }
  proc.files = {p.in ? p.in.get() : 0, p.out ? p.out.get() : 1, p.err ? p.err.get() : 2};
  proc.work_dir = p.work_path;
  // The program needs no capability: as root, runprog would otherwise hand it all of them.
  proc.drop_caps = true;
  rlimit::Limits rl;
  // As in go-sandbox, a stack limit of 0 leaves the stack as inherited (a zero RLIMIT_STACK
  // would fail the exec itself).
  if (const double stack = std::min(options.sl, options.ml); stack > 0)
    rl.stack_bytes = mib_to_bytes(stack);
  rl.open_files = 256;
  rl.disable_core = true;
  proc.rlimits = rlimit::prepare(rl);

  // Limits: the tracer adds the rlimit backstops (CPU, data, file size).
  spec.limits.cpu = seconds_to_ns(options.tl);
  spec.limits.wall = seconds_to_ns(options.rtl < options.tl ? options.tl + 2 : options.rtl);
  spec.limits.memory_bytes = mib_to_bytes(options.ml);
  spec.limits.output_bytes = mib_to_bytes(options.ol);
  // Processes and threads alive at once: a fork bomb is a violation (RLIMIT_NPROC cannot bind
  // root). Enough for a JVM's threads and a compiler's processes.
  spec.limits.tasks = 256;
  // glibc reserves each thread's stack at the stack limit's size, which RLIMIT_DATA counts: with
  // threads allowed, the memory limit is enforced by measurement alone. So it is for -ml 0 (a zero
  // RLIMIT_DATA would fail the exec itself; go-sandbox leaves a zero rlimit unset too).
  spec.memory_rlimit = p.profile.memory_rlimit && !options.allow_proc && options.ml > 0;
  spec.counting = options.count ? tracer::Counting::kAll : tracer::Counting::kNone;
  // The filter cache, unless the program may write there: it would choose later runs' filters.
  if (!options.no_cache) {
    const std::string dir = default_cache_dir();
    const std::string real = dir.empty() ? "" : resolve_dir(dir, env.cwd);
    if (!real.empty() && !run_may_write(p.judge.files, real)) spec.filter_cache_dir = real;
  }
  return prep;
}

}  // namespace tracebox::cmd
