#include "filter.h"

#include <sys/mman.h>
#include <sys/wait.h>

#include <map>

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

// ---- A prepared policy as bytes ----
// Little-endian integers; a string is its size (4 bytes) and its bytes; a list its count (4
// bytes) and its items. The Policy, then the filters (those PrepareOptions asked for).

namespace tracebox::tracer::detail {
namespace {

// Reads what ByteWriter wrote; any read past the end, or a value out of its range, fails the whole
// read (ok() turns false and stays so).
class Reader {
 public:
  explicit Reader(std::string_view bytes) : in_(bytes) {}
  std::uint64_t u(int bytes) {
    if (!ok_ || in_.size() < static_cast<std::size_t>(bytes)) return fail();
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(in_[i]);
    in_.remove_prefix(static_cast<std::size_t>(bytes));
    return v;
  }
  bool flag() {
    const std::uint64_t v = u(1);
    if (v > 1) fail();
    return v == 1;
  }
  std::string text() {
    const std::uint64_t n = u(4);
    if (!ok_ || in_.size() < n) return fail(), std::string();
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  // A count of items at least `item_size` bytes each (so that a bad count cannot ask for more
  // than the bytes left).
  std::size_t count(std::size_t item_size) {
    const std::uint64_t n = u(4);
    if (!ok_ || n > in_.size() / item_size) return fail(), 0;
    return n;
  }
  seccomp::Action action() {
    seccomp::Action a;
    const std::uint64_t kind = u(1);
    if (kind > static_cast<std::uint8_t>(seccomp::Action::Kind::kNotify)) fail();
    a.kind = static_cast<seccomp::Action::Kind>(kind);
    a.data = static_cast<std::uint16_t>(u(2));
    return a;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && in_.empty(); }

 private:
  std::uint64_t fail() {
    ok_ = false;
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

void write_filter(ByteWriter& w, const PreparedPolicy::Filter& f) {
  w.u(f.key.count_all, 1);
  w.u(f.key.trace_fork, 1);
  w.u(f.key.check_allocations, 1);
  w.u(f.program->uses_notify, 1);
  w.u(f.program->instructions.size(), 4);
  for (const sock_filter& i : f.program->instructions) {
    w.u(i.code, 2);
    w.u(i.jt, 1);
    w.u(i.jf, 1);
    w.u(i.k, 4);
  }
  w.u(f.clone_allowed, 1);
  // In name order: the same policy gives the same bytes.
  std::map<std::string, int> errno_rules(f.errno_rules.begin(), f.errno_rules.end());
  w.u(errno_rules.size(), 4);
  for (const auto& [name, err] : errno_rules) {
    w.text(name);
    w.u(static_cast<std::uint32_t>(err), 4);
  }
}

std::shared_ptr<const PreparedPolicy::Filter> read_filter(Reader& r) {
  auto f = std::make_shared<PreparedPolicy::Filter>();
  f->key.count_all = r.flag();
  f->key.trace_fork = r.flag();
  f->key.check_allocations = r.flag();
  seccomp::Program program;
  program.uses_notify = r.flag();
  program.instructions.resize(r.count(8));
  for (sock_filter& i : program.instructions) {
    i.code = static_cast<std::uint16_t>(r.u(2));
    i.jt = static_cast<std::uint8_t>(r.u(1));
    i.jf = static_cast<std::uint8_t>(r.u(1));
    i.k = static_cast<std::uint32_t>(r.u(4));
  }
  if (!r.ok() || !seccomp::well_formed(program.instructions)) return nullptr;
  f->program = std::make_shared<const seccomp::Program>(std::move(program));
  f->clone_allowed = r.flag();
  for (std::size_t n = r.count(8); n > 0 && r.ok(); --n) {
    std::string name = r.text();
    f->errno_rules[std::move(name)] = static_cast<int>(r.u(4));
  }
  return r.ok() ? f : nullptr;
}

}  // namespace

std::string to_bytes(const PreparedPolicy& prepared) {
  ByteWriter w;
  const Policy& p = prepared.policy();
  w.u(p.rules.size(), 4);
  for (const Rule& rule : p.rules) {
    w.text(rule.syscall);
    w.action(rule.action);
    w.u(rule.conditions.size(), 4);
    for (const seccomp::ArgCondition& c : rule.conditions) {
      w.u(c.arg, 1);
      w.u(static_cast<std::uint8_t>(c.op), 1);
      w.u(c.value, 8);
      w.u(c.mask, 8);
    }
  }
  w.action(p.default_action);
  w.u(p.enforce_compat_abis, 1);
  w.hints(p.unknown_hint, p.hints);
  w.u(p.allow_new_namespaces, 1);
  for (bool data_rlimit : {false, true}) {
    const auto& f = prepared.filter(data_rlimit);
    w.u(f != nullptr, 1);
    if (f) write_filter(w, *f);
  }
  return w.take();
}

std::shared_ptr<const PreparedPolicy> from_bytes(std::string_view bytes, PrepareOptions options) {
  Reader r(bytes);
  std::shared_ptr<PreparedPolicy> prepared(new PreparedPolicy());
  Policy& p = prepared->policy_;
  p.rules.resize(r.count(7));
  for (Rule& rule : p.rules) {
    rule.syscall = r.text();
    rule.action = r.action();
    rule.conditions.resize(r.count(18));
    for (seccomp::ArgCondition& c : rule.conditions) {
      c.arg = static_cast<unsigned>(r.u(1));
      const std::uint64_t op = r.u(1);
      if (c.arg > 5 || op > static_cast<std::uint8_t>(seccomp::ArgCondition::Op::kGe32))
        return nullptr;
      c.op = static_cast<seccomp::ArgCondition::Op>(op);
      c.value = r.u(8);
      c.mask = r.u(8);
    }
    if (!r.ok()) return nullptr;
  }
  p.default_action = r.action();
  p.enforce_compat_abis = r.flag();
  p.unknown_hint = r.text();
  for (std::size_t n = r.count(8); n > 0 && r.ok(); --n) {
    std::string name = r.text();
    p.hints[std::move(name)] = r.text();
  }
  p.allow_new_namespaces = r.flag();
  for (bool data_rlimit : {false, true}) {
    if (!r.flag()) continue;
    auto f = read_filter(r);
    if (!f || f->key.check_allocations != data_rlimit ||
        f->key.count_all != (options.counting == Counting::kAll) ||
        f->key.trace_fork != options.trace_fork)
      return nullptr;
    (data_rlimit ? prepared->with_rlimit_ : prepared->without_rlimit_) = std::move(f);
  }
  if (!r.at_end()) return nullptr;
  prepared->options_ = std::move(options);
  return prepared;
}

}  // namespace tracebox::tracer::detail
