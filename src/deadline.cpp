#include "ctxrun/deadline.h"

#include <fmt/format.h>

#include <cstdint>

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

std::variant<wall_time, std::string> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || s[4] != '-' ||
      s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
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
  auto t = sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second) + nanoseconds(nanos) -
           minutes(offset_minutes);
  return wall_time(duration_cast<nanoseconds>(t.time_since_epoch()));
}

}  // namespace

std::variant<wall_time, std::string> parse_unix(std::string_view s) {
  std::size_t pos = 0;
  std::int64_t secs = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    if (secs > 9'000'000'000LL) return invalid(s, "too far in the future");
    secs = secs * 10 + (s[pos] - '0');
    ++pos;
  }
  if (pos == 0) return invalid(s, "expected seconds since the epoch like 1764090000.25");
  std::int64_t nanos = 0;
  if (!fraction(s, pos, nanos) || pos != s.size())
    return invalid(s, "expected seconds since the epoch like 1764090000.25");
  return wall_time(seconds(secs) + nanoseconds(nanos));
}

std::variant<wall_time, std::string> parse_deadline(std::string_view text) {
  if (text.empty()) return std::string("invalid deadline '' (empty)");
  if (text[0] == '@') {
    auto r = parse_unix(text.substr(1));
    if (std::holds_alternative<std::string>(r)) return invalid(text, "expected @ and seconds since the epoch like @1764090000.25");
    return r;
  }
  return parse_rfc3339(text);
}

std::string format_rfc3339(wall_time t) {
  auto days = floor<std::chrono::days>(t);
  year_month_day ymd(days);
  hh_mm_ss<nanoseconds> tod(t - days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     tod.hours().count(), tod.minutes().count(), tod.seconds().count(),
                     duration_cast<milliseconds>(tod.subseconds()).count());
}

std::string format_unix(wall_time t) {
  auto ns = t.time_since_epoch().count();
  return fmt::format("{}.{:09}", ns / 1000000000, ns % 1000000000);
}

}  // namespace ctxrun
