// A testlib-style interactor for a guessing game, run as `interactor INPUT OUTPUT`: the secret is
// the first number of INPUT; the solution asks "? x" (one per line) and is told "<" (the secret
// is smaller), ">" (larger) or "="; it answers "! x". At most 30 questions. The verdict is written
// to OUTPUT and is the exit code, as testlib's: 0 ok, 1 wrong answer, 2 presentation error,
// 3 fail (the interactor's own trouble).
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static FILE* out;

static void verdict(int code, const char* fmt, ...) {
  static const char* names[] = {"ok", "wrong answer", "presentation error", "fail"};
  if (out != NULL) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "%s ", names[code]);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
    fclose(out);
  }
  exit(code);
}

int main(int argc, char** argv) {
  // A solution that has gone is seen as EOF when reading, not as a death by SIGPIPE here.
  signal(SIGPIPE, SIG_IGN);
  if (argc < 3) verdict(3, "usage: interactor INPUT OUTPUT");
  out = fopen(argv[2], "w");
  if (out == NULL) verdict(3, "cannot open the output file");
  FILE* in = fopen(argv[1], "r");
  long secret;
  if (in == NULL || fscanf(in, "%ld", &secret) != 1) verdict(3, "cannot read the secret");
  for (int asked = 0;;) {
    char c;
    long x;
    if (scanf(" %c", &c) != 1) verdict(1, "unexpected EOF after %d questions", asked);
    if (c != '?' && c != '!') verdict(2, "expected '?' or '!', got '%c'", c);
    if (scanf("%ld", &x) != 1) verdict(2, "expected a number after '%c'", c);
    if (c == '!') {
      if (x == secret) verdict(0, "found %ld in %d questions", secret, asked);
      verdict(1, "answered %ld, the secret is %ld", x, secret);
    }
    if (++asked > 30) verdict(1, "more than 30 questions");
    printf("%s\n", secret < x ? "<" : secret > x ? ">" : "=");
    fflush(stdout);
  }
}
