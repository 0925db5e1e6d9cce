#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/support.h"
#include "tracebox/rlimit/rlimit.h"

using namespace std::chrono_literals;
using tracebox::rlimit::Limits;
using tracebox::rlimit::prepare;
using tracebox::rlimit::RLimit;

namespace Catch {
template <>
struct StringMaker<RLimit> {
  static std::string convert(const RLimit& r) {
    return "{" + std::to_string(r.resource) + ", " + std::to_string(r.cur) + ", " +
           std::to_string(r.max) + "}";
  }
};
}  // namespace Catch

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

// Limits without the default core limit, so that a case sees only what it sets.
Limits bare() {
  Limits l;
  l.disable_core = false;
  return l;
}

// The CPU entry prepare() makes for `cpu` / `cpu_hard` (and nothing else).
RLimit cpu_entry(std::optional<std::chrono::nanoseconds> cpu,
                 std::optional<std::chrono::nanoseconds> hard) {
  Limits l = bare();
  l.cpu = cpu;
  l.cpu_hard = hard;
  auto v = prepare(l);
  REQUIRE(v.size() == 1);
  return v[0];
}

std::string size_string(std::uint64_t bytes) {
  return RLimit{RLIMIT_DATA, bytes, bytes}.to_string();
}

}  // namespace

TEST_CASE("every limit, in the fixed order, with exact values and strings", "[rlimit]") {
  Limits l;
  l.cpu = 1s;
  l.cpu_hard = 3s;
  l.data_bytes = 256 * MiB;
  l.file_size_bytes = 64 * MiB;
  l.stack_bytes = 8 * MiB;
  l.address_space_bytes = 1 * GiB;
  l.open_files = 256;
  l.processes = 64;
  l.disable_core = true;
  const auto v = prepare(l);
  const std::vector<RLimit> expected = {
      {RLIMIT_CPU, 1, 3},
      {RLIMIT_DATA, 256 * MiB, 256 * MiB},
      {RLIMIT_FSIZE, 64 * MiB, 64 * MiB},
      {RLIMIT_STACK, 8 * MiB, 8 * MiB},
      {RLIMIT_AS, 1 * GiB, 1 * GiB},
      {RLIMIT_NOFILE, 256, 256},
      {RLIMIT_NPROC, 64, 64},
      {RLIMIT_CORE, 0, 0},
  };
  CHECK(v == expected);
  REQUIRE(v.size() == 8);
  CHECK(v[0].to_string() == "CPU[1 s:3 s]");
  CHECK(v[1].to_string() == "Data[256 MiB:256 MiB]");
  CHECK(v[2].to_string() == "File[64 MiB:64 MiB]");
  CHECK(v[3].to_string() == "Stack[8 MiB:8 MiB]");
  CHECK(v[4].to_string() == "AddressSpace[1 GiB:1 GiB]");
  CHECK(v[5].to_string() == "OpenFile[256:256]");
  CHECK(v[6].to_string() == "Process[64:64]");
  CHECK(v[7].to_string() == "Core[0 B:0 B]");
  CHECK(tracebox::rlimit::to_string(v) ==
        "RLimits[CPU[1 s:3 s], Data[256 MiB:256 MiB], File[64 MiB:64 MiB], Stack[8 MiB:8 MiB], "
        "AddressSpace[1 GiB:1 GiB], OpenFile[256:256], Process[64:64], Core[0 B:0 B]]");
}

TEST_CASE("only the set limits appear, still in the fixed order", "[rlimit]") {
  SECTION("defaults: only the core limit") {
    const auto v = prepare(Limits{});
    CHECK(v == std::vector<RLimit>{{RLIMIT_CORE, 0, 0}});
    CHECK(tracebox::rlimit::to_string(v) == "RLimits[Core[0 B:0 B]]");
  }
  SECTION("nothing at all") {
    const auto v = prepare(bare());
    CHECK(v.empty());
    CHECK(tracebox::rlimit::to_string(v) == "RLimits[]");
  }
  SECTION("a few, set in an order unlike the output's") {
    Limits l;
    l.processes = 10;
    l.open_files = 16;
    l.stack_bytes = 1 * MiB;
    l.data_bytes = 3 * MiB / 2;
    const auto v = prepare(l);
    CHECK(v == std::vector<RLimit>{{RLIMIT_DATA, 3 * MiB / 2, 3 * MiB / 2},
                                   {RLIMIT_STACK, 1 * MiB, 1 * MiB},
                                   {RLIMIT_NOFILE, 16, 16},
                                   {RLIMIT_NPROC, 10, 10},
                                   {RLIMIT_CORE, 0, 0}});
    CHECK(tracebox::rlimit::to_string(v) ==
          "RLimits[Data[1.5 MiB:1.5 MiB], Stack[1 MiB:1 MiB], OpenFile[16:16], Process[10:10], "
          "Core[0 B:0 B]]");
  }
  SECTION("a zero value is a set value") {
    Limits l = bare();
    l.file_size_bytes = 0;
    l.open_files = 0;
    const auto v = prepare(l);
    CHECK(v == std::vector<RLimit>{{RLIMIT_FSIZE, 0, 0}, {RLIMIT_NOFILE, 0, 0}});
    CHECK(tracebox::rlimit::to_string(v) == "RLimits[File[0 B:0 B], OpenFile[0:0]]");
  }
  SECTION("the address space and the process count alone") {
    Limits l = bare();
    l.address_space_bytes = 512 * MiB;
    l.processes = 1;
    CHECK(prepare(l) ==
          std::vector<RLimit>{{RLIMIT_AS, 512 * MiB, 512 * MiB}, {RLIMIT_NPROC, 1, 1}});
  }
}

