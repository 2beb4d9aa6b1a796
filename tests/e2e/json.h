// A small JSON reader for the tests of --report: enough to parse one object and check each field.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace e2e::json {

struct Value;
using Object = std::map<std::string, Value>;
using Array = std::vector<Value>;

struct Value {
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>> v;
  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
  const std::string& str() const { return std::get<std::string>(v); }
  double num() const { return std::get<double>(v); }
  bool boolean() const { return std::get<bool>(v); }
  const Array& arr() const { return *std::get<std::shared_ptr<Array>>(v); }
  const Object& obj() const { return *std::get<std::shared_ptr<Object>>(v); }
  const Value& operator[](const std::string& key) const { return obj().at(key); }
};

// Parses `text` (one value, surrounding whitespace allowed); nullopt if it is not valid JSON.
std::optional<Value> parse(const std::string& text);

}  // namespace e2e::json
