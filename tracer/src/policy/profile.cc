#include "tracebox/tracer/policy/profile.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "../filter.h"
#include "tracebox/rlimit/rlimit.h"
#include "tracebox/seccomp/filter.h"

namespace tracebox::tracer::policy {
namespace {

using nlohmann::json;

// Plain open/read: an ifstream costs more than parsing the profile (runprog's start-up is
// measured), and a directory named like a profile must not count as one.
std::string read_text(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ProfileError("profile " + path + ": cannot be read: " + errno_text(errno));
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw ProfileError("profile " + path + ": cannot be read: " + errno_text(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

class Reader {
 public:
  Reader(const json& doc, std::string origin) : doc_(doc), origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ProfileError("profile " + origin_ + ": \"" + key + "\" " + what);
  }

  std::string string(const json& v, const std::string& key) const {
    if (!v.is_string()) fail(key, "must be a string");
    std::string s = v.get<std::string>();
    if (s.find('\0') != std::string::npos) fail(key, "contains a NUL byte");
    return s;
  }

  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    const json& v = doc_.at(key);
    if (!v.is_array()) fail(key, "must be a list of strings");
    for (const auto& e : v) out.push_back(string(e, key));
    return out;
  }

  void check_syscall(const std::string& name, const std::string& key) const {
    if (seccomp::syscall_number(seccomp::native_arch(), name) < 0)
      fail(key, "names an unknown syscall \"" + name + "\"");
  }

  std::vector<std::string> syscalls(const std::string& key) const {
    auto names = strings(key);
    for (const auto& n : names) check_syscall(n, key);
    return names;
  }

  const json& doc() const { return doc_; }
  const std::string& origin() const { return origin_; }

 private:
  const json& doc_;
  std::string origin_;
};

// `child` extends `base`: lists add up (without duplicates), maps merge, scalars override.
Profile merge(Profile base, const Profile& child, const std::set<std::string>& child_keys) {
  Profile p = std::move(base);
  p.name = child.name;
  p.path = child.path;
  if (child_keys.count("description")) p.description = child.description;
  if (child_keys.count("command")) p.command = child.command;
  if (child_keys.count("memory_rlimit")) p.memory_rlimit = child.memory_rlimit;
  if (child_keys.count("oom_exit_status")) p.oom_exit_status = child.oom_exit_status;
  if (child_keys.count("env")) p.env = child.env;
  auto add_unique = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
    for (const auto& s : from)
      if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
  };
  add_unique(p.allow, child.allow);
  add_unique(p.allow_proc, child.allow_proc);
  add_unique(p.read, child.read);
  add_unique(p.write, child.write);
  add_unique(p.names, child.names);
  add_unique(p.stat, child.stat);
  add_unique(p.soft_ban, child.soft_ban);
  for (const auto& [k, v] : child.deny) p.deny[k] = v;
  for (const auto& [k, v] : child.count) p.count[k] = v;
  // A syscall moved by the child to another list leaves the base's.
  for (const auto& [k, v] : child.deny) {
    std::erase(p.allow, k);
    p.count.erase(k);
  }
  for (const auto& [k, v] : child.count) {
    std::erase(p.allow, k);
    p.deny.erase(k);
  }
  for (const auto& k : child.allow) {
    p.deny.erase(k);
    p.count.erase(k);
  }
  return p;
}

struct Parsed {
  Profile profile;
  std::string extends;
  std::set<std::string> keys;
};

Parsed parse(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse errors, and numbers out of range (fuzzing)
    throw ProfileError("profile " + origin + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object()) throw ProfileError("profile " + origin + ": must be a JSON object");
  Reader r(doc, origin);
  Parsed out;
  Profile& p = out.profile;
  p.path = origin;
  static const std::set<std::string> kKeys = {
      "description", "extends", "command", "allow",         "deny",           "count",
      "allow_proc",  "files",   "env",     "memory_rlimit", "oom_exit_status"};
  for (const auto& [key, value] : doc.items()) {
    if (!kKeys.count(key)) r.fail(key, "is not a profile key");
    out.keys.insert(key);
  }
  if (doc.contains("description")) p.description = r.string(doc["description"], "description");
  if (doc.contains("extends")) out.extends = r.string(doc["extends"], "extends");
  if (doc.contains("command")) p.command = r.strings("command");
  if (doc.contains("allow")) p.allow = r.syscalls("allow");
  if (doc.contains("allow_proc")) p.allow_proc = r.syscalls("allow_proc");
  if (doc.contains("env")) p.env = r.strings("env");
  if (doc.contains("memory_rlimit")) {
    if (!doc["memory_rlimit"].is_boolean()) r.fail("memory_rlimit", "must be true or false");
    p.memory_rlimit = doc["memory_rlimit"].get<bool>();
  }
  if (doc.contains("oom_exit_status")) {
    const json& v = doc["oom_exit_status"];
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 255)
      r.fail("oom_exit_status", "must be an exit status from 1 to 255");
    p.oom_exit_status = v.get<int>();
  }
  if (doc.contains("deny")) {
    if (!doc["deny"].is_object()) r.fail("deny", "must map syscalls to errno names");
    for (const auto& [name, value] : doc["deny"].items()) {
      r.check_syscall(name, "deny");
      int err = -1;
      if (value.is_string()) err = errno_from_name(value.get<std::string>());
      if (value.is_number_integer() && value.get<long long>() > 0 && value.get<long long>() < 4096)
        err = value.get<int>();
      if (err <= 0) r.fail("deny", "gives " + name + " an unknown errno " + value.dump());
      p.deny[name] = err;
    }
  }
  if (doc.contains("count")) {
    if (!doc["count"].is_object()) r.fail("count", "must map syscalls to counts");
    for (const auto& [name, value] : doc["count"].items()) {
      r.check_syscall(name, "count");
      if (!value.is_number_unsigned())
        r.fail("count", "gives " + name + " a count that is not a whole number");
      p.count[name] = value.get<std::uint64_t>();
    }
  }
  if (doc.contains("files")) {
    const json& f = doc["files"];
    if (!f.is_object())
      r.fail("files", "must be an object with read, write, names, stat, soft_ban");
    Reader fr(f, origin);
    for (const auto& [key, value] : f.items()) {
      std::vector<std::string>* to = key == "read"       ? &p.read
                                     : key == "write"    ? &p.write
                                     : key == "names"    ? &p.names
                                     : key == "stat"     ? &p.stat
                                     : key == "soft_ban" ? &p.soft_ban
                                                         : nullptr;
      if (to == nullptr) r.fail("files", "has an unknown set \"" + key + "\"");
      *to = fr.strings(key);
    }
  }
  return out;
}

std::string find_file(const std::string& name, const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    std::string path = d + "/" + name + ".json";
    if (file_exists(path)) return path;
  }
  return {};
}

