// Fuzzes the deadline parser (deadline.h: RFC 3339 and @UNIXTIME) and CTXRUN_DEADLINE's parse_unix.
//
// Invariants: nothing escapes; an error is a message naming the value; a parsed deadline prints
// with format_unix and parses back (as "@..." and through parse_unix) to the same nanosecond, and
// with format_rfc3339 parses back to the same time truncated to the millisecond it prints.
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "check.h"
#include "ctxrun/deadline.h"

namespace {

using ctxrun::wall_time;

long long ns_of(wall_time t) { return static_cast<long long>(t.time_since_epoch().count()); }

void check_round_trips(wall_time t) {
  std::string unix_text = ctxrun::format_unix(t);
  if (t.time_since_epoch().count() >= 0) {
    auto again = ctxrun::parse_deadline("@" + unix_text);
    FUZZ_CHECK(std::holds_alternative<wall_time>(again), "'@%s' does not parse back", unix_text.c_str());
    FUZZ_CHECK(std::get<wall_time>(again) == t, "'@%s' parses back as %lld, not %lld", unix_text.c_str(),
               ns_of(std::get<wall_time>(again)), ns_of(t));
    auto inherited = ctxrun::parse_unix(unix_text);
    FUZZ_CHECK(std::holds_alternative<wall_time>(inherited) && std::get<wall_time>(inherited) == t,
               "CTXRUN_DEADLINE=%s does not parse back", unix_text.c_str());
  } else {
    // Before 1970: a sign, then the magnitude as for a positive time.
    FUZZ_CHECK(unix_text.starts_with("-"), "%lld prints as '%s'", ns_of(t), unix_text.c_str());
    auto magnitude = ctxrun::parse_unix(unix_text.substr(1));
    if (t.time_since_epoch().count() != std::numeric_limits<std::int64_t>::min())  // else -t overflows
      FUZZ_CHECK(std::holds_alternative<wall_time>(magnitude) &&
                     std::get<wall_time>(magnitude).time_since_epoch() == -t.time_since_epoch(),
                 "%lld prints as '%s'", ns_of(t), unix_text.c_str());
  }
  std::string rfc = ctxrun::format_rfc3339(t);
  auto again = ctxrun::parse_deadline(rfc);
  // Truncated to the millisecond: within the first one of 1677-09-21T00:12:43.145224192Z, the
  // first nanosecond a wall_time holds, that is out of range.
  __int128 ns = t.time_since_epoch().count(), ms = 1'000'000;
  __int128 expected = ns - ((ns % ms) + ms) % ms;
  if (expected < std::numeric_limits<std::int64_t>::min()) {
    FUZZ_CHECK(std::holds_alternative<std::string>(again), "'%s' parses, out of range", rfc.c_str());
    return;
  }
  FUZZ_CHECK(std::holds_alternative<wall_time>(again), "'%s' does not parse back", rfc.c_str());
  FUZZ_CHECK(ns_of(std::get<wall_time>(again)) == static_cast<long long>(expected),
             "'%s' parses back as %lld, not %lld", rfc.c_str(), ns_of(std::get<wall_time>(again)),
             static_cast<long long>(expected));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ctxrun::parse_deadline(text);
  if (auto* error = std::get_if<std::string>(&parsed))
    FUZZ_CHECK(error->starts_with("invalid deadline '"), "error '%s'", error->c_str());
  else check_round_trips(std::get<wall_time>(parsed));
  auto inherited = ctxrun::parse_unix(text);
  if (auto* t = std::get_if<wall_time>(&inherited)) check_round_trips(*t);
  return 0;
}
