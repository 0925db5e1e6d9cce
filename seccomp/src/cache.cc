// The on-disk cache of built programs (see cache.h).
//
// A file is <key size> <key> <instruction count> <instructions>, the sizes 4 bytes little-endian,
// the instructions sock_filter in native layout; it is named by the FNV-1a hash of the key and
// ".bpf". A record (cache_store_record) is <key size> <key> <value>, named by the hash and ".rec".
// Files are replaced by rename, never written in place.
#include "cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <link.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>

#include "tracebox/util/unique_fd.h"

namespace tracebox::seccomp::detail {

namespace {

// Bump when the key or the file layout changes. (A change to what build() makes needs no bump:
// the build ID in the key changes with the code.)
constexpr std::uint32_t kFormatVersion = 2;

// ---- The key ----

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(v >> (8 * i));
}
void put_text(std::string& out, std::string_view s) {
  put(out, s.size(), 4);
  out += s;
}
void put_action(std::string& out, const Action& a) {
  put(out, static_cast<std::uint8_t>(a.kind), 1);
  put(out, a.data, 2);
}

// The GNU build ID of the object (executable or shared library) holding `code`, or "".
std::string find_build_id(const void* code) {
  struct Search {
    std::uintptr_t code;
    std::string id;
  } search{reinterpret_cast<std::uintptr_t>(code), {}};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto& s = *static_cast<Search*>(data);
        bool ours = false;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          ours = ours || (ph.p_type == PT_LOAD && s.code - start < ph.p_memsz);
        }
        if (!ours) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* const end = p + ph.p_memsz;
          constexpr auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
          while (end - p >= static_cast<std::ptrdiff_t>(sizeof(ElfW(Nhdr)))) {
            ElfW(Nhdr) note;
            std::memcpy(&note, p, sizeof note);
            const char* name = p + sizeof note;
            const char* desc = name + align4(note.n_namesz);
            if (desc > end || end - desc < static_cast<std::ptrdiff_t>(note.n_descsz)) break;
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
                std::memcmp(name, "GNU", 4) == 0) {
              s.id.assign(desc, note.n_descsz);
              return 1;
            }
            p = desc + align4(note.n_descsz);
          }
        }
        return 1;
      },
      &search);
  return search.id;
}

// ---- Files ----

// Whether the open file `fd` is a `type` (S_IFDIR, S_IFREG) of the effective user that no one
// else may write.
bool trusted(int fd, mode_t type, struct stat& st) {
  return ::fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type && st.st_uid == ::geteuid() &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// The cache directory, opened if it can be trusted (created 0700 first if missing and `create`).
UniqueFd open_dir(const std::string& dir, bool create) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(::open(dir.c_str(), kFlags));
  if (!fd && errno == ENOENT && create && ::mkdir(dir.c_str(), 0700) == 0)
    fd = UniqueFd(::open(dir.c_str(), kFlags));
  struct stat st {};
  if (!fd || !trusted(fd.get(), S_IFDIR, st)) return {};
  return fd;
}

