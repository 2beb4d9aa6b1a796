#include "remaining.h"

#include <fmt/format.h>

#include <cstring>

#include "ctxrun/duration.h"
#include "log.h"

namespace ctxrun {

std::string format_remaining(std::chrono::nanoseconds left, const std::string& format) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
  if (format == "ms") return fmt::format("{}", ms);
  if (format == "go") return format_duration(std::chrono::milliseconds(ms));
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

namespace {

// The value is the point of --remaining: one that cannot be written is a failure, not a 0.
int print(const std::string& line) {
  if (auto error = log::write_out(line)) {
    log::error("{}", *error);
    return 125;
  }
  return 0;
}

}  // namespace

int print_remaining(std::optional<wall_time> deadline, const std::string& format) {
  if (!deadline) return print("inf\n");
  auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  auto left = *deadline - now;
  if (left < std::chrono::milliseconds(1)) {
    log::error("context deadline exceeded (deadline {} has passed)", format_rfc3339(*deadline));
    return 124;
  }
  return print(format_remaining(left, format) + "\n");
}

}  // namespace ctxrun
