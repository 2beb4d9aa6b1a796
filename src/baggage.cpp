#include "baggage.h"

#include <fmt/format.h>

#include <algorithm>

#include "json_string.h"

namespace ctxrun {
namespace {

bool baggage_octet(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E);
}

bool ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && ows(s.back())) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One list-member: key OWS "=" OWS value *(OWS ";" OWS property); false if it is not one.
bool read_member(std::string_view member, BaggageMember& out) {
  auto eq = member.find('=');
  if (eq == std::string_view::npos) return false;
  std::string_view key = trim(member.substr(0, eq));
  std::string_view rest = member.substr(eq + 1);
  std::string_view value = trim(rest.substr(0, rest.find(';')));
  if (!is_token(key)) return false;
  for (char c : value)
    if (!baggage_octet(static_cast<unsigned char>(c))) return false;
  out = BaggageMember{.key = std::string(key), .value = baggage_decode(value), .raw = std::string(member)};
  return true;
}

}  // namespace

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string baggage_encode(std::string_view value) {
  std::string out;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (baggage_octet(c) && c != '%') out += ch;
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string baggage_decode(std::string_view value) {
  std::string bytes;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size() && hex_value(value[i + 1]) >= 0 && hex_value(value[i + 2]) >= 0) {
      bytes += static_cast<char>(hex_value(value[i + 1]) * 16 + hex_value(value[i + 2]));
      i += 2;
    } else {
      bytes += value[i];
    }
  }
  if (valid_utf8(bytes)) return bytes;
  std::string text;
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t n = utf8_sequence(std::string_view(bytes).substr(i));
    text += n == 0 ? std::string("\uFFFD") : bytes.substr(i, n);
    i += n == 0 ? 1 : n;
  }
  return text;
}

BaggageList read_baggage(std::string_view text) {
  BaggageList list;
  while (true) {
    auto comma = text.find(',');
    std::string_view member = trim(text.substr(0, comma));
    if (!member.empty()) {
      BaggageMember m;
      if (read_member(member, m)) list.members.push_back(std::move(m));
      else list.invalid.emplace_back(member);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return list;
}

const BaggageMember* find_member(const BaggageList& list, std::string_view key) {
  auto it = std::find_if(list.members.rbegin(), list.members.rend(), [&](const auto& m) { return m.key == key; });
  return it == list.members.rend() ? nullptr : &*it;
}

Status add_to_baggage(const BaggageList& inherited, const std::vector<std::pair<std::string, std::string>>& values,
                      std::string& baggage) {
  std::vector<std::string> members;
  for (const auto& m : inherited.members)
    if (std::none_of(values.begin(), values.end(), [&](const auto& v) { return v.first == m.key; }))
      members.push_back(m.raw);
  for (const auto& [key, value] : values) members.push_back(key + "=" + baggage_encode(value));
  std::string out;
  for (const auto& m : members) out += (out.empty() ? "" : ",") + m;
  if (members.size() > kBaggageMaxMembers)
    return fmt::format("BAGGAGE would hold {} values, more than the {} that W3C Baggage propagates", members.size(),
                       kBaggageMaxMembers);
  if (out.size() > kBaggageMaxBytes)
    return fmt::format("BAGGAGE would be {} bytes long, more than the {} that W3C Baggage propagates", out.size(),
                       kBaggageMaxBytes);
  baggage = std::move(out);
  return {};
}

}  // namespace ctxrun
