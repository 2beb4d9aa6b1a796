// Trace context across processes (issue 17): --trace-file writes one OTLP/JSON span per run, linked
// through TRACEPARENT to the caller and to nested runs; "not sampled" writes nothing; --value and
// --value-of carry W3C baggage through levels; without the options TRACEPARENT, TRACESTATE and
// BAGGAGE pass through untouched. Every line written is checked against OTLP/JSON's field names
// and types (check_traces_data).
//
// The commands are the real ctxrun and the helper: `env-dump FILE NAME...` writes what the command
// got, byte for byte. The test process's own trace variables are cleared first (TraceEnv), so that
// a CI that runs the tests inside a trace changes nothing here.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "harness.h"
#include "json.h"

using namespace e2e;

namespace {

// Clears every variable that would change what ctxrun traces, in the test process (the runs
// inherit its environment), and gives each test a fresh directory.
struct TraceEnv {
  std::string dir;
  explicit TraceEnv(const std::string& name) : dir(fresh_dir(name)) {
    for (const char* variable :
         {"TRACEPARENT", "TRACESTATE", "BAGGAGE", "CTXRUN_TRACE_FILE", "CTXRUN_DEADLINE", "OTEL_SERVICE_NAME",
          "OTEL_RESOURCE_ATTRIBUTES", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "JENKINS_URL"})
      unsetenv(variable);
  }
};

// What `env-dump` wrote: NAME -> value, nullopt for an unset variable.
std::map<std::string, std::optional<std::string>> env_dump(const std::string& path) {
  std::map<std::string, std::optional<std::string>> out;
  std::string text = slurp(path);
  REQUIRE_MESSAGE(!text.empty(), "the command wrote no " << path);
  std::size_t start = 0;
  for (std::size_t nul; (nul = text.find('\0', start)) != std::string::npos; start = nul + 1) {
    std::string entry = text.substr(start, nul - start);
    auto eq = entry.find('=');
    if (eq == std::string::npos) out[entry] = std::nullopt;
    else out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> with_dump(std::vector<std::string> options, const std::string& file) {
  options.insert(options.end(),
                 {kHelper, "env-dump", file, "TRACEPARENT", "TRACESTATE", "BAGGAGE", "CTXRUN_TRACE_FILE"});
  return options;
}

bool lower_hex(const std::string& s, std::size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos &&
         s.find_first_not_of('0') != std::string::npos;
}

bool nanoseconds(const json::Value& v) {
  return std::holds_alternative<std::string>(v.v) && std::regex_match(v.str(), std::regex("[1-9][0-9]{9,19}"));
}

std::uint64_t ns(const json::Value& v) { return std::stoull(v.str()); }

// The object's keys are all among `allowed` and `required` are all there.
void keys(const json::Value& v, const std::set<std::string>& required, const std::set<std::string>& optional,
          const std::string& where) {
  REQUIRE_MESSAGE(std::holds_alternative<std::shared_ptr<json::Object>>(v.v), where << " is not an object");
  for (const auto& key : required) CHECK_MESSAGE(v.obj().count(key) == 1, where << " has no " << key);
  for (const auto& field : v.obj()) {
    const std::string& key = field.first;  // not a structured binding: clang's lambdas (CHECK) cannot capture one
    CHECK_MESSAGE((required.count(key) + optional.count(key)) == 1, where << " has an unknown field " << key);
  }
}

bool is_array(const json::Value& v) { return std::holds_alternative<std::shared_ptr<json::Array>>(v.v); }

// OTLP's AnyValue: exactly one typed field.
void check_any_value(const json::Value& v, const std::string& where) {
  keys(v, {}, {"stringValue", "intValue", "doubleValue", "boolValue", "arrayValue"}, where);
  REQUIRE_MESSAGE(v.obj().size() == 1, where << " has not exactly one value");
  const auto& [type, value] = *v.obj().begin();
  if (type == "stringValue") CHECK(std::holds_alternative<std::string>(value.v));
  if (type == "intValue")  // int64 is a JSON string in OTLP/JSON
    CHECK_MESSAGE((std::holds_alternative<std::string>(value.v) &&
                   std::regex_match(value.str(), std::regex("-?(0|[1-9][0-9]*)"))),
                  where << ": intValue is not a decimal string");
  if (type == "doubleValue") CHECK(std::holds_alternative<double>(value.v));
  if (type == "boolValue") CHECK(std::holds_alternative<bool>(value.v));
  if (type == "arrayValue") {
    keys(value, {"values"}, {}, where + ".arrayValue");
    REQUIRE(is_array(value["values"]));
    for (const auto& item : value["values"].arr()) check_any_value(item, where + ".arrayValue[]");
  }
}

void check_attributes(const json::Value& v, const std::string& where) {
  REQUIRE_MESSAGE(is_array(v), where << " is not an array");
  std::set<std::string> seen;
  for (const auto& kv : v.arr()) {
    keys(kv, {"key", "value"}, {}, where + "[]");
    REQUIRE(std::holds_alternative<std::string>(kv["key"].v));
    CHECK_MESSAGE(seen.insert(kv["key"].str()).second, where << ": " << kv["key"].str() << " twice");
    check_any_value(kv["value"], where + "[" + kv["key"].str() + "]");
  }
}

// The schema check: `line` is one OTLP/JSON TracesData object with one resource, one scope and one
// span, every field named and typed as OTLP/JSON says. Returns the span.
json::Value check_traces_data(const std::string& line) {
  INFO("line: " << line);
  auto parsed = json::parse(line);
  REQUIRE_MESSAGE(parsed.has_value(), "not JSON");
  const json::Value& data = *parsed;
  keys(data, {"resourceSpans"}, {}, "TracesData");
  REQUIRE(data["resourceSpans"].arr().size() == 1);
  const auto& rs = data["resourceSpans"].arr()[0];
  keys(rs, {"resource", "scopeSpans"}, {"schemaUrl"}, "ResourceSpans");
  keys(rs["resource"], {"attributes"}, {"droppedAttributesCount"}, "Resource");
  check_attributes(rs["resource"]["attributes"], "resource.attributes");
  REQUIRE(rs["scopeSpans"].arr().size() == 1);
  const auto& ss = rs["scopeSpans"].arr()[0];
  keys(ss, {"scope", "spans"}, {"schemaUrl"}, "ScopeSpans");
  keys(ss["scope"], {"name"}, {"version", "attributes"}, "InstrumentationScope");
  CHECK(ss["scope"]["name"].str() == "ctxrun");
  REQUIRE(ss["spans"].arr().size() == 1);
  const auto& span = ss["spans"].arr()[0];
  keys(span, {"traceId", "spanId", "name", "kind", "startTimeUnixNano", "endTimeUnixNano", "attributes", "status"},
       {"parentSpanId", "traceState", "events", "links", "flags", "droppedAttributesCount", "droppedEventsCount"},
       "Span");
  CHECK_MESSAGE(lower_hex(span["traceId"].str(), 32), "traceId " << span["traceId"].str());
  CHECK_MESSAGE(lower_hex(span["spanId"].str(), 16), "spanId " << span["spanId"].str());
  if (span.obj().count("parentSpanId"))
    CHECK_MESSAGE(lower_hex(span["parentSpanId"].str(), 16), "parentSpanId " << span["parentSpanId"].str());
  CHECK(span["name"].str().rfind("ctxrun ", 0) == 0);
  CHECK(span["kind"].num() == 1);  // SPAN_KIND_INTERNAL, an integer as OTLP/JSON requires
  REQUIRE(nanoseconds(span["startTimeUnixNano"]));
  REQUIRE(nanoseconds(span["endTimeUnixNano"]));
  CHECK(ns(span["startTimeUnixNano"]) <= ns(span["endTimeUnixNano"]));
  check_attributes(span["attributes"], "span.attributes");
  if (span.obj().count("events")) {
    REQUIRE(is_array(span["events"]));
    for (const auto& e : span["events"].arr()) {
      keys(e, {"timeUnixNano", "name"}, {"attributes", "droppedAttributesCount"}, "Event");
      REQUIRE(nanoseconds(e["timeUnixNano"]));
      CHECK(std::holds_alternative<std::string>(e["name"].v));
      if (e.obj().count("attributes")) check_attributes(e["attributes"], "event.attributes");
    }
  }
  keys(span["status"], {"code"}, {"message"}, "Status");
  CHECK((span["status"]["code"].num() == 0 || span["status"]["code"].num() == 2));
  if (span["status"].obj().count("message")) CHECK(std::holds_alternative<std::string>(span["status"]["message"].v));
  return span;
}

// Every line of the trace file, each checked; the spans.
std::vector<json::Value> spans_in(const std::string& path) {
  std::string text = slurp(path);
  REQUIRE_MESSAGE((!text.empty() && text.back() == '\n'), "trace file: '" << text << "'");
  std::vector<json::Value> spans;
  for (const auto& line : lines_of(text)) spans.push_back(check_traces_data(line));
  return spans;
}

// The value of attribute `key` in a span's (or resource's) attributes: the AnyValue's one field.
std::optional<json::Value> attribute(const json::Value& attributes, const std::string& key) {
  for (const auto& kv : attributes.arr())
    if (kv["key"].str() == key) return kv["value"].obj().begin()->second;
  return std::nullopt;
}

std::string str_attribute(const json::Value& span, const std::string& key) {
  auto v = attribute(span["attributes"], key);
  REQUIRE_MESSAGE(v.has_value(), "no attribute " << key);
  return v->str();
}

std::string resource_attribute(const std::string& line, const std::string& key) {
  auto data = json::parse(line);
  REQUIRE(data.has_value());
  auto v = attribute((*data)["resourceSpans"].arr()[0]["resource"]["attributes"], key);
  REQUIRE_MESSAGE(v.has_value(), "no resource attribute " << key);
  return v->str();
}

const std::string kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kParent = "00f067aa0ba902b7";

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("trace: the command's TRACEPARENT keeps the inherited trace id, and its parent id is the span written") {
  NoSurvivors guard;
  TraceEnv env("trace-inherited");
  std::string file = env.dir + "/trace.jsonl", dump = env.dir + "/env";
  auto exit = run(
      Spec{.args = with_dump({"--trace-file", file, "--"}, dump),
           .env = {"TRACEPARENT=00-" + kTrace + "-" + kParent + "-01", "TRACESTATE=congo=t61rcWkgMzE", "BAGGAGE=k=v"}});
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 1);
  const auto& span = spans[0];
  CHECK(span["traceId"].str() == kTrace);
  CHECK(span["parentSpanId"].str() == kParent);
  CHECK(span["spanId"].str() != kParent);
  CHECK(span["traceState"].str() == "congo=t61rcWkgMzE");
  CHECK(span["name"].str() == "ctxrun ctxrun_helper");
  CHECK(span["status"]["code"].num() == 0);
  CHECK(str_attribute(span, "ctxrun.outcome") == "exited");
  CHECK(str_attribute(span, "process.exit.code") == "0");
  CHECK(str_attribute(span, "ctxrun.exit_status") == "0");
  CHECK(str_attribute(span, "process.executable.name") == "ctxrun_helper");
  CHECK_FALSE(attribute(span["attributes"], "process.command_args"));  // only with --trace-argv
  CHECK(resource_attribute(lines_of(slurp(file))[0], "service.name") == "ctxrun");

  auto got = env_dump(dump);
  CHECK(got["TRACEPARENT"] == "00-" + kTrace + "-" + span["spanId"].str() + "-01");
  CHECK(got["TRACESTATE"] == "congo=t61rcWkgMzE");  // unchanged
  CHECK(got["BAGGAGE"] == "k=v");                   // unchanged
  CHECK(got["CTXRUN_TRACE_FILE"] == file);
}

TEST_CASE("trace: three nested levels give three lines linked parent to child, each inside its parent") {
  NoSurvivors guard;
  TraceEnv env("trace-nested");
  std::string file = env.dir + "/trace.jsonl", dump = env.dir + "/env";
  // Only the outermost names the file: the others inherit it (CTXRUN_TRACE_FILE).
  auto exit = run(with_dump({"--trace-file", file, "--", kCtxrun, "--", kCtxrun, "-t", "60s", "--"}, dump));
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 3);
  // The innermost ends first, so it is written first.
  const auto &inner = spans[0], &middle = spans[1], &outer = spans[2];
  CHECK(outer.obj().count("parentSpanId") == 0);  // no TRACEPARENT: a new trace, a root span
  CHECK(middle["parentSpanId"].str() == outer["spanId"].str());
  CHECK(inner["parentSpanId"].str() == middle["spanId"].str());
  for (const auto& s : spans) CHECK(s["traceId"].str() == outer["traceId"].str());
  CHECK(outer["name"].str() == "ctxrun ctxrun");
  CHECK(middle["name"].str() == "ctxrun ctxrun");
  CHECK(inner["name"].str() == "ctxrun ctxrun_helper");
  std::set<std::string> ids{outer["spanId"].str(), middle["spanId"].str(), inner["spanId"].str()};
  CHECK(ids.size() == 3);
  // A child's time lies within its parent's.
  CHECK(ns(outer["startTimeUnixNano"]) <= ns(middle["startTimeUnixNano"]));
  CHECK(ns(middle["startTimeUnixNano"]) <= ns(inner["startTimeUnixNano"]));
  CHECK(ns(inner["endTimeUnixNano"]) <= ns(middle["endTimeUnixNano"]));
  CHECK(ns(middle["endTimeUnixNano"]) <= ns(outer["endTimeUnixNano"]));
  CHECK(env_dump(dump)["TRACEPARENT"] == "00-" + outer["traceId"].str() + "-" + inner["spanId"].str() + "-01");
}

TEST_CASE("trace: a parent that is not sampled is propagated and nothing is written, at any level") {
  NoSurvivors guard;
  TraceEnv env("trace-unsampled");
  std::string file = env.dir + "/trace.jsonl", dump = env.dir + "/env";
  auto exit = run(Spec{.args = with_dump({"--trace-file", file, "--", kCtxrun, "--"}, dump),
                       .env = {"TRACEPARENT=00-" + kTrace + "-" + kParent + "-00"}});
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  CHECK_FALSE(exists(file));  // not even created
  auto got = env_dump(dump);
  REQUIRE(got["TRACEPARENT"].has_value());
  std::smatch m;
  REQUIRE(std::regex_match(*got["TRACEPARENT"], m, std::regex("00-([0-9a-f]{32})-([0-9a-f]{16})-00")));
  CHECK(m[1] == kTrace);   // the same trace
  CHECK(m[2] != kParent);  // each level a span of its own, not recorded
  CHECK(got["CTXRUN_TRACE_FILE"] == file);
}

TEST_CASE("trace: an invalid TRACEPARENT is ignored with a -v note and a new trace starts") {
  NoSurvivors guard;
  TraceEnv env("trace-invalid");
  const std::vector<std::pair<std::string, std::string>> invalid = {
      {"00-" + std::string("4BF92F3577B34DA6A3CE929D0E0E4736") + "-" + kParent + "-01",
       "the ids and flags must be lowercase hex"},
      {"01-" + kTrace + "-" + kParent + "-01", "version 01 is not 00"},
      {"00-00000000000000000000000000000000-" + kParent + "-01", "the trace id is all zeros"},
      {"00-" + kTrace + "-0000000000000000-01", "the parent id is all zeros"},
      {"garbage", "no version (two lowercase hex digits)"},
  };
  int n = 0;
  for (const auto& item : invalid) {
    const std::string &value = item.first, &reason = item.second;
    INFO("TRACEPARENT=" << value);
    std::string file = env.dir + "/trace" + std::to_string(n) + ".jsonl", dump = env.dir + "/env" + std::to_string(n++);
    auto exit = run(Spec{.args = with_dump({"-v", "--trace-file", file, "--"}, dump), .env = {"TRACEPARENT=" + value}});
    REQUIRE_MESSAGE(exit.exited(0), exit.describe());
    CHECK_MESSAGE(exit.err.find("ignoring TRACEPARENT '" + value + "' (" + reason + "): starting a new trace") !=
                      std::string::npos,
                  exit.err);
    auto spans = spans_in(file);
    REQUIRE(spans.size() == 1);
    CHECK(spans[0].obj().count("parentSpanId") == 0);
    CHECK(spans[0]["traceId"].str() != kTrace);
    CHECK(env_dump(dump)["TRACEPARENT"] == "00-" + spans[0]["traceId"].str() + "-" + spans[0]["spanId"].str() + "-01");
  }
  // And without -v, nothing on stderr.
  std::string file = env.dir + "/quiet.jsonl";
  auto exit = run(Spec{.args = {"--trace-file", file, "--", kHelper, "exit", "0"}, .env = {"TRACEPARENT=garbage"}});
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  CHECK(spans_in(file).size() == 1);
}

TEST_CASE("trace: 50 concurrent runs appending to one file give 50 whole, valid lines") {
  NoSurvivors guard;
  TraceEnv env("trace-concurrent");
  std::string file = env.dir + "/trace.jsonl";
  // Lines longer than PIPE_BUF (an 8 KiB argument, with --trace-argv), so that a torn write shows.
  const std::string big(8192, 'x');
  std::vector<Process> runs;
  runs.reserve(50);
  for (int i = 0; i < 50; ++i)
    runs.emplace_back(Spec{.args = {"--trace-file", file, "--trace-argv", "--", "/bin/sh", "-c", "exit $0",
                                    std::to_string(i % 3), big},
                           .env = {"TRACEPARENT=00-" + kTrace + "-" + kParent + "-01"}});
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto exit = runs[i].wait();
    CHECK_MESSAGE(exit.exited(static_cast<int>(i % 3)), exit.describe());
  }
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 50);
  std::set<std::string> ids;
  std::map<std::string, int> statuses;
  for (const auto& s : spans) {
    ids.insert(s["spanId"].str());
    CHECK(s["traceId"].str() == kTrace);
    CHECK(s["parentSpanId"].str() == kParent);
    auto args = attribute(s["attributes"], "process.command_args");
    REQUIRE(args.has_value());
    REQUIRE(args->obj().count("values") == 1);
    const auto& values = (*args)["values"].arr();
    REQUIRE(values.size() == 5);
    CHECK(values[0]["stringValue"].str() == "/bin/sh");
    CHECK(values[2]["stringValue"].str() == "exit $0");
    CHECK(values[4]["stringValue"].str() == big);
    ++statuses[str_attribute(s, "process.exit.code")];
    // A command that failed is an ERROR span, with its status as the message.
    std::string code = str_attribute(s, "process.exit.code");
    CHECK(s["status"]["code"].num() == (code == "0" ? 0 : 2));
    if (code != "0") CHECK(s["status"]["message"].str() == "exit status " + code);
  }
  CHECK(ids.size() == 50);
  CHECK(statuses == std::map<std::string, int>{{"0", 17}, {"1", 17}, {"2", 16}});
}

