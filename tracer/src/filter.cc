#include "filter.h"

#include <sys/mman.h>
#include <sys/wait.h>

namespace tracebox::tracer {

std::shared_ptr<const PreparedPolicy::Filter> build_filter(const Policy& policy,
                                                           const FilterKey& key,
                                                           const std::string& cache_dir) {
  auto f = std::make_shared<PreparedPolicy::Filter>();
  f->key = key;
  seccomp::Builder b;
  b.for_tracer(true);
  b.allow_new_namespaces(policy.allow_new_namespaces);
  b.enforce_compat_abis(policy.enforce_compat_abis);
  b.cache_dir(cache_dir);
  seccomp::Action def = policy.default_action;
  if (key.count_all && def.kind == seccomp::Action::Kind::kAllow)
    def = seccomp::Action::trace(kTagCountAllow);
  b.default_action(def);
  // Whether the program may have more than one task (a fork, a vfork, a thread).
  bool multi_task = false;
  for (const Rule& rule : policy.rules) {
    const bool runs = rule.action.kind == seccomp::Action::Kind::kAllow ||
                      rule.action.kind == seccomp::Action::Kind::kTrace;
    if (rule.syscall == "clone" && runs) f->clone_allowed = key.trace_fork;
    if (runs && key.trace_fork &&
        (rule.syscall == "clone" || rule.syscall == "fork" || rule.syscall == "vfork"))
      multi_task = true;
  }
  for (const Rule& rule : policy.rules) {
    seccomp::Action action = rule.action;
    if (!key.trace_fork && (rule.syscall == "fork" || rule.syscall == "vfork" ||
                            rule.syscall == "clone" || rule.syscall == "clone3")) {
      action = seccomp::Action::kill_process();
    }
    if (multi_task && (rule.syscall == "wait4" || rule.syscall == "waitid") &&
        action.kind == seccomp::Action::Kind::kAllow && rule.conditions.empty()) {
      // Only a wait that may sleep: one with WNOHANG returns at once (a polling loop would pay
      // two stops a call), and its task is stopped by a freeze like any running one.
      using C = seccomp::ArgCondition;
      const unsigned options = rule.syscall == "wait4" ? 2 : 3;
      b.add(rule.syscall,
            key.count_all ? seccomp::Action::trace(kTagCountAllow) : seccomp::Action::allow(),
            {C::masked_eq(options, WNOHANG, WNOHANG)});
      b.add(rule.syscall, seccomp::Action::trace(kTagWait), {C::masked_eq(options, WNOHANG, 0)});
      continue;
    }
    if (key.count_all) {
      if (action.kind == seccomp::Action::Kind::kAllow) {
        action = seccomp::Action::trace(kTagCountAllow);
      } else if (action.kind == seccomp::Action::Kind::kErrno) {
        f->errno_rules[rule.syscall] = action.data;
        action = seccomp::Action::trace(kTagCountErrno);
      }
    }
    if (key.check_allocations && rule.syscall == "mmap" && rule.conditions.empty() &&
        action.kind == seccomp::Action::Kind::kAllow) {
      // Large writable mappings are traced, to see an allocation the memory limit refuses; so
      // are thread stacks (MAP_STACK), which RLIMIT_DATA counts once made writable, at their
      // full reserved size (glibc reserves the stack limit's size for each).
      using C = seccomp::ArgCondition;
      const C not_stack = C::masked_eq(3, MAP_STACK, 0);
      b.add("mmap", action, {C::lt(1, kLargeMapping), not_stack});
      b.add("mmap", action, {C::ge(1, kLargeMapping), C::masked_eq(2, PROT_WRITE, 0), not_stack});
      b.add("mmap", seccomp::Action::trace(kTagMemory),
            {C::ge(1, kLargeMapping), C::masked_eq(2, PROT_WRITE, PROT_WRITE), not_stack});
      b.add("mmap", seccomp::Action::trace(kTagStack), {C::masked_eq(3, MAP_STACK, MAP_STACK)});
      continue;
    }
    b.add(rule.syscall, action, rule.conditions);
  }
  f->program = std::make_shared<const seccomp::Program>(b.build());
  return f;
}

const Policy& policy_of(const Spec& spec) {
  return spec.prepared_policy ? spec.prepared_policy->policy() : spec.policy;
}

std::shared_ptr<const PreparedPolicy::Filter> filter_for(const Spec& spec, bool check_allocations) {
  const FilterKey key{spec.counting == Counting::kAll, spec.trace_fork, check_allocations};
  if (!spec.prepared_policy) return build_filter(spec.policy, key, spec.filter_cache_dir);
  if (!spec.policy.rules.empty())
    throw ConfigError(
        "the Spec has a prepared policy and rules of its own in Spec::policy: give one of them");
  if (const auto& f = spec.prepared_policy->filter(check_allocations); f && f->key == key) return f;
  return build_filter(spec.prepared_policy->policy(), key, spec.filter_cache_dir);
}

std::shared_ptr<const PreparedPolicy> PreparedPolicy::prepare(Policy policy,
                                                              PrepareOptions options) {
  std::shared_ptr<PreparedPolicy> p(new PreparedPolicy());
  p->policy_ = std::move(policy);
  p->options_ = std::move(options);
  const bool count_all = p->options_.counting == Counting::kAll;
  for (bool check_allocations : {false, true}) {
    if (p->options_.data_rlimit && *p->options_.data_rlimit != check_allocations) continue;
    auto f = build_filter(p->policy_, {count_all, p->options_.trace_fork, check_allocations},
                          p->options_.filter_cache_dir);
    (check_allocations ? p->with_rlimit_ : p->without_rlimit_) = std::move(f);
  }
  return p;
}

}  // namespace tracebox::tracer
