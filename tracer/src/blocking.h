// The blocking forms (tracer::run, run_group): a private io_context served on the calling thread
// until the result is in, with RunOptions' stop request and timeout turned into a cancel.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer::detail {

// Serves `io` until `done()` or it has nothing left; a stop request (from any thread) or the
// timeout calls `cancel` (which must be thread-safe). Returns whether the timeout fired.
bool serve_until(asio::io_context& io, const RunOptions& options, const std::function<bool()>& done,
                 const std::function<void()>& cancel);

// The error of a run the timeout cancelled: "timed out after N ms (RunOptions::timeout)".
std::string timed_out_error(std::chrono::nanoseconds timeout);

}  // namespace tracebox::tracer::detail