TEST_CASE("trace: a timed-out run is an ERROR span with the timeout as its cause, and its teardown as events") {
  NoSurvivors guard;
  TraceEnv env("trace-timeout");
  std::string file = env.dir + "/trace.jsonl";
  Process p(Spec{.args = {"-t", "0.5s", "--trace-file", file, "--", kHelper, "hang", "3"}});
  p.await_ready();
  auto exit = p.wait();
  REQUIRE_MESSAGE(exit.exited(124), exit.describe());
  const std::string line = "context deadline exceeded (timeout 0.5s): 1 process torn down";
  CHECK(exit.err == "ctxrun: " + line + "\n");
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 1);
  const auto& span = spans[0];
  CHECK(span["status"]["code"].num() == 2);  // STATUS_CODE_ERROR
  CHECK(span["status"]["message"].str() == line);
  CHECK(str_attribute(span, "ctxrun.outcome") == "deadline_exceeded");
  CHECK(str_attribute(span, "ctxrun.cause") == "timeout 0.5s");
  CHECK(str_attribute(span, "ctxrun.exit_status") == "124");
  CHECK(str_attribute(span, "ctxrun.processes_torn_down") == "1");
  CHECK(str_attribute(span, "ctxrun.command.signal") == "SIGTERM");
  CHECK_FALSE(attribute(span["attributes"], "process.exit.code"));
  // Events: the expiry, then the SIGTERM step, in time order and within the span.
  const auto& events = span["events"].arr();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["name"].str() == "ctxrun.deadline_exceeded");
  CHECK(attribute(events[0]["attributes"], "ctxrun.cause")->str() == "timeout 0.5s");
  CHECK(events[1]["name"].str() == "ctxrun.teardown");
  CHECK(attribute(events[1]["attributes"], "ctxrun.signal")->str() == "SIGTERM");
  CHECK(attribute(events[1]["attributes"], "ctxrun.processes")->str() == "1");
  CHECK(ns(span["startTimeUnixNano"]) <= ns(events[0]["timeUnixNano"]));
  CHECK(ns(events[0]["timeUnixNano"]) <= ns(events[1]["timeUnixNano"]));
  CHECK(ns(events[1]["timeUnixNano"]) <= ns(span["endTimeUnixNano"]));
  // The deadline is 0.5 s after the start (the span starts as ctxrun does, a little before).
  auto to_deadline = ns(events[0]["timeUnixNano"]) - ns(span["startTimeUnixNano"]);
  CHECK(to_deadline >= 500'000'000u);
  CHECK(to_deadline < 5'000'000'000u);
}

