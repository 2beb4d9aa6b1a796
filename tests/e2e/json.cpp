#include "json.h"

#include <cstdlib>

namespace e2e::json {
namespace {

struct Parser {
  const std::string& s;
  std::size_t i = 0;
  bool ok = true;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  Value fail() {
    ok = false;
    return Value{nullptr};
  }
  std::string string() {
    std::string out;
    if (!eat('"')) return (ok = false), out;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) {
        char e = s[++i];
        if (e == 'n') out += '\n';
        else if (e == 't') out += '\t';
        else if (e == 'r') out += '\r';
        else if (e == 'u' && i + 4 < s.size()) {
          out += static_cast<char>(std::strtol(s.substr(i + 1, 4).c_str(), nullptr, 16));
          i += 4;
        } else out += e;
        ++i;
      } else {
        out += s[i++];
      }
    }
    if (i >= s.size()) ok = false;
    ++i;
    return out;
  }
  Value value() {
    ws();
    if (i >= s.size()) return fail();
    char c = s[i];
    if (c == '{') {
      ++i;
      auto obj = std::make_shared<Object>();
      if (eat('}')) return Value{obj};
      do {
        std::string key = string();
        if (!eat(':')) return fail();
        (*obj)[key] = value();
      } while (ok && eat(','));
      if (!eat('}')) return fail();
      return Value{obj};
    }
    if (c == '[') {
      ++i;
      auto arr = std::make_shared<Array>();
      if (eat(']')) return Value{arr};
      do arr->push_back(value());
      while (ok && eat(','));
      if (!eat(']')) return fail();
      return Value{arr};
    }
    if (c == '"') return Value{string()};
    if (s.compare(i, 4, "null") == 0) return i += 4, Value{nullptr};
    if (s.compare(i, 4, "true") == 0) return i += 4, Value{true};
    if (s.compare(i, 5, "false") == 0) return i += 5, Value{false};
    char* end = nullptr;
    double d = std::strtod(s.c_str() + i, &end);
    if (end == s.c_str() + i) return fail();
    i = static_cast<std::size_t>(end - s.c_str());
    return Value{d};
  }
};

}  // namespace

std::optional<Value> parse(const std::string& text) {
  Parser p{text};
  Value v = p.value();
  p.ws();
  if (!p.ok || p.i != text.size()) return std::nullopt;
  return v;
}

}  // namespace e2e::json
