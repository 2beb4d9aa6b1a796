// parse_deadline, parse_unix, format_rfc3339 and format_unix (include/ctxrun/deadline.h).
#include "ctxrun/deadline.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

using namespace std::chrono_literals;
using namespace std::chrono;
using ctxrun::format_rfc3339;
using ctxrun::format_unix;
using ctxrun::parse_deadline;
using ctxrun::parse_unix;
using ctxrun::wall_time;

namespace {

// Nanoseconds since the epoch of `date` at `time_of_day` UTC, computed independently of the parser.
std::int64_t utc(year_month_day date, nanoseconds time_of_day) {
  return (sys_days(date).time_since_epoch() + time_of_day).count();
}

wall_time at(std::int64_t nanos_since_epoch) { return wall_time(nanoseconds(nanos_since_epoch)); }

// Parses `text`, which must be accepted; returns nanoseconds since the epoch (-1 and a failed check if not).
std::int64_t deadline(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = parse_deadline(text);
  if (auto* error = std::get_if<std::string>(&r)) {
    FAIL_CHECK("rejected: ", *error);
    return -1;
  }
  return std::get<wall_time>(r).time_since_epoch().count();
}

// Parses `text`, which must be rejected; returns the message.
std::string rejected(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = parse_deadline(text);
  if (auto* t = std::get_if<wall_time>(&r)) {
    FAIL_CHECK("accepted as ", t->time_since_epoch().count(), "ns");
    return "(accepted)";
  }
  return std::get<std::string>(r);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("parse_deadline: RFC 3339 in UTC") {
  // Anchored to a known Unix time, then checked against std::chrono's calendar.
  CHECK(deadline("2025-11-25T17:00:00Z") == 1'764'090'000'000'000'000);
  CHECK(deadline("2026-11-25T17:00:00Z") == utc(2026y / 11 / 25, 17h));
  CHECK(deadline("1970-01-01T00:00:00Z") == 0);
  CHECK(deadline("1969-12-31T23:59:59Z") == -1'000'000'000);
  CHECK(deadline("2000-02-29T12:34:56Z") == utc(2000y / 2 / 29, 12h + 34min + 56s));
  CHECK(deadline("2024-02-29T00:00:00Z") == utc(2024y / 2 / 29, 0h));
  CHECK(deadline("2026-12-31T23:59:59Z") == utc(2026y / 12 / 31, 23h + 59min + 59s));
}

TEST_CASE("parse_deadline: z, t and space are accepted like Z and T") {
  std::int64_t expected = utc(2026y / 11 / 25, 17h);
  CHECK(deadline("2026-11-25T17:00:00z") == expected);
  CHECK(deadline("2026-11-25t17:00:00Z") == expected);
  CHECK(deadline("2026-11-25 17:00:00Z") == expected);
  CHECK(deadline("2026-11-25t17:00:00z") == expected);
}

TEST_CASE("parse_deadline: zone offsets give the right UTC instant") {
  CHECK(deadline("2026-11-25T17:00:00+01:00") == utc(2026y / 11 / 25, 16h));
  CHECK(deadline("2026-11-25T17:00:00-05:30") == utc(2026y / 11 / 25, 22h + 30min));
  CHECK(deadline("2026-11-25T17:00:00+00:00") == utc(2026y / 11 / 25, 17h));
  CHECK(deadline("2026-11-25T17:00:00-00:00") == utc(2026y / 11 / 25, 17h));
  CHECK(deadline("2026-11-25T17:00:00+05:45") == utc(2026y / 11 / 25, 11h + 15min));
  CHECK(deadline("2026-11-25T17:00:00+23:59") == utc(2026y / 11 / 24, 17h + 1min));
  // Across a day, a month and a year.
  CHECK(deadline("2026-01-01T00:30:00+01:00") == utc(2025y / 12 / 31, 23h + 30min));
  CHECK(deadline("2026-02-28T22:00:00-03:00") == utc(2026y / 3 / 1, 1h));
}

TEST_CASE("parse_deadline: fractional seconds, truncated to the nanosecond") {
  std::int64_t base = utc(2026y / 11 / 25, 17h);
  CHECK(deadline("2026-11-25T17:00:00.250Z") == base + 250'000'000);
  CHECK(deadline("2026-11-25T17:00:00.5Z") == base + 500'000'000);
  CHECK(deadline("2026-11-25T17:00:00.123456789Z") == base + 123'456'789);
  CHECK(deadline("2026-11-25T17:00:00.000000001Z") == base + 1);
  CHECK(deadline("2026-11-25T17:00:00.1234567899999Z") == base + 123'456'789);
  CHECK(deadline("2026-11-25T17:00:00.999999999999Z") == base + 999'999'999);
  CHECK(deadline("2026-11-25T17:00:00.250+01:00") == base - 3'600'000'000'000 + 250'000'000);
}

TEST_CASE("parse_deadline: a leap second 60 is accepted, as the next minute's first second") {
  CHECK(deadline("2016-12-31T23:59:60Z") == utc(2017y / 1 / 1, 0h));
  CHECK(deadline("2016-12-31T23:59:60.5Z") == utc(2017y / 1 / 1, 500ms));
  CHECK(deadline("2017-01-01T00:59:60+01:00") == utc(2017y / 1 / 1, 0h));
}

TEST_CASE("parse_deadline: @ and Unix time") {
  CHECK(deadline("@1764090000") == 1'764'090'000'000'000'000);
  CHECK(deadline("@1764090000.25") == 1'764'090'000'250'000'000);
  CHECK(deadline("@1764090000.123456789") == 1'764'090'000'123'456'789);
  CHECK(deadline("@1.1234567891") == 1'123'456'789);  // beyond 9 digits: truncated
  CHECK(deadline("@0") == 0);
  CHECK(deadline("@0.000000001") == 1);
  CHECK(deadline("@00000000001") == 1'000'000'000);
}

TEST_CASE("parse_deadline: the range of a 64-bit nanosecond count, never wrapped around") {
  // The largest representable instant is 2262-04-11T23:47:16.854775807Z.
  CHECK(deadline("2262-04-11T23:47:16Z") == 9'223'372'036'000'000'000);
  CHECK(deadline("2262-04-11T23:47:16.854775807Z") == 9'223'372'036'854'775'807);
  CHECK(deadline("1677-09-21T00:12:44Z") == -9'223'372'036'000'000'000);
  CHECK(deadline("@9223372036") == 9'223'372'036'000'000'000);
  CHECK(deadline("@9223372036.854775807") == 9'223'372'036'854'775'807);
  // Regressions: these used to overflow into a wrong instant (2300 became 1715, a past deadline).
  for (const char* text :
       {"2262-04-11T23:47:16.854775808Z", "2262-04-11T23:47:17Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
        "1600-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2262-04-12T00:00:00+00:01"}) {
    CAPTURE(text);
    CHECK(rejected(text) ==
          "invalid deadline '" + std::string(text) + "' (out of range: deadlines go from 1677-09-21 to 2262-04-11)");
  }
  for (const char* text : {"@9223372036.854775808", "@9223372037", "@10000000000", "@99999999999999999999999"}) {
    CAPTURE(text);
    CHECK(rejected(text) == "invalid deadline '" + std::string(text) + "' (too far in the future)");
  }
}

TEST_CASE("parse_deadline: rejects invalid input, naming the value") {
  for (const char* text : {
           "2026-11-25T17:00:00",         // no zone
           "2026-13-01T00:00:00Z",        // month 13
           "2026-00-10T00:00:00Z",        // month 0
           "2026-02-30T00:00:00Z",        // Feb 30
           "2026-02-29T00:00:00Z",        // 2026 is not a leap year
           "2100-02-29T00:00:00Z",        // nor is 2100
           "2026-04-31T00:00:00Z",        // April has 30 days
           "2026-11-00T00:00:00Z",        // day 0
           "2026-11-25T24:00:00Z",        // hour 24
           "2026-11-25T17:60:00Z",        // minute 60
           "2026-11-25T17:00:61Z",        // second 61
           "2026-11-25T17:00:00Zx",       // garbage after the zone
           "2026-11-25T17:00:00Z ",       //
           "2026-11-25T17:00:00+01:00x",  //
           "2026-11-25T17:00:00+01:00Z",  //
           "2026-11-25T17:00:00+24:00",   // offset hour 24
           "2026-11-25T17:00:00+01:60",   // offset minute 60
           "2026-11-25T17:00:00+1:00",    // offset not two digits
           "2026-11-25T17:00:00+0100",    // offset without ':'
           "2026-11-25T17:00:00+01",      //
           "2026-11-25T17:00:00.Z",       // '.' without digits
           "2026-11-25T17:00Z",           // no seconds
           "2026-11-25",                  // no time
           "2026-11-25X17:00:00Z",        // bad separator
           "2026/11/25T17:00:00Z",        //
           "26-11-25T17:00:00Z",          // two-digit year
           "2026-1-25T17:00:00Z",         //
           " 2026-11-25T17:00:00Z",       //
           "2026-11-25T17:00:00 Z",       //
           "@",                           //
           "@x",                          //
           "@1.",                         // '.' without digits
           "@.5",                         //
           "@-1",                         //
           "@+1",                         //
           "@ 1",                         //
           "@1 ",                         //
           "@1e9",                        //
           "@1764090000Z",                //
           "1764090000",                  // Unix time needs the '@'
           "now",                         //
       }) {
    CAPTURE(text);
    std::string message = rejected(text);
    CHECK(starts_with(message, "invalid deadline '" + std::string(text) + "' ("));
    CHECK(message.back() == ')');
  }
  CHECK(rejected("") == "invalid deadline '' (empty)");
}

TEST_CASE("parse_deadline: messages say what is wrong") {
  CHECK(rejected("2026-11-25T17:00:00") ==
        "invalid deadline '2026-11-25T17:00:00' (a zone is required: Z or an offset like +01:00)");
  CHECK(rejected("2026-02-29T00:00:00Z") == "invalid deadline '2026-02-29T00:00:00Z' (no such date)");
  CHECK(rejected("2026-11-25T24:00:00Z") == "invalid deadline '2026-11-25T24:00:00Z' (no such time of day)");
  CHECK(rejected("2026-11-25T17:00:00Zx") ==
        "invalid deadline '2026-11-25T17:00:00Zx' (unexpected text after the zone)");
  CHECK(rejected("@x") == "invalid deadline '@x' (expected @ and seconds since the epoch like @1764090000.25)");
}

TEST_CASE("format_rfc3339: UTC with milliseconds, truncated") {
  CHECK(format_rfc3339(at(1'764'090'000'250'000'000)) == "2025-11-25T17:00:00.250Z");
  CHECK(format_rfc3339(at(1'764'090'000'000'000'000)) == "2025-11-25T17:00:00.000Z");
  CHECK(format_rfc3339(at(1'764'090'000'999'999'999)) == "2025-11-25T17:00:00.999Z");
  CHECK(format_rfc3339(at(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(at(utc(2024y / 2 / 29, 23h + 59min + 59s + 7ms))) == "2024-02-29T23:59:59.007Z");
  CHECK(format_rfc3339(at(-1'000'000'000)) == "1969-12-31T23:59:59.000Z");
  CHECK(format_rfc3339(at(-1)) == "1969-12-31T23:59:59.999Z");
  // The first nanosecond a wall_time holds: the start of its day is out of range (signed overflow,
  // found by fuzz_deadline under UBSan).
  CHECK(format_rfc3339(at(INT64_MIN)) == "1677-09-21T00:12:43.145Z");
}

TEST_CASE("format_unix: seconds with nine fraction digits") {
  CHECK(format_unix(at(1'764'090'000'250'000'000)) == "1764090000.250000000");
  CHECK(format_unix(at(1'764'090'000'123'456'789)) == "1764090000.123456789");
  CHECK(format_unix(at(0)) == "0.000000000");
  CHECK(format_unix(at(1)) == "0.000000001");
  CHECK(format_unix(at(9'223'372'036'854'775'807)) == "9223372036.854775807");
}

TEST_CASE("format_unix: before 1970, a sign and the magnitude (found by fuzz_deadline)") {
  CHECK(format_unix(at(-500'000'000)) == "-0.500000000");  // was "0.-500000000"
  CHECK(format_unix(at(-1'500'000'000)) == "-1.500000000");
  CHECK(format_unix(at(INT64_MIN)) == "-9223372036.854775808");
}

TEST_CASE("parse_unix: digits and an optional fraction, no '@'") {
  auto parsed = [](std::string_view text) -> std::int64_t {
    INFO("input: '", std::string(text), "'");
    auto r = parse_unix(text);
    if (auto* error = std::get_if<std::string>(&r)) {
      FAIL_CHECK("rejected: ", *error);
      return -1;
    }
    return std::get<wall_time>(r).time_since_epoch().count();
  };
  CHECK(parsed("1764090000") == 1'764'090'000'000'000'000);
  CHECK(parsed("1764090000.250000000") == 1'764'090'000'250'000'000);
  CHECK(parsed("0.5") == 500'000'000);
  for (const char* text : {"", "@1", "1.", ".5", "-1", "1x", " 1", "x"}) {
    CAPTURE(text);
    auto r = parse_unix(text);
    REQUIRE(std::holds_alternative<std::string>(r));
    CHECK(starts_with(std::get<std::string>(r), "invalid deadline '" + std::string(text) + "' ("));
  }
}

TEST_CASE("round trips: format_unix / parse_unix, format_rfc3339 / parse_deadline") {
  using i64 = std::int64_t;
  for (i64 nanos : {i64{0}, i64{1}, i64{999'999'999}, i64{1'000'000'000}, i64{1'764'090'000'250'000'000},
                    i64{1'764'090'000'123'456'789}, i64{9'223'372'036'854'775'807}}) {
    CAPTURE(nanos);
    auto back = parse_unix(format_unix(at(nanos)));
    REQUIRE(std::holds_alternative<wall_time>(back));
    CHECK(std::get<wall_time>(back).time_since_epoch().count() == nanos);
    CHECK(deadline(std::string("@") + format_unix(at(nanos))) == nanos);
  }
  // format_rfc3339 keeps milliseconds: instants on a millisecond come back exactly.
  for (i64 nanos : {i64{0}, i64{1'764'090'000'250'000'000}, utc(2024y / 2 / 29, 23h + 59min + 59s + 999ms),
                    utc(2262y / 4 / 11, 23h + 47min + 16s + 854ms), i64{-1'000'000'000}}) {
    CAPTURE(nanos);
    CHECK(deadline(format_rfc3339(at(nanos))) == nanos);
  }
  // Otherwise they come back truncated to the millisecond.
  CHECK(deadline(format_rfc3339(at(1'764'090'000'123'456'789))) == 1'764'090'000'123'000'000);
}