TEST_CASE("trace: a cancelled run writes its span before it dies of the signal; a command not found is an ERROR span") {
  NoSurvivors guard;
  TraceEnv env("trace-cancel");
  std::string file = env.dir + "/trace.jsonl";
  Process p(Spec{.args = {"--trace-file", file, "--", kHelper, "hang", "3"}});
  p.await_ready();
  p.signal(SIGTERM);
  auto exit = p.wait();
  REQUIRE_MESSAGE(exit.killed_by(SIGTERM), exit.describe());
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 1);
  CHECK(spans[0]["status"]["code"].num() == 2);
  CHECK(spans[0]["status"]["message"].str() == "context canceled (SIGTERM): 1 process torn down");
  CHECK(str_attribute(spans[0], "ctxrun.outcome") == "canceled");
  CHECK(str_attribute(spans[0], "ctxrun.exit_status") == "143");
  const auto& events = spans[0]["events"].arr();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["name"].str() == "ctxrun.canceled");
  CHECK(attribute(events[0]["attributes"], "ctxrun.signal")->str() == "SIGTERM");
  CHECK(events[1]["name"].str() == "ctxrun.teardown");

  std::string file2 = env.dir + "/notfound.jsonl";
  exit = run({"--trace-file", file2, "--", "no-such-command-here"});
  CHECK_MESSAGE(exit.exited(127), exit.describe());
  auto notfound = spans_in(file2);
  REQUIRE(notfound.size() == 1);
  CHECK(notfound[0]["name"].str() == "ctxrun no-such-command-here");
  CHECK(notfound[0]["status"]["code"].num() == 2);
  CHECK(notfound[0]["status"]["message"].str() ==
        "failed to run command 'no-such-command-here': No such file or directory");
  CHECK(str_attribute(notfound[0], "ctxrun.outcome") == "error");
}

