// The cache of prepared policies (policy::PreparedProfile with ProfileOptions::filter_cache_dir):
// a record holds the tracer Policy that make_policy makes of a profile's judge policy and the
// filters built of it, so that a later process skips both. What a record gives is what preparing
// gives, for every shipped profile and option; every input of the policy is in the key; a record
// is used only under the filter cache's trust rules (the effective user's file in the effective
// user's directory, writable by no one else), and a truncated or malformed one is a miss.
//
// The positive control is a "decoy": a record of another policy stored under this one's key,
// which a trusted cache hands out (so the cache is used), and an untrusted one never.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "support/support.h"
#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

using namespace tracebox;
using namespace tracebox::tracer;
using tracebox::test::TempDir;

namespace {

std::vector<std::string> source_dirs() {
  return {std::string(TRACEBOX_SOURCE_DIR) + "/cmd/profiles"};
}

// The cache's records (".rec"), by name.
std::vector<std::string> records(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".rec") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Every part of a Policy, compared field by field (not through the bytes the cache writes).
void check_same_policy(const Policy& a, const Policy& b) {
  REQUIRE(a.rules.size() == b.rules.size());
  for (std::size_t i = 0; i < a.rules.size(); ++i) {
    INFO("rule " << i << ": " << a.rules[i].syscall);
    CHECK(a.rules[i].syscall == b.rules[i].syscall);
    CHECK(a.rules[i].action == b.rules[i].action);
    CHECK(a.rules[i].conditions == b.rules[i].conditions);
  }
  CHECK(a.default_action == b.default_action);
  CHECK(a.enforce_compat_abis == b.enforce_compat_abis);
  CHECK(a.unknown_hint == b.unknown_hint);
  CHECK(a.hints == b.hints);
  CHECK(a.allow_new_namespaces == b.allow_new_namespaces);
}

// Two prepared profiles with the same policy and filters (the filters: their programs, keys,
// clone and errno tables, as the cache writes them).
void check_same(const policy::PreparedProfile& a, const policy::PreparedProfile& b) {
  check_same_policy(a.policy()->policy(), b.policy()->policy());
  for (bool rlimit : {false, true})
    CHECK((a.policy()->filter(rlimit) == nullptr) == (b.policy()->filter(rlimit) == nullptr));
  CHECK(detail::to_bytes(*a.policy()) == detail::to_bytes(*b.policy()));
}

std::shared_ptr<const policy::PreparedProfile> prepare(const policy::Profile& profile,
                                                       policy::ProfileOptions o,
                                                       const std::string& cache) {
  o.filter_cache_dir = cache;
  return policy::PreparedProfile::prepare(profile, o);
}

bool allows(const Policy& p, const std::string& syscall) {
  return std::any_of(p.rules.begin(), p.rules.end(), [&](const Rule& r) {
    return r.syscall == syscall && r.action.kind == seccomp::Action::Kind::kAllow;
  });
}

// A record's key as it starts the file: <key size> <key>.
std::string head_of(const std::string& record) {
  REQUIRE(record.size() >= 4);
  std::uint32_t size = 0;
  for (int i = 3; i >= 0; --i) size = size << 8 | static_cast<unsigned char>(record[i]);
  REQUIRE(record.size() >= 4 + size);
  return record.substr(0, 4 + size);
}

void plant(const std::string& path, const std::string& bytes, int mode = 0600) {
  ::unlink(path.c_str());
  test::write_file(path, bytes, mode);
}

// The cache is trusted only when it is the effective user's (the TempDir is the sandbox
// user's): a directory of ours inside it.
std::string own_dir(const TempDir& t, const std::string& name) {
  const std::string dir = t.file(name);
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(::chown(dir.c_str(), ::geteuid(), ::getegid()) == 0);
  return dir;
}

}  // namespace

