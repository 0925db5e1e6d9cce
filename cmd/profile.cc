#include "profile.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "tracebox/seccomp/filter.h"

namespace tracebox::cmd {
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
  static const std::set<std::string> kKeys = {"description", "extends",      "command",    "allow",
                                              "deny",        "count",        "allow_proc", "files",
                                              "env",         "memory_rlimit"};
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
  if (out.empty()) return suffix.empty() ? "/" : "/" + suffix.substr(1);
  return out + suffix;
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
    else
      throw ProfileError("unknown variable ${" + name + "} in \"" + text + "\"");
    i = end + 1;
  }
  return out;
}

tracer::policy::JudgePolicy to_judge_policy(const Profile& profile, const ProfileVars& vars,
                                            bool allow_proc) {
  tracer::policy::JudgePolicy j;
  j.allow = profile.allow;
  if (allow_proc)
    for (const auto& s : profile.allow_proc)
      if (std::find(j.allow.begin(), j.allow.end(), s) == j.allow.end() && !profile.deny.count(s) &&
          !profile.count.count(s))
        j.allow.push_back(s);
  j.deny = profile.deny;
  j.budgets = profile.count;
  for (const auto& e : profile.read) j.files.readable.add(normal_entry(substitute(e, vars)));
  for (const auto& e : profile.write) j.files.writable.add(normal_entry(substitute(e, vars)));
  for (const auto& e : profile.names) j.files.names.add(normal_entry(substitute(e, vars)));
  for (const auto& e : profile.stat) j.files.statable.add(normal_entry(substitute(e, vars)));
  for (const auto& e : profile.soft_ban) j.files.soft_banned.add(normal_entry(substitute(e, vars)));
  j.unknown_hint = "add \"{}\" to the \"allow\" list of profile " + profile.path;
  if (!allow_proc)
    for (const auto& s : profile.allow_proc)
      j.hints[s] = "runprog -allow-proc allows it (processes, threads and sleeping)";
  return j;
}

int errno_from_name(const std::string& name) {
  for (int e = 1; e < 4096; ++e) {
    const char* n = strerrorname_np(e);
    if (n != nullptr && name == n) return e;
  }
  return -1;
}

}  // namespace tracebox::cmd
