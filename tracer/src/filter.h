// A run's seccomp filter: built from its Policy and the Spec settings that change it, or taken
// from a PreparedPolicy built for the same settings.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer {

// Tags of the tracer's own rules (below the seccomp library's reserved ones).
inline constexpr std::uint16_t kTagCountAllow = 0xfe01;
inline constexpr std::uint16_t kTagCountErrno = 0xfe02;
inline constexpr std::uint16_t kTagMemory = 0xfe03;
inline constexpr std::uint16_t kTagStack = 0xfe04;
// wait4 and waitid without WNOHANG, allowed by the policy, traced when the program may have
// other tasks: the tracer then knows a task sleeps in one (it continues it to the syscall's exit
// stop), so a consistent check need not interrupt it (see Task::parked).
inline constexpr std::uint16_t kTagWait = 0xfe05;
// mmap requests at least this large are checked against RLIMIT_DATA (malloc's fallback after a
// refused brk asks for at least 1 MiB, so refused growth is seen too).
inline constexpr std::uint64_t kLargeMapping = 1 << 20;

// What changes the filter of a Policy.
struct FilterKey {
  bool count_all = false;          // Counting::kAll
  bool trace_fork = true;          // Spec::trace_fork
  bool check_allocations = false;  // the run has an RLIMIT_DATA
  bool operator==(const FilterKey&) const = default;
};

struct PreparedPolicy::Filter {
  FilterKey key;
  std::shared_ptr<const seccomp::Program> program;
  bool clone_allowed = false;  // the policy lets the program clone (threads, processes)
  // Counting::kAll: the errno of each syscall whose rule denies it.
  std::unordered_map<std::string, int> errno_rules;
};

// The filter of `policy` for `key`: the user policy, the tracer's own rules, the fail-closed
// defaults (seccomp::Builder::for_tracer). Throws what the builder throws.
std::shared_ptr<const PreparedPolicy::Filter> build_filter(const Policy& policy,
                                                           const FilterKey& key,
                                                           const std::string& cache_dir);

namespace detail {

// Bytes as the cache keeps them (a prepared policy, a record's key): integers little-endian in
// the given width, a string as its size (4 bytes) and its bytes, an action as its kind and data.
class ByteWriter {
 public:
  explicit ByteWriter(std::string start = {}) : out_(std::move(start)) {}
  void u(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>(v >> (8 * i));
  }
  void text(std::string_view s) {
    u(s.size(), 4);
    out_ += s;
  }
  void action(const seccomp::Action& a) {
    u(static_cast<std::uint8_t>(a.kind), 1);
    u(a.data, 2);
  }
  // A policy's unknown-syscall hint and its per-syscall hints (Policy, JudgePolicy).
  void hints(std::string_view unknown_hint, const std::map<std::string, std::string>& per_syscall) {
    text(unknown_hint);
    u(per_syscall.size(), 4);
    for (const auto& [name, hint] : per_syscall) {
      text(name);
      text(hint);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace detail

// The policy a run of `spec` enforces: its prepared policy's, else its own.
const Policy& policy_of(const Spec& spec);

// The filter of a run of `spec` whose RLIMIT_DATA is set or not (`check_allocations`): its
// prepared policy's when that was built for these settings, else one built now. Throws
// ConfigError for a Spec with both a prepared policy and rules of its own.
std::shared_ptr<const PreparedPolicy::Filter> filter_for(const Spec& spec, bool check_allocations);

}  // namespace tracebox::tracer
