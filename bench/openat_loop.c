// `openat_loop N PATH`: opens PATH (openat(AT_FDCWD, PATH, O_RDONLY | O_CLOEXEC)) and closes it,
// N times, then writes the loop's own wall time per iteration in nanoseconds (CLOCK_MONOTONIC,
// read before and after the loop) on stdout and exits 0; exits 3 when an open fails.
//
// The tracee of tracer_bench's path-checked variants. It is freestanding (no libc, x86_64 raw
// syscalls): its only syscalls are execve, the loop's openat and close, two clock_gettime, one
// write and exit_group, which every tracer's default policy allows (go-sandbox's list of 2022
// has no rseq, which glibc's start-up calls). Timing inside the tracee leaves each tracer's
// start-up out of the figure.
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>

static long sys3(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return ret;
}

static long sys4(long nr, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}

static __attribute__((noreturn)) void exit_group(int status) {
  for (;;) sys3(SYS_exit_group, status, 0, 0);
}

static long parse(const char* s) {
  long v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + (*s - '0');
  return v;
}

static long now_ns(void) {
  struct timespec t;
  sys3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&t, 0);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

// Called by _start with the initial stack: argc, then argv.
__attribute__((used)) void start_c(long* sp) {
  const long argc = sp[0];
  char** argv = (char**)(sp + 1);
  if (argc < 3) exit_group(2);
  const long n = parse(argv[1]);
  const char* path = argv[2];
  const long before = now_ns();
  for (long i = 0; i < n; ++i) {
    const long fd = sys4(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) exit_group(3);
    sys3(SYS_close, fd, 0, 0);
  }
  const long per_call = n > 0 ? (now_ns() - before) / n : 0;
  char buf[24];
  size_t at = sizeof buf;
  buf[--at] = '\n';
  long v = per_call;
  do {
    buf[--at] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  sys3(SYS_write, 1, (long)(buf + at), (long)(sizeof buf - at));
  exit_group(0);
}

__asm__(
    ".globl _start\n"
    "_start:\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call start_c\n"
    "  hlt\n");
