// Programs for the tracer tests: tracee MODE [ARGS...]. Results go to stdout, one per line.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wait_race.h"

// Prints "ret=<value>" or "err=<ENAME>" for a raw syscall result.
static void report(long r) {
  if (r < 0) {
    printf("err=%s\n", strerrorname_np(errno));
  } else {
    printf("ret=%ld\n", r);
  }
  fflush(stdout);
}

// A few syscalls by name, made raw (no libc caching), with harmless arguments.
static long call(const char* name) {
  if (strcmp(name, "getuid") == 0) return syscall(SYS_getuid);
  if (strcmp(name, "getgid") == 0) return syscall(SYS_getgid);
  if (strcmp(name, "getppid") == 0) return syscall(SYS_getppid) > 0 ? 1 : 0;
  if (strcmp(name, "getpgrp") == 0) return syscall(SYS_getpgrp) > 0 ? 1 : 0;
  if (strcmp(name, "sched_yield") == 0) return syscall(SYS_sched_yield);
  if (strcmp(name, "getcwd") == 0) {
    char buf[256];
    return syscall(SYS_getcwd, buf, sizeof buf) > 0 ? 1 : -1;
  }
  errno = EINVAL;
  return -1;
}

static void* thread_call(void* name) {
  report(call((const char*)name));
  return NULL;
}

static volatile unsigned long sink;

// The worker of leader-exits: opens a path N times after its leader has gone.
static const char* opens_path;
static long opens_count;
static void* late_opener(void* unused) {
  (void)unused;
  struct timespec settle = {0, 50000000};  // the leader's pthread_exit is done by then
  nanosleep(&settle, NULL);
  long ok = 0;
  for (long i = 0; i < opens_count; ++i) {
    int fd = open(opens_path, O_RDONLY);
    if (fd >= 0) {
      ++ok;
      close(fd);
    }
  }
  printf("opened=%ld\n", ok);
  fflush(stdout);
  return NULL;
}

static void spin_ms(long ms) {
  struct timespec start, now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  for (;;) {
    for (int i = 0; i < 100000; ++i) sink += (unsigned long)i;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (ms >= 0 && elapsed >= ms) return;
  }
}

// The TOCTOU race: one thread flips a path buffer between an allowed and a secret file while
// another opens whatever the buffer says and reads it.
static char race_path[256];
static const char* race_names[2];
static volatile int race_stop;

static void* race_flipper(void* unused) {
  (void)unused;
  size_t n = strlen(race_names[0]) + 1;
  while (!race_stop) {
    memcpy(race_path, race_names[1], n);
    memcpy(race_path, race_names[0], n);
  }
  return NULL;
}

