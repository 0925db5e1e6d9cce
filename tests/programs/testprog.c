// The programs the tests run, one binary with a mode argument: testprog MODE [ARGS...].
// Output goes to stdout, one item per line, so that tests can compare it exactly.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static int usage(void) {
  fprintf(stderr, "usage: testprog MODE [ARGS...]\n");
  return 100;
}

// Prints each argument followed by a NUL byte (so any byte but NUL round-trips).
static int mode_args(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) fwrite(argv[i], 1, strlen(argv[i]) + 1, stdout);
  return 0;
}

static int mode_env(void) {
  for (char** e = environ; *e != NULL; ++e) fwrite(*e, 1, strlen(*e) + 1, stdout);
  return 0;
}

// Open fds, found without /proc, one per line with its access mode.
static int mode_fds(void) {
  for (int fd = 0; fd < 4096; ++fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) continue;
    const char* mode = (fl & O_ACCMODE) == O_RDONLY   ? "r"
                       : (fl & O_ACCMODE) == O_WRONLY ? "w"
                                                      : "rw";
    dprintf(1, "%d %s\n", fd, mode);
  }
  return 0;
}

static int mode_uts(void) {
  struct utsname u;
  if (uname(&u) != 0) return 1;
  printf("%s\n%s\n", u.nodename, u.domainname);
  return 0;
}

static int mode_ids(void) {
  gid_t groups[64];
  int n = getgroups(64, groups);
  printf("uid=%d gid=%d groups=%d\n", (int)getuid(), (int)getgid(), n);
  return 0;
}

static int mode_cat(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == NULL) {
    printf("error %s\n", strerror(errno));
    return 1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
  fclose(f);
  return 0;
}

// Tries to create and write a file; prints "ok" or the errno name.
static int mode_write(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) {
    printf("error %s\n", strerrorname_np(errno));
    return 1;
  }
  close(fd);
  printf("ok\n");
  return 0;
}

static int mode_cwd(void) {
  char buf[4096];
  if (getcwd(buf, sizeof buf) == NULL) return 1;
  printf("%s\n", buf);
  return 0;
}

static int mode_rlimit(const char* which) {
  int res = strcmp(which, "nofile") == 0  ? RLIMIT_NOFILE
            : strcmp(which, "cpu") == 0   ? RLIMIT_CPU
            : strcmp(which, "fsize") == 0 ? RLIMIT_FSIZE
            : strcmp(which, "data") == 0  ? RLIMIT_DATA
            : strcmp(which, "stack") == 0 ? RLIMIT_STACK
                                          : RLIMIT_CORE;
  struct rlimit r;
  getrlimit(res, &r);
  printf("%llu %llu\n", (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max);
  return 0;
}

// Signal dispositions and the blocked mask: "ignored=N blocked=N".
static int mode_signals(void) {
  int ignored = 0, handled = 0;
  for (int s = 1; s < 65; ++s) {
    struct sigaction sa;
    if (sigaction(s, NULL, &sa) != 0) continue;
    if (sa.sa_handler == SIG_IGN)
      ++ignored;
    else if (sa.sa_handler != SIG_DFL)
      ++handled;
  }
  sigset_t set;
  sigprocmask(SIG_SETMASK, NULL, &set);
  int blocked = 0;
  for (int s = 1; s < 65; ++s) blocked += sigismember(&set, s) == 1;
  printf("ignored=%d handled=%d blocked=%d\n", ignored, handled, blocked);
  return 0;
}

static int mode_sleep(const char* ms) {
  long v = atol(ms);
  struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  return 0;
}

// PID namespace view: "pid=N ppid=N".
static int mode_pidns(void) {
  printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
  return 0;
}

// Leaves a child behind that sleeps for a minute, and exits.
static int mode_orphan(void) {
  pid_t child = fork();
  if (child == 0) {
    struct timespec ts = {60, 0};
    nanosleep(&ts, NULL);
    _exit(0);
  }
  printf("child=%d\n", (int)child);
  return child > 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const char* mode = argv[1];
  if (strcmp(mode, "exit") == 0 && argc > 2) return atoi(argv[2]);
  if (strcmp(mode, "args") == 0) return mode_args(argc, argv);
  if (strcmp(mode, "env") == 0) return mode_env();
  if (strcmp(mode, "fds") == 0) return mode_fds();
  if (strcmp(mode, "uts") == 0) return mode_uts();
  if (strcmp(mode, "ids") == 0) return mode_ids();
  if (strcmp(mode, "cat") == 0 && argc > 2) return mode_cat(argv[2]);
  if (strcmp(mode, "write") == 0 && argc > 3) return mode_write(argv[2], argv[3]);
  if (strcmp(mode, "cwd") == 0) return mode_cwd();
  if (strcmp(mode, "rlimit") == 0 && argc > 2) return mode_rlimit(argv[2]);
  if (strcmp(mode, "signals") == 0) return mode_signals();
  if (strcmp(mode, "sleep") == 0 && argc > 2) return mode_sleep(argv[2]);
  if (strcmp(mode, "pidns") == 0) return mode_pidns();
  if (strcmp(mode, "orphan") == 0) return mode_orphan();
  if (strcmp(mode, "abort") == 0) abort();
  return usage();
}
