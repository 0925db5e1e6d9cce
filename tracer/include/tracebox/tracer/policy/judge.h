// A judge's policy: allowed syscalls, soft-banned ones, syscall budgets and file access sets,
// turned into a tracer Policy and the Handler that enforces it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tracebox/tracer/policy/arguments.h"
#include "tracebox/tracer/policy/files.h"
#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer::policy {

// Tags of the judge's traced rules: 1 to 0xff (with kTagConsistent for path checks, decided with
// the rest of the run stopped; the argument checks' tags are in arguments.h). A handler layered on
// JudgeHandler uses tags from 0x100.
inline constexpr std::uint16_t kTagPath = kTagConsistent | 1;
inline constexpr std::uint16_t kTagBudget = 2;
// kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo: only to the run's own processes.
inline constexpr std::uint16_t kTagSignal = 3;
// A syscall no rule names, under a policy with unknown_errno and Counting::kAll: traced so that
// it is counted, then failed with that errno.
inline constexpr std::uint16_t kTagUnknown = 8;

// What a profile describes.
struct JudgePolicy {
  std::vector<std::string> allow;                // allowed outright (path syscalls: if the
                                                 // file sets allow the path)
  std::map<std::string, int> deny;               // fail with this errno, without a violation
  std::map<std::string, std::uint64_t> budgets;  // allowed N times; call N+1 is a violation
  FileSets files;
  bool enforce_compat_abis = false;
  // Appended to the violation of a syscall no rule names; "{}" becomes the syscall's name.
  std::string unknown_hint = "add \"{}\" to the policy's allowed syscalls";
  // Per syscall, how to allow it, in place of unknown_hint (Policy::hints).
  std::map<std::string, std::string> hints;
  // A syscall no rule names fails with this errno instead of being a violation (0: a
  // violation; runprog -unsafe: EACCES).
  int unknown_errno = 0;
};

// The tracer Policy for `judge`: path syscalls are traced for the file check, signal syscalls
// for their target (a program may signal only its own processes: never the tracer, never
// kill(-1)), budgets are traced and counted, everything unnamed is a violation. Every other
// allowed or budgeted syscall gets the argument rules of arguments.h (argument_rules()): its
// refused modes fail with an errno or are violations, whatever the profile. Throws ConfigError
// naming a syscall listed twice, a budget on a path syscall, an allowed syscall that takes a path
// the file policy cannot check, or one that never_allowed() names (that would be a hole, not a
// rule). `counting`: the runs' (with kAll, unknown_errno's default is traced: kTagUnknown).
Policy make_policy(const JudgePolicy& judge, Counting counting = Counting::kNone);

// Decides the judge's traced syscalls. One handler per run (it counts budgets). Argument
// violations (kTagArgument) end the run with the table's reason; prlimit64/setrlimit setting a
// hard limit above the current one fail with EPERM (kTagLimit), as for an unprivileged caller;
// sendmsg/sendmmsg with a destination address are violations (kTagMessage); a pid other than 0
// is allowed where it is the caller's own pid or tid (kTagSelf); kTagUnknown fails with
// unknown_errno.
class JudgeHandler : public Handler {
 public:
  explicit JudgeHandler(JudgePolicy judge)
      : JudgeHandler(std::make_shared<const JudgePolicy>(std::move(judge))) {}
  // A handler sharing `judge` (a prepared profile's) with other runs; `files`, when given, are
  // the run's file sets in place of judge->files (FileSets::on_top_of them, with the run's own
  // entries).
  explicit JudgeHandler(std::shared_ptr<const JudgePolicy> judge,
                        std::shared_ptr<const FileSets> files = nullptr);
  Decision on_syscall(Context& ctx) override;
  const JudgePolicy& judge() const { return *judge_; }
  const FileSets& files() const { return *files_; }
  // The run's memory of resolved paths (see PathCache), judged against files().
  const PathCache& path_cache() const { return paths_; }

 private:
  Decision count(const std::string& name);
  Decision check_paths(Context& ctx, const PathSyscall& syscall);
  Decision check_signal(Context& ctx);
  Decision check_self(Context& ctx);
  Decision check_limit(Context& ctx);
  Decision check_message(Context& ctx);
  std::shared_ptr<const JudgePolicy> judge_;
  std::shared_ptr<const FileSets> files_;  // judge_->files, or the run's
  std::unordered_map<std::string, std::uint64_t> used_;
  PathCache paths_;
};

}  // namespace tracebox::tracer::policy
