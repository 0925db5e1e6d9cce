// Solutions to the guessing game of interactor.c (secret in 1..1000000), one per mode:
//   right   binary search, then the secret
//   wrong   binary search, then the secret + 1
//   often   asks 1, 2, 3... (more than the 30 questions allowed)
//   never   waits for an answer without asking (both sides block)
//   flood   writes newlines endlessly (the interactor skips them, reading on)
//   early   asks once, reads the answer, and exits
//   close   asks once, reads the answer, closes its stdout, and reads on until EOF
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char ask(long x) {
  char c = 0;
  printf("? %ld\n", x);
  fflush(stdout);
  if (scanf(" %c", &c) != 1) return 0;
  return c;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "right";
  if (strcmp(mode, "never") == 0) {
    char c;
    return scanf(" %c", &c) == 1 ? 0 : 1;
  }
  if (strcmp(mode, "flood") == 0) {
    static char lines[4096];
    memset(lines, '\n', sizeof lines);
    for (;;) fwrite(lines, 1, sizeof lines, stdout);
  }
  if (strcmp(mode, "early") == 0) return ask(500000) == 0 ? 1 : 0;
  if (strcmp(mode, "close") == 0) {
    if (ask(500000) == 0) return 1;
    fclose(stdout);  // the interactor's EOF, while this process lives on
    char c;
    while (scanf(" %c", &c) == 1) {
    }
    return 0;
  }
  if (strcmp(mode, "often") == 0) {
    for (long x = 1;; ++x)
      if (ask(x) != '>') return 0;
  }
  long lo = 1, hi = 1000000;
  while (lo < hi) {
    const long mid = lo + (hi - lo) / 2;
    const char c = ask(mid);
    if (c == '=') {
      lo = hi = mid;
    } else if (c == '<') {
      hi = mid - 1;
    } else if (c == '>') {
      lo = mid + 1;
    } else {
      return 1;
    }
  }
  printf("! %ld\n", strcmp(mode, "wrong") == 0 ? lo + 1 : lo);
  fflush(stdout);
  return 0;
}
