// The smallest program to spawn: exits at once. Built static, so that the dynamic loader's
// work does not dilute what the spawn benchmarks compare.
int main(void) { return 0; }
