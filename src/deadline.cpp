#include "ctxrun/deadline.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <optional>

namespace ctxrun {
namespace {

using namespace std::chrono;

std::string invalid(std::string_view text, std::string_view why) {
  return fmt::format("invalid deadline '{}' ({})", text, why);
}

// Reads exactly `n` digits at `pos`; returns -1 when they are not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Reads "." followed by 1..9 digits at `pos` (if present) as nanoseconds; advances pos.
bool fraction(std::string_view s, std::size_t& pos, std::int64_t& nanos) {
  nanos = 0;
  if (pos >= s.size() || s[pos] != '.') return true;
  ++pos;
  std::size_t n = 0;
  std::int64_t scale = 100000000;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    if (n < 9) nanos += (s[pos] - '0') * scale;
    scale /= 10;
    ++pos;
    ++n;
  }
  return n > 0;
}

// secs + nanos/1e9 since the epoch, or nullopt if that is beyond what a wall_time can hold.
std::optional<wall_time> to_wall_time(std::int64_t secs, std::int64_t nanos) {
  __int128 total = static_cast<__int128>(secs) * 1'000'000'000 + nanos;
  if (total > std::numeric_limits<std::int64_t>::max() || total < std::numeric_limits<std::int64_t>::min())
    return std::nullopt;
  return wall_time(nanoseconds(static_cast<std::int64_t>(total)));
}

std::variant<wall_time, std::string> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
    return invalid(s, "expected RFC 3339 like 2026-11-25T17:00:00Z, or @UNIXTIME");
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return invalid(s, "no such date");
  if (hour > 23 || minute > 59 || second > 60) return invalid(s, "no such time of day");
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (!fraction(s, pos, nanos)) return invalid(s, "a '.' must be followed by digits");
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (oh < 0 || om < 0 || s[pos + 3] != ':' || oh > 23 || om > 59)
      return invalid(s, "the zone offset must be like +01:00");
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return invalid(s, "a zone is required: Z or an offset like +01:00");
  }
  if (pos != s.size()) return invalid(s, "unexpected text after the zone");
  // In seconds first: a nanosecond count only reaches from 1677 to 2262, and must not wrap around.
  std::int64_t secs = sys_seconds(sys_days(ymd)).time_since_epoch().count() + hour * 3600 + minute * 60 + second -
                      offset_minutes * 60;
  auto t = to_wall_time(secs, nanos);
  if (!t) return invalid(s, "out of range: deadlines go from 1677-09-21 to 2262-04-11");
  return *t;
}

}  // namespace

std::variant<wall_time, std::string> parse_unix(std::string_view s) {
  std::size_t pos = 0;
  std::int64_t secs = 0;
  bool too_far = false;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    secs = secs * 10 + (s[pos] - '0');
    if (secs > 9'223'372'036LL) {  // the last second a nanosecond count reaches (2262)
      too_far = true;
      secs = 9'223'372'037LL;  // keep reading, so that bad syntax is reported as such
    }
    ++pos;
  }
  if (pos == 0) return invalid(s, "expected seconds since the epoch like 1764090000.25");
  std::int64_t nanos = 0;
  if (!fraction(s, pos, nanos) || pos != s.size())
    return invalid(s, "expected seconds since the epoch like 1764090000.25");
  auto t = too_far ? std::nullopt : to_wall_time(secs, nanos);
  if (!t) return invalid(s, "too far in the future");
  return *t;
}

std::variant<wall_time, std::string> parse_deadline(std::string_view text) {
  if (text.empty()) return std::string("invalid deadline '' (empty)");
  if (text[0] == '@') {
    auto r = parse_unix(text.substr(1));
    if (auto* error = std::get_if<std::string>(&r))
      return invalid(text, error->ends_with("(too far in the future)")
                               ? "too far in the future"
                               : "expected @ and seconds since the epoch like @1764090000.25");
    return r;
  }
  return parse_rfc3339(text);
}

std::string format_rfc3339(wall_time t) {
  // Whole seconds and the nanoseconds after them, without going through a day in nanoseconds:
  // near 1677-09-21 the start of the day is before the first nanosecond a wall_time can hold.
  std::int64_t ns = t.time_since_epoch().count();
  std::int64_t secs = ns / 1'000'000'000, sub = ns % 1'000'000'000;
  if (sub < 0) {
    --secs;
    sub += 1'000'000'000;
  }
  sys_seconds whole{seconds(secs)};
  auto days = floor<std::chrono::days>(whole);
  year_month_day ymd(days);
  hh_mm_ss<seconds> tod(whole - days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), tod.hours().count(),
                     tod.minutes().count(), tod.seconds().count(), sub / 1'000'000);
}

std::string format_unix(wall_time t) {
  // Before 1970: a sign, then the magnitude (ns / 1e9 and ns % 1e9 would both be negative: "0.-5").
  std::int64_t ns = t.time_since_epoch().count();
  std::uint64_t magnitude = ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  return fmt::format("{}{}.{:09}", ns < 0 ? "-" : "", magnitude / 1000000000, magnitude % 1000000000);
}

}  // namespace ctxrun
