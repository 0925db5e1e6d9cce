// Hostile programs: each mode tries one way out of the sandbox. hostile MODE [ARGS...]
// A mode prints what it achieved ("ESCAPED ...") or what stopped it; the tests assert the
// sandbox's verdict and that nothing escaped. Run these only inside the sandbox under test,
// inside the test guard (a fresh PID namespace and a pids cgroup).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wait_race.h"

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

// execv(argv[0], argv) (a thread's start routine); reports a failure.
static void* exec_self(void* arg) {
  char** argv = arg;
  execv("/proc/self/exe", argv);
  result("execv", -1);
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

static volatile unsigned long sink;

// Burns `ms` ms of this thread's CPU time (forever when negative).
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

// In a new process that the caller never waits for: "child" a child of ours, "orphan" a
// grandchild whose parent exits at once (it is reparented to the namespace's init). Returns 1
// in that process, 0 in the caller (-1 if fork failed).
static int detached(const char* how) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid > 0) {
    if (strcmp(how, "orphan") == 0) waitpid(pid, NULL, 0);  // the middle process, gone at once
    return 0;
  }
  if (strcmp(how, "orphan") == 0 && fork() != 0) _exit(0);
  return 1;
}

// Touches `mib` MiB of memory that this process keeps: private (malloc'd) or a shared
// anonymous mapping (which RLIMIT_DATA does not count).
static void hold_memory(long mib, int shared) {
  size_t size = (size_t)mib << 20;
  char* p = shared ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
                   : malloc(size);
  if (p == NULL || p == MAP_FAILED) _exit(3);
  for (size_t i = 0; i < size; i += 4096) p[i] = 1;
}

// fill PATH MIB THEN: writes MIB MiB into PATH in 1 MiB chunks, says how far it got, then
// "stay" (keeps it 2 s), "exit" (leaves it there and exits), or "unlink" (removes its name,
// keeps it open for 2 s: the memory stays in use).
static int fill(const char* path, long mib, const char* then) {
  static char chunk[1 << 20];
  memset(chunk, 'x', sizeof chunk);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    result("open", -1);
    return 1;
  }
  long done = 0;
  for (; done < mib; ++done)
    if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) break;
  printf("fill wrote %ld MiB of %ld%s%s\n", done, mib, done < mib ? ": " : "",
         done < mib ? strerrorname_np(errno) : "");
  fflush(stdout);
  if (strcmp(then, "unlink") == 0) result("unlink", unlink(path));
  if (strcmp(then, "exit") != 0) sleep_ms(2000);
  return 0;
}

// The directory of `path`, opened as a dirfd (for the *at forms); `base` gets its last component.
static int dir_of(const char* path, char* base, size_t size) {
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  snprintf(base, size, "%s", basename(copy));
  snprintf(copy, sizeof copy, "%s", path);
  return open(dirname(copy), O_RDONLY | O_DIRECTORY);
}

