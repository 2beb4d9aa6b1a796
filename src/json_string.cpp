#include "json_string.h"

#include <fmt/format.h>

namespace ctxrun {

std::size_t utf8_sequence(std::string_view s) noexcept {
  if (s.empty()) return 0;
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b = byte(0);
  std::size_t n = b < 0x80                 ? 1
                  : b >= 0xC2 && b <= 0xDF ? 2
                  : b >= 0xE0 && b <= 0xEF ? 3
                  : b >= 0xF0 && b <= 0xF4 ? 4
                                           : 0;
  if (n == 0 || s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i)
    if ((byte(i) & 0xC0) != 0x80) return 0;
  // The second byte's range where the first byte alone does not settle it.
  if (b == 0xE0 && byte(1) < 0xA0) return 0;  // overlong
  if (b == 0xED && byte(1) > 0x9F) return 0;  // surrogate
  if (b == 0xF0 && byte(1) < 0x90) return 0;  // overlong
  if (b == 0xF4 && byte(1) > 0x8F) return 0;  // above U+10FFFF
  return n;
}

bool valid_utf8(std::string_view s) noexcept {
  while (!s.empty()) {
    std::size_t n = utf8_sequence(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(s.substr(i));
      out += n == 0 ? std::string_view("\uFFFD") : s.substr(i, n);
      i += n == 0 ? 1 : n;
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace ctxrun