bool is_path(const std::string& s) {
  return s.find('/') != std::string::npos || s.ends_with(".json");
}

// `path` ("/..." or relative) as an absolute path with ".", ".." and empty components dropped.
std::string normal_entry_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (at <= path.size()) {
    std::size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    const std::string part = path.substr(at, slash - at);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    at = slash + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

// A file-set entry with "." and ".." resolved lexically (after substitution, "${work}/.." is the
// work directory's parent); its "/", "/*" or "/**" suffix is kept.
std::string normal_entry(const std::string& entry) {
  if (entry.find("/.") == std::string::npos) return entry;
  std::string suffix;
  std::string path = entry;
  for (const char* s : {"/**", "/*", "/"}) {
    if (path.size() > std::strlen(s) && path.ends_with(s)) {
      suffix = s;
      path.resize(path.size() - suffix.size());
      break;
    }
  }
  const std::string out = normal_entry_path(path);
  if (out.empty()) return suffix.empty() ? "/" : "/" + suffix.substr(1);
  return out + suffix;
}

// A path made absolute against `base` and lexically normalised (no ".", "..", "//", trailing "/").
std::string absolute_path(const std::string& path, const std::string& base) {
  const std::string out = normal_entry_path(path.starts_with("/") ? path : base + "/" + path);
  return out.empty() ? "/" : out;
}

// realpath(3), or "" with errno set.
std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return {};
  return buf;
}

