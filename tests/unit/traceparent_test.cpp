// parse_traceparent, format_traceparent and the id generators (src/traceparent.h), against W3C
// Trace Context's version 00.
#include "traceparent.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <string_view>
#include <variant>

using ctxrun::TraceParent;

namespace {

const std::string kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// The reason `text` is refused; fails the check if it is accepted.
std::string refused(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = ctxrun::parse_traceparent(text);
  if (std::holds_alternative<TraceParent>(r)) {
    FAIL_CHECK("accepted");
    return "";
  }
  return std::get<std::string>(r);
}

}  // namespace

TEST_CASE("traceparent: a valid version 00 value is read field by field and written back the same") {
  auto r = ctxrun::parse_traceparent(kValid);
  REQUIRE(std::holds_alternative<TraceParent>(r));
  const auto& p = std::get<TraceParent>(r);
  CHECK(p.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(p.parent_id == "00f067aa0ba902b7");
  CHECK(p.flags == 0x01);
  CHECK(p.sampled());
  CHECK(ctxrun::format_traceparent(p) == kValid);

  auto unsampled = ctxrun::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(std::holds_alternative<TraceParent>(unsampled));
  CHECK_FALSE(std::get<TraceParent>(unsampled).sampled());
  // Flags other than "sampled" are kept as they are (and passed on).
  auto other_flags = ctxrun::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
  REQUIRE(std::holds_alternative<TraceParent>(other_flags));
  CHECK(std::get<TraceParent>(other_flags).flags == 0xfe);
  CHECK_FALSE(std::get<TraceParent>(other_flags).sampled());
  CHECK(ctxrun::format_traceparent(std::get<TraceParent>(other_flags)) ==
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
}

TEST_CASE("traceparent: every malformed value is refused, with the reason") {
  CHECK(refused("") == "no version (two lowercase hex digits)");
  CHECK(refused("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "version 01 is not 00");
  CHECK(refused("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "version ff is not 00");
  CHECK(refused("0X-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "no version (two lowercase hex digits)");
  CHECK(refused(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "no version (two lowercase hex digits)");
  // Uppercase hex is not version 00.
  CHECK(refused("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") ==
        "the ids and flags must be lowercase hex");
  CHECK(refused("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01") ==
        "the ids and flags must be lowercase hex");
  CHECK(refused("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g") ==
        "the ids and flags must be lowercase hex");
  // All-zero ids are invalid.
  CHECK(refused("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == "the trace id is all zeros");
  CHECK(refused("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") == "the parent id is all zeros");
  // Wrong lengths, separators, anything before or after.
  for (std::string_view bad : {
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",     // trace id one digit short
           "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",   // one digit long
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",     // parent id short
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",     // flags one digit
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",   // trailing separator
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",   // trailing space
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    // wrong separator
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx"  // a later version's extra field
       })
    CHECK(refused(bad) == "not 00-<32 hex>-<16 hex>-<2 hex>");
}

TEST_CASE("traceparent: new ids are lowercase hex of the right length, never zero, and differ") {
  std::set<std::string> traces, spans;
  for (int i = 0; i < 100; ++i) {
    std::string t = ctxrun::new_trace_id(), s = ctxrun::new_span_id();
    CHECK(t.size() == 32);
    CHECK(s.size() == 16);
    CHECK(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(s.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(t.find_first_not_of('0') != std::string::npos);
    CHECK(s.find_first_not_of('0') != std::string::npos);
    traces.insert(t);
    spans.insert(s);
    // What is made is read back as the same value.
    TraceParent p{.trace_id = t, .parent_id = s, .flags = 1};
    auto r = ctxrun::parse_traceparent(ctxrun::format_traceparent(p));
    REQUIRE(std::holds_alternative<TraceParent>(r));
    CHECK(std::get<TraceParent>(r).trace_id == t);
    CHECK(std::get<TraceParent>(r).parent_id == s);
  }
  CHECK(traces.size() == 100);
  CHECK(spans.size() == 100);
}
