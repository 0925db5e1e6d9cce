#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

static int depth(int n) { return n == 0 ? 0 : 1 + depth(n - 1); }

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "sort") {
    std::ios::sync_with_stdio(false);
    std::cin.tie(nullptr);
    int n = 0;
    std::cin >> n;
    std::vector<long long> a(n);
    for (auto& x : a) std::cin >> x;
    std::sort(a.begin(), a.end());
    for (int i = 0; i < n; ++i) std::cout << a[i] << (i + 1 < n ? ' ' : '\n');
  } else if (mode == "deep") {
    volatile int d = depth(100000);  // the main thread's stack is the judge's stack limit
    std::printf("depth %d\n", d);
  } else if (mode == "stdin") {
    std::ifstream in("/dev/stdin");
    long long sum = 0;
    for (long long x; in >> x;) sum += x;
    std::printf("sum %lld\n", sum);
  } else if (mode == "file") {
    std::ifstream in(argv[2]);
    std::string line;
    if (!in || !std::getline(in, line)) return std::puts("refused"), 1;
    std::printf("read %s\n", line.c_str());
  } else if (mode == "socket") {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return std::printf("refused %s\n", std::strerror(errno)), 0;
    std::puts("socket ok");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  return 0;
}
