// What execve really runs. The file named at exec is only the start: the kernel hands it to the
// first binary format that takes it, and that may open more files in the program's name:
//   - binfmt_misc (tried first): a rule matching the file's magic bytes or its name's extension
//     runs the rule's interpreter (qemu-user, wine...);
//   - binfmt_script: "#!interp arg" runs interp (resolved from the cwd, recursively: at most 5
//     interpreters, then ELOOP);
//   - binfmt_elf: an ELF of an ABI the kernel runs, with its PT_INTERP (ld.so) mapped too.
// check_exec() walks the same chain through the program's view of the filesystem and asks the
// file sets for every file in it, so that no binary outside the sets runs.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tracebox/tracer/policy/files.h"

namespace tracebox::tracer::policy {

// How many bytes of a file the kernel reads to choose its format (BINPRM_BUF_SIZE).
inline constexpr std::size_t kExecHeadSize = 256;

// The interpreter of a "#!" line, parsed as binfmt_script parses the first kExecHeadSize bytes:
// nullopt when `head` does not start with "#!"; "" when the kernel would refuse the line with
// ENOEXEC (no interpreter name, or one that may be cut off at the end of the buffer).
std::optional<std::string> script_interpreter(std::string_view head);

// An ELF file as binfmt_elf reads it.
struct ElfInfo {
  bool is_elf = false;     // the ELF magic
  bool malformed = false;  // the kernel would refuse it (ENOEXEC): type, program headers, PT_INTERP
  int elf_class = 0;       // ELFCLASS32 or ELFCLASS64
  int data = 0;            // ELFDATA2LSB or ELFDATA2MSB
  int machine = 0;         // e_machine
  std::optional<std::string> interpreter;  // the first PT_INTERP's path
};
// Reads the ELF header and program headers of the open file `fd`.
ElfInfo read_elf(int fd);

// The name of an ELF's ABI ("x86_64", "i386", "x32", "aarch64", "arm"...), and whether a run
// accepts it: the native one always, the compat ones (i386 and x32 on x86_64, arm on aarch64)
// when the run's seccomp filter enforces their syscalls (Policy::enforce_compat_abis).
std::string elf_abi_name(const ElfInfo& elf);
bool elf_abi_accepted(const ElfInfo& elf, bool compat_abis);

// One binfmt_misc rule, as /proc/sys/fs/binfmt_misc/<name> shows it.
struct BinfmtRule {
  std::string name;
  bool enabled = false;
  std::string interpreter;
  std::string extension;  // matched by the name's extension when not empty, else by magic
  std::size_t offset = 0;
  std::string magic;  // bytes
  std::string mask;   // bytes, or empty
};
// Parses a rule's file; nullopt when it is not one.
std::optional<BinfmtRule> parse_binfmt_rule(std::string name, std::string_view text);
// Whether `rule` takes a file whose first bytes are `head` (zero-padded to kExecHeadSize) and that
// exec names `name` (the path as given, or the #! interpreter's as written), as the kernel
// matches: magic under mask at offset, or the text after the last '.' of `name`.
bool binfmt_matches(const BinfmtRule& rule, std::string_view head, std::string_view name);
// The enabled rules the tracer can see in `dir` (/proc/sys/fs/binfmt_misc); none when
// binfmt_misc is not mounted there or is disabled.
std::vector<BinfmtRule> binfmt_rules(const std::string& dir = "/proc/sys/fs/binfmt_misc");

// What to do with an exec.
struct ExecVerdict {
  enum class Kind { kAllow, kDeny, kViolation };
  Kind kind = Kind::kAllow;
  int error = 0;       // kDeny: the errno
  std::string reason;  // kViolation: what is refused, e.g. "its #! interpreter /x (read) is ..."
  std::string path;    // kViolation: the file refused
};

// Walks what the kernel will run when task `tid` (of `tgid`) executes `target` (resolved as
// execve resolves it; its `host` is opened to read it), named `as_given` by the syscall, and
// checks every file of the chain: each #! interpreter and each ELF's PT_INTERP must be readable
// by `files` (soft-banned: EACCES; /proc fds and refused /proc entries: EACCES), every ELF must be
// of an ABI the run accepts, a file a visible binfmt_misc rule takes is refused, and a file of no
// format the kernel knows fails with ENOEXEC before the kernel sees it (so that no binfmt_misc
// rule, visible or not, runs anything).
ExecVerdict check_exec(pid_t tid, pid_t tgid, const Resolved& target, std::string_view as_given,
                       const FileSets& files, bool compat_abis);

}  // namespace tracebox::tracer::policy
