#include "announce.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "log.h"

namespace ctxrun {
namespace {

std::string torn_down(const Outcome& outcome) {
  if (!outcome.command_started && outcome.services.empty()) return "command not run";
  int n = outcome.processes_torn_down;
  return fmt::format("{} process{} torn down{}", n, n == 1 ? "" : "es",
                     outcome.command_started ? "" : ", command not run");
}

}  // namespace

namespace {

// Under GitHub Actions, a workflow command on stdout puts the reason in the run's summary.
void annotate(const Outcome& outcome) {
  const char* actions = std::getenv("GITHUB_ACTIONS");
  if (!actions || std::string_view(actions) != "true") return;
  if (outcome.ending != Ending::deadline_exceeded && outcome.ending != Ending::canceled) return;
  const char* what = outcome.ending == Ending::canceled ? "context canceled" : "context deadline exceeded";
  std::string line = fmt::format("::error title=ctxrun: {}::{} ({}): {}\n", what, what, outcome.cause,
                                 torn_down(outcome));
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

std::string ending_line(const Outcome& outcome) {
  switch (outcome.ending) {
    case Ending::deadline_exceeded:
      if (!outcome.command_started && outcome.services.empty() && outcome.probes.empty())
        return fmt::format("context deadline exceeded ({} had already passed): command not run", outcome.cause);
      return fmt::format("context deadline exceeded ({}): {}", outcome.cause, torn_down(outcome));
    case Ending::canceled: return fmt::format("context canceled ({}): {}", outcome.cause, torn_down(outcome));
    case Ending::error: return outcome.error;
    case Ending::service_failed: return fmt::format("{}: {}", outcome.cause, torn_down(outcome));
    case Ending::exited:
    case Ending::signaled: break;
  }
  return "";
}

void announce(const Outcome& outcome) {
  annotate(outcome);
  if (outcome.ending == Ending::error || outcome.ending == Ending::service_failed)
    log::error("{}", ending_line(outcome));
  else if (std::string line = ending_line(outcome); !line.empty()) log::notice("{}", line);
  for (const auto& p : outcome.survivors)
    log::error("process {} ({}) survived teardown (state {})", p.pid, log::one_line(p.name), p.state);
  if (!outcome.survivors.empty())
    log::error("{} process{} of the tree survived teardown", outcome.survivors.size(),
               outcome.survivors.size() == 1 ? "" : "es");
}

}  // namespace ctxrun