bool read_all(int fd, std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// What a seccomp program needs to install (the kernel checks the rest): 1..BPF_MAXINSNS
// instructions, the last a return, jumps that land inside, loads within seccomp_data.
bool well_formed(const std::vector<sock_filter>& code) {
  if (code.empty() || code.size() > BPF_MAXINSNS || BPF_CLASS(code.back().code) != BPF_RET)
    return false;
  for (std::size_t pc = 0; pc < code.size(); ++pc) {
    const sock_filter& f = code[pc];
    const std::uint64_t left = code.size() - pc - 1;  // instructions after this one
    if (BPF_CLASS(f.code) == BPF_JMP &&
        (BPF_OP(f.code) == BPF_JA ? f.k >= left : f.jt >= left || f.jf >= left))
      return false;
    if (f.code == (BPF_LD | BPF_W | BPF_ABS) &&
        (f.k >= sizeof(seccomp_data) || f.k % sizeof(std::uint32_t) != 0))
      return false;
  }
  return true;
}

// The file `name` in the trusted cache directory `dir`, whole, if it is trusted, starts with
// `head` and is at most `max_size` bytes long.
std::optional<std::string> load_file(const std::string& dir, const std::string& name,
                                     std::string_view head, std::uint64_t max_size) {
  const UniqueFd d = open_dir(dir, false);
  if (!d) return {};
  // O_NONBLOCK: a FIFO in the file's place must not block the open.
  const UniqueFd f(::openat(d.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!f || !trusted(f.get(), S_IFREG, st)) return {};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < head.size() || size > max_size) return {};
  std::string bytes(size, '\0');
  if (!read_all(f.get(), bytes) || bytes.compare(0, head.size(), head) != 0) return {};
  return bytes;
}

// ---- Sweeping ----

// Every key names the build, libseccomp and kernel it was made for, so a cache that is never
// cleaned keeps the files of every build it has seen (a development machine's held 4,000 of
// them, 62 MB). After a store (a miss, which is rare), once per process and directory, our files
// that no one has read or written for kUnusedFor are removed: an entry still in use is read
// often enough for its access time to show it (relatime updates it at least daily), and one
// removed all the same (on a noatime mount, once in kUnusedFor) is only built again at its next
// miss. The temporary files of a writer that was killed go after kTempFor (a store takes
// milliseconds). Nothing else is touched.
constexpr std::int64_t kUnusedFor = 30 * 24 * 3600;  // seconds
constexpr std::int64_t kTempFor = 24 * 3600;

enum class Kind { kOther, kEntry, kTemp };

// An entry is "<16 hex digits>.bpf" or ".rec"; its temporary file ".<entry>.<pid>-<n>.tmp".
Kind kind_of(std::string_view name) {
  auto entry = [](std::string_view n) {
    return n.size() == 20 && (n.ends_with(".bpf") || n.ends_with(".rec")) &&
           n.substr(0, 16).find_first_not_of("0123456789abcdef") == std::string_view::npos;
  };
  if (entry(name)) return Kind::kEntry;
  if (name.size() > 26 && name[0] == '.' && entry(name.substr(1, 20)) && name[21] == '.' &&
      name.ends_with(".tmp"))
    return Kind::kTemp;
  return Kind::kOther;
}

// `dir` is the open directory named `path`. Once per process and path (not per inode: a directory
// removed and another made gets the same inode number, and would then go unswept).
void sweep(const std::string& path, int dir) {
  {
    static std::mutex mu;
    static std::set<std::string> swept;
    std::lock_guard lock(mu);
    if (!swept.insert(path).second) return;
  }
  const int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);  // owns fd from here on
  if (d == nullptr) {
    ::close(fd);
    return;
  }
  const std::int64_t now = ::time(nullptr);
  while (const dirent* e = ::readdir(d)) {
    const Kind kind = kind_of(e->d_name);
    if (kind == Kind::kOther) continue;
    struct stat st {};
    if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    const std::int64_t last = std::max<std::int64_t>(st.st_atim.tv_sec, st.st_mtim.tv_sec);
    if (now - last > (kind == Kind::kEntry ? kUnusedFor : kTempFor)) ::unlinkat(fd, e->d_name, 0);
  }
  ::closedir(d);
}

// Writes `bytes` as the file `name` of `dir` (created 0700 if missing), atomically, then sweeps
// the directory (above); failures are ignored.
void store_file(const std::string& dir, const std::string& name, std::string_view bytes) {
  // Past RLIMIT_FSIZE the write would raise SIGXFSZ.
  struct rlimit fsize {};
  if (::getrlimit(RLIMIT_FSIZE, &fsize) != 0 ||
      (fsize.rlim_cur != RLIM_INFINITY && bytes.size() > fsize.rlim_cur))
    return;
  const UniqueFd d = open_dir(dir, true);
  if (!d) return;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const std::string temp = fmt::format(".{}.{}-{}.tmp", name, ::getpid(), now.tv_nsec);
  const UniqueFd f(
      ::openat(d.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f) return;
  if (!write_all(f.get(), bytes) || ::renameat(d.get(), temp.c_str(), d.get(), name.c_str()) != 0)
    ::unlinkat(d.get(), temp.c_str(), 0);
  sweep(dir, d.get());
}

std::uint64_t fnv1a(std::string_view key) {
  std::uint64_t hash = 0xcbf29ce484222325;  // FNV-1a, 64-bit
  for (const char c : key) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3;
  }
  return hash;
}

