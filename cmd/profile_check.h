// runprog -profile-check NAME: a profile checked without a program, for judges who write their
// own. Nothing runs; the report says what the profile grants and what this machine lacks.
#pragma once

#include <string>

#include "options.h"
#include "setup.h"

namespace tracebox::cmd {

// Exit codes of -profile-check.
inline constexpr int kProfileValid = 0;         // valid, and its command is on this machine
inline constexpr int kProfileNotInstalled = 1;  // valid, but its command is not on this machine
inline constexpr int kProfileInvalid = 2;       // it cannot be used (the report says why)

// Loads options.profile_check (a name looked up as for -type, or a .json file) and builds its
// policy without and with -allow-proc, as a run would: an unknown key, syscall or errno, a syscall
// listed twice, a path syscall the file checker cannot handle, a syscall no policy may allow or an
// unknown ${variable} makes it invalid. Then every file entry is looked up on this machine
// (${work} is -work-path, or the current directory): an entry that names nothing here is listed as
// absent (a runtime's probe of a file that may not exist is granted on purpose; a typo is not),
// and the command's program must exist. Writes the report to `out`; returns one of the codes above.
int check_profile(const Options& options, const Environment& env, std::string& out);

}  // namespace tracebox::cmd
