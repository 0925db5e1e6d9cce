// What execve really runs: the kernel's choice of binary format (fs/exec.c, binfmt_misc.c,
// binfmt_script.c, binfmt_elf.c) replayed on the program's view of the filesystem, every file of
// the chain asked of the file sets. Everything here runs with the run frozen around the check
// (kTagPath is consistent), so the files read are the ones the kernel will read.
#include "tracebox/tracer/policy/exec.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace tracebox::tracer::policy {
namespace {

// The kernel gives up after this many format handlers rewrote the file to run (fs/exec.c,
// exec_binprm: "if (depth > 5) return -ELOOP").
constexpr int kMaxInterpreterDepth = 5;

bool spacetab(char c) { return c == ' ' || c == '\t'; }

// pread(2) of exactly `n` bytes at `offset`, or false.
bool read_at(int fd, void* out, std::size_t n, off_t offset) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
    offset += got;
  }
  return true;
}

// The first kExecHeadSize bytes of the file, zero-padded as the kernel's buffer is.
std::string read_head(int fd) {
  std::string head(kExecHeadSize, '\0');
  std::size_t have = 0;
  while (have < head.size()) {
    const ssize_t got =
        ::pread(fd, head.data() + have, head.size() - have, static_cast<off_t>(have));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    have += static_cast<std::size_t>(got);
  }
  return head;
}

template <typename Ehdr, typename Phdr>
void read_program_headers(int fd, ElfInfo& info) {
  Ehdr eh{};
  if (!read_at(fd, &eh, sizeof eh, 0)) {
    info.malformed = true;
    return;
  }
  info.machine = eh.e_machine;
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) info.malformed = true;
  // load_elf_phdrs: entries of the native size, at most 64 KiB of them.
  if (eh.e_phentsize != sizeof(Phdr) || eh.e_phnum < 1 ||
      static_cast<std::size_t>(eh.e_phnum) > 65536 / sizeof(Phdr)) {
    info.malformed = true;
    return;
  }
  // All of them in one read (the kernel reads them so too).
  std::vector<Phdr> phdrs(eh.e_phnum);
  if (!read_at(fd, phdrs.data(), phdrs.size() * sizeof(Phdr), static_cast<off_t>(eh.e_phoff))) {
    info.malformed = true;
    return;
  }
  for (const Phdr& ph : phdrs) {
    if (ph.p_type != PT_INTERP) continue;
    // load_elf_binary: the first PT_INTERP only, 2 to PATH_MAX bytes, NUL-terminated.
    if (ph.p_filesz > PATH_MAX || ph.p_filesz < 2) {
      info.malformed = true;
      return;
    }
    std::string path(static_cast<std::size_t>(ph.p_filesz), '\0');
    if (!read_at(fd, path.data(), path.size(), static_cast<off_t>(ph.p_offset)) ||
        path.back() != '\0') {
      info.malformed = true;
      return;
    }
    path.resize(std::strlen(path.c_str()));  // the kernel opens it as a C string
    info.interpreter = std::move(path);
    return;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out(4096, '\0');
  const ssize_t n = ::read(fd, out.data(), out.size());
  ::close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

ExecVerdict deny(int err) {
  ExecVerdict v;
  v.kind = ExecVerdict::Kind::kDeny;
  v.error = err;
  return v;
}

ExecVerdict violation(std::string reason, std::string path) {
  ExecVerdict v;
  v.kind = ExecVerdict::Kind::kViolation;
  v.reason = std::move(reason);
  v.path = std::move(path);
  return v;
}

// An interpreter the kernel opens in the program's name (open_exec: from the cwd, following
// symlinks): resolved as the kernel will, and readable by the sets. `what` names it in a refusal.
// `of` ("" or " of /the/script") follows its path in a refusal.
ExecVerdict check_interpreter(pid_t tid, pid_t tgid, const std::string& path, const FileSets& files,
                              const std::string& what, const std::string& of, Resolved& out) {
  out = resolve(tid, tgid, AT_FDCWD, path, true);
  if (out.error != 0) return deny(out.error);
  if (out.proc_refused || out.fd >= 0) return deny(EACCES);
  if (files.allows(Access::kRead, out.path)) return {};
  if (files.soft_banned.contains(out.path)) return deny(EACCES);
  return violation(what + " " + out.path + of + " (read) is not allowed", out.path);
}

}  // namespace