TEST_CASE("trace: a relative FILE is handed on absolute, so a nested run in another directory writes the same file") {
  NoSurvivors guard;
  TraceEnv env("trace-relative");
  std::string file = env.dir + "/trace.jsonl", dump = env.dir + "/env";
  std::string relative = std::filesystem::relative(file).string();
  REQUIRE(relative[0] != '/');
  // The command changes to / before the nested run.
  auto exit = run(
      with_dump({"--trace-file", relative, "--", "/bin/sh", "-c", "cd / && exec \"$0\" \"$@\"", kCtxrun, "--"}, dump));
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 2);
  CHECK(spans[0]["parentSpanId"].str() == spans[1]["spanId"].str());
  CHECK(env_dump(dump)["CTXRUN_TRACE_FILE"] == std::filesystem::absolute(relative).string());
  CHECK_FALSE(exists("/trace.jsonl"));
}

TEST_CASE("trace: each attempt is an event of the run's one span") {
  NoSurvivors guard;
  TraceEnv env("trace-attempts");
  std::string file = env.dir + "/trace.jsonl";
  auto exit = run({"--attempts", "3", "--retry-delay", "1ms", "--retry-jitter", "none", "--trace-file", file, "--",
                   kHelper, "exit", "7"});
  REQUIRE_MESSAGE(exit.exited(7), exit.describe());
  auto spans = spans_in(file);
  REQUIRE(spans.size() == 1);
  CHECK(str_attribute(spans[0], "ctxrun.attempts") == "3");
  CHECK(str_attribute(spans[0], "ctxrun.retry_stopped") == "attempts exhausted");
  CHECK(spans[0]["status"]["message"].str() == "exit status 7");
  std::vector<std::string> numbers;
  for (const auto& e : spans[0]["events"].arr()) {
    CHECK(e["name"].str() == "ctxrun.attempt");
    numbers.push_back(attribute(e["attributes"], "ctxrun.attempt")->str());
    CHECK(attribute(e["attributes"], "process.exit.code")->str() == "7");
  }
  CHECK(numbers == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("trace: service.name, OTEL_RESOURCE_ATTRIBUTES (percent-decoded) and a CI's cicd.* attributes") {
  NoSurvivors guard;
  TraceEnv env("trace-resource");
  std::string file = env.dir + "/trace.jsonl";
  auto exit = run(Spec{.args = {"--trace-file", file, "--", kHelper, "exit", "0"},
                       .env = {"OTEL_SERVICE_NAME=ci-steps",
                               "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=staging,team=a%20b%2Cc,service.name=x",
                               "GITLAB_CI=true", "CI_PIPELINE_ID=4711", "CI_PROJECT_PATH=group/project",
                               "CI_PIPELINE_URL=https://gitlab.example/group/project/-/pipelines/4711",
                               "CI_JOB_NAME=test", "CI_JOB_ID=99", "CI_JOB_URL=https://gitlab.example/jobs/99"}});
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  std::string line = lines_of(slurp(file)).at(0);
  CHECK(resource_attribute(line, "service.name") == "ci-steps");  // OTEL_SERVICE_NAME wins
  CHECK(resource_attribute(line, "deployment.environment") == "staging");
  CHECK(resource_attribute(line, "team") == "a b,c");
  auto span = spans_in(file).at(0);
  CHECK(str_attribute(span, "cicd.pipeline.run.id") == "4711");
  CHECK(str_attribute(span, "cicd.pipeline.name") == "group/project");
  CHECK(str_attribute(span, "cicd.pipeline.run.url.full") == "https://gitlab.example/group/project/-/pipelines/4711");
  CHECK(str_attribute(span, "cicd.pipeline.task.name") == "test");
  CHECK(str_attribute(span, "cicd.pipeline.task.run.id") == "99");
  CHECK(str_attribute(span, "cicd.pipeline.task.run.url.full") == "https://gitlab.example/jobs/99");

  // A malformed OTEL_RESOURCE_ATTRIBUTES is ignored whole, with a warning; no CI run id, no cicd.*.
  std::string file2 = env.dir + "/trace2.jsonl";
  exit = run(Spec{.args = {"--trace-file", file2, "--", kHelper, "exit", "0"},
                  .env = {"OTEL_RESOURCE_ATTRIBUTES=good=1,bad value", "GITLAB_CI=true"}});
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err ==
        "ctxrun: warning: OTEL_RESOURCE_ATTRIBUTES ignored: 'bad value' is not key=value with a percent-encoded "
        "value\n");
  line = lines_of(slurp(file2)).at(0);
  CHECK(resource_attribute(line, "service.name") == "ctxrun");
  auto data = json::parse(line);
  CHECK_FALSE(attribute((*data)["resourceSpans"].arr()[0]["resource"]["attributes"], "good"));
  auto span2 = spans_in(file2).at(0);
  for (const auto& kv : span2["attributes"].arr()) CHECK(kv["key"].str().rfind("cicd.", 0) != 0);
}

TEST_CASE("trace: a trace file that cannot be opened is a usage-time error (125), before anything runs") {
  NoSurvivors guard;
  TraceEnv env("trace-unwritable");
  std::string marker = env.dir + "/ran";
  for (const auto& [path, why] : std::vector<std::pair<std::string, std::string>>{{env.dir + "/no-such-dir/trace.jsonl",
                                                                                   "No such file or directory"},
                                                                                  {env.dir, "Is a directory"}}) {
    auto exit = run(with_dump({"--trace-file", path, "--"}, marker));
    CHECK_MESSAGE(exit.exited(125), exit.describe());
    CHECK(exit.err == "ctxrun: cannot open trace file '" + path + "': " + why + "\n");
    CHECK_FALSE(exists(marker));  // the command never ran
  }
  // Inherited through CTXRUN_TRACE_FILE: the same rule.
  auto exit = run(Spec{.args = with_dump({"--"}, marker), .env = {"CTXRUN_TRACE_FILE=" + env.dir + "/none/t.jsonl"}});
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK_FALSE(exists(marker));
}

TEST_CASE("trace: a span that cannot be appended is a warning, and the exit status stays the command's") {
  NoSurvivors guard;
  TraceEnv env("trace-full");
  if (!exists("/dev/full")) {
    MESSAGE("SKIPPED: no /dev/full");
    return;
  }
  auto exit = run({"--trace-file", "/dev/full", "--", kHelper, "exit", "3"});
  CHECK_MESSAGE(exit.exited(3), exit.describe());
  CHECK(exit.err == "ctxrun: warning: cannot append to trace file '/dev/full': No space left on device\n");
}

TEST_CASE("values: --value and --value-of round-trip through two levels, with characters that need encoding") {
  NoSurvivors guard;
  TraceEnv env("values-roundtrip");
  const std::string tricky = "a b%c,d;e=f \xc3\xa9\xe6\x97\xa5 \"q\"\\";
  std::string dump = env.dir + "/env";
  // Level 1 sets two values, level 2 replaces one and adds one; the command sees all three, encoded.
  auto exit = run(with_dump({"--value", "req=" + tricky, "--value", "tenant=t1", "--", kCtxrun, "--value", "tenant=t2",
                             "--value", "x=", "--"},
                            dump));
  REQUIRE_MESSAGE(exit.exited(0), exit.describe());
  CHECK(env_dump(dump)["BAGGAGE"] == "req=a%20b%25c%2Cd%3Be=f%20%C3%A9%E6%97%A5%20%22q%22%5C,tenant=t2,x=");
  CHECK_FALSE(env_dump(dump)["TRACEPARENT"].has_value());  // --value alone starts no trace

  // --value-of below two levels prints the decoded value, byte for byte.
  auto value_of = [&](const std::string& key) {
    Process p(Spec{.args = {"--value", "req=" + tricky, "--value", "tenant=t1", "--", kCtxrun, "--value", "tenant=t2",
                            "--", kCtxrun, "--value-of", key},
                   .capture_stdout = true});
    std::string out = p.stdout_text();
    return std::make_pair(p.wait(), out);
  };
  Exit req_exit, tenant_exit, absent_exit;
  std::string req, tenant, absent;
  std::tie(req_exit, req) = value_of("req");
  CHECK_MESSAGE(req_exit.exited(0), req_exit.describe());
  CHECK(req == tricky + "\n");
  std::tie(tenant_exit, tenant) = value_of("tenant");
  CHECK_MESSAGE(tenant_exit.exited(0), tenant_exit.describe());
  CHECK(tenant == "t2\n");
  // Absent: nothing printed, exit 1 (and nothing on stderr).
  std::tie(absent_exit, absent) = value_of("missing");
  CHECK_MESSAGE(absent_exit.exited(1), absent_exit.describe());
  CHECK(absent.empty());
  CHECK(absent_exit.err.empty());
}

TEST_CASE("values: bad --value and --value-of input is one line and 125") {
  NoSurvivors guard;
  TraceEnv env("values-errors");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--value", "novalue", "true"}, "invalid --value 'novalue' (KEY=VALUE)"},
      {{"--value", "bad key=1", "true"},
       "invalid --value key 'bad key' (a token: letters, digits and !#$%&'*+-.^_`|~)"},
      {{"--value", "=1", "true"}, "invalid --value key '' (a token: letters, digits and !#$%&'*+-.^_`|~)"},
      {{"--value", "k=\xff", "true"}, "invalid --value k=...: the value is not valid UTF-8"},
      {{"--value", "k=1", "--value", "k=2", "true"}, "--value k given twice"},
      {{"--value-of", "a,b"}, "invalid --value-of key 'a,b' (a token: letters, digits and !#$%&'*+-.^_`|~)"},
      {{"--value-of", "k", "true"}, "--value-of takes no command (see 'ctxrun --help')"},
      {{"--value-of", "k", "--value", "k=1"}, "--value applies to a run, not to --value-of"},
      {{"--trace-argv", "true"}, "--trace-argv needs --trace-file (or an inherited CTXRUN_TRACE_FILE)"},
      {{"--value-of", "k", "--remaining"}, "--remaining and --value-of exclude each other"},
  };
  for (const auto& [args, message] : cases) {
    auto exit = run(args);
    CHECK_MESSAGE(exit.exited(125), exit.describe());
    CHECK(exit.err == "ctxrun: " + message + "\n");
  }
  // Over W3C Baggage's limits: refused before the command runs.
  std::string marker = env.dir + "/ran";
  auto exit = run(with_dump({"--value", "big=" + std::string(8200, 'x'), "--"}, marker));
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err == "ctxrun: BAGGAGE would be 8204 bytes long, more than the 8192 that W3C Baggage propagates\n");
  CHECK_FALSE(exists(marker));
}

