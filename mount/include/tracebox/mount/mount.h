// Mount plans as plain values: what to mount where, built in the parent, executed by the child
// between clone and exec without allocating.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tracebox::mount {

// A character device node that Builder::with_devices makes in its tmpfs.
struct Device {
  std::string name;  // one path component ("null")
  unsigned major = 0;
  unsigned minor = 0;
  mode_t mode = 0666;  // permission bits, set exactly (the umask does not apply)
  friend bool operator==(const Device&, const Device&) = default;
};

// One mount(2) call as the user describes it.
struct Mount {
  std::string source;
  std::string target;  // relative targets are relative to the new root when pivoting
  std::string fstype;
  std::string data;
  unsigned long flags = 0;
  // with_devices: the nodes made in this tmpfs before it is made read-only.
  std::vector<Device> devices{};

  bool is_bind() const;
  bool is_read_only() const;
  bool is_tmpfs() const;
  bool is_proc() const;
  bool is_devices() const { return !devices.empty(); }
  // bind[/usr:usr:ro], tmpfs[w], proc[ro], devices[dev:null,zero], or
  // mount[fstype,src:dst:0x...,data].
  std::string to_string() const;
  friend bool operator==(const Mount&, const Mount&) = default;
};

// One step of the child's plan: everything precomputed, strings the child reads in place.
struct Step {
  std::string source;  // empty = NULL
  std::string target;
  std::string fstype;  // empty = NULL
  std::string data;    // empty = NULL
  unsigned long flags = 0;
  // Directories to create before mounting, parents first ("a", "a/b"); the target itself is the
  // last entry unless `make_file` is set.
  std::vector<std::string> prefixes;
  // The source is not a directory: create the target as an empty regular file to bind onto.
  bool make_file = false;
  // Non-zero: a second mount(NULL, target, NULL, remount_flags, NULL) after the first one, used to
  // make a bind read-only. It carries the source's nosuid/nodev/noexec/atime flags, which a user
  // namespace locks and which a remount would otherwise try (and fail) to clear.
  unsigned long remount_flags = 0;
  // Character devices the child makes in the mounted target, before the remount: `path` (below
  // the target, relative as the target is), S_IFCHR | permission bits, the device number. Each is
  // made root's (uid and gid 0 of the child's user namespace) with exactly its permission bits.
  struct Node {
    std::string path;
    unsigned mode = 0;
    std::uint64_t device = 0;
  };
  std::vector<Node> nodes;
};

using Plan = std::vector<Step>;

// Collects mounts in order. Errors are sticky: the first one is kept and reported by build().
class Builder {
 public:
  // Bind `source` onto `target` (MS_BIND|MS_NOSUID|MS_PRIVATE, MS_REC when recursive).
  Builder& with_bind(std::string source, std::string target, bool read_only, bool recursive = true);
  // A tmpfs at `target` (MS_NOSUID|MS_NODEV|MS_NOATIME) with options such as
  // "size=8m,nr_inodes=4k".
  Builder& with_tmpfs(std::string target, std::string data = {});
  // A proc filesystem at `target` (MS_NOSUID|MS_NODEV|MS_NOEXEC, read-only unless asked).
  Builder& with_proc(bool read_only = true, std::string target = "proc");
  // A tmpfs at `target` holding only `devices`, made by the child with mknod and then remounted
  // read-only (MS_NOSUID|MS_NOEXEC|MS_NOATIME; not MS_NODEV, or the nodes could not be opened).
  // Unlike a bind of the host's /dev/null, the program never reaches a host device inode, and
  // the read-only mount refuses every change to the nodes (chmod, utime, unlink: EROFS). Needs
  // CAP_MKNOD in the initial user namespace: mknod of a device is refused in any other.
  Builder& with_devices(std::string target, std::vector<Device> devices);
  Builder& with_mount(Mount mount);
  // Drops the bind mounts whose source does not exist.
  Builder& filter_not_exist();

  const std::vector<Mount>& mounts() const { return mounts_; }
  // The child's plan; throws tracebox::ConfigError for a bind source that cannot be stat'ed, an
  // empty or NUL-containing target, or a target with a ".." component.
  Plan build() const;
  // "Mounts: bind[/usr:usr:ro], tmpfs[w]".
  std::string to_string() const;

 private:
  std::vector<Mount> mounts_;
};

}  // namespace tracebox::mount