TEST_CASE("policy cache: a record gives what preparing gives, for every shipped profile",
          "[tracer][profile][cache]") {
  TempDir t;
  const std::string cache = own_dir(t, "cache");
  struct Choice {
    const char* name;
    policy::ProfileOptions options;
  };
  std::vector<Choice> choices(4);
  choices[0].name = "defaults";
  choices[1] = {"allow_proc, memory limited", {}};
  choices[1].options.allow_proc = true;
  choices[1].options.memory_limited = true;
  choices[2] = {"counting, unsafe, no memory limit", {}};
  choices[2].options.counting = Counting::kAll;
  choices[2].options.unsafe = true;
  choices[2].options.memory_limited = false;
  choices[3] = {"memory limited", {}};
  choices[3].options.memory_limited = true;
  const auto names = policy::list_profiles(source_dirs());
  REQUIRE(names.size() >= 20);
  std::size_t stored = 0;
  for (const auto& name : names) {
    const policy::Profile profile = policy::load_profile(name, source_dirs());
    for (const auto& c : choices) {
      INFO("profile " << name << ", " << c.name);
      const auto fresh = prepare(profile, c.options, "");
      // Stores the record, unless these options make the policy of other options already stored
      // (memory_limited, for a profile without RLIMIT_DATA).
      const auto miss = prepare(profile, c.options, cache);
      CHECK(records(cache).size() - stored <= 1);
      stored = records(cache).size();
      const auto hit = prepare(profile, c.options, cache);  // reads it
      CHECK(records(cache).size() == stored);
      check_same(*fresh, *miss);
      check_same(*fresh, *hit);
    }
  }
  CHECK(stored > 2 * names.size());
}

TEST_CASE("policy cache: a trusted record is used, an untrusted or damaged one is not",
          "[tracer][profile][cache]") {
  TempDir t;
  const std::string cache = own_dir(t, "cache");
  const std::string other = own_dir(t, "other");
  const policy::Profile base = policy::load_profile("default", source_dirs());
  policy::Profile more = base;
  more.allow.push_back("getppid");
  const auto want = prepare(base, {}, "");
  REQUIRE_FALSE(allows(want->policy()->policy(), "getppid"));

  // The record of `base`, and a decoy: `more`'s value under `base`'s key.
  prepare(base, {}, cache);
  REQUIRE(records(cache).size() == 1);
  const std::string file = records(cache)[0];
  const std::string record = test::read_file(file);
  prepare(more, {}, other);
  REQUIRE(records(other).size() == 1);
  const std::string more_record = test::read_file(records(other)[0]);
  const std::string decoy = head_of(record) + more_record.substr(head_of(more_record).size());
  REQUIRE(decoy != record);

  SECTION("a trusted record is what the run gets (the control)") {
    plant(file, decoy);
    CHECK(allows(prepare(base, {}, cache)->policy()->policy(), "getppid"));
    plant(file, record);
    check_same(*want, *prepare(base, {}, cache));
  }
  SECTION("a file that others may write is not used") {
    for (int mode : {0620, 0602, 0666}) {
      INFO("mode " << std::oct << mode);
      plant(file, decoy, mode);
      REQUIRE(::chmod(file.c_str(), static_cast<mode_t>(mode)) == 0);
      check_same(*want, *prepare(base, {}, cache));
    }
  }
  SECTION("a directory that others may write is not used") {
    plant(file, decoy);
    REQUIRE(::chmod(cache.c_str(), 0777) == 0);
    check_same(*want, *prepare(base, {}, cache));
    REQUIRE(::chmod(cache.c_str(), 0700) == 0);
  }
  SECTION("a file of another user is not used") {
    if (test::is_root()) {
      plant(file, decoy);
      REQUIRE(::chown(file.c_str(), 65534, 65534) == 0);
      check_same(*want, *prepare(base, {}, cache));
    } else {
      WARN("not checked: giving the file away needs root");
    }
  }
  SECTION("a symlink in the record's place is not followed") {
    const std::string target = t.file("target.rec");
    plant(target, decoy);
    REQUIRE(::chown(target.c_str(), ::geteuid(), ::getegid()) == 0);
    ::unlink(file.c_str());
    REQUIRE(::symlink(target.c_str(), file.c_str()) == 0);
    check_same(*want, *prepare(base, {}, cache));
  }
  SECTION("a record cut short, or with bytes after its end, is a miss") {
    const std::size_t head = head_of(record).size();
    for (std::size_t keep : {head, head + 1, head + 4, head + 100, (head + record.size()) / 2,
                             record.size() - 40, record.size() - 1}) {
      INFO("kept " << keep << " of " << record.size() << " bytes");
      plant(file, record.substr(0, keep));
      check_same(*want, *prepare(base, {}, cache));
      // The miss stored the record again, whole.
      CHECK(test::read_file(file) == record);
    }
    plant(file, record + std::string(1, '\0'));
    check_same(*want, *prepare(base, {}, cache));
    CHECK(test::read_file(file) == record);
  }
  SECTION("a record whose filter seccomp could not install is a miss") {
    // The value ends with the filters: the last instruction of the last one, then its clone
    // flag and its errno table (4 bytes, empty). Make that instruction a jump out of the program.
    std::string bad = record;
    const std::size_t insn = bad.size() - 4 - 1 - 8;
    bad[insn] = static_cast<char>(BPF_JMP | BPF_JA);
    bad[insn + 1] = 0;
    bad[insn + 4] = 1;  // k = 1: past the end
    plant(file, bad);
    check_same(*want, *prepare(base, {}, cache));
  }
}

