// Spawn + reap of a tiny static program through forkexec::Runner, against the floor: a bare
// clone(CLONE_VM|CLONE_VFORK) + execve + waitpid written here. Both run in one process, side by
// side, first with a small host, then after the host touched 2 GiB (a fork would then copy 2 GiB
// of page tables). Report: the ratio Runner / floor at each size.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "tracebox/forkexec/runner.h"

namespace {

const char* kTiny = TRACEBOX_BENCH_TINY;

char* g_ballast = nullptr;

void set_host_size(std::size_t bytes) {
  static std::size_t current = 0;
  if (bytes == current) return;
  if (g_ballast != nullptr) ::munmap(g_ballast, current);
  g_ballast = nullptr;
  if (bytes != 0) {
    g_ballast = static_cast<char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::memset(g_ballast, 1, bytes);  // touch every page
  }
  current = bytes;
}

int floor_child(void*) {
  char* argv[] = {const_cast<char*>(kTiny), nullptr};
  char* envp[] = {nullptr};
  ::execve(kTiny, argv, envp);
  ::_exit(127);
}

void BM_Floor_VforkExec(benchmark::State& state) {
  set_host_size(static_cast<std::size_t>(state.range(0)) << 20);
  std::vector<char> stack(64 * 1024);
  for (auto _ : state) {
    pid_t pid = ::clone(floor_child, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD,
                        nullptr);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("floor child failed");
  }
}

void BM_Runner(benchmark::State& state) {
  set_host_size(static_cast<std::size_t>(state.range(0)) << 20);
  tracebox::forkexec::Runner r;
  r.args = {kTiny};
  for (auto _ : state) {
    auto child = r.start();
    auto e = child.wait();
    if (e.info.si_code != CLD_EXITED || e.info.si_status != 0) state.SkipWithError("child failed");
  }
}

// Interleave the two so that machine noise hits both alike; host size in MiB.
BENCHMARK(BM_Floor_VforkExec)->Arg(0)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_Runner)->Arg(0)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_Floor_VforkExec)->Arg(2048)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_Runner)->Arg(2048)->UseRealTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