TEST_CASE("trace: without the options, TRACEPARENT, TRACESTATE and BAGGAGE pass through byte for byte") {
  NoSurvivors guard;
  TraceEnv env("trace-untouched");
  // Odd values on purpose: a valid traceparent (which a tracing run would replace), one that is not,
  // empty ones, spaces, newlines, malformed baggage, bytes that are not UTF-8.
  const std::vector<std::vector<std::string>> settings = {
      {"TRACEPARENT=00-" + kTrace + "-" + kParent + "-01", "TRACESTATE=a=1,b=2", "BAGGAGE=k=v;p"},
      {"TRACEPARENT=garbage\nwith a newline", "TRACESTATE=", "BAGGAGE= ,,=;%zz \xff"},
      {"TRACEPARENT=", "TRACESTATE=  spaces  ", "BAGGAGE=k=%"},
      {},  // all three unset
  };
  int n = 0;
  for (const auto& vars : settings) {
    for (const auto& options : std::vector<std::vector<std::string>>{{"--"}, {"-v", "-t", "60s", "--"}}) {
      std::string dump = env.dir + "/env" + std::to_string(n++);
      auto exit = run(Spec{.args = with_dump(options, dump), .env = vars});
      REQUIRE_MESSAGE(exit.exited(0), exit.describe());
      auto got = env_dump(dump);
      std::map<std::string, std::optional<std::string>> expected = {{"TRACEPARENT", std::nullopt},
                                                                    {"TRACESTATE", std::nullopt},
                                                                    {"BAGGAGE", std::nullopt},
                                                                    {"CTXRUN_TRACE_FILE", std::nullopt}};
      for (const auto& v : vars) expected[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
      CHECK(got == expected);
    }
  }
}
