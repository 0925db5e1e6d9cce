// The wait race, shared by the test programs: a task that waits for its children has the kernel
// write each one's status into the path being opened. The path ends in 'X'; a child's status
// (exit code 7: bytes 00 07 00 00) written over it cuts the name short, to another file. The
// waiter is a second thread, or another process sharing the path's memory (MAP_SHARED).
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char* wait_race_at;
static volatile int wait_race_stop;

static void wait_race_loop(void) {
  while (!wait_race_stop) {
    pid_t child = fork();
    if (child == 0) _exit(7);
    if (child < 0 || wait4(child, (int*)(void*)wait_race_at, 0, NULL) != child) return;
  }
}

static void* wait_race_thread(void* unused) {
  (void)unused;
  wait_race_loop();
  return NULL;
}

// Opens PATH (a name ending in 'X'), restoring its last byte before each open, until SECONDS
// pass. Prints `won` if a file starting with "SECRET" was ever read, else "lost N attempts".
static int wait_race(const char* path, long seconds, int shared, const char* won) {
  static char own[512];
  size_t n = strlen(path);
  if (n < 2 || n + 8 >= sizeof own) return 110;
  char* buf = own;
  if (shared) {
    buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return 111;
  }
  strcpy(buf, path);
  wait_race_at = buf + n - 1;
  pid_t waiter = -1;
  pthread_t thread;
  if (shared) {
    waiter = fork();
    if (waiter == 0) {
      wait_race_loop();
      _exit(0);
    }
  } else if (pthread_create(&thread, NULL, wait_race_thread, NULL) != 0) {
    return 112;
  }
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long attempts = 0;
  for (;;) {
    buf[n - 1] = path[n - 1];
    buf[n] = '\0';
    int fd = open(buf, O_RDONLY);
    ++attempts;
    if (fd >= 0) {
      char data[16] = {0};
      ssize_t got = read(fd, data, sizeof data - 1);
      close(fd);
      if (got > 0 && strncmp(data, "SECRET", 6) == 0) {
        printf("%s after %ld attempts\n", won, attempts);
        fflush(stdout);
        if (shared) kill(waiter, SIGKILL);
        _exit(0);
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= seconds) break;
  }
  wait_race_stop = 1;
  if (shared) {
    kill(waiter, SIGKILL);
    waitpid(waiter, NULL, 0);
  } else {
    pthread_join(thread, NULL);
  }
  printf("lost %ld attempts\n", attempts);
  return 0;
}
