// The README's first example: reads a number n and prints the sum 1 + 2 + ... + n.
#include <iostream>

int main() {
  long long n = 0;
  if (!(std::cin >> n) || n < 0) {
    std::cerr << "expected a non-negative number\n";
    return 1;
  }
  std::cout << "Hello! 1 + ... + " << n << " = " << n * (n + 1) / 2 << "\n";
  return 0;
}