// fs OP FILE [DST]: one operation on a file's name or metadata, by every form the kernel takes
// (path, dirfd, AT_EMPTY_PATH, NULL path, fd); prints "OP ret=..." or "OP err=...". A hard link
// that succeeds is written through, as an escape would.
static int fs_op(const char* op, const char* file, const char* dst) {
  static const struct timespec ts[2] = {{1, 0}, {1, 0}};
  static const struct timeval tv[2] = {{1, 0}, {1, 0}};
  // Its own ids: a chown that changes nothing still needs the grant (and no capability).
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  char base[4096];
  long r = -1;
  // The fd forms act on an fd of the file; /dev/null opens for writing, anything else reading.
  const int fd = strncmp(op, "readlink", 8) == 0  ? -1
                 : strcmp(file, "/dev/null") == 0 ? open(file, O_WRONLY)
                                                  : open(file, O_RDONLY);
  if (strcmp(op, "unlink") == 0) {
    r = unlink(file);
  } else if (strcmp(op, "unlinkat") == 0) {
    r = unlinkat(dir_of(file, base, sizeof base), base, 0);
  } else if (strcmp(op, "rename") == 0) {
    r = rename(file, dst);
  } else if (strcmp(op, "rename-over") == 0) {  // dst replaces file
    r = rename(dst, file);
  } else if (strcmp(op, "renameat2") == 0) {
    r = syscall(SYS_renameat2, dir_of(file, base, sizeof base), base, AT_FDCWD, dst, 0);
  } else if (strcmp(op, "exchange") == 0) {
    r = syscall(SYS_renameat2, AT_FDCWD, file, AT_FDCWD, dst, 2 /* RENAME_EXCHANGE */);
  } else if (strcmp(op, "chmod") == 0) {
    r = chmod(file, 0600);
  } else if (strcmp(op, "fchmodat") == 0) {
    r = syscall(SYS_fchmodat, dir_of(file, base, sizeof base), base, 0600);
  } else if (strcmp(op, "fchmodat2-empty") == 0) {
    r = syscall(452 /* fchmodat2 */, fd, "", 0600, AT_EMPTY_PATH);
  } else if (strcmp(op, "fchmodat2-null") == 0) {
    r = syscall(452 /* fchmodat2 */, fd, NULL, 0600, AT_EMPTY_PATH);
  } else if (strcmp(op, "fchmod") == 0) {
    r = fchmod(fd, 0600);
  } else if (strcmp(op, "chown") == 0) {
    r = chown(file, uid, gid);
  } else if (strcmp(op, "lchown") == 0) {
    r = lchown(file, uid, gid);
  } else if (strcmp(op, "fchownat") == 0) {
    r = fchownat(dir_of(file, base, sizeof base), base, uid, gid, 0);
  } else if (strcmp(op, "fchownat-empty") == 0) {
    r = syscall(SYS_fchownat, fd, "", uid, gid, AT_EMPTY_PATH);
  } else if (strcmp(op, "fchownat-null") == 0) {
    r = syscall(SYS_fchownat, fd, NULL, uid, gid, AT_EMPTY_PATH);
  } else if (strcmp(op, "fchown") == 0) {
    r = fchown(fd, uid, gid);
  } else if (strcmp(op, "utimes") == 0) {
    r = utimes(file, tv);
  } else if (strcmp(op, "utimensat") == 0) {
    r = syscall(SYS_utimensat, AT_FDCWD, file, ts, 0);
  } else if (strcmp(op, "utimensat-dirfd") == 0) {
    r = syscall(SYS_utimensat, dir_of(file, base, sizeof base), base, ts, 0);
  } else if (strcmp(op, "utimensat-null") == 0) {
    r = syscall(SYS_utimensat, fd, NULL, ts, 0);
  } else if (strcmp(op, "utimensat-empty") == 0) {
    r = syscall(SYS_utimensat, fd, "", ts, AT_EMPTY_PATH);
  } else if (strcmp(op, "futimesat-null") == 0) {
    r = syscall(SYS_futimesat, fd, NULL, tv);
  } else if (strcmp(op, "link") == 0) {
    r = link(file, dst);
  } else if (strcmp(op, "linkat-follow") == 0) {
    r = linkat(AT_FDCWD, file, AT_FDCWD, dst, AT_SYMLINK_FOLLOW);
  } else if (strcmp(op, "linkat-empty") == 0) {
    r = linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH);
  } else if (strcmp(op, "linkat-null") == 0) {
    r = syscall(SYS_linkat, fd, NULL, AT_FDCWD, dst, AT_EMPTY_PATH);
  } else if (strcmp(op, "mkdir") == 0) {
    r = mkdir(file, 0755);
  } else if (strcmp(op, "rmdir") == 0) {
    r = rmdir(file);
  } else if (strcmp(op, "mknod") == 0) {
    r = mknod(file, S_IFIFO | 0644, 0);
  } else if (strcmp(op, "symlink") == 0) {
    r = symlink("/etc/passwd", file);
  } else if (strcmp(op, "readlinkat-empty") == 0) {  // the link an O_PATH fd refers to
    char buf[4096];
    r = readlinkat(open(file, O_PATH | O_NOFOLLOW), "", buf, sizeof buf);
  } else if (strcmp(op, "truncate") == 0) {
    r = truncate(file, 0);
  } else {
    printf("unknown fs op %s\n", op);
    return 100;
  }
  result(op, r);
  if (r == 0 && strncmp(op, "link", 4) == 0) {
    int w = open(dst, O_WRONLY | O_TRUNC);
    if (w >= 0 && write(w, "ESCAPED\n", 8) == 8) say("ESCAPED wrote through the new link");
  }
  return 0;
}

