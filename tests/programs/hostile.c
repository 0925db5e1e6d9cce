// Hostile programs: each mode tries one way out of the sandbox. hostile MODE [ARGS...]
// A mode prints what it achieved ("ESCAPED ...") or what stopped it; the tests assert the
// sandbox's verdict and that nothing escaped. Run these only inside the sandbox under test,
// inside the test guard (a fresh PID namespace and a pids cgroup).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char* what) {
  printf("%s\n", what);
  fflush(stdout);
}

static void result(const char* what, long r) {
  if (r < 0)
    printf("%s err=%s\n", what, strerrorname_np(errno));
  else
    printf("%s ret=%ld\n", what, r);
  fflush(stdout);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

// A raw clone that returns in the child like fork (no new stack: the child gets a copy).
static long raw_clone(unsigned long flags) { return syscall(SYS_clone, flags, 0, NULL, NULL, 0); }

static int write_pid(const char* file) {
  FILE* f = fopen(file, "w");
  if (f == NULL) return -1;
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  return 0;
}

static void* pause_forever(void* unused) {
  (void)unused;
  for (;;) sleep_ms(1000);
  return NULL;
}

static void* open_forever(void* unused) {
  (void)unused;
  for (;;) {
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd >= 0) close(fd);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) return 100;
  const char* mode = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";

  // A child the tracer would not see: CLONE_UNTRACED.
  if (strcmp(mode, "clone-untraced") == 0) {
    long pid = raw_clone(CLONE_UNTRACED | SIGCHLD);
    if (pid == 0) {
      for (;;) say("ESCAPED untraced child runs");
    }
    result("clone", pid);
    return 0;
  }
  // clone3: its flags are in memory, out of the filter's sight.
  if (strcmp(mode, "clone3") == 0) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_UNTRACED;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
      say("ESCAPED clone3 child runs");
      _exit(0);
    }
    result("clone3", pid);
    return 0;
  }
  // A vfork child shares our memory and runs while we wait: it must be traced all the same.
  if (strcmp(mode, "vfork-open") == 0) {
    pid_t pid = vfork();
    if (pid == 0) {
      int fd = open(arg, O_RDONLY);
      _exit(fd >= 0 ? 42 : 43);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("vfork child status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
  }
  // The i386 ABI from 64-bit code: getpid is 20 there (20 is writev on x86_64).
  if (strcmp(mode, "int80") == 0) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    printf("ESCAPED int 0x80 getpid returned %ld\n", r);
    return 0;
  }
  // The x32 ABI: getpid with bit 30.
  if (strcmp(mode, "x32") == 0) {
    long r = syscall(0x40000000L | SYS_getpid);
    result("x32 getpid", r);
    return 0;
  }
  // exec PATH [ARGS...]: execve, then report its failure.
  if (strcmp(mode, "exec") == 0 && argc > 2) {
    execv(argv[2], argv + 2);
    result("execve", -1);
    return 1;
  }
  if (strcmp(mode, "euid") == 0) {
    printf("euid=%d\n", (int)geteuid());
    return 0;
  }
  // open PATH r|w: open and report.
  if (strcmp(mode, "open") == 0 && argc > 3) {
    int fd = open(arg, argv[3][0] == 'w' ? O_WRONLY : O_RDONLY);
    result("open", fd);
    return 0;
  }
  // Leave the session (double fork + setsid) to outlive the run; the grandchild writes its pid.
  if (strcmp(mode, "daemon") == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      if (fork() == 0) {
        setpgid(0, 0);
        write_pid(arg);
        for (;;) sleep_ms(1000);
      }
      _exit(0);
    }
    waitpid(pid, NULL, 0);
    sleep_ms(100);  // let the grandchild write its pid
    return 0;
  }
  // Signal the tracer (our parent), or everybody.
  if (strcmp(mode, "kill-parent") == 0) {
    // In a PID namespace getppid() is 0 (the parent is outside): /proc, mounted for the host's
    // namespace, still tells its number there.
    pid_t parent = getppid();
    if (parent == 0) {
      FILE* f = fopen("/proc/self/status", "r");
      char line[256];
      while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "PPid: %d", &parent) == 1) break;
      if (f != NULL) fclose(f);
    }
    result("kill parent", kill(parent, SIGKILL));
    return 0;
  }
  if (strcmp(mode, "kill-all") == 0) {
    result("kill -1", kill(-1, SIGKILL));
    return 0;
  }
  if (strcmp(mode, "kill-pid") == 0) {
    result("kill pid", kill(atoi(arg), SIGKILL));
    return 0;
  }
  // Signals within the run are fine: our own child, our own group, ourselves.
  if (strcmp(mode, "kill-own") == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) sleep_ms(1000);
    }
    result("kill child", kill(pid, SIGKILL));
    waitpid(pid, NULL, 0);
    result("kill group 0", kill(0, 0));
    result("kill self", kill(getpid(), 0));
    return 0;
  }
  if (strcmp(mode, "ptrace-me") == 0) {
    result("ptrace traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
    return 0;
  }
  if (strcmp(mode, "ptrace-parent") == 0) {
    result("ptrace attach parent", ptrace(PTRACE_ATTACH, getppid(), 0, 0));
    return 0;
  }
  // Write into another process's memory (our own child's).
  if (strcmp(mode, "vm-write") == 0) {
    static volatile int target = 1;
    pid_t pid = fork();
    if (pid == 0) {
      sleep_ms(2000);
      _exit(target);
    }
    int value = 2;
    struct iovec local = {&value, sizeof value};
    struct iovec remote = {(void*)&target, sizeof target};
    result("process_vm_writev", syscall(SYS_process_vm_writev, pid, &local, 1, &remote, 1, 0));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
  }
  if (strcmp(mode, "fork-bomb") == 0) {
    for (;;) {
      if (fork() < 0) sleep_ms(1);
    }
  }
  if (strcmp(mode, "thread-bomb") == 0) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);  // small stacks: the bomb is threads, not memory
    for (;;) {
      pthread_t t;
      if (pthread_create(&t, &attr, pause_forever, NULL) != 0) sleep_ms(1);
    }
  }
  if (strcmp(mode, "memory-bomb") == 0) {
    for (;;) {
      char* p = malloc(1 << 20);
      if (p == NULL) {
        say("malloc failed");
        return 1;
      }
      memset(p, 1, 1 << 20);
    }
  }
  if (strcmp(mode, "stack-bomb") == 0) {
    // Unbounded recursion, each frame touching its memory.
    volatile char frame[4096];
    frame[0] = (char)argc;
    char* next[] = {argv[0], "stack-bomb", NULL};
    return main(2, next) + frame[0];
  }
  if (strcmp(mode, "output-bomb") == 0) {
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    for (;;)
      if (write(1, buf, sizeof buf) < 0) return 1;
  }
  // Fds left open by the runner: any fd above 2 is a leak.
  if (strcmp(mode, "fds") == 0) {
    int leaks = 0;
    for (int fd = 3; fd < 65536; ++fd)
      if (fcntl(fd, F_GETFD) >= 0) {
        printf("ESCAPED fd %d is open\n", fd);
        ++leaks;
      }
    printf("leaked=%d\n", leaks);
    return 0;
  }
  // Load a filter of our own (it could return fake tags or hide syscalls from the tracer).
  if (strcmp(mode, "seccomp") == 0) {
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    result("seccomp", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
    return 0;
  }
  if (strcmp(mode, "prctl-seccomp") == 0) {
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    result("prctl seccomp", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
    return 0;
  }
  if (strcmp(mode, "io_uring") == 0) {
    char params[120];
    memset(params, 0, sizeof params);
    result("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
    return 0;
  }
  // Stop ourselves: the run must go on (a stopped program would only burn the wall clock).
  if (strcmp(mode, "stop-self") == 0) {
    raise(SIGSTOP);
    say("resumed after SIGSTOP");
    raise(SIGTSTP);
    say("resumed after SIGTSTP");
    return 0;
  }
  // A hard link gives a readable name to a file we may not read.
  if (strcmp(mode, "hardlink") == 0 && argc > 3) {
    result("link", link(arg, argv[3]));
    return 0;
  }
  // unshare: a new user namespace would make us root in it.
  if (strcmp(mode, "unshare") == 0) {
    result("unshare", unshare(CLONE_NEWUSER));
    return 0;
  }
  // exec-long N: exec ourselves with an argument of N bytes.
  if (strcmp(mode, "exec-long") == 0) {
    size_t n = (size_t)atol(arg);
    char* big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = 0;
    char* args[] = {argv[0], "euid", big, NULL};
    execv("/proc/self/exe", args);
    result("execve", -1);
    return 0;
  }
  // Threads racing exit_group against each other's traced syscalls: not a violation.
  if (strcmp(mode, "exit-race") == 0) {
    for (int i = 0; i < 8; ++i) {
      pthread_t t;
      pthread_create(&t, NULL, open_forever, NULL);
    }
    sleep_ms(20);
    syscall(SYS_exit_group, 0);
  }
  return 100;
}
