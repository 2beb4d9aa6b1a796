#include "trace_span.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <variant>

#include <fmt/format.h>

#include "announce.h"
#include "baggage.h"
#include "ci_run.h"
#include "ctxrun/signals.h"
#include "ctxrun/version.h"
#include "json_string.h"
#include "log.h"
#include "traceparent.h"

namespace ctxrun {
namespace {

// OTLP's enums, written as integers as OTLP/JSON requires.
constexpr int kSpanKindInternal = 1;
constexpr int kStatusUnset = 0;
constexpr int kStatusError = 2;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// An attribute's value: OTLP's AnyValue, of the types the span uses.
using Value = std::variant<std::string, std::int64_t, double, std::vector<std::string>>;
struct Attribute {
  std::string key;
  Value value;
};
using Attributes = std::vector<Attribute>;

// {"stringValue":...}, {"intValue":"N"} (int64 is a JSON string in OTLP/JSON), {"doubleValue":x},
// {"arrayValue":{"values":[...]}}.
std::string any_value(const Value& value) {
  if (auto* s = std::get_if<std::string>(&value)) return fmt::format("{{\"stringValue\":{}}}", json_quote(*s));
  if (auto* i = std::get_if<std::int64_t>(&value)) return fmt::format("{{\"intValue\":\"{}\"}}", *i);
  if (auto* d = std::get_if<double>(&value)) return fmt::format("{{\"doubleValue\":{}}}", *d);
  std::string values;
  for (const auto& s : std::get<std::vector<std::string>>(value)) values += (values.empty() ? "" : ",") + any_value(s);
  return fmt::format("{{\"arrayValue\":{{\"values\":[{}]}}}}", values);
}

std::string attributes_json(const Attributes& attributes) {
  std::string out = "[";
  for (const auto& a : attributes)
    out += fmt::format("{}{{\"key\":{},\"value\":{}}}", out.size() > 1 ? "," : "", json_quote(a.key),
                       any_value(a.value));
  return out + "]";
}

std::string nanos(wall_time t) { return fmt::format("\"{}\"", t.time_since_epoch().count()); }

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

struct Event {
  wall_time time;
  std::string name;
  Attributes attributes;
};

std::string events_json(const std::vector<Event>& events) {
  std::string out = "[";
  for (const auto& e : events)
    out += fmt::format("{}{{\"timeUnixNano\":{},\"name\":{},\"attributes\":{}}}", out.size() > 1 ? "," : "",
                       nanos(e.time), json_quote(e.name), attributes_json(e.attributes));
  return out + "]";
}

// What the command's own ending was, as attributes: process.exit.code, or the signal it died of.
void command_status(const Outcome& o, Attributes& into) {
  if (!o.command_reaped) return;
  if (WIFEXITED(o.command_status)) into.push_back({"process.exit.code", std::int64_t{WEXITSTATUS(o.command_status)}});
  else if (WIFSIGNALED(o.command_status))
    into.push_back({"ctxrun.command.signal", signal_name(WTERMSIG(o.command_status))});
}

// One event per teardown step of `o`.
void teardown_events(const Outcome& o, std::optional<int> attempt, std::vector<Event>& into) {
  for (const auto& step : o.teardown) {
    Attributes a{{"ctxrun.signal", signal_name(step.signal)},
                 {"ctxrun.processes", std::int64_t{step.processes}},
                 {"ctxrun.seconds", seconds(step.took)}};
    if (attempt) a.push_back({"ctxrun.attempt", std::int64_t{*attempt}});
    into.push_back({step.began, "ctxrun.teardown", std::move(a)});
  }
}

std::string ending_message(const Outcome& o) {
  if (!o.survivors.empty())
    return fmt::format("{} process{} of the tree survived teardown", o.survivors.size(),
                       o.survivors.size() == 1 ? "" : "es");
  if (std::string line = ending_line(o); !line.empty()) return line;
  if (o.ending == Ending::signaled) return "killed by " + signal_name(WTERMSIG(o.command_status));
  return fmt::format("exit status {}", WEXITSTATUS(o.command_status));
}

// The span's status: unset when the command exited 0 in time; ERROR otherwise, with the line ctxrun
// prints (announce.h) or what the command's status was.
std::pair<int, std::string> status_of(const Outcome& o, const ExitPlan& exit) {
  if (o.ending == Ending::exited && exit.status == 0) return {kStatusUnset, ""};
  return {kStatusError, ending_message(o)};
}

// OTEL_RESOURCE_ATTRIBUTES as (key, decoded value) pairs; all or nothing.
std::vector<std::pair<std::string, std::string>> resource_from_env() {
  std::vector<std::pair<std::string, std::string>> out;
  std::string text = env("OTEL_RESOURCE_ATTRIBUTES");
  BaggageList list = read_baggage(text);
  if (!list.invalid.empty()) {
    log::notice("warning: OTEL_RESOURCE_ATTRIBUTES ignored: '{}' is not key=value with a percent-encoded value",
                list.invalid.front());
    return out;
  }
  for (const auto& m : list.members) {
    bool replaced = false;
    for (auto& [key, value] : out)
      if (key == m.key) value = m.value, replaced = true;
    if (!replaced) out.emplace_back(m.key, m.value);
  }
  return out;
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char* cwd = getcwd(nullptr, 0);
  if (!cwd) return path;  // no working directory to name: the command inherits the path as given
  std::string out = std::string(cwd) + "/" + path;
  std::free(cwd);
  return out;
}

}  // namespace

Result<TraceRun> start_trace(const std::string& path) {
  TraceRun trace;
  trace.path = absolute(path);
  trace.span_id = new_span_id();
  std::string inherited = env("TRACEPARENT");
  if (!inherited.empty()) {
    auto parsed = parse_traceparent(inherited);
    if (auto* parent = std::get_if<TraceParent>(&parsed)) {
      trace.trace_id = parent->trace_id;
      trace.parent_span_id = parent->parent_id;
      trace.flags = parent->flags;
      trace.trace_state = env("TRACESTATE");
    } else {
      log::verbose("ignoring TRACEPARENT '{}' ({}): starting a new trace", inherited, std::get<std::string>(parsed));
    }
  }
  if (trace.trace_id.empty()) trace.trace_id = new_trace_id();
  if (trace.sampled()) {
    // O_NONBLOCK for the open only: a FIFO nobody reads is an error now, not a ctxrun that hangs.
    trace.file.reset(open(trace.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0666));
    if (!trace.file) return fmt::format("cannot open trace file '{}': {}", path, std::strerror(errno));
    if (int flags = fcntl(trace.file.get(), F_GETFL); flags >= 0) fcntl(trace.file.get(), F_SETFL, flags & ~O_NONBLOCK);
    trace.resource = resource_from_env();
    std::string service = env("OTEL_SERVICE_NAME");
    bool named = false;
    for (auto& [key, value] : trace.resource)
      if (key == "service.name") {
        if (!service.empty()) value = service;
        named = true;
      }
    if (!named) trace.resource.insert(trace.resource.begin(), {"service.name", service.empty() ? "ctxrun" : service});
  } else {
    log::verbose("TRACEPARENT says not sampled: no span is written");
  }
  log::verbose("trace {}, span {}{}", trace.trace_id, trace.span_id,
               trace.parent_span_id ? ", parent " + *trace.parent_span_id : std::string(" (a new trace)"));
  setenv("TRACEPARENT",
         format_traceparent({.trace_id = trace.trace_id, .parent_id = trace.span_id, .flags = trace.flags}).c_str(), 1);
  setenv("CTXRUN_TRACE_FILE", trace.path.c_str(), 1);
  return trace;
}

std::string span_line(const TraceRun& trace, const SpanFacts& f) {
  const Outcome& o = f.outcome;
  std::string name = f.argv.empty() ? "" : f.argv.front();
  if (auto slash = name.rfind('/'); slash != std::string::npos) name.erase(0, slash + 1);

  Attributes attributes{{"process.executable.name", name}};
  if (f.with_argv) attributes.push_back({"process.command_args", f.argv});
  command_status(o, attributes);
  attributes.push_back({"ctxrun.exit_status", std::int64_t{f.exit.status}});
  attributes.push_back({"ctxrun.outcome", std::string(ending_name(o.ending))});
  if (!o.cause.empty()) attributes.push_back({"ctxrun.cause", o.cause});
  if (f.deadline) attributes.push_back({"ctxrun.deadline", format_rfc3339(*f.deadline)});
  attributes.push_back({"ctxrun.tree_backend", f.tree_backend});
  attributes.push_back({"ctxrun.processes_torn_down", std::int64_t{o.processes_torn_down}});
  if (f.attempts) {
    attributes.push_back({"ctxrun.attempts", static_cast<std::int64_t>(f.attempts->records.size())});
    attributes.push_back({"ctxrun.retry_stopped", f.attempts->stopped});
  }
  for (auto& [key, value] : ci_attributes()) attributes.push_back({key, value});

  std::vector<Event> events;
  if (f.attempts) {
    for (const auto& a : f.attempts->records) {
      Attributes attempt{{"ctxrun.attempt", std::int64_t{a.number}},
                         {"ctxrun.outcome", std::string(ending_name(a.outcome.ending))},
                         {"ctxrun.seconds", seconds(a.elapsed)}};
      if (!a.outcome.cause.empty()) attempt.push_back({"ctxrun.cause", a.outcome.cause});
      command_status(a.outcome, attempt);
      events.push_back({a.start, "ctxrun.attempt", std::move(attempt)});
      teardown_events(a.outcome, a.number, events);
    }
  } else {
    teardown_events(o, std::nullopt, events);
  }
  // When the context ended: the deadline itself when it is the one that passed, else when teardown
  // began (idleness, a cancel), else the end.
  if (o.ending == Ending::deadline_exceeded || o.ending == Ending::canceled) {
    wall_time at = f.end;
    if (!o.teardown.empty()) at = o.teardown.front().began;
    if (o.ending == Ending::deadline_exceeded && !o.idle_expired && f.deadline && *f.deadline <= at) at = *f.deadline;
    Attributes a{{"ctxrun.cause", o.cause}};
    if (o.cancel_signal) a.push_back({"ctxrun.signal", signal_name(o.cancel_signal)});
    events.push_back({at, o.ending == Ending::canceled ? "ctxrun.canceled" : "ctxrun.deadline_exceeded", a});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });

