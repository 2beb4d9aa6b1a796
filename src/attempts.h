// Attempts: a command run up to N times, each attempt a child context of the run (its own
// --attempt-timeout, never past the run's deadline), with the whole tree of one attempt gone before
// the next starts, and a delay between them that backs off, with full jitter by default.
//
// What is retried is the policy's (RunOptions::Retry); never the run's own deadline, a cancel (the
// signal is re-raised at once, also during a delay), 126/127, or survivors (the state is unknown).
// One line on stderr per retried attempt; the report lists every attempt.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "ctxrun/command.h"
#include "ctxrun/context.h"
#include "ctxrun/outcome.h"
#include "options.h"
#include "signal_regime.h"

namespace ctxrun {

// One attempt as the report tells it.
struct AttemptRecord {
  int number = 0;
  Outcome outcome;
  wall_time start;
  std::chrono::nanoseconds elapsed{0};
};

struct Attempts {
  std::vector<AttemptRecord> records;
  // Why there was no further attempt: "succeeded", "attempts exhausted", "not retryable",
  // "deadline", "canceled".
  std::string stopped;
};

// Runs `command` under `ctx` as `options.retry` says, each attempt through `run_once` (which makes
// the tree and runs it). Returns the outcome that decides the exit status: the last attempt's, or a
// cancel. Signals are read from `signals` during delays.
Outcome run_attempts(const RunOptions& options, const Command& command, const ContextPtr& ctx,
                     const SignalRegime& signals,
                     const std::function<Outcome(const Command&, const ContextPtr&)>& run_once, Attempts& attempts);

}  // namespace ctxrun
