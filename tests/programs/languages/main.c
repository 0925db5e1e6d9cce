#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }

static int cmp(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "sort") == 0) {
    int n = 0;
    if (scanf("%d", &n) != 1) return 1;
    long long* a = malloc(sizeof *a * (size_t)n);
    for (int i = 0; i < n; ++i)
      if (scanf("%lld", &a[i]) != 1) return 1;
    qsort(a, (size_t)n, sizeof *a, cmp);
    for (int i = 0; i < n; ++i) printf("%lld%c", a[i], i + 1 < n ? ' ' : '\n');
  } else if (strcmp(mode, "deep") == 0) {
    volatile int d = depth(100000);
    printf("depth %d\n", d);
  } else if (strcmp(mode, "stdin") == 0) {
    FILE* in = fopen("/dev/stdin", "r");
    long long sum = 0, x;
    while (in && fscanf(in, "%lld", &x) == 1) sum += x;
    printf("sum %lld\n", sum);
  } else if (strcmp(mode, "file") == 0) {
    FILE* in = fopen(argv[2], "r");
    char line[256] = "";
    if (!in || !fgets(line, sizeof line, in)) return puts("refused"), 1;
    printf("read %s", line);
  } else if (strcmp(mode, "socket") == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return printf("refused %s\n", strerror(errno)), 0;
    puts("socket ok");
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(9);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(s, (struct sockaddr*)&a, sizeof a);
  }
  return 0;
}