std::optional<std::string> script_interpreter(std::string_view head) {
  if (head.size() < 2 || head[0] != '#' || head[1] != '!') return std::nullopt;
  // The kernel's buffer: the file's first bytes, zero-padded.
  std::string padded(head.substr(0, std::min(head.size(), kExecHeadSize)));
  padded.resize(kExecHeadSize, '\0');
  const std::string_view buf = padded;
  const std::size_t last = buf.size() - 1;  // load_script's buf_end: the last byte is not used
  // load_script: the line ends at the first newline; without one, the name must be followed by a
  // space, tab or NUL within the buffer (else it may be truncated: ENOEXEC).
  std::size_t end = buf.find('\n');
  if (end == std::string_view::npos) {
    std::size_t i = 2;
    while (i < last && spacetab(buf[i])) ++i;
    if (i >= last) return std::string();  // nothing but spaces
    std::size_t j = i;
    while (j < last && !spacetab(buf[j]) && buf[j] != '\0') ++j;
    if (j >= last) return std::string();  // no terminator: maybe truncated
    end = last;
  }
  while (end > 2 && spacetab(buf[end - 1])) --end;
  std::size_t name = 2;
  while (name < end && spacetab(buf[name])) ++name;
  if (name >= end) return std::string();  // no interpreter name
  std::size_t stop = name;
  while (stop < end && !spacetab(buf[stop]) && buf[stop] != '\0') ++stop;
  return std::string(buf.substr(name, stop - name));
}

ElfInfo read_elf(int fd) {
  ElfInfo info;
  unsigned char ident[EI_NIDENT] = {};
  if (!read_at(fd, ident, sizeof ident, 0) || std::memcmp(ident, ELFMAG, SELFMAG) != 0) return info;
  info.is_elf = true;
  info.elf_class = ident[EI_CLASS];
  info.data = ident[EI_DATA];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  constexpr int kNativeData = ELFDATA2LSB;
#else
  constexpr int kNativeData = ELFDATA2MSB;
#endif
  if (info.data != kNativeData) return info;  // another ABI; its fields are not ours to read
  if (info.elf_class == ELFCLASS64)
    read_program_headers<Elf64_Ehdr, Elf64_Phdr>(fd, info);
  else if (info.elf_class == ELFCLASS32)
    read_program_headers<Elf32_Ehdr, Elf32_Phdr>(fd, info);
  else
    info.malformed = true;
  return info;
}

std::string elf_abi_name(const ElfInfo& elf) {
  const bool b64 = elf.elf_class == ELFCLASS64;
  switch (elf.machine) {
    case EM_X86_64:
      return b64 ? "x86_64" : "x32";
    case EM_386:
      return "i386";
    case EM_AARCH64:
      return "aarch64";
    case EM_ARM:
      return "arm";
    case EM_RISCV:
      return b64 ? "riscv64" : "riscv32";
    default:
      return "machine " + std::to_string(elf.machine) + (b64 ? ", 64-bit" : ", 32-bit");
  }
}

bool elf_abi_accepted(const ElfInfo& elf, bool compat_abis) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (elf.data != ELFDATA2LSB) return false;
#else
  if (elf.data != ELFDATA2MSB) return false;
#endif
#if defined(__x86_64__)
  if (elf.elf_class == ELFCLASS64 && elf.machine == EM_X86_64) return true;
  return compat_abis && elf.elf_class == ELFCLASS32 &&
         (elf.machine == EM_386 || elf.machine == EM_X86_64);
#elif defined(__aarch64__)
  if (elf.elf_class == ELFCLASS64 && elf.machine == EM_AARCH64) return true;
  return compat_abis && elf.elf_class == ELFCLASS32 && elf.machine == EM_ARM;
#elif defined(__riscv) && __riscv_xlen == 64
  (void)compat_abis;
  return elf.elf_class == ELFCLASS64 && elf.machine == EM_RISCV;
#else
#error "the native ELF ABI of this architecture is not known"
#endif
}

std::optional<BinfmtRule> parse_binfmt_rule(std::string name, std::string_view text) {
  BinfmtRule rule;
  rule.name = std::move(name);
  bool has_status = false, has_match = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line == "enabled" || line == "disabled") {
      rule.enabled = line == "enabled";
      has_status = true;
    } else if (line.starts_with("interpreter ")) {
      rule.interpreter = std::string(line.substr(12));
    } else if (line.starts_with("extension .")) {
      rule.extension = std::string(line.substr(11));
      has_match = !rule.extension.empty();
    } else if (line.starts_with("offset ")) {
      rule.offset =
          static_cast<std::size_t>(std::strtoul(std::string(line.substr(7)).c_str(), nullptr, 10));
    } else if (line.starts_with("magic ")) {
      auto bytes = from_hex(line.substr(6));
      if (!bytes) return std::nullopt;
      rule.magic = std::move(*bytes);
      has_match = !rule.magic.empty();
    } else if (line.starts_with("mask ")) {
      auto bytes = from_hex(line.substr(5));
      if (!bytes) return std::nullopt;
      rule.mask = std::move(*bytes);
    }
  }
  if (!has_status || !has_match) return std::nullopt;
  if (!rule.mask.empty() && rule.mask.size() != rule.magic.size()) return std::nullopt;
  return rule;
}

