#include "ctxrun/outcome.h"

#include <sys/wait.h>

namespace ctxrun {
namespace {

// The status a shell would show for the command: N, or 128+signal.
int shell_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitFailure;
}

}  // namespace

const char* ending_name(Ending e) noexcept {
  switch (e) {
    case Ending::exited: return "exited";
    case Ending::signaled: return "signaled";
    case Ending::deadline_exceeded: return "deadline_exceeded";
    case Ending::canceled: return "canceled";
    case Ending::service_failed: return "service_failed";
    case Ending::error: return "error";
  }
  return "error";
}

ExitPlan plan_exit(const Outcome& outcome, bool preserve_status) noexcept {
  if (!outcome.survivors.empty()) return {.status = kExitFailure};
  switch (outcome.ending) {
    case Ending::exited: return {.status = WEXITSTATUS(outcome.command_status)};
    case Ending::signaled:
      return {.status = 128 + WTERMSIG(outcome.command_status), .die_of_signal = WTERMSIG(outcome.command_status)};
    case Ending::deadline_exceeded:
      if (preserve_status && outcome.command_reaped) return {.status = shell_status(outcome.command_status)};
      return {.status = kExitDeadlineExceeded};
    case Ending::canceled: return {.status = 128 + outcome.cancel_signal, .die_of_signal = outcome.cancel_signal};
    case Ending::error: return {.status = outcome.spawn_exit ? outcome.spawn_exit : kExitFailure};
    case Ending::service_failed: {
      // The service's own status, as if it had been the command; but a service that exited 0 still
      // ended the run early (the command may not have run at all): that must not read as success.
      if (!outcome.failed_service || *outcome.failed_service >= outcome.services.size())
        return {.status = kExitFailure};
      auto status = outcome.services[*outcome.failed_service].status;
      if (!status) return {.status = kExitFailure};
      if (WIFSIGNALED(*status)) return {.status = 128 + WTERMSIG(*status), .die_of_signal = WTERMSIG(*status)};
      int code = WEXITSTATUS(*status);
      return {.status = code == 0 ? kExitFailure : code};
    }
  }
  return {.status = kExitFailure};
}

}  // namespace ctxrun