TEST_CASE("policy cache: every input of the policy is in the key", "[tracer][profile][cache]") {
  TempDir t;
  const std::string cache = own_dir(t, "cache");
  const policy::Profile base = policy::load_profile("default", source_dirs());
  struct Variant {
    const char* what;
    policy::Profile profile;
    policy::ProfileOptions options;
  };
  std::vector<Variant> variants;
  // `base` with one change.
  auto vary = [&](const char* what, const std::function<void(Variant&)>& change) {
    Variant v{what, base, {}};
    change(v);
    variants.push_back(std::move(v));
  };
  vary("the profile", [](Variant&) {});
  vary("one more allowed syscall", [](Variant& v) { v.profile.allow.push_back("getppid"); });
  vary("the allowed syscalls in another order",
       [](Variant& v) { std::swap(v.profile.allow[0], v.profile.allow[1]); });
  vary("a denied syscall", [](Variant& v) { v.profile.deny["socket"] = EACCES; });
  vary("its errno", [](Variant& v) { v.profile.deny["socket"] = EPERM; });
  vary("a budget", [](Variant& v) { v.profile.count["getppid"] = 3; });
  vary("its count", [](Variant& v) { v.profile.count["getppid"] = 4; });
  vary("another profile file (the hints name it)",
       [](Variant& v) { v.profile.path = "/elsewhere/default.json"; });
  vary("allow_proc", [](Variant& v) { v.options.allow_proc = true; });
  vary("unsafe", [](Variant& v) { v.options.unsafe = true; });
  vary("counting", [](Variant& v) { v.options.counting = Counting::kAll; });
  vary("memory limited", [](Variant& v) { v.options.memory_limited = true; });
  vary("not memory limited", [](Variant& v) { v.options.memory_limited = false; });
  // ("memory_rlimit": false makes the policy of "not memory limited": no filter checks
  // allocations.)
  // Each stores a record of its own, and each gets its own back (twice, in turn, so that no
  // variant's record could serve another).
  for (std::size_t i = 0; i < variants.size(); ++i) {
    INFO(variants[i].what);
    prepare(variants[i].profile, variants[i].options, cache);
    CHECK(records(cache).size() == i + 1);
  }
  for (int round = 0; round < 2; ++round) {
    for (const auto& v : variants) {
      INFO(v.what);
      check_same(*prepare(v.profile, v.options, ""), *prepare(v.profile, v.options, cache));
    }
  }
  CHECK(records(cache).size() == variants.size());
}

TEST_CASE("policy cache: every field of a prepared policy comes back from its bytes",
          "[tracer][cache]") {
  // Fields no shipped profile sets (a library user's Policy may), each off its default.
  Policy p;
  p.allow("read").allow("write").allow("exit_group").deny("socket", EACCES).kill("ptrace");
  p.trace("getppid", 7);
  p.rules.push_back(
      {"mmap", seccomp::Action::allow(), {seccomp::ArgCondition::masked_eq(3, 0x20, 0x20)}});
  p.default_action = seccomp::Action::error(EPERM);
  p.enforce_compat_abis = true;
  p.unknown_hint = "ask for {}";
  p.hints = {{"clone", "no processes"}, {"fork", "none"}};
  p.allow_new_namespaces = true;
  for (Counting counting : {Counting::kNone, Counting::kAll}) {
    for (bool trace_fork : {false, true}) {
      INFO("counting " << (counting == Counting::kAll) << ", trace_fork " << trace_fork);
      PrepareOptions o;
      o.counting = counting;
      o.trace_fork = trace_fork;
      const auto prepared = PreparedPolicy::prepare(p, o);
      const std::string bytes = detail::to_bytes(*prepared);
      const auto back = detail::from_bytes(bytes, o);
      REQUIRE(back != nullptr);
      check_same_policy(p, back->policy());
      CHECK(detail::to_bytes(*back) == bytes);
      // Other options than the filters were built for: not these filters.
      PrepareOptions other = o;
      other.trace_fork = !trace_fork;
      CHECK(detail::from_bytes(bytes, other) == nullptr);
    }
  }
}