std::string current_dir() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) != nullptr ? std::string(buf) : std::string("/");
}

// Whether a file entry names a variable that differs between runs.
bool per_run(const std::string& entry) {
  return entry.find("${work}") != std::string::npos ||
         entry.find("${program}") != std::string::npos ||
         entry.find("${memory_mib}") != std::string::npos;
}

// The profile's five file lists, in FileSets' order: readable, writable, names, statable,
// soft_banned.
std::array<const std::vector<std::string>*, 5> file_lists(const Profile& p) {
  return {&p.read, &p.write, &p.names, &p.stat, &p.soft_ban};
}
std::array<FileSet*, 5> file_sets(FileSets& f) {
  return {&f.readable, &f.writable, &f.names, &f.statable, &f.soft_banned};
}

// The cache key of the prepared policy of `judge` (cache_record_key: this build, libseccomp, the
// kernel) with `po`: everything make_policy and the filters read, "" when nothing is cached.
std::string prepared_policy_key(const JudgePolicy& judge, const PrepareOptions& po) {
  std::string start = seccomp::cache_record_key("tracebox prepared policy",
                                                reinterpret_cast<const void*>(&make_policy));
  if (start.empty()) return start;
  tracer::detail::ByteWriter key(std::move(start));
  key.u(judge.allow.size(), 4);
  for (const auto& s : judge.allow) key.text(s);
  key.u(judge.deny.size(), 4);
  for (const auto& [s, err] : judge.deny) {
    key.text(s);
    key.u(static_cast<std::uint32_t>(err), 4);
  }
  key.u(judge.budgets.size(), 4);
  for (const auto& [s, n] : judge.budgets) {
    key.text(s);
    key.u(n, 8);
  }
  key.u(judge.enforce_compat_abis, 1);
  key.hints(judge.unknown_hint, judge.hints);
  key.u(static_cast<std::uint32_t>(judge.unknown_errno), 4);
  key.u(static_cast<std::uint8_t>(po.counting), 1);
  key.u(po.trace_fork, 1);
  key.u(po.data_rlimit ? (*po.data_rlimit ? 2 : 1) : 0, 1);
  return key.take();
}

// Everything of the judge policy but the file sets.
JudgePolicy judge_without_files(const Profile& profile, bool allow_proc) {
  JudgePolicy j;
  j.allow = profile.allow;
  if (allow_proc)
    for (const auto& s : profile.allow_proc)
      if (std::find(j.allow.begin(), j.allow.end(), s) == j.allow.end() && !profile.deny.count(s) &&
          !profile.count.count(s))
        j.allow.push_back(s);
  j.deny = profile.deny;
  j.budgets = profile.count;
  j.unknown_hint = "add \"{}\" to the \"allow\" list of profile " + profile.path;
  if (!allow_proc)
    for (const auto& s : profile.allow_proc)
      j.hints[s] = "runprog -allow-proc allows it (processes, threads and sleeping)";
  return j;
}

}  // namespace

Profile parse_profile(const std::string& text, const std::string& origin) {
  return parse(text, origin).profile;
}