// fs-pipe OP: fchmod/fchown/fchmodat2/utimensat/linkat of a pipe, which has no name to check.
static int fs_pipe(const char* op, const char* dst) {
  int p[2];
  if (pipe(p) != 0) return 101;
  static const struct timespec ts[2] = {{1, 0}, {1, 0}};
  long r = -1;
  if (strcmp(op, "fchmod") == 0) r = fchmod(p[0], 0600);
  if (strcmp(op, "fchmodat2-empty") == 0) r = syscall(452, p[0], "", 0600, AT_EMPTY_PATH);
  if (strcmp(op, "utimensat-null") == 0) r = syscall(SYS_utimensat, p[0], NULL, ts, 0);
  if (strcmp(op, "linkat-empty") == 0) r = linkat(p[0], "", AT_FDCWD, dst, AT_EMPTY_PATH);
  result(op, r);
  return 0;
}

// reopen PATH MODE: open PATH (e.g. /proc/self/fd/0) with r, w, rw, rt (O_RDONLY|O_TRUNC),
// wct (O_WRONLY|O_CREAT|O_TRUNC) or wa (O_WRONLY|O_APPEND); what opens for writing is written.
static int reopen(const char* path, const char* mode) {
  int flags = O_RDONLY;
  if (strcmp(mode, "w") == 0) flags = O_WRONLY;
  if (strcmp(mode, "rw") == 0) flags = O_RDWR;
  if (strcmp(mode, "rt") == 0) flags = O_RDONLY | O_TRUNC;
  if (strcmp(mode, "wct") == 0) flags = O_WRONLY | O_CREAT | O_TRUNC;
  if (strcmp(mode, "wa") == 0) flags = O_WRONLY | O_APPEND;
  int fd = open(path, flags, 0644);
  result("reopen", fd);
  if (fd >= 0 && (flags & O_ACCMODE) != O_RDONLY && write(fd, "written\n", 8) != 8)
    say("write failed");
  if (fd >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n >= 0) {
      buf[n] = 0;
      printf("read: %s", buf);
      fflush(stdout);
    }
  }
  return 0;
}

