#include "libcurl_twin.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "probe.h"

namespace ctxrun {
namespace {

constexpr const char* kStartedAt = "CTXRUN_STARTED_AT";

// The directory this program was run from, through /proc/self/exe; nullopt without /proc.
std::optional<std::string> own_directory() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof path) return std::nullopt;
  std::string_view exe(path, static_cast<std::size_t>(n));
  auto slash = exe.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return std::string(exe.substr(0, slash));
}

std::optional<long long> number(std::string_view& text) {
  long long value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

}  // namespace

bool needs_libcurl(const std::vector<std::string>& probes) {
  for (const auto& text : probes) {
    auto parsed = parse_probe(text);
    auto* spec = std::get_if<ProbeSpec>(&parsed);
    if (spec && (spec->kind == ProbeKind::tcp || spec->kind == ProbeKind::http)) return true;
  }
  return false;
}

std::optional<std::string> find_libcurl_twin() {
  auto dir = own_directory();
  if (!dir) return std::nullopt;
  for (const char* relative : {".", CTXRUN_LIBEXEC_FROM_BIN}) {
    std::string path = fmt::format("{}/{}/{}", *dir, relative, kLibcurlTwinName);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return std::nullopt;
}

std::string exec_libcurl_twin(const std::string& path, char** argv, const SignalRegime& signals,
                              const StartTime& started) {
  auto steady = std::chrono::duration_cast<std::chrono::nanoseconds>(started.steady.time_since_epoch()).count();
  auto wall = started.wall.time_since_epoch().count();
  if (setenv(kStartedAt, fmt::format("{} {}", steady, wall).c_str(), 1) != 0)
    return fmt::format("cannot hand the run on to {}: {}", path, std::strerror(errno));
  // As for the command (spawn.cpp): the twin starts with what ctxrun was started with. A cancelling
  // signal that came meanwhile is delivered now and ends this process by it, as it would have
  // ended ctxrun before anything started.
  signals.restore_in_child();
  execv(path.c_str(), argv);
  return fmt::format("cannot run {}, which tcp:// and http(s):// probes need: {}", path, std::strerror(errno));
}

std::optional<StartTime> handed_on_start() {
  const char* value = std::getenv(kStartedAt);
  if (!value) return std::nullopt;
  std::string_view text(value);
  auto steady = number(text);
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  auto wall = number(text);
  unsetenv(kStartedAt);
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  if (!steady || !wall || !text.empty() || *steady <= 0 || std::chrono::nanoseconds(*steady) > now) return std::nullopt;
  return StartTime{.wall = wall_time(std::chrono::nanoseconds(*wall)),
                   .steady = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(*steady))};
}

}  // namespace ctxrun