Profile load_profile(const std::string& name_or_path, const std::vector<std::string>& dirs) {
  std::vector<Parsed> chain;
  std::set<std::string> seen;
  std::string next = name_or_path;
  while (!next.empty()) {
    std::string path = is_path(next) ? next : find_file(next, dirs);
    if (path.empty()) {
      std::string known;
      for (const auto& n : list_profiles(dirs)) known += (known.empty() ? "" : ", ") + n;
      throw ProfileError("unknown profile \"" + next +
                         "\" (known: " + (known.empty() ? "none found" : known) + ")");
    }
    if (!seen.insert(path).second)
      throw ProfileError("profile " + path + ": \"extends\" makes a cycle");
    Parsed parsed = parse(read_text(path), path);
    std::string base = path.substr(path.rfind('/') + 1);
    parsed.profile.name = base.ends_with(".json") ? base.substr(0, base.size() - 5) : base;
    next = parsed.extends;
    chain.push_back(std::move(parsed));
  }
  Profile p;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    p = merge(std::move(p), it->profile, it->keys);
  return p;
}

std::vector<std::string> list_profiles(const std::vector<std::string>& dirs) {
  std::set<std::string> names;
  for (const auto& d : dirs) {
    DIR* dir = ::opendir(d.c_str());
    if (dir == nullptr) continue;
    while (dirent* e = ::readdir(dir)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.ends_with(".json")) names.insert(n.substr(0, n.size() - 5));
    }
    ::closedir(dir);
  }
  return {names.begin(), names.end()};
}

std::string substitute(const std::string& text, const ProfileVars& vars) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") != 0) {
      out.push_back(text[i++]);
      continue;
    }
    auto end = text.find('}', i);
    if (end == std::string::npos) throw ProfileError("unterminated ${ in \"" + text + "\"");
    std::string name = text.substr(i + 2, end - i - 2);
    if (name == "work")
      out += vars.work;
    else if (name == "program")
      out += vars.program;
    else if (name == "multiarch")
      out += vars.multiarch;
    else if (name == "memory_mib" && vars.memory_mib)
      out += std::to_string(*vars.memory_mib);
    else if (name == "memory_mib")
      throw ProfileError("${memory_mib} in \"" + text + "\" needs a memory limit");
    else
      throw ProfileError("unknown variable ${" + name + "} in \"" + text + "\"");
    i = end + 1;
  }
  return out;
}

JudgePolicy to_judge_policy(const Profile& profile, const ProfileVars& vars, bool allow_proc) {
  JudgePolicy j = judge_without_files(profile, allow_proc);
  const auto lists = file_lists(profile);
  const auto sets = file_sets(j.files);
  for (std::size_t i = 0; i < lists.size(); ++i)
    for (const auto& e : *lists[i]) sets[i]->add(normal_entry(substitute(e, vars)));
  return j;
}

int errno_from_name(const std::string& name) {
  for (int e = 1; e < 4096; ++e) {
    const char* n = strerrorname_np(e);
    if (n != nullptr && name == n) return e;
  }
  return -1;
}

}  // namespace tracebox::tracer::policy

