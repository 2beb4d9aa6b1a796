#include "traceparent.h"

#include <fmt/format.h>

#include "random_bits.h"

namespace ctxrun {
namespace {

// Whether `s` has `n` lowercase hex digits and nothing else.
bool lower_hex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zeros(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// `digits` hex digits of random bits, again until they are not all zeros.
std::string random_hex(std::size_t digits) {
  std::string out;
  do {
    out.clear();
    while (out.size() < digits) out += fmt::format("{:08x}", random_bits());
  } while (all_zeros(out));
  return out;
}

}  // namespace

Result<TraceParent> parse_traceparent(std::string_view text) {
  // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  if (text.size() < 2 || !lower_hex(text.substr(0, 2), 2)) return std::string("no version (two lowercase hex digits)");
  if (text.substr(0, 2) != "00") return fmt::format("version {} is not 00", text.substr(0, 2));
  if (text.size() != 55 || text[2] != '-' || text[35] != '-' || text[52] != '-')
    return std::string("not 00-<32 hex>-<16 hex>-<2 hex>");
  TraceParent parent{.trace_id = std::string(text.substr(3, 32)), .parent_id = std::string(text.substr(36, 16))};
  std::string_view flags = text.substr(53, 2);
  if (!lower_hex(parent.trace_id, 32) || !lower_hex(parent.parent_id, 16) || !lower_hex(flags, 2))
    return std::string("the ids and flags must be lowercase hex");
  if (all_zeros(parent.trace_id)) return std::string("the trace id is all zeros");
  if (all_zeros(parent.parent_id)) return std::string("the parent id is all zeros");
  parent.flags = static_cast<std::uint8_t>(std::stoul(std::string(flags), nullptr, 16));
  return parent;
}

std::string format_traceparent(const TraceParent& parent) {
  return fmt::format("00-{}-{}-{:02x}", parent.trace_id, parent.parent_id, parent.flags);
}

std::string new_trace_id() { return random_hex(32); }
std::string new_span_id() { return random_hex(16); }

}  // namespace ctxrun
