// The programs of bench/load_bench.cc (static, no libc surprises):
//   spin N      N million iterations of a dependent loop (fixed CPU work)
//   spin2 N     the same work split over two threads
//   opens N     N open+close of /etc/ld.so.cache (path-checked syscalls)
//   echo        copies stdin to stdout (a short judge-like run)
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t work(long millions) {
  volatile uint64_t x = 1;
  for (long i = 0; i < millions * 1000000L; ++i)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

static void* half(void* arg) {
  work((long)(intptr_t)arg);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) return 100;
  const long n = argc > 2 ? atol(argv[2]) : 0;
  if (strcmp(argv[1], "spin") == 0) return (int)(work(n) & 0);
  if (strcmp(argv[1], "spin2") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, half, (void*)(intptr_t)(n / 2)) != 0) return 101;
    work(n - n / 2);
    pthread_join(t, NULL);
    return 0;
  }
  if (strcmp(argv[1], "opens") == 0) {
    for (long i = 0; i < n; ++i) {
      int fd = open("/etc/ld.so.cache", O_RDONLY);
      if (fd < 0) return 102;
      close(fd);
    }
    return 0;
  }
  if (strcmp(argv[1], "echo") == 0) {
    char buf[4096];
    ssize_t r;
    while ((r = read(0, buf, sizeof buf)) > 0)
      if (write(1, buf, (size_t)r) != r) return 103;
    return 0;
  }
  return 100;
}