namespace tracebox::tracer::policy {

std::vector<std::string> profile_dirs(const std::string& installed) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("TRACEBOX_PROFILE_PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (std::string_view d = rest.substr(0, colon); !d.empty()) dirs.emplace_back(d);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  if (!installed.empty()) dirs.push_back(installed);
  const std::string configured = TRACEBOX_INSTALLED_PROFILES;
  if (!configured.empty() && configured != installed) dirs.push_back(configured);
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

bool may_write_in(const FileSets& files, const std::string& dir) {
  // Written in place, or renamed or linked into place (names).
  for (const auto* set : {&files.writable, &files.names}) {
    if (set->contains(dir + "/0000000000000000.bpf")) return true;
    for (std::string d = dir; !d.empty(); d.resize(d.rfind('/')))
      if (set->contains(d)) return true;
  }
  return false;
}

std::shared_ptr<const PreparedProfile> PreparedProfile::load(const std::string& name_or_path,
                                                             const ProfileOptions& options,
                                                             const std::vector<std::string>& dirs) {
  return prepare(load_profile(name_or_path, dirs), options);
}

std::shared_ptr<const PreparedProfile> PreparedProfile::prepare(Profile profile,
                                                                const ProfileOptions& options) {
  std::shared_ptr<PreparedProfile> p(new PreparedProfile());
  p->profile_ = std::move(profile);
  p->options_ = options;
  const Profile& prof = p->profile_;

  // The entries every run has, substituted once; those naming a run's own files, kept for it.
  auto judge = std::make_shared<JudgePolicy>(judge_without_files(prof, options.allow_proc));
  judge->unknown_errno = options.unsafe ? EACCES : 0;
  const ProfileVars fixed{"", "", multiarch(), std::nullopt};
  const auto lists = file_lists(prof);
  const auto sets = file_sets(judge->files);
  for (std::size_t i = 0; i < lists.size(); ++i) {
    for (const auto& e : *lists[i]) {
      if (per_run(e)) {
        substitute(e, ProfileVars{"/", "/", multiarch(), 1});  // a bad variable fails now
        p->run_entries_[i].push_back(e);
      } else {
        sets[i]->add(normal_entry(substitute(e, fixed)));
      }
    }
  }
  for (const auto& c : prof.command) substitute(c, ProfileVars{"/", "/", multiarch(), 1});
  for (const auto& e : prof.env) substitute(e, ProfileVars{"/", "/", multiarch(), 1});
  p->judge_ = judge;

  PrepareOptions po;
  po.counting = options.counting;
  // RLIMIT_DATA as spec() sets it (Spec::memory_rlimit).
  if (!prof.memory_rlimit || options.allow_proc)
    po.data_rlimit = false;
  else if (options.memory_limited)
    po.data_rlimit = *options.memory_limited;
  if (!options.filter_cache_dir.empty()) {
    std::string dir = real_path(options.filter_cache_dir);
    if (dir.empty()) dir = absolute_path(options.filter_cache_dir, current_dir());
    if (!may_write_in(judge->files, dir)) po.filter_cache_dir = dir;
  }
  // The policy and its filters, from the cache when it holds them for this judge policy.
  const std::string key = po.filter_cache_dir.empty() ? "" : prepared_policy_key(*judge, po);
  if (!key.empty()) {
    if (auto bytes = seccomp::cache_load_record(po.filter_cache_dir, key)) {
      if (auto cached = tracer::detail::from_bytes(*bytes, po)) {
        p->policy_ = std::move(cached);
        return p;
      }
    }
  }
  p->policy_ = PreparedPolicy::prepare(make_policy(*judge, options.counting), po);
  if (!key.empty())
    seccomp::cache_store_record(po.filter_cache_dir, key, tracer::detail::to_bytes(*p->policy_));
  return p;
}

ProfileVars PreparedProfile::vars(const RunRequest& request) const {
  ProfileVars v;
  v.multiarch = multiarch();
  if (request.memory_bytes > 0)
    v.memory_mib = std::max<std::uint64_t>(1, request.memory_bytes >> 20);
  if (request.work_dir.empty()) throw ConfigError("RunRequest::work_dir is empty");
  v.work = real_path(absolute_path(request.work_dir, current_dir()));
  if (v.work.empty())
    throw ConfigError("work directory " + request.work_dir + ": " + errno_text(errno));
  struct stat st {};
  if (::stat(v.work.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw ConfigError("work directory " + request.work_dir + ": not a directory");
  if (profile_.command.empty() && request.args.empty())
    throw ConfigError(
        "RunRequest::args is empty: the profile has no command, so it names the "
        "program");
  // ${program} is the file executed: the command's first word, else the user's program.
  const std::string argv0 =
      profile_.command.empty() ? request.args[0] : substitute(profile_.command[0], v);
  const std::string program = absolute_path(argv0, v.work);
  v.program = real_path(program);
  if (v.program.empty()) v.program = program;  // the run reports the exec failure
  return v;
}

FileSets PreparedProfile::files(const ProfileVars& vars, const RunRequest& request) const {
  FileSets run = FileSets::on_top_of(std::shared_ptr<const FileSets>(judge_, &judge_->files));
  const auto sets = file_sets(run);
  for (std::size_t i = 0; i < sets.size(); ++i)
    for (const auto& e : run_entries_[i]) sets[i]->add(normal_entry(substitute(e, vars)));
  const FileSet* given[] = {&request.grants.readable, &request.grants.writable,
                            &request.grants.names, &request.grants.statable,
                            &request.grants.soft_banned};
  for (std::size_t i = 0; i < sets.size(); ++i)
    given[i]->for_each([&](const std::string& e) { sets[i]->add(e); });
  return run;
}

Spec PreparedProfile::spec(const RunRequest& request) const {
  const ProfileVars v = vars(request);
  return spec(request, v, files(v, request));
}

Spec PreparedProfile::spec(const RunRequest& request, const ProfileVars& v,
                           FileSets run_files) const {
  Spec spec;
  forkexec::Runner& proc = spec.process;
  for (const auto& c : profile_.command) proc.args.push_back(substitute(c, v));
  proc.args.insert(proc.args.end(), request.args.begin(), request.args.end());
  // The program by its absolute path, whatever the child's cwd (argv[0] stays as given).
  const std::string argv0 =
      profile_.command.empty() ? request.args[0] : substitute(profile_.command[0], v);
  const std::string program = absolute_path(argv0, v.work);
  if (proc.args[0] != program) proc.path = program;
  if (profile_.env.empty()) proc.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  for (const auto& e : profile_.env) proc.env.push_back(substitute(e, v));
  proc.work_dir = v.work;
  // The program needs no capability: as root, the caller would otherwise hand it all of them.
  proc.drop_caps = true;
  rlimit::Limits rl;
  // A stack limit of 0 leaves the stack as inherited (a zero RLIMIT_STACK would fail the exec
  // itself); as in go-sandbox, it is capped at the memory limit.
  if (const std::uint64_t stack = std::min(request.stack_bytes, request.memory_bytes); stack > 0)
    rl.stack_bytes = stack;
  rl.open_files = 256;
  rl.disable_core = true;
  proc.rlimits = rlimit::prepare(rl);

  spec.io = request.io;
  if (spec.io.in.kind() == Input::Kind::kUnset) spec.io.in = Input::null();
  if (spec.io.out.kind() == Output::Kind::kUnset) spec.io.out = Output::null();
  if (spec.io.err.kind() == Output::Kind::kUnset) spec.io.err = Output::null();

  // Limits: the tracer adds the rlimit backstops (CPU, data, file size).
  spec.limits.cpu = request.cpu;
  spec.limits.wall = request.wall && *request.wall >= request.cpu
                         ? *request.wall
                         : request.cpu + std::chrono::seconds(2);
  if (request.memory_bytes > 0) spec.limits.memory_bytes = request.memory_bytes;
  spec.limits.output_bytes = request.output_bytes;
  // Processes and threads alive at once: a fork bomb is a violation (RLIMIT_NPROC cannot bind
  // root). Enough for a JVM's threads and a compiler's processes.
  spec.limits.tasks = 256;
  spec.limits.memory_exit_status = profile_.oom_exit_status;
  // glibc reserves each thread's stack at the stack limit's size, which RLIMIT_DATA counts: with
  // threads allowed, the memory limit is enforced by measurement alone. So it is without a
  // memory limit (a zero RLIMIT_DATA would fail the exec itself).
  spec.memory_rlimit = profile_.memory_rlimit && !options_.allow_proc && request.memory_bytes > 0;
  spec.counting = options_.counting;
  spec.prepared_policy = policy_;

  auto files = std::make_shared<const FileSets>(std::move(run_files));
  // A filter built for this run (its settings changed) may use the cache, unless the program
  // may write there: it would choose later runs' filters.
  const std::string& cache = policy_->options().filter_cache_dir;
  if (!cache.empty() && !may_write_in(*files, cache)) spec.filter_cache_dir = cache;
  spec.make_handler = [judge = judge_, files] {
    return std::make_shared<JudgeHandler>(judge, files);
  };
  return spec;
}

}  // namespace tracebox::tracer::policy