TEST_CASE("CPU limits are whole seconds rounded up, soft never 0, hard never below soft",
          "[rlimit]") {
  // Whole seconds stay as they are.
  CHECK(cpu_entry(1s, {}) == RLimit{RLIMIT_CPU, 1, 1});
  CHECK(cpu_entry(2s, 5s) == RLimit{RLIMIT_CPU, 2, 5});
  // Sub-second parts round up, never down.
  CHECK(cpu_entry(1500ms, {}) == RLimit{RLIMIT_CPU, 2, 2});
  CHECK(cpu_entry(1s + 1ns, {}) == RLimit{RLIMIT_CPU, 2, 2});
  CHECK(cpu_entry(999ms, {}) == RLimit{RLIMIT_CPU, 1, 1});
  CHECK(cpu_entry(1ns, {}) == RLimit{RLIMIT_CPU, 1, 1});
  CHECK(cpu_entry(500ms, 1200ms) == RLimit{RLIMIT_CPU, 1, 2});
  CHECK(cpu_entry(500ms, 500ms) == RLimit{RLIMIT_CPU, 1, 1});
  // A zero or negative soft limit still gets its first second (RLIMIT_CPU 0 is not "none").
  CHECK(cpu_entry(0s, {}) == RLimit{RLIMIT_CPU, 1, 1});
  CHECK(cpu_entry(-5s, {}) == RLimit{RLIMIT_CPU, 1, 1});
  CHECK(cpu_entry(0s, 0s) == RLimit{RLIMIT_CPU, 1, 1});
  // The hard limit is raised to the soft one.
  CHECK(cpu_entry(2500ms, 1s) == RLimit{RLIMIT_CPU, 3, 3});
  CHECK(cpu_entry(3s, 2001ms) == RLimit{RLIMIT_CPU, 3, 3});
  CHECK(cpu_entry(4s, 0s) == RLimit{RLIMIT_CPU, 4, 4});
  // Only a hard limit: it is both limits (a soft limit above the hard one is invalid, and an
  // unlimited pair would silently drop the limit that was asked for).
  CHECK(cpu_entry({}, 3s) == RLimit{RLIMIT_CPU, 3, 3});
  CHECK(cpu_entry({}, 2500ms) == RLimit{RLIMIT_CPU, 3, 3});
  CHECK(cpu_entry({}, 0s) == RLimit{RLIMIT_CPU, 1, 1});
  // The largest duration rounds up without overflowing.
  const auto max = std::chrono::nanoseconds::max();  // 9223372036.854775807 s
  CHECK(cpu_entry(max, {}) == RLimit{RLIMIT_CPU, 9223372037, 9223372037});
  CHECK(cpu_entry(1s, max) == RLimit{RLIMIT_CPU, 1, 9223372037});

  CHECK(cpu_entry(1500ms, 3s).to_string() == "CPU[2 s:3 s]");
  CHECK(cpu_entry(100ms, {}).to_string() == "CPU[1 s:1 s]");
  CHECK(RLimit{RLIMIT_CPU, RLIM_INFINITY, RLIM_INFINITY}.to_string() == "CPU[unlimited:unlimited]");
  CHECK(RLimit{RLIMIT_CPU, 1, RLIM_INFINITY}.to_string() == "CPU[1 s:unlimited]");
}

