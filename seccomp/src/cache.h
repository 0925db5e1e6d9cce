// The on-disk cache of built programs (Builder::cache_dir). A file holds the full key of what was
// built and the program (see cache.cc for the layout); it is used only when its key equals the
// builder's byte for byte, its program is well formed, and it and its directory belong to the
// effective user and are not writable by anyone else. Every failure is a miss: the cache can only
// save time.
#pragma once

#include <linux/filter.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules.h"

namespace tracebox::seccomp::detail {

// What a program depends on, as a canonical byte string: our format version, the GNU build ID of
// the code that builds it, libseccomp's version, the kernel release, the native arch, and the
// builder's whole state. "" when there is no build ID to tie it to (no caching then).
std::string cache_key(const Action& default_action, const Action& bad_arch_action, bool compat,
                      int tracer, const std::vector<Rule>& rules);

// The file name of `key` in the cache directory: 16 hex digits of its FNV-1a hash, ".bpf".
std::string cache_file_name(std::string_view key);

// The program stored for `key` in `dir`, if the file can be trusted and is intact.
std::optional<std::vector<sock_filter>> cache_load(const std::string& dir, std::string_view key);

// Stores `code` for `key` in `dir` (created 0700 if missing), atomically; failures are ignored.
void cache_store(const std::string& dir, std::string_view key,
                 const std::vector<sock_filter>& code);

}  // namespace tracebox::seccomp::detail