// The kernel's signal-on-I/O chain aimed at `pid`: an owner, a signal (SIGKILL), O_ASYNC, and
// I/O that fires it. `first` names the step tried first (each one should end the run); the
// others follow in order, so that a sandbox that let one through is shown to be escaped.
static int sigio(const char* first, pid_t pid) {
  int p[2];
  if (pipe(p) != 0) return 1;
  int dir = open(".", O_RDONLY | O_DIRECTORY);
  struct f_owner_ex owner = {F_OWNER_PID, pid};
  int on = 1;
  if (strcmp(first, "setown") == 0) result("F_SETOWN", fcntl(p[0], F_SETOWN, pid));
  if (strcmp(first, "setown-ex") == 0) result("F_SETOWN_EX", fcntl(p[0], F_SETOWN_EX, &owner));
  if (strcmp(first, "setsig") == 0) result("F_SETSIG", fcntl(p[0], F_SETSIG, SIGKILL));
  if (strcmp(first, "async") == 0)
    result("F_SETFL O_ASYNC", fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK));
  if (strcmp(first, "fioasync") == 0) result("FIOASYNC", ioctl(p[0], FIOASYNC, &on));
  if (strcmp(first, "fiosetown") == 0) result("FIOSETOWN", ioctl(p[0], 0x8901, &pid));
  if (strcmp(first, "notify") == 0) {
    result("F_SETOWN dir", fcntl(dir, F_SETOWN, pid));
    result("F_NOTIFY", fcntl(dir, F_NOTIFY, DN_CREATE | DN_MULTISHOT));
  }
  if (strcmp(first, "lease") == 0) {
    int fd = open("lease", O_RDONLY);
    result("F_SETLEASE", fcntl(fd, F_SETLEASE, F_RDLCK));
  }
  result("F_SETOWN", fcntl(p[0], F_SETOWN, pid));
  result("F_SETSIG", fcntl(p[0], F_SETSIG, SIGKILL));
  result("F_SETFL O_ASYNC", fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK));
  result("write", write(p[1], "x", 1));
  sleep_ms(100);
  say("ESCAPED the kernel was asked to signal the target");
  return 0;
}

// A unix datagram socketpair that sends to the named socket at `path` through `how`: sendmsg,
// sendmmsg or sendto with a destination address, or sendmsg without one (to its peer).
static int send_named(const char* how, const char* path) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) {
    result("socketpair", -1);
    return 1;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  char data[] = "ESCAPED";
  struct iovec iov = {data, sizeof data - 1};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (strcmp(how, "sendmsg-peer") == 0) {
    result("sendmsg peer", sendmsg(sv[0], &msg, 0));
    return 0;
  }
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  if (strcmp(how, "sendmsg") == 0) result("sendmsg", sendmsg(sv[0], &msg, 0));
  if (strcmp(how, "sendmmsg") == 0) {
    struct mmsghdr v[3];
    memset(v, 0, sizeof v);
    v[0].msg_hdr.msg_iov = &iov;  // the first two go to the peer, the third by name
    v[0].msg_hdr.msg_iovlen = 1;
    v[1].msg_hdr = v[0].msg_hdr;
    v[2].msg_hdr = msg;
    result("sendmmsg", sendmmsg(sv[0], v, 3, 0));
  }
  if (strcmp(how, "sendto") == 0)
    result("sendto", sendto(sv[0], data, sizeof data - 1, 0, (struct sockaddr*)&addr, sizeof addr));
  return 0;
}

// sendmsg-race: a second thread flips msg_name between NULL and the named socket while the main
// thread sends without a name: a check that reads the header, then lets the kernel read it
// again, would be won.
static struct msghdr race_msg;
static struct sockaddr_un race_addr;
static void* flip_name(void* unused) {
  (void)unused;
  for (;;) {
    race_msg.msg_name = NULL;
    race_msg.msg_namelen = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    race_msg.msg_name = &race_addr;
    race_msg.msg_namelen = sizeof race_addr;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
  }
  return NULL;
}

