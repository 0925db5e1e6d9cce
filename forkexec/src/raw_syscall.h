// Raw system calls for the child between clone and exec: no errno (which lives in the parent's
// thread-local storage when the child shares its memory), no libc locks, no allocation.
// Each returns the kernel's value: >= 0 on success, -errno on failure.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#define TB_CHILD_FN __attribute__((no_sanitize("address", "undefined"), no_stack_protector))

namespace tracebox::forkexec::detail {

#if defined(__x86_64__)
TB_CHILD_FN inline long raw_syscall(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0,
                                    long a5 = 0, long a6 = 0) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
TB_CHILD_FN inline long raw_syscall(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0,
                                    long a5 = 0, long a6 = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a1;
  register long x1 __asm__("x1") = a2;
  register long x2 __asm__("x2") = a3;
  register long x3 __asm__("x3") = a4;
  register long x4 __asm__("x4") = a5;
  register long x5 __asm__("x5") = a6;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}
#else
// Other architectures go through libc's syscall(), which writes errno: harmless after a plain
// clone, and tolerated after CLONE_VM (the parent thread is suspended and rereads errno).
inline long raw_syscall(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0,
                        long a6 = 0) {
  long r = ::syscall(n, a1, a2, a3, a4, a5, a6);
  return r == -1 ? -errno : r;
}
#endif

}  // namespace tracebox::forkexec::detail
