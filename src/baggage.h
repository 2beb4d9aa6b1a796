// W3C Baggage (https://www.w3.org/TR/baggage/), as OpenTelemetry's environment carriers pass it
// between processes: BAGGAGE=key1=value1,key2=value2;property. This is how `--value KEY=VALUE`
// hands a request-scoped value to every process below, and how `ctxrun --value-of KEY` reads it.
// OTEL_RESOURCE_ATTRIBUTES has the same form (without properties) and is read with it too.
//
// Keys are tokens (RFC 9110: letters, digits and !#$%&'*+-.^_`|~). Values travel percent-encoded:
// every byte outside the spec's baggage-octet (controls, space, '"', ',', ';', '\', non-ASCII) and
// '%' itself is written %XX; everything else, '=' included, as it is.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctxrun/result.h"

namespace ctxrun {

// The spec's limits on what is propagated: list-members and bytes.
inline constexpr std::size_t kBaggageMaxMembers = 64;
inline constexpr std::size_t kBaggageMaxBytes = 8192;

// Whether `s` is a non-empty token.
bool is_token(std::string_view s) noexcept;

// `value` (any bytes) percent-encoded as a baggage value.
std::string baggage_encode(std::string_view value);

// A baggage value decoded: %XX (either case) becomes the byte; a '%' not followed by two hex digits
// stays as it is; bytes that do not form valid UTF-8 afterwards become U+FFFD, as the spec says.
std::string baggage_decode(std::string_view value);

struct BaggageMember {
  std::string key;
  std::string value;  // decoded
  std::string raw;    // the list-member as written, properties included, without surrounding spaces
};

struct BaggageList {
  std::vector<BaggageMember> members;  // the well-formed ones, in order
  std::vector<std::string> invalid;    // the list-members that are not, as written (empty ones left out)
};

// Splits a baggage string into its list-members.
BaggageList read_baggage(std::string_view text);

// The value of `key` in `list`: the last member with that key, as OpenTelemetry's SDKs read
// duplicates; nullptr if there is none.
const BaggageMember* find_member(const BaggageList& list, std::string_view key);

// Makes in `baggage` the string the command gets: the well-formed members of `inherited` whose keys
// are not among `values` (verbatim, in order), then `values` (KEY, decoded VALUE), encoded. Fails,
// saying which limit and leaving `baggage` as it was, when the result would hold more than
// kBaggageMaxMembers members or kBaggageMaxBytes bytes. (A Status and an out-parameter, as
// Result<std::string> cannot tell the value from the error.)
Status add_to_baggage(const BaggageList& inherited, const std::vector<std::pair<std::string, std::string>>& values,
                      std::string& baggage);

}  // namespace ctxrun
