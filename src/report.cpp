#include "ctxrun/report.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ctxrun/signals.h"

namespace ctxrun {
namespace {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

std::string optional_time(std::optional<wall_time> t) { return t ? quote(format_rfc3339(*t)) : "null"; }

// What the command's own status was: {"exited": N}, {"signaled": "SIGSEGV"}, or null.
std::string command_status(const Outcome& o) {
  if (!o.command_reaped) return "null";
  if (WIFEXITED(o.command_status)) return fmt::format("{{\"exited\":{}}}", WEXITSTATUS(o.command_status));
  return fmt::format("{{\"signaled\":{}}}", quote(signal_name(WTERMSIG(o.command_status))));
}

}  // namespace

std::string report_json(const ReportFacts& f) {
  const Outcome& o = f.outcome;
  std::string argv = "[";
  for (std::size_t i = 0; i < f.options.command.size(); ++i)
    argv += std::string(i ? "," : "") + quote(f.options.command[i]);
  argv += "]";
  std::string steps = "[";
  for (std::size_t i = 0; i < o.teardown.size(); ++i)
    steps += fmt::format("{}{{\"signal\":{},\"processes\":{},\"seconds\":{:.6f}}}", i ? "," : "",
                         quote(signal_name(o.teardown[i].signal)), o.teardown[i].processes, seconds(o.teardown[i].took));
  steps += "]";
  std::string survivors = "[";
  for (std::size_t i = 0; i < o.survivors.size(); ++i)
    survivors += fmt::format("{}{{\"pid\":{},\"name\":{}}}", i ? "," : "", o.survivors[i].pid, quote(o.survivors[i].name));
  survivors += "]";
  return fmt::format(
      "{{\"version\":{},\"outcome\":{},\"cause\":{},\"signal\":{},\"exit_status\":{},\"dies_of_signal\":{},"
      "\"command\":{{\"argv\":{},\"started\":{},\"status\":{}}},\"start_time\":{},\"deadline\":{},"
      "\"elapsed_seconds\":{:.6f},\"tree_backend\":{},\"teardown\":{{\"steps\":{},\"processes\":{},"
      "\"survivors\":{}}},\"error\":{}}}\n",
      kReportVersion, quote(ending_name(o.ending)), o.cause.empty() ? "null" : quote(o.cause),
      o.cancel_signal ? quote(signal_name(o.cancel_signal)) : "null", f.exit.status,
      f.exit.die_of_signal ? quote(signal_name(f.exit.die_of_signal)) : "null", argv,
      o.command_started ? "true" : "false", command_status(o), quote(format_rfc3339(f.started)),
      optional_time(f.deadline), seconds(f.elapsed), quote(f.tree_backend), steps, o.processes_torn_down,
      survivors, o.error.empty() ? "null" : quote(o.error));
}

std::string write_report(const std::string& path, const ReportFacts& facts) {
  std::string text = report_json(facts);
  std::string temp = path + ".tmp." + std::to_string(getpid());
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot write report '{}': {}", temp, std::strerror(errno));
  ssize_t n = ::write(fd, text.data(), text.size());
  bool ok = n == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  int saved = errno;
  close(fd);
  if (!ok || rename(temp.c_str(), path.c_str()) != 0) {
    if (ok) saved = errno;
    unlink(temp.c_str());
    return fmt::format("cannot write report '{}': {}", path, std::strerror(saved));
  }
  return {};
}

}  // namespace ctxrun