// Opens the buffer until `seconds` pass; prints "WON" if the secret was ever read.
static int race_open(const char* allowed, const char* secret, long seconds, int shared) {
  if (strlen(allowed) != strlen(secret) || strlen(allowed) >= sizeof race_path) return 110;
  race_names[0] = allowed;
  race_names[1] = secret;
  char* buf = race_path;
  pid_t flipper = -1;
  pthread_t thread;
  strcpy(race_path, allowed);
  if (shared) {
    // Another process flips the path in a shared mapping.
    buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return 111;
    strcpy(buf, allowed);
    flipper = fork();
    if (flipper == 0) {
      size_t n = strlen(allowed) + 1;
      for (;;) {
        memcpy(buf, secret, n);
        memcpy(buf, allowed, n);
      }
    }
  } else if (pthread_create(&thread, NULL, race_flipper, NULL) != 0) {
    return 112;
  }
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long attempts = 0, opened = 0;
  for (;;) {
    int fd = open(buf, O_RDONLY);
    ++attempts;
    if (fd >= 0) {
      char data[16] = {0};
      ssize_t n = read(fd, data, sizeof data - 1);
      close(fd);
      ++opened;
      if (n > 0 && strncmp(data, "SECRET", 6) == 0) {
        printf("WON after %ld attempts\n", attempts);
        fflush(stdout);
        if (shared) kill(flipper, SIGKILL);
        return 0;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= seconds) break;
  }
  race_stop = 1;
  if (shared) {
    kill(flipper, SIGKILL);
    waitpid(flipper, NULL, 0);
  } else {
    pthread_join(thread, NULL);
  }
  printf("lost %ld attempts, %ld opened\n", attempts, opened);
  return 0;
}

// Swaps a symlink between an allowed and a secret target (by renaming prepared links over it)
// while the main thread opens it and reads; prints "WON" if the secret was ever read.
static const char* swap_dir;

static void* link_swapper(void* unused) {
  (void)unused;
  char a[4096], b[4096], link[4096];
  snprintf(a, sizeof a, "%s/to-public", swap_dir);
  snprintf(b, sizeof b, "%s/to-secret", swap_dir);
  snprintf(link, sizeof link, "%s/link", swap_dir);
  while (!race_stop) {
    symlink("public", a);
    rename(a, link);
    symlink("secret", b);
    rename(b, link);
  }
  return NULL;
}

static int symlink_race(const char* dir, long seconds) {
  swap_dir = dir;
  char link[4096];
  snprintf(link, sizeof link, "%s/link", dir);
  symlink("public", link);
  pthread_t t;
  if (pthread_create(&t, NULL, link_swapper, NULL) != 0) return 113;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long attempts = 0;
  for (;;) {
    int fd = open(link, O_RDONLY);
    ++attempts;
    if (fd >= 0) {
      char data[16] = {0};
      ssize_t n = read(fd, data, sizeof data - 1);
      close(fd);
      if (n > 0 && strncmp(data, "SECRET", 6) == 0) {
        printf("WON after %ld attempts\n", attempts);
        fflush(stdout);
        _exit(0);
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= seconds) break;
  }
  race_stop = 1;
  pthread_join(t, NULL);
  printf("lost %ld attempts\n", attempts);
  return 0;
}

static int recurse(int n) {
  volatile char page[4096];
  page[0] = (char)n;
  return recurse(n + 1) + page[0];
}

int main(int argc, char** argv) {
  if (argc < 2) return 100;
  const char* mode = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";

  // recurse: recursion without end, a page of stack per call.
  if (strcmp(mode, "recurse") == 0) return recurse(1);
  // nice: the program's scheduling priority.
  if (strcmp(mode, "nice") == 0) {
    errno = 0;
    const int n = getpriority(PRIO_PROCESS, 0);
    printf("nice=%d\n", errno == 0 ? n : 999);
    return 0;
  }
  // call NAME: one syscall, its result.
  if (strcmp(mode, "call") == 0) {
    report(call(arg));
    return 0;
  }
  // thread-call NAME: the same syscall from a second thread.
  if (strcmp(mode, "thread-call") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_call, (void*)arg) != 0) return 101;
    pthread_join(t, NULL);
    return 0;
  }
  // chain DEPTH NAME: fork + exec of itself DEPTH times; the last one calls NAME.
  if (strcmp(mode, "chain") == 0) {
    int depth = atoi(arg);
    if (depth == 0) {
      report(call(argv[3]));
      return 0;
    }
    pid_t pid = fork();
    if (pid < 0) return 102;
    if (pid == 0) {
      char next[16];
      snprintf(next, sizeof next, "%d", depth - 1);
      char* args[] = {argv[0], "chain", next, argv[3], NULL};
      execv("/proc/self/exe", args);
      _exit(103);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 104;
  }
  // orphan FILE: a child leaves the session, writes its pid to FILE and sleeps; we exit at once.
  if (strcmp(mode, "orphan") == 0) {
    int p[2];
    if (pipe(p) != 0) return 105;
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      FILE* f = fopen(arg, "w");
      if (f != NULL) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
      }
      close(p[1]);
      for (;;) pause();
    }
    close(p[1]);
    char c;
    (void)read(p[0], &c, 1);  // returns once the child closed its end (it wrote the file)
    return 0;
  }
  if (strcmp(mode, "exit") == 0) return atoi(arg);
  // syscall-loop NAME: the syscall, forever.
  if (strcmp(mode, "syscall-loop") == 0) {
    for (;;) call(arg);
  }
  if (strcmp(mode, "spin") == 0) {
    spin_ms(argc > 2 ? atol(arg) : -1);
    return 0;
  }
  // cpus-after MS: how many CPUs it may run on (sched_getaffinity, a traced syscall where a
  // test traces it) at start, and again after burning MS ms of CPU: "cpus=N then M".
  if (strcmp(mode, "cpus-after") == 0 && argc > 2) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    const int first = CPU_COUNT(&set);
    spin_ms(atol(arg));
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    printf("cpus=%d then %d\n", first, CPU_COUNT(&set));
    return 0;
  }
  // spin-children N MS: N children each burning MS ms of CPU, then exit 0.
  if (strcmp(mode, "spin-children") == 0) {
    int n = atoi(arg);
    long ms = atol(argv[3]);
    for (int i = 0; i < n; ++i) {
      if (fork() == 0) {
        spin_ms(ms);
        _exit(0);
      }
    }
    while (wait(NULL) > 0) {
    }
    return 0;
  }
  if (strcmp(mode, "sleep") == 0) {
    struct timespec ts = {atol(arg) / 1000, (atol(arg) % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return 0;
  }
  // touch MB: allocate and touch MB MiB, report ok.
  if (strcmp(mode, "touch") == 0) {
    size_t n = (size_t)atol(arg) << 20;
    char* p = malloc(n);
    if (p == NULL) {
      printf("malloc failed\n");
      return 1;
    }
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    printf("ok\n");
    return 0;
  }
  // bigalloc MB: one allocation; crash (SIGSEGV) when it fails, as careless programs do.
  if (strcmp(mode, "bigalloc") == 0) {
    size_t n = (size_t)atol(arg) << 20;
    char* volatile p = malloc(n);
    p[n / 2] = 1;
    return 0;
  }
  // output MB: write MB MiB to stdout.
  if (strcmp(mode, "output") == 0) {
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    long total = atol(arg) << 20;
    for (long done = 0; done < total; done += (long)sizeof buf) {
      if (write(1, buf, sizeof buf) < 0) return 1;
    }
    return 0;
  }
  // output-bytes N [blocked]: write N bytes ('x') to stdout, 4 KiB at a time. With "blocked",
  // SIGXFSZ is blocked and a refused write (EFBIG) ignored: it exits 0 whatever the limit.
  if (strcmp(mode, "output-bytes") == 0) {
    const int blocked = argc > 3 && strcmp(argv[3], "blocked") == 0;
    if (blocked) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGXFSZ);
      sigprocmask(SIG_BLOCK, &set, NULL);
    }
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    for (long left = atol(arg); left > 0; left -= (long)sizeof buf) {
      const size_t n = left < (long)sizeof buf ? (size_t)left : sizeof buf;
      if (write(1, buf, n) < 0 && !blocked) return 1;
    }
    return 0;
  }
  // copy: stdin to stdout, then "<bytes> bytes" to stderr.
  if (strcmp(mode, "copy") == 0) {
    char buf[4096];
    long total = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
      if (write(1, buf, (size_t)n) != n) return 1;
      total += n;
    }
    dprintf(2, "%ld bytes\n", total);
    return n < 0 ? 1 : 0;
  }
  // race-wait PATH SECONDS [shared]
  if (strcmp(mode, "race-wait") == 0 && argc > 3)
    return wait_race(argv[2], atol(argv[3]), argc > 4, "WON");
  // race-open ALLOWED SECRET SECONDS [shared]
  if (strcmp(mode, "race-open") == 0 && argc > 4)
    return race_open(argv[2], argv[3], atol(argv[4]), argc > 5);
  // symlink-race DIR SECONDS
  if (strcmp(mode, "symlink-race") == 0 && argc > 3) return symlink_race(argv[2], atol(argv[3]));
  // open PATH r|w|c: open for reading, writing, or creating; prints ret=0 or err=ENAME.
  if (strcmp(mode, "open") == 0 && argc > 3) {
    int flags = argv[3][0] == 'r' ? O_RDONLY : argv[3][0] == 'w' ? O_WRONLY : O_WRONLY | O_CREAT;
    int fd = open(arg, flags, 0644);
    report(fd < 0 ? -1 : 0);
    return 0;
  }
  // open-null: open(NULL), which the kernel answers with EFAULT.
  if (strcmp(mode, "open-null") == 0) {
    report(syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY));
    return 0;
  }
  // open-long N: a path of N bytes ("/" then "a"s).
  if (strcmp(mode, "open-long") == 0) {
    size_t n = (size_t)atol(arg);
    char* p = malloc(n + 1);
    memset(p, 'a', n);
    p[0] = '/';
    p[n] = 0;
    report(open(p, O_RDONLY));
    return 0;
  }
  // stat PATH
  if (strcmp(mode, "stat") == 0) {
    struct stat st;
    report(stat(arg, &st));
    return 0;
  }
  // stat-write PATH N FILE: stat PATH N times (one line for all), then, unless FILE is "", open
  // FILE for writing.
  if (strcmp(mode, "stat-write") == 0 && argc > 4) {
    struct stat st;
    long r = 0;
    for (int i = 0; i < atoi(argv[3]) && r == 0; ++i) r = stat(arg, &st);
    report(r);
    if (argv[4][0] != 0) report(open(argv[4], O_WRONLY) < 0 ? -1 : 0);
    return 0;
  }
  // calls NAME N: the syscall N times, one result line each.
  if (strcmp(mode, "calls") == 0 && argc > 3) {
    for (int i = 0; i < atoi(argv[3]); ++i) report(call(arg));
    return 0;
  }
  // calls-then-fork NAME N: N calls, then a child makes one more (and the parent one after it).
  // fork-exit N: N children one after another, each exiting at once and reaped.
  if (strcmp(mode, "fork-exit") == 0) {
    int reaped = 0;
    for (int i = 0; i < atoi(arg); ++i) {
      pid_t child = fork();
      if (child == 0) _exit(0);
      reaped += child > 0 && waitpid(child, NULL, 0) == child;
    }
    printf("reaped=%d\n", reaped);
    return 0;
  }
  // poll-child N: polls a sleeping child N times with waitpid(WNOHANG), then kills and reaps it.
  if (strcmp(mode, "poll-child") == 0) {
    pid_t child = fork();
    if (child == 0) {
      pause();
      _exit(0);
    }
    int polls = 0;
    for (int i = 0; i < atoi(arg); ++i) polls += waitpid(child, NULL, WNOHANG) == 0;
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    printf("polls=%d signal=%d\n", polls, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
  }
  // child-opens PATH N: a child opens PATH N times while its parent waits for it (from 100 ms
  // on: by then the parent sleeps in its wait, even on a busy machine).
  if (strcmp(mode, "child-opens") == 0 && argc > 3) {
    pid_t child = fork();
    if (child == 0) {
      struct timespec settle = {0, 100000000};
      nanosleep(&settle, NULL);
      for (int i = 0; i < atoi(argv[3]); ++i) {
        int fd = open(arg, O_RDONLY);
        if (fd >= 0) close(fd);
      }
      _exit(0);
    }
    int status = -1;
    waitpid(child, &status, 0);
    report(status);
    return 0;
  }
  // leader-exits PATH N: the main thread ends with pthread_exit (a zombie until the process
  // ends) while a second thread opens PATH N times.
  if (strcmp(mode, "leader-exits") == 0 && argc > 3) {
    opens_path = arg;
    opens_count = atol(argv[3]);
    pthread_t t;
    if (pthread_create(&t, NULL, late_opener, NULL) != 0) return 101;
    pthread_exit(NULL);
  }
  if (strcmp(mode, "calls-then-fork") == 0 && argc > 3) {
    for (int i = 0; i < atoi(argv[3]); ++i) call(arg);
    pid_t child = fork();
    if (child == 0) {
      call(arg);
      _exit(0);
    }
    waitpid(child, NULL, 0);
    call(arg);
    return 0;
  }
  if (strcmp(mode, "segv") == 0) {
    *(volatile int*)16 = 1;
    return 0;
  }
  if (strcmp(mode, "abort") == 0) abort();
  return 100;
}