// What every key starts with: `kind`, our format version, the build IDs, libseccomp's version,
// the kernel release (libseccomp checks actions against the running kernel), the native arch.
// "" without a build ID.
std::string key_base(std::string_view kind, const void* caller_code) {
  static const std::string build_id = find_build_id(reinterpret_cast<const void*>(&find_build_id));
  if (build_id.empty()) return {};
  std::string caller_id;
  if (caller_code != nullptr) {
    caller_id = find_build_id(caller_code);
    if (caller_id.empty()) return {};
  }
  std::string key;
  put_text(key, kind);
  put(key, kFormatVersion, 4);
  put_text(key, build_id);
  put_text(key, caller_id);
  const scmp_version* v = seccomp_version();
  put(key, v->major, 4);
  put(key, v->minor, 4);
  put(key, v->micro, 4);
  struct utsname uts {};
  if (::uname(&uts) != 0) return {};
  put_text(key, uts.release);
  put(key, seccomp_arch_native(), 4);
  return key;
}

constexpr std::uint64_t kMaxRecord = std::uint64_t{16} << 20;

// <key size> <key>, as a file starts.
std::string file_head(std::string_view key) {
  std::string head;
  put(head, key.size(), 4);
  head += key;
  return head;
}

std::uint32_t get32(std::string_view bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

}  // namespace

std::string cache_key(const Action& default_action, const Action& bad_arch_action, bool compat,
                      int tracer, const std::vector<Rule>& rules) {
  std::string key = key_base("tracebox seccomp cache", nullptr);
  if (key.empty()) return {};
  put_action(key, default_action);
  put_action(key, bad_arch_action);
  put(key, compat, 1);
  put(key, tracer, 1);
  put(key, rules.size(), 4);
  for (const Rule& r : rules) {
    put_text(key, r.syscall);
    put_action(key, r.action);
    put(key, r.conds.size(), 4);
    for (const ArgCondition& c : r.conds) {
      put(key, c.arg, 4);
      put(key, static_cast<std::uint8_t>(c.op), 1);
      put(key, c.value, 8);
      put(key, c.mask, 8);
    }
  }
  return key;
}

std::string cache_file_name(std::string_view key) { return fmt::format("{:016x}.bpf", fnv1a(key)); }

std::optional<std::vector<sock_filter>> cache_load(const std::string& dir, std::string_view key) {
  const std::string head = file_head(key);
  const std::size_t start = head.size() + 4;  // of the instructions
  const auto file =
      load_file(dir, cache_file_name(key), head, start + BPF_MAXINSNS * sizeof(sock_filter));
  if (!file) return {};
  const std::string& bytes = *file;
  const std::uint64_t size = bytes.size();
  if (size < start || get32(bytes, head.size()) * sizeof(sock_filter) != size - start) return {};
  std::vector<sock_filter> code((size - start) / sizeof(sock_filter));
  if (code.empty()) return {};  // (memcpy to the null data() of an empty vector is undefined)
  std::memcpy(code.data(), bytes.data() + start, size - start);
  if (!well_formed(code)) return {};
  return code;
}

void cache_store(const std::string& dir, std::string_view key,
                 const std::vector<sock_filter>& code) {
  std::string bytes = file_head(key);
  put(bytes, code.size(), 4);
  bytes.append(reinterpret_cast<const char*>(code.data()), code.size() * sizeof(sock_filter));
  store_file(dir, cache_file_name(key), bytes);
}

}  // namespace tracebox::seccomp::detail

namespace tracebox::seccomp {

std::string cache_record_key(std::string_view kind, const void* caller_code) {
  return detail::key_base(kind, caller_code);
}

std::optional<std::string> cache_load_record(const std::string& dir, std::string_view key) {
  if (key.empty()) return {};
  const std::string head = detail::file_head(key);
  auto file = detail::load_file(dir, fmt::format("{:016x}.rec", detail::fnv1a(key)), head,
                                head.size() + detail::kMaxRecord);
  if (!file) return {};
  file->erase(0, head.size());
  return file;
}

void cache_store_record(const std::string& dir, std::string_view key, std::string_view value) {
  if (key.empty() || value.size() > detail::kMaxRecord) return;
  std::string bytes = detail::file_head(key);
  bytes += value;
  detail::store_file(dir, fmt::format("{:016x}.rec", detail::fnv1a(key)), bytes);
}

bool well_formed(const std::vector<sock_filter>& code) { return detail::well_formed(code); }

}  // namespace tracebox::seccomp
