#include "tracee.h"

#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#if defined(__aarch64__)
#include <elf.h>
#endif

namespace tracebox::tracer::tracee {
namespace {

constexpr std::uint64_t kPage = 4096;

int peek(pid_t tid, std::uint64_t addr, std::span<std::byte> out) {
  // Word-aligned reads; the first and last words may cover bytes outside the range.
  const std::uint64_t word = sizeof(long);
  std::uint64_t start = addr & ~(word - 1);
  std::size_t done = 0;
  for (std::uint64_t at = start; done < out.size(); at += word) {
    errno = 0;
    long v = ::ptrace(PTRACE_PEEKDATA, tid, at, nullptr);
    if (errno != 0) return errno == EIO ? EFAULT : errno;
    std::byte bytes[sizeof(long)];
    std::memcpy(bytes, &v, sizeof v);
    std::size_t skip = at < addr ? static_cast<std::size_t>(addr - at) : 0;
    for (std::size_t i = skip; i < word && done < out.size(); ++i) out[done++] = bytes[i];
  }
  return 0;
}

}  // namespace

int syscall_info(pid_t tid, SyscallInfo& out) {
  __ptrace_syscall_info info{};
  long n = ::ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
  if (n < 0) return errno;
  // The stop we were told about is gone: SIGKILL (a sibling's exit_group, the run's end) woke
  // the task from it. Like ESRCH, this is a task on its way out, not a tracer error.
  if (info.op != PTRACE_SYSCALL_INFO_SECCOMP) return ESRCH;
  out.arch = info.arch;
  out.nr = static_cast<long>(info.seccomp.nr);
  for (int i = 0; i < 6; ++i) out.args[static_cast<std::size_t>(i)] = info.seccomp.args[i];
  out.ret_data = static_cast<std::uint16_t>(info.seccomp.ret_data & 0xffff);
  out.instruction_pointer = info.instruction_pointer;
  return 0;
}

int skip_syscall(pid_t tid, int err) {
#if defined(__x86_64__)
  // orig_rax = -1 skips the syscall (the kernel does not re-run the filter for it); rax is what
  // the tracee sees. The same registers serve i386 tracees.
  if (::ptrace(PTRACE_POKEUSER, tid, offsetof(struct user, regs.orig_rax), -1L) != 0) return errno;
  if (::ptrace(PTRACE_POKEUSER, tid, offsetof(struct user, regs.rax), static_cast<long>(-err)) != 0)
    return errno;
  return 0;
#elif defined(__aarch64__)
  user_regs_struct regs{};
  iovec iov{&regs, sizeof regs};
  if (::ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) != 0) return errno;
  regs.regs[0] = static_cast<unsigned long long>(-static_cast<long long>(err));
  if (::ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) != 0) return errno;
  int nr = -1;
  iovec sys{&nr, sizeof nr};
  if (::ptrace(PTRACE_SETREGSET, tid, NT_ARM_SYSTEM_CALL, &sys) != 0) return errno;
  return 0;
#else
#error "skip_syscall: unsupported architecture"
#endif
}

int read_memory(pid_t tid, std::uint64_t addr, std::span<std::byte> out) {
  if (out.empty()) return 0;
  iovec local{out.data(), out.size()};
  iovec remote{reinterpret_cast<void*>(addr), out.size()};
  ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(out.size())) return 0;
  if (n >= 0 || errno == EFAULT) {
    // A partial read stops at an unmapped page; PEEKDATA would fail there too.
    return EFAULT;
  }
  // EPERM (e.g. a tracee that changed credentials), ENOSYS: ptrace can still read.
  return peek(tid, addr, out);
}

StringRead read_string(pid_t tid, std::uint64_t addr, std::size_t max) {
  StringRead r;
  if (addr == 0) {
    r.error = EFAULT;
    return r;
  }
  std::byte chunk[kPage];
  std::uint64_t at = addr;
  while (r.value.size() <= max) {
    // Up to the end of the current page: the next page may be unmapped even though the string
    // ends on this one.
    std::size_t len = static_cast<std::size_t>(kPage - (at % kPage));
    std::size_t want = max + 1 - r.value.size();
    if (len > want) len = want;
    if (int err = read_memory(tid, at, std::span(chunk, len)); err != 0) {
      r.error = err;
      r.value.clear();
      return r;
    }
    const char* text = reinterpret_cast<const char*>(chunk);
    const void* nul = std::memchr(text, '\0', len);
    if (nul != nullptr) {
      r.value.append(text, static_cast<const char*>(nul) - text);
      return r;
    }
    r.value.append(text, len);
    at += len;
  }
  r.value.clear();
  r.error = ENAMETOOLONG;
  return r;
}

}  // namespace tracebox::tracer::tracee
