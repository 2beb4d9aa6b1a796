#include "report.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>

#include <fmt/format.h>

#include "ctxrun/signals.h"
#include "ctxrun/unique_fd.h"
#include "json_string.h"

namespace ctxrun {
namespace {

// A JSON string (json_string.h): invalid UTF-8 becomes U+FFFD (docs/report.md).
std::string quote(std::string_view s) { return json_quote(s); }

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

std::string optional_time(std::optional<wall_time> t) { return t ? quote(format_rfc3339(*t)) : "null"; }

// What the command's own status was: {"exited": N}, {"signaled": "SIGSEGV"}, or null.
std::string command_status(const Outcome& o) {
  if (!o.command_reaped) return "null";
  if (WIFEXITED(o.command_status)) return fmt::format("{{\"exited\":{}}}", WEXITSTATUS(o.command_status));
  return fmt::format("{{\"signaled\":{}}}", quote(signal_name(WTERMSIG(o.command_status))));
}

// A wait status as the report writes it: {"exited": N}, {"signaled": "SIGKILL"}, or null.
std::string wait_status_json(std::optional<int> status) {
  if (!status) return "null";
  if (WIFEXITED(*status)) return fmt::format("{{\"exited\":{}}}", WEXITSTATUS(*status));
  return fmt::format("{{\"signaled\":{}}}", quote(signal_name(WTERMSIG(*status))));
}

// The CI guard's fields: idle, output, diagnose (null when not asked for).
std::string guard_json(const Outcome& o) {
  std::string idle = o.idle_limit ? fmt::format("{{\"limit_seconds\":{:.6f},\"expired\":{}}}", seconds(*o.idle_limit),
                                                o.idle_expired ? "true" : "false")
                                  : "null";
  std::string output = "null";
  if (o.output.relayed)
    output = fmt::format("{{\"streams\":{},\"stdout_bytes\":{},\"stderr_bytes\":{},\"last_output\":{}}}",
                         quote(o.output.merged ? "merged" : "separate"), o.output.stdout_bytes, o.output.stderr_bytes,
                         optional_time(o.output.last_output));
  std::string diagnose = "null";
  if (o.on_expire || o.dump) {
    std::string hook = "null", dump = "null";
    if (o.on_expire)
      hook = fmt::format("{{\"command\":{},\"status\":{},\"seconds\":{:.6f},\"timed_out\":{}}}",
                         quote(o.on_expire->command), wait_status_json(o.on_expire->status), o.on_expire->seconds,
                         o.on_expire->timed_out ? "true" : "false");
    if (o.dump)
      dump = fmt::format("{{\"signal\":{},\"waited_seconds\":{:.6f},\"main_exited\":{}}}",
                         quote(signal_name(o.dump->signal)), o.dump->waited_seconds,
                         o.dump->main_exited ? "true" : "false");
    diagnose = fmt::format("{{\"on_expire\":{},\"dump_signal\":{}}}", hook, dump);
  }
  return fmt::format("\"idle\":{},\"output\":{},\"diagnose\":{}", idle, output, diagnose);
}

// --with and --ready: each service and probe, and which service ended the run.
std::string services_json(const Outcome& o) {
  std::string services = "[";
  for (const auto& s : o.services)
    services += fmt::format(
        "{}{{\"name\":{},\"command\":{},\"pid\":{},\"started\":{},\"ready\":{},\"status\":{},\"stopped\":{}}}",
        services.size() > 1 ? "," : "", quote(s.name), quote(s.command), s.pid ? std::to_string(*s.pid) : "null",
        optional_time(s.started), optional_time(s.ready), wait_status_json(s.status), s.stopped ? "true" : "false");
  services += "]";
  std::string probes = "[";
  for (const auto& p : o.probes)
    probes +=
        fmt::format("{}{{\"probe\":{},\"ready\":{},\"attempts\":{},\"ready_after_seconds\":{},\"last_error\":{}}}",
                    probes.size() > 1 ? "," : "", quote(p.probe), p.ready ? "true" : "false", p.attempts,
                    p.ready_after_seconds ? fmt::format("{:.6f}", *p.ready_after_seconds) : "null",
                    p.last_error ? quote(*p.last_error) : "null");
  probes += "]";
  std::string failed = o.failed_service && *o.failed_service < o.services.size()
                           ? quote(o.services[*o.failed_service].name)
                           : "null";
  return fmt::format("\"services\":{},\"probes\":{},\"failed_service\":{}", services, probes, failed);
}

// --attempts: every attempt, and why there was no further one (both null with one attempt).
std::string attempts_json(const Attempts* attempts) {
  if (!attempts) return "\"attempts\":null,\"retry_stopped\":null";
  std::string list = "[";
  for (const auto& a : attempts->records)
    list += fmt::format(
        "{}{{\"number\":{},\"outcome\":{},\"cause\":{},\"status\":{},\"start_time\":{},\"elapsed_seconds\":{:.6f},"
        "\"processes\":{}}}",
        list.size() > 1 ? "," : "", a.number, quote(ending_name(a.outcome.ending)),
        a.outcome.cause.empty() ? "null" : quote(a.outcome.cause), command_status(a.outcome),
        quote(format_rfc3339(a.start)), seconds(a.elapsed), a.outcome.processes_torn_down);
  list += "]";
  return fmt::format("\"attempts\":{},\"retry_stopped\":{}", list,
                     attempts->stopped.empty() ? "null" : quote(attempts->stopped));
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
                         quote(signal_name(o.teardown[i].signal)), o.teardown[i].processes,
                         seconds(o.teardown[i].took));
  steps += "]";
  std::string survivors = "[";
  for (std::size_t i = 0; i < o.survivors.size(); ++i)
    survivors += fmt::format("{}{{\"pid\":{},\"name\":{}}}", i ? "," : "", o.survivors[i].pid,
                             quote(o.survivors[i].name));
  survivors += "]";
  return fmt::format(
      "{{\"version\":{},\"outcome\":{},\"cause\":{},\"signal\":{},\"exit_status\":{},\"dies_of_signal\":{},"
      "\"command\":{{\"argv\":{},\"started\":{},\"status\":{}}},\"start_time\":{},\"deadline\":{},"
      "\"elapsed_seconds\":{:.6f},\"tree_backend\":{},\"teardown\":{{\"steps\":{},\"processes\":{},"
      "\"survivors\":{}}},{},\"error\":{}}}\n",
      kReportVersion, quote(ending_name(o.ending)), o.cause.empty() ? "null" : quote(o.cause),
      o.cancel_signal ? quote(signal_name(o.cancel_signal)) : "null", f.exit.status,
      f.exit.die_of_signal ? quote(signal_name(f.exit.die_of_signal)) : "null", argv,
      o.command_started ? "true" : "false", command_status(o), quote(format_rfc3339(f.started)),
      optional_time(f.deadline), seconds(f.elapsed), quote(f.tree_backend), steps, o.processes_torn_down, survivors,
      guard_json(o) + "," + attempts_json(f.attempts) + "," + services_json(o),
      o.error.empty() ? "null" : quote(o.error));
}

namespace {

// Writes all of `text`; 0 or the errno of the failure.
int write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

std::string cannot_write(const std::string& path, int error) {
  return fmt::format("cannot write report '{}': {}", path, std::strerror(error));
}

// A device, FIFO, socket, symbolic link (/dev/stdout) or anything else that is not a regular file
// named directly: renaming over it would replace it, so the report is written into it, as `>>`
// would: neither created nor truncated (a file behind a link keeps what it holds, such as the
// command's output when the link is /dev/stdout).
Status write_in_place(const std::string& path, const std::string& text) {
  // O_NONBLOCK for the open only: a FIFO that nobody reads is an error (ENXIO), not a ctxrun that
  // never ends.
  unique_fd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return cannot_write(path, errno);
  if (int flags = fcntl(fd.get(), F_GETFL); flags >= 0) fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  if (int error = write_all(fd.get(), text)) return cannot_write(path, error);
  return {};
}

// A regular file, or none yet: a temporary file in the same directory, renamed over `path`. Its
// name is unpredictable and it is created exclusively, so nothing planted there in advance (a
// symbolic link to a file root would overwrite) is followed.
Status replace(const std::string& path, const std::string& text) {
  std::size_t slash = path.rfind('/');
  std::size_t dir_end = slash == std::string::npos ? 0 : slash + 1;
  std::string prefix = path.substr(0, dir_end) + "." + path.substr(dir_end) + ".";
  std::string temp;
  unique_fd fd;
  for (int attempt = 0; !fd; ++attempt) {
    std::uint64_t random = 0;
    if (getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
      random = (static_cast<std::uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
    temp = fmt::format("{}{:016x}.tmp", prefix, random);
    fd.reset(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd && (errno != EEXIST || attempt == 100)) return cannot_write(path, errno);
  }
  int error = write_all(fd.get(), text);
  if (error == 0 && fsync(fd.get()) != 0) error = errno;
  fd.reset();  // after fsync, close has nothing left to report
  if (error == 0 && rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    unlink(temp.c_str());
    return cannot_write(path, error);
  }
  return {};
}

}  // namespace

Status write_report(const std::string& path, const ReportFacts& facts) {
  std::string text = report_json(facts);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return write_in_place(path, text);
  return replace(path, text);
}

}  // namespace ctxrun