TEST_CASE("the CPU limit comes first, before every other limit", "[rlimit]") {
  Limits l;
  l.open_files = 8;
  l.cpu_hard = 7s;
  l.cpu = 6500ms;
  const auto v = prepare(l);
  CHECK(v == std::vector<RLimit>{{RLIMIT_CPU, 7, 7}, {RLIMIT_NOFILE, 8, 8}, {RLIMIT_CORE, 0, 0}});
  CHECK(tracebox::rlimit::to_string(v) == "RLimits[CPU[7 s:7 s], OpenFile[8:8], Core[0 B:0 B]]");
}

TEST_CASE("sizes print in B, KiB, MiB, GiB with one decimal when not whole", "[rlimit]") {
  CHECK(size_string(0) == "Data[0 B:0 B]");
  CHECK(size_string(1) == "Data[1 B:1 B]");
  CHECK(size_string(1023) == "Data[1023 B:1023 B]");
  CHECK(size_string(KiB) == "Data[1 KiB:1 KiB]");
  CHECK(size_string(KiB + 512) == "Data[1.5 KiB:1.5 KiB]");
  CHECK(size_string(KiB + 1) == "Data[1.0 KiB:1.0 KiB]");  // not whole: one decimal
  CHECK(size_string(100 * KiB) == "Data[100 KiB:100 KiB]");
  CHECK(size_string(1023 * KiB) == "Data[1023 KiB:1023 KiB]");
  CHECK(size_string(MiB) == "Data[1 MiB:1 MiB]");
  CHECK(size_string(MiB + MiB / 4) == "Data[1.2 MiB:1.2 MiB]");  // 1.25 to one decimal
  CHECK(size_string(MiB + 3 * MiB / 4) == "Data[1.8 MiB:1.8 MiB]");
  CHECK(size_string(256 * MiB) == "Data[256 MiB:256 MiB]");
  CHECK(size_string(GiB) == "Data[1 GiB:1 GiB]");
  CHECK(size_string(5 * GiB / 2) == "Data[2.5 GiB:2.5 GiB]");
  CHECK(size_string(4096 * GiB) == "Data[4096 GiB:4096 GiB]");  // GiB is the largest unit
  CHECK(size_string(RLIM_INFINITY) == "Data[unlimited:unlimited]");

  // Each size-valued resource under its own name; cur and max printed separately.
  CHECK(RLimit{RLIMIT_FSIZE, KiB, 2 * KiB}.to_string() == "File[1 KiB:2 KiB]");
  CHECK(RLimit{RLIMIT_STACK, 8 * MiB, RLIM_INFINITY}.to_string() == "Stack[8 MiB:unlimited]");
  CHECK(RLimit{RLIMIT_AS, 3 * GiB / 2, 2 * GiB}.to_string() == "AddressSpace[1.5 GiB:2 GiB]");
  CHECK(RLimit{RLIMIT_CORE, 0, RLIM_INFINITY}.to_string() == "Core[0 B:unlimited]");
  // Counts are plain numbers.
  CHECK(RLimit{RLIMIT_NOFILE, 1024, 4096}.to_string() == "OpenFile[1024:4096]");
  CHECK(RLimit{RLIMIT_NOFILE, RLIM_INFINITY, RLIM_INFINITY}.to_string() ==
        "OpenFile[unlimited:unlimited]");
  CHECK(RLimit{RLIMIT_NPROC, 2048, 2048}.to_string() == "Process[2048:2048]");
  CHECK(RLimit{RLIMIT_NPROC, 0, RLIM_INFINITY}.to_string() == "Process[0:unlimited]");
  // A resource without a name.
  CHECK(RLimit{RLIMIT_MEMLOCK, 1, 2}.to_string() ==
        "RLimit" + std::to_string(RLIMIT_MEMLOCK) + "[1:2]");
}

TEST_CASE("prepared limits are accepted by the kernel and read back unchanged", "[rlimit]") {
  // Lowering limits needs no privilege; do it in a forked child so that this process keeps its
  // own. The child reports through its exit status: 0 = all applied and read back.
  Limits l;
  l.cpu = 1500ms;
  l.cpu_hard = 4s;
  l.data_bytes = 512 * MiB;
  l.file_size_bytes = 16 * MiB;
  l.stack_bytes = 4 * MiB;
  l.address_space_bytes = 2 * GiB;
  l.open_files = 32;
  const auto v = prepare(l);
  REQUIRE(v.size() == 8 - 1);  // no process count
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      struct rlimit r {
        v[i].cur, v[i].max
      };
      if (::setrlimit(v[i].resource, &r) != 0) ::_exit(10 + static_cast<int>(i));
      struct rlimit back {};
      if (::getrlimit(v[i].resource, &back) != 0 || back.rlim_cur != v[i].cur ||
          back.rlim_max != v[i].max)
        ::_exit(30 + static_cast<int>(i));
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