bool binfmt_matches(const BinfmtRule& rule, std::string_view head, std::string_view name) {
  if (!rule.enabled) return false;
  if (!rule.extension.empty()) {
    const auto dot = name.rfind('.');  // strrchr over the whole path, as check_file does
    return dot != std::string_view::npos && name.substr(dot + 1) == rule.extension;
  }
  if (rule.offset + rule.magic.size() > head.size()) return false;
  for (std::size_t j = 0; j < rule.magic.size(); ++j) {
    const auto diff = static_cast<unsigned char>(head[rule.offset + j] ^ rule.magic[j]);
    const auto mask = rule.mask.empty() ? 0xffu : static_cast<unsigned char>(rule.mask[j]);
    if ((diff & mask) != 0) return false;
  }
  return true;
}

std::vector<BinfmtRule> binfmt_rules(const std::string& dir) {
  std::vector<BinfmtRule> rules;
  if (read_small_file(dir + "/status") != "enabled\n") return rules;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return rules;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || name == "status" || name == "register") continue;
    if (auto rule = parse_binfmt_rule(name, read_small_file(dir + "/" + name));
        rule && rule->enabled)
      rules.push_back(std::move(*rule));
  }
  ::closedir(d);
  return rules;
}

ExecVerdict check_exec(pid_t tid, pid_t tgid, const Resolved& target, std::string_view as_given,
                       const FileSets& files, bool compat_abis) {
  const std::vector<BinfmtRule> rules = binfmt_rules();
  Resolved file = target;
  std::string name(as_given);
  for (int depth = 0;; ++depth) {
    // Only a regular file is executed (do_open_execat: EACCES); a FIFO or a device is not even
    // opened here, so that reading it cannot block or have effects.
    struct stat st {};
    if (::stat(file.host.c_str(), &st) != 0) return deny(errno);
    if (!S_ISREG(st.st_mode)) return deny(EACCES);
    const int fd = ::open(file.host.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return deny(errno);
    struct stat opened {};
    if (::fstat(fd, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
      ::close(fd);
      return deny(EACCES);
    }
    const std::string head = read_head(fd);
    const ElfInfo elf = read_elf(fd);
    ::close(fd);

    const std::string of = depth == 0 ? "" : " of " + file.path;
    for (const BinfmtRule& rule : rules) {
      if (binfmt_matches(rule, head, name)) {
        return violation((depth == 0 ? std::string("it") : file.path) +
                             " would be run by binfmt_misc rule \"" + rule.name +
                             "\" (interpreter " + rule.interpreter + ")",
                         file.path);
      }
    }
    if (auto interp = script_interpreter(head)) {
      if (interp->empty()) return deny(ENOEXEC);
      Resolved next;
      ExecVerdict v =
          check_interpreter(tid, tgid, *interp, files,
                            depth == 0 ? "its #! interpreter" : "the #! interpreter", of, next);
      // The kernel opens the interpreter, then gives up: one rewrite too many.
      if (depth + 1 > kMaxInterpreterDepth)
        return deny(v.kind == ExecVerdict::Kind::kDeny ? v.error : ELOOP);
      if (v.kind != ExecVerdict::Kind::kAllow) return v;
      file = std::move(next);
      name = std::move(*interp);  // binfmt_misc matches the interpreter by this name
      continue;
    }
    if (elf.is_elf) {
      const std::string whose = depth == 0 ? "it is" : file.path + " is";
      if (!elf_abi_accepted(elf, compat_abis))
        return violation(
            whose + " an ELF for " + elf_abi_name(elf) + ", an ABI this run does not accept",
            file.path);
      if (elf.malformed) return deny(ENOEXEC);
      if (elf.interpreter) {
        Resolved ld;
        return check_interpreter(
            tid, tgid, *elf.interpreter, files,
            depth == 0 ? "its ELF interpreter (PT_INTERP)" : "the ELF interpreter (PT_INTERP)", of,
            ld);
      }
      return {};
    }
    // No format the kernel knows: only a binfmt_misc rule could take it (or a module the kernel
    // would load for it). It fails here, as it would without such a rule, before the kernel
    // sees it.
    return deny(ENOEXEC);
  }
}

}  // namespace tracebox::tracer::policy
