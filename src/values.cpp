#include "values.h"

#include <cstdlib>

#include "baggage.h"
#include "log.h"

namespace ctxrun {
namespace {

BaggageList inherited_baggage() {
  const char* text = std::getenv("BAGGAGE");
  BaggageList list = read_baggage(text ? text : "");
  for (const auto& member : list.invalid) log::verbose("BAGGAGE: ignoring '{}' (not a W3C baggage member)", member);
  return list;
}

}  // namespace

Status hand_on_values(const std::vector<std::pair<std::string, std::string>>& values) {
  std::string baggage;
  if (auto error = add_to_baggage(inherited_baggage(), values, baggage)) return error;
  setenv("BAGGAGE", baggage.c_str(), 1);
  return {};
}

int print_value_of(const std::string& key) {
  BaggageList list = inherited_baggage();
  const BaggageMember* member = find_member(list, key);
  if (!member) {
    log::verbose("no value '{}' in BAGGAGE", key);
    return 1;
  }
  if (auto error = log::write_out(member->value + "\n")) {
    log::error("{}", *error);
    return 125;
  }
  return 0;
}

}  // namespace ctxrun
