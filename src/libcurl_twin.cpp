#include "libcurl_twin.h"

#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cli.h"
#include "probe.h"
#include "probe_set.h"

namespace ctxrun {
namespace {

constexpr const char* kStartedAt = "CTXRUN_STARTED_AT";
// A handover takes an execve: a start further back than this was not handed on by a live ctxrun.
constexpr std::chrono::seconds kHandoverLimit{60};

std::string& missing_reason() {
  static std::string reason;
  return reason;
}

// The directory this program was run from: /proc/self/exe, else the path it was executed by
// (AT_EXECFN, without /proc) when that names a directory; nullopt if neither tells.
std::optional<std::string> own_directory() {
  char path[4096];
  std::string exe;
  ssize_t n = readlink("/proc/self/exe", path, sizeof path);
  if (n > 0 && static_cast<std::size_t>(n) < sizeof path) exe.assign(path, static_cast<std::size_t>(n));
  else if (const auto* execfn = reinterpret_cast<const char*>(getauxval(AT_EXECFN)); execfn && std::strchr(execfn, '/'))
    exe = execfn;
  else return std::nullopt;
  return exe.substr(0, exe.rfind('/'));
}

// Whether any of these --ready probes needs libcurl (probe_set.h).
bool any_needs_libcurl(const std::vector<std::string>& probes) {
  return std::any_of(probes.begin(), probes.end(), [](const std::string& text) {
    auto parsed = parse_probe(text);
    auto* spec = std::get_if<ProbeSpec>(&parsed);
    return spec && needs_libcurl(*spec);
  });
}

std::optional<long long> number(std::string_view& text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  long long value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

}  // namespace

void hand_over_to_libcurl_twin(int argc, char** argv, const StartTime& started) {
  if (!any_needs_libcurl(ready_probes_given(argc, argv))) return;
  auto dir = own_directory();
  if (!dir) {
    missing_reason() = fmt::format(
        "where it runs from is unknown (no /proc/self/exe, and it was run by a bare name), so its dynamic twin {} "
        "was not found",
        kLibcurlTwinName);
    return;
  }
  std::optional<std::string> twin;
  for (const char* relative : {".", CTXRUN_LIBEXEC_FROM_BIN}) {
    std::string path = fmt::format("{}/{}/{}", *dir, relative, kLibcurlTwinName);
    if (access(path.c_str(), X_OK) == 0) {
      twin = path;
      break;
    }
  }
  if (!twin) {
    missing_reason() = fmt::format("its dynamic twin {} was found neither beside it nor in ../libexec/ctxrun/",
                                   kLibcurlTwinName);
    return;
  }
  auto steady = std::chrono::duration_cast<std::chrono::nanoseconds>(started.steady.time_since_epoch()).count();
  auto wall = started.wall.time_since_epoch().count();
  // exec keeps the pid: the twin takes the start only from the process that handed it on.
  if (setenv(kStartedAt, fmt::format("{} {} {}", getpid(), steady, wall).c_str(), 1) == 0) execv(twin->c_str(), argv);
  // Not run (no dynamic loader in this image, say): go on alone.
  missing_reason() = fmt::format("its dynamic twin {} cannot be run: {}", *twin, std::strerror(errno));
  unsetenv(kStartedAt);
}

const std::string& libcurl_missing() { return missing_reason(); }

std::optional<StartTime> handed_on_start() {
  const char* value = std::getenv(kStartedAt);
  if (!value) return std::nullopt;
  std::string_view text(value);
  auto pid = number(text);
  auto steady = number(text);
  auto wall = number(text);
  unsetenv(kStartedAt);
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  if (!pid || !steady || !wall || !text.empty() || *pid != getpid() || *wall <= 0) return std::nullopt;
  auto since = now - std::chrono::nanoseconds(*steady);
  if (since < std::chrono::nanoseconds(0) || since > kHandoverLimit) return std::nullopt;
  return StartTime{.wall = wall_time(std::chrono::nanoseconds(*wall)),
                   .steady = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(*steady))};
}

}  // namespace ctxrun
