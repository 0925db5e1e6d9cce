// The floor runprog's start-up is measured against: the least a seccomp+ptrace judge launcher can
// do, in plain C with no library. runprog_launcher [-pin] PROGRAM [ARGS...]
//
//   -pin:   first pin this process (and so the child) to the CPU it runs on, as runprog's tracer
//           does by default: tracer and tracee then never wake each other across CPUs
//
//   child:  PTRACE_TRACEME, raise(SIGSTOP) (so the tracer sets its options first),
//           no_new_privs, a small allow-list BPF filter whose default is SECCOMP_RET_TRACE,
//           execve
//   parent: waitpid for the stop, PTRACE_SETOPTIONS(TRACESECCOMP | EXITKILL), then PTRACE_CONT
//           through every stop until the child exits; prints "<exit status>" like a verdict.
//
// No limits, no accounting, no file policy: what runprog does beyond this is its overhead.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALLOW(nr) \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "-pin") == 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) return 1;
    ++argv;
    --argc;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: runprog_launcher [-pin] PROGRAM [ARGS...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    // What a static C program needs up to exit (execve itself is traced, as in runprog).
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(SYS_brk),
        ALLOW(SYS_arch_prctl),
        ALLOW(SYS_set_tid_address),
        ALLOW(SYS_set_robust_list),
        ALLOW(SYS_rseq),
        ALLOW(SYS_prlimit64),
        ALLOW(SYS_mprotect),
        ALLOW(SYS_mmap),
        ALLOW(SYS_munmap),
        ALLOW(SYS_uname),
        ALLOW(SYS_getrandom),
        ALLOW(SYS_read),
        ALLOW(SYS_write),
        ALLOW(SYS_close),
        ALLOW(SYS_newfstatat),
        ALLOW(SYS_exit_group),
        ALLOW(SYS_exit),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) _exit(101);
    raise(SIGSTOP);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(102);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(103);
    execv(argv[1], argv + 1);
    _exit(104);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) return 1;
  if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL) != 0) return 1;
  ptrace(PTRACE_CONT, pid, 0, 0);
  for (;;) {
    if (waitpid(pid, &status, 0) != pid) return 1;
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    // A seccomp stop, or the SIGTRAP after a traced exec: continue without a signal. Any other
    // signal is delivered.
    int sig = WSTOPSIG(status);
    int deliver = (sig == SIGTRAP) ? 0 : sig;
    ptrace(PTRACE_CONT, pid, 0, deliver);
  }
  printf("%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}
