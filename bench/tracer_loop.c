// `tracer_loop N`: calls getppid N times through syscall(2) (never cached by libc), then exits 0.
// The tracee of tracer_bench: built static and uninstrumented, so that its start-up is a handful
// of syscalls and the loop is nothing but the syscall.
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  for (long i = 0; i < n; ++i) syscall(SYS_getppid);
  return 0;
}