// Opens `path` and prints `what` and its first line (of the first 63 bytes), or the errno.
static void open_print(const char* what, const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("%s err=%s\n", what, strerrorname_np(errno));
    fflush(stdout);
    return;
  }
  char buf[64] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  char* nl = n > 0 ? strchr(buf, '\n') : NULL;
  if (nl != NULL) *nl = 0;
  printf("%s %s%s\n", what, strcmp(buf, "SECRET") == 0 ? "ESCAPED " : "", buf);
  fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc < 2) return 100;
  const char* mode = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";

  // in-ns FLAGS MODE [ARGS...]: MODE from a child made with clone(FLAGS, hex: CLONE_NEW*), in
  // namespaces of its own (a user namespace makes it root there, with every capability).
  if (strcmp(mode, "in-ns") == 0 && argc > 3) {
    long pid = raw_clone(strtoul(arg, NULL, 16) | SIGCHLD);
    if (pid == 0) {
      argv[2] = argv[0];
      fflush(stdout);
      _exit(main(argc - 2, argv + 2));
    }
    if (pid < 0) {
      result("clone", pid);
      return 1;
    }
    int status = 0;
    waitpid((pid_t)pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }
  // forge: verdict-shaped lines on stdout and stderr (runprog's UOJ line and JSON result), then
  // an unfinished line, then a runtime error: a reader of runprog's output must not be fooled.
  if (strcmp(mode, "forge") == 0) {
    const char* fake = "0 1 100 0\n{\"status\":\"normal\",\"exit_status\":0}\n0 1 100 0";
    fputs(fake, stdout);
    fputs(fake, stderr);
    fflush(stdout);
    fflush(stderr);
    return 3;
  }
  // sparse-map: a 512 GiB read-only mapping, one read every 2 MiB: no resident memory to speak
  // of (the zero page), but a page table page per read (1 GiB of them in all).
  if (strcmp(mode, "sparse-map") == 0) {
    const size_t size = (size_t)512 << 30;
    volatile char* p =
        mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      result("mmap", -1);
      return 1;
    }
    long sum = 0;
    for (size_t off = 0; off < size; off += (size_t)2 << 20) sum += p[off];
    printf("ESCAPED touched all, sum %ld\n", sum);
    return 0;
  }
  // thread-exec FROM MODE [ARGS...]: with three other threads running, exec ourselves in MODE,
  // from the main thread (FROM "leader") or from one of the others ("thread").
  if (strcmp(mode, "thread-exec") == 0 && argc > 3) {
    static char** exec_argv;
    argv[2] = argv[0];
    exec_argv = argv + 2;
    pthread_t t[3];
    for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, pause_forever, NULL);
    sleep_ms(20);
    if (strcmp(arg, "thread") == 0) {
      pthread_t execer;
      pthread_create(&execer, NULL, exec_self, exec_argv);
      pthread_join(execer, NULL);
    } else {
      exec_self(exec_argv);
    }
    return 1;
  }
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
  // ids: every id the kernel checks permissions with.
  if (strcmp(mode, "ids") == 0) {
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("uid=%d,%d,%d gid=%d,%d,%d groups=%d\n", (int)ru, (int)eu, (int)su, (int)rg, (int)eg,
           (int)sg, getgroups(0, NULL));
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
    // A child that has exited and is not waited for yet (a zombie): still its pid, and a kill
    // of it succeeds (a parent that stops a child which already ended).
    pid_t done = fork();
    if (done == 0) _exit(0);
    siginfo_t ended;
    waitid(P_PID, (id_t)done, &ended, WEXITED | WNOWAIT);  // ended, and left a zombie
    result("kill exited child", kill(done, SIGTERM));
    waitpid(done, NULL, 0);
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
  // open-again PATH: opens PATH 16 times (a path named that often is remembered) and prints
  // its first line ("first ..."), waits for a line on stdin, then opens it again ("second
  // ..."): a path the tracer remembers, changed in between by another hand, must be judged anew.
  if (strcmp(mode, "open-again") == 0 && argc > 2) {
    for (int i = 0; i < 15; ++i) close(open(arg, O_RDONLY));
    open_print("first", arg);
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
    open_print("second", arg);
    return 0;
  }
  // swap-dir DIR SECRET: opens DIR/sub/file ("first ..."), then moves DIR/sub away and puts a
  // symlink to the directory SECRET in its place, and opens DIR/sub/file again ("second ..."):
  // the program's own change to a path it named before.
  if (strcmp(mode, "swap-dir") == 0 && argc > 3) {
    char path[4096], sub[4096], old[4096];
    snprintf(path, sizeof path, "%s/sub/file", arg);
    snprintf(sub, sizeof sub, "%s/sub", arg);
    snprintf(old, sizeof old, "%s/old", arg);
    open_print("first", path);
    result("rename", rename(sub, old));
    result("symlink", symlink(argv[3], sub));
    open_print("second", path);
    return 0;
  }
  // proc-pid-twice: opens /proc/<own pid>/status by its number ("first ..."), then a child
  // opens the same path ("second ..."): what was its parent's own /proc entry is another
  // process's for the child.
  if (strcmp(mode, "proc-pid-twice") == 0) {
    char pid[32] = {0}, path[64];
    if (readlink("/proc/self", pid, sizeof pid - 1) <= 0) return 101;
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    open_print("first", path);
    const pid_t child = fork();
    if (child == 0) {
      open_print("second", path);
      _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
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
  // leave-memory HOW MIB MS: a process we never wait for (HOW: child, orphan, shared = a
  // child holding a shared mapping) touches MIB MiB and stays; we sleep MS ms and exit 0.
  if (strcmp(mode, "leave-memory") == 0 && argc > 4) {
    const char* how = strcmp(arg, "shared") == 0 ? "child" : arg;
    // The MS ms count from when the memory is held (a busy machine may be slow to fault it in).
    int held[2];
    if (pipe(held) != 0) result("pipe", -1);
    int in_child = detached(how);
    if (in_child == 1) {
      hold_memory(atol(argv[3]), strcmp(arg, "shared") == 0);
      if (write(held[1], "h", 1) != 1) _exit(4);
      // Blocks for good in a syscall every profile allows (pause is not one: under the ns
      // runner it would be a SIGSYS death, which frees the memory).
      int never[2];
      if (pipe(never) != 0) _exit(5);
      for (;;) read(never[0], &never[1], sizeof never[1]);
    }
    if (in_child < 0) result("fork", -1);
    close(held[1]);
    char c;
    if (read(held[0], &c, 1) != 1) say("the holder died");
    sleep_ms(atol(argv[4]));
    say("left");
    return 0;
  }
  // leave-spinning HOW N SPIN_MS MS: N processes we never wait for (HOW: child, orphan) each
  // burn SPIN_MS ms of CPU (forever if negative) and exit; we sleep MS ms and exit 0.
  if (strcmp(mode, "leave-spinning") == 0 && argc > 5) {
    for (long i = 0; i < atol(argv[3]); ++i) {
      int in_child = detached(arg);
      if (in_child == 1) {
        spin_ms(atol(argv[4]));
        _exit(0);
      }
      if (in_child < 0) result("fork", -1);
    }
    sleep_ms(atol(argv[5]));
    say("left");
    return 0;
  }
  if (strcmp(mode, "fill") == 0 && argc > 4) return fill(arg, atol(argv[3]), argv[4]);
  // rewrite-fd FD: rewrite what FD's file held before us: clear O_APPEND, pwrite at offset 0,
  // seek back to 0 and write.
  if (strcmp(mode, "rewrite-fd") == 0 && argc > 2) {
    int fd = atoi(arg);
    int flags = fcntl(fd, F_GETFL);
    result("setfl", fcntl(fd, F_SETFL, flags & ~O_APPEND));
    result("pwrite", pwrite(fd, "ESCAPED", 7, 0));
    result("lseek", lseek(fd, 0, SEEK_SET));
    result("write", write(fd, "ESCAPED\n", 8));
    return 0;
  }
  // raise SIG: a signal to ourselves; "abort" calls abort(). Prints "survived" if it did.
  if (strcmp(mode, "raise") == 0 && argc > 2) {
    if (strcmp(arg, "abort") == 0) abort();
    kill(getpid(), atoi(arg));
    sleep_ms(100);
    say("survived");
    return 0;
  }
  if (strcmp(mode, "fs") == 0 && argc > 3) return fs_op(argv[2], argv[3], argc > 4 ? argv[4] : "");
  if (strcmp(mode, "fs-pipe") == 0 && argc > 2) return fs_pipe(argv[2], argc > 3 ? argv[3] : "");
  if (strcmp(mode, "reopen") == 0 && argc > 3) return reopen(argv[2], argv[3]);
  // Run as a #! interpreter: argv is [interpreter, "as-interpreter", script, ...].
  if (strcmp(mode, "as-interpreter") == 0) {
    printf("ran as the interpreter of %s\n", arg);
    return 0;
  }
  // fexec PATH ARGS...: execveat(fd, "", AT_EMPTY_PATH), as fexecve.
  if (strcmp(mode, "fexec") == 0 && argc > 2) {
    int fd = open(arg, O_RDONLY);
    extern char** environ;
    syscall(SYS_execveat, fd, "", argv + 2, environ, AT_EMPTY_PATH);
    result("execveat", -1);
    return 1;
  }
  // Signals from the kernel on I/O: sigio FIRST-STEP PID.
  if (strcmp(mode, "sigio") == 0 && argc > 3) return sigio(arg, (pid_t)atoi(argv[3]));
  // prlimit PID: lower another process's RLIMIT_NOFILE to 3 (it could not open a file).
  if (strcmp(mode, "prlimit") == 0) {
    struct rlimit l = {3, 3};
    result("prlimit64", syscall(SYS_prlimit64, atoi(arg), RLIMIT_NOFILE, &l, NULL));
    return 0;
  }
  // prlimit-raise: raise our own hard limit (as root the kernel would let us), then lower it.
  if (strcmp(mode, "prlimit-raise") == 0) {
    struct rlimit l;
    getrlimit(RLIMIT_NOFILE, &l);
    struct rlimit more = {l.rlim_max + 1, l.rlim_max + 1};
    result("prlimit64 raise", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &more, NULL));
    result("setrlimit raise", setrlimit(RLIMIT_NOFILE, &more));
    struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
    result("setrlimit infinity", setrlimit(RLIMIT_CPU, &inf));
    struct rlimit less = {l.rlim_max - 1, l.rlim_max - 1};
    result("setrlimit lower", setrlimit(RLIMIT_NOFILE, &less));
    getrlimit(RLIMIT_NOFILE, &l);
    printf("hard=%llu\n", (unsigned long long)l.rlim_max);
    return 0;
  }
  // clone-flags HEX: a child with these clone flags (new namespaces, CLONE_PARENT...).
  if (strcmp(mode, "clone-flags") == 0) {
    long pid = raw_clone(strtoul(arg, NULL, 16) | SIGCHLD);
    if (pid == 0) {
      say("ESCAPED the child runs");
      _exit(0);
    }
    result("clone", pid);
    return 0;
  }
  // clone-parent-loop N: N CLONE_PARENT children that would be the tracer's.
  if (strcmp(mode, "clone-parent-loop") == 0) {
    for (int i = 0; i < atoi(arg); ++i) {
      long pid = raw_clone(CLONE_PARENT | SIGCHLD);
      if (pid == 0) {
        for (;;) sleep_ms(1000);
      }
    }
    say("ESCAPED all children made");
    return 0;
  }
  if (strcmp(mode, "tiocsti") == 0) {
    char c = 'x';
    result("TIOCSTI", ioctl(0, TIOCSTI, &c));
    return 0;
  }
  // setflags FILE: make a file we may only read immutable (or append-only).
  if (strcmp(mode, "setflags") == 0) {
    int fd = open(arg, O_RDONLY);
    int flags = FS_APPEND_FL;
    result("FS_IOC_SETFLAGS", ioctl(fd, FS_IOC_SETFLAGS, &flags));
    return 0;
  }
  // The fd requests runtimes make keep working; others fail as the kernel fails unknown ones.
  if (strcmp(mode, "fd-requests") == 0) {
    int p[2];
    pipe(p);
    int n = 0, on = 1;
    struct winsize ws;
    result("TCGETS pipe", ioctl(p[0], TCGETS, &ws));
    result("TIOCGWINSZ pipe", ioctl(p[0], TIOCGWINSZ, &ws));
    result("FIONREAD", ioctl(p[0], FIONREAD, &n));
    result("FIONBIO", ioctl(p[0], FIONBIO, &on));
    result("FIOCLEX", ioctl(p[0], FIOCLEX));
    result("FS_IOC_GETFLAGS", ioctl(p[0], FS_IOC_GETFLAGS, &n));
    result("TCSETS", ioctl(p[0], TCSETS, &ws));
    result("F_GETFL", fcntl(p[0], F_GETFL) == (O_RDONLY | O_NONBLOCK) ? 0 : -1);
    result("F_SETFL", fcntl(p[0], F_SETFL, O_NONBLOCK | O_APPEND));
    result("F_DUPFD_CLOEXEC", fcntl(p[0], F_DUPFD_CLOEXEC, 10));
    result("F_GETOWN", fcntl(p[0], F_GETOWN));
    result("F_SETPIPE_SZ", fcntl(p[0], F_SETPIPE_SZ, 1 << 20));
    result("fcntl 1234", fcntl(p[0], 1234, 0));
    return 0;
  }
  // madvise ADVICE (a number) on a page of our own.
  if (strcmp(mode, "madvise") == 0) {
    char* page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = 1;
    result("madvise", madvise(page, 4096, atoi(arg)));
    return 0;
  }
  // clock-pid PID: read another process's CPU clock (pid 0: our own).
  if (strcmp(mode, "clock-pid") == 0) {
    struct timespec ts;
    clockid_t id = (clockid_t)((~(unsigned)atoi(arg) << 3) | 2);  // CPUCLOCK_SCHED of a process
    result("clock_gettime", syscall(SYS_clock_gettime, id, &ts));
    return 0;
  }
  // Our own thread's CPU clock by tid, and our own affinity by tid: allowed.
  if (strcmp(mode, "self-by-tid") == 0) {
    struct timespec ts;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6);
    result("clock_gettime thread", syscall(SYS_clock_gettime, id, &ts));
    cpu_set_t set;
    result("sched_getaffinity tid", sched_getaffinity(tid, sizeof set, &set) == 0 ? 0 : -1);
    result("sched_getaffinity pid", sched_getaffinity(getpid(), sizeof set, &set) == 0 ? 0 : -1);
    return 0;
  }
  // sched-setaffinity PID: pin another process to CPU 0.
  if (strcmp(mode, "sched-setaffinity") == 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    result("sched_setaffinity", sched_setaffinity(atoi(arg), sizeof set, &set));
    return 0;
  }
  if (strcmp(mode, "futex-pi") == 0) {
    static int word;
    result("FUTEX_LOCK_PI", syscall(SYS_futex, &word, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0));
    return 0;
  }
  // send HOW PATH: see send_named.
  if (strcmp(mode, "send") == 0 && argc > 3) return send_named(arg, argv[3]);
  if (strcmp(mode, "sendmsg-race") == 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 1;
    race_addr.sun_family = AF_UNIX;
    strncpy(race_addr.sun_path, arg, sizeof race_addr.sun_path - 1);
    char data[] = "ESCAPED";
    struct iovec iov = {data, sizeof data - 1};
    race_msg.msg_iov = &iov;
    race_msg.msg_iovlen = 1;
    pthread_t t;
    pthread_create(&t, NULL, flip_name, NULL);
    long sent = 0;
    for (int i = 0; i < 20000; ++i) {
      char buf[16];
      if (sendmsg(sv[0], &race_msg, MSG_DONTWAIT) > 0) ++sent;
      while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0) {
      }
    }
    printf("sent %ld\n", sent);
    return 0;
  }
  // wait-race PATHX SECONDS [shared]
  if (strcmp(mode, "wait-race") == 0 && argc > 3)
    return wait_race(arg, atol(argv[3]), argc > 4,
                     "ESCAPED read the secret through a wait's status");
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
