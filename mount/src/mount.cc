#include "tracebox/mount/mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdio>

#include "tracebox/util/error.h"

namespace tracebox::mount {
namespace {

constexpr unsigned long kBindFlags = MS_BIND | MS_NOSUID | MS_PRIVATE;

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// `s` with each NUL byte written as "\0": an error message must not end at an embedded NUL.
std::string printable(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  return out;
}

bool has_dotdot(const std::string& path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

// The flags of the filesystem at `path` that a read-only bind remount must keep: inside a user
// namespace they are locked, and a remount without them fails with EPERM.
unsigned long locked_flags(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// "a/b/c" -> "a", "a/b", "a/b/c" (a leading "/" is kept on every prefix).
std::vector<std::string> prefixes_of(const std::string& target) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < target.size(); ++i) {
    if (target[i] == '/' && target[i - 1] != '/') out.push_back(target.substr(0, i));
  }
  std::string whole = target;
  while (whole.size() > 1 && whole.back() == '/') whole.pop_back();
  if (out.empty() || out.back() != whole) out.push_back(whole);
  return out;
}

}  // namespace

bool Mount::is_bind() const { return (flags & MS_BIND) != 0; }
bool Mount::is_read_only() const { return (flags & MS_RDONLY) != 0; }
bool Mount::is_tmpfs() const { return fstype == "tmpfs"; }
bool Mount::is_proc() const { return fstype == "proc"; }

std::string Mount::to_string() const {
  const char* mode = is_read_only() ? "ro" : "rw";
  if (is_devices()) {
    std::string text = "devices[" + target + ":";
    for (std::size_t i = 0; i < devices.size(); ++i) text += (i == 0 ? "" : ",") + devices[i].name;
    return text + "]";
  }
  if (is_bind()) return "bind[" + source + ":" + target + ":" + mode + "]";
  if (is_tmpfs()) return "tmpfs[" + target + (data.empty() ? "" : "," + data) + "]";
  if (is_proc()) return std::string("proc[") + mode + "]";
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%lx", flags);
  return "mount[" + fstype + "," + source + ":" + target + ":" + hex + "," + data + "]";
}

Builder& Builder::with_bind(std::string source, std::string target, bool read_only,
                            bool recursive) {
  unsigned long flags = kBindFlags | (recursive ? MS_REC : 0) | (read_only ? MS_RDONLY : 0);
  mounts_.push_back(Mount{std::move(source), std::move(target), "", "", flags});
  return *this;
}

Builder& Builder::with_tmpfs(std::string target, std::string data) {
  mounts_.push_back(Mount{"tmpfs", std::move(target), "tmpfs", std::move(data),
                          MS_NOSUID | MS_NODEV | MS_NOATIME});
  return *this;
}

Builder& Builder::with_proc(bool read_only, std::string target) {
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (read_only ? MS_RDONLY : 0);
  mounts_.push_back(Mount{"proc", std::move(target), "proc", "", flags});
  return *this;
}

Builder& Builder::with_devices(std::string target, std::vector<Device> devices) {
  // Device nodes take no blocks; the inodes are the nodes and the root directory.
  const std::string data = "mode=0755,size=4k,nr_inodes=" + std::to_string(devices.size() + 1);
  Mount m{"tmpfs", std::move(target), "tmpfs", data, MS_NOSUID | MS_NOEXEC | MS_NOATIME};
  m.devices = std::move(devices);
  mounts_.push_back(std::move(m));
  return *this;
}

Builder& Builder::with_mount(Mount mount) {
  mounts_.push_back(std::move(mount));
  return *this;
}

Builder& Builder::filter_not_exist() {
  std::erase_if(mounts_, [](const Mount& m) {
    struct stat st {};
    return m.is_bind() && ::stat(m.source.c_str(), &st) != 0;
  });
  return *this;
}

Plan Builder::build() const {
  Plan plan;
  plan.reserve(mounts_.size());
  for (std::size_t i = 0; i < mounts_.size(); ++i) {
    const Mount& m = mounts_[i];
    const std::string where = "mount " + std::to_string(i) + " (" + printable(m.to_string()) + ")";
    if (m.target.empty()) throw ConfigError(where + ": empty target");
    if (has_nul(m.source) || has_nul(m.target) || has_nul(m.fstype) || has_nul(m.data))
      throw ConfigError(where + ": contains a NUL byte");
    if (has_dotdot(m.target)) throw ConfigError(where + ": target has a \"..\" component");
    Step step;
    step.source = m.source;
    step.target = m.target;
    step.fstype = m.fstype;
    step.data = m.data;
    step.flags = m.flags;
    step.prefixes = prefixes_of(m.target);
    if (m.is_devices()) {
      if (!m.is_tmpfs() || m.is_bind())
        throw ConfigError(where + ": device nodes are made in a tmpfs of their own");
      std::string dir = m.target;
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      for (const Device& d : m.devices) {
        if (d.name.empty() || d.name == "." || d.name == ".." ||
            d.name.find('/') != std::string::npos || has_nul(d.name))
          throw ConfigError(where + ": device name \"" + printable(d.name) +
                            "\" is not a single path component");
        step.nodes.push_back(Step::Node{dir + "/" + d.name, S_IFCHR | (d.mode & 0777),
                                        static_cast<std::uint64_t>(makedev(d.major, d.minor))});
      }
      // The nodes made, nothing may change them: read-only, with the tmpfs's own flags.
      step.remount_flags = MS_REMOUNT | MS_BIND | MS_RDONLY |
                           (m.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME));
    }
    if (m.is_bind()) {
      struct stat st {};
      if (::stat(m.source.c_str(), &st) != 0) {
        throw ConfigError(where + ": bind source " + m.source + ": " + errno_text(errno));
      }
      if (!S_ISDIR(st.st_mode)) {
        step.make_file = true;
        step.prefixes.pop_back();  // the target itself is a file, created by the child
      }
      // MS_RDONLY is ignored on the bind itself: a remount applies it, keeping locked flags.
      if (m.is_read_only()) {
        step.flags &= ~static_cast<unsigned long>(MS_RDONLY);
        step.remount_flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | locked_flags(m.source) |
                             (m.flags & (MS_NODEV | MS_NOEXEC));
      }
    }
    plan.push_back(std::move(step));
  }
  return plan;
}

std::string Builder::to_string() const {
  std::string text = "Mounts: ";
  for (std::size_t i = 0; i < mounts_.size(); ++i) {
    if (i != 0) text += ", ";
    text += mounts_[i].to_string();
  }
  return text;
}

}  // namespace tracebox::mount