  Attributes resource;
  for (const auto& [key, value] : trace.resource) resource.push_back({key, value});
  resource.push_back({"process.pid", std::int64_t{getpid()}});
  auto [code, message] = status_of(o, f.exit);
  std::string span = fmt::format(
      "{{\"traceId\":\"{}\",\"spanId\":\"{}\",{}{}\"name\":{},\"kind\":{},\"startTimeUnixNano\":{},"
      "\"endTimeUnixNano\":{},\"attributes\":{},\"events\":{},\"status\":{{\"code\":{},\"message\":{}}}}}",
      trace.trace_id, trace.span_id,
      trace.parent_span_id ? fmt::format("\"parentSpanId\":\"{}\",", *trace.parent_span_id) : std::string(),
      trace.trace_state.empty() ? std::string() : fmt::format("\"traceState\":{},", json_quote(trace.trace_state)),
      json_quote("ctxrun " + name), kSpanKindInternal, nanos(f.start), nanos(f.end), attributes_json(attributes),
      events_json(events), code, json_quote(message));
  return fmt::format(
      "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":{}}},\"scopeSpans\":[{{\"scope\":{{\"name\":\"ctxrun\","
      "\"version\":\"{}\"}},\"spans\":[{}]}}]}}]}}\n",
      attributes_json(resource), kVersion, span);
}

Status append_span(const TraceRun& trace, const std::string& line) {
  if (!trace.file) return {};
  // One write: with O_APPEND the kernel places it at the end whole, so lines of concurrent runs
  // never interleave. Not retried after a short write, which would put the rest after another's.
  ssize_t n;
  while ((n = ::write(trace.file.get(), line.data(), line.size())) < 0 && errno == EINTR) {}
  if (n < 0) return fmt::format("cannot append to trace file '{}': {}", trace.path, std::strerror(errno));
  if (static_cast<std::size_t>(n) != line.size())
    return fmt::format("trace file '{}': only {} of {} bytes written", trace.path, n, line.size());
  return {};
}

}  // namespace ctxrun
