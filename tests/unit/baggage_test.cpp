// W3C Baggage encoding, decoding and merging (src/baggage.h).
#include "baggage.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using ctxrun::baggage_decode;
using ctxrun::baggage_encode;

TEST_CASE("baggage: keys are tokens") {
  for (const char* key : {"a", "request_id", "Tenant-ID", "k.v", "x!#$%&'*+-.^_`|~9"}) CHECK(ctxrun::is_token(key));
  for (const char* key : {"", "a b", "a=b", "a,b", "a;b", "\"a\"", "a/b", "a\tb", "ключ", "a(b)", "a@b"})
    CHECK_FALSE(ctxrun::is_token(key));
}

TEST_CASE("baggage: values are percent-encoded exactly where the spec says, and decode back") {
  // baggage-octet passes; space, '"', ',', ';', '\\', controls, non-ASCII and '%' are encoded.
  CHECK(baggage_encode("plain-value_1.2:3/4?=x") == "plain-value_1.2:3/4?=x");
  CHECK(baggage_encode("a b") == "a%20b");
  CHECK(baggage_encode("100%") == "100%25");
  CHECK(baggage_encode("a,b;c") == "a%2Cb%3Bc");
  CHECK(baggage_encode("\"q\"\\") == "%22q%22%5C");
  CHECK(baggage_encode("tab\there\n") == "tab%09here%0A");
  CHECK(baggage_encode("é") == "%C3%A9");
  CHECK(baggage_encode("") == "");
  for (std::string value : {"", "x", "a b", "100%", "k=v", "a,b;c=d", "é ü 日本", "%25 literal", "\x7f\x01"})
    CHECK(baggage_decode(baggage_encode(value)) == value);
}

TEST_CASE("baggage: decoding takes either case, keeps a stray '%', and replaces invalid UTF-8") {
  CHECK(baggage_decode("%c3%a9") == "é");
  CHECK(baggage_decode("%C3%A9") == "é");
  CHECK(baggage_decode("100%") == "100%");
  CHECK(baggage_decode("%zz%4") == "%zz%4");
  CHECK(baggage_decode("a%FFb") == "a\uFFFDb");
  CHECK(baggage_decode("%C3") == "\uFFFD");
}

TEST_CASE("baggage: list-members are read with spaces, properties and bad members set apart") {
  auto list = ctxrun::read_baggage(" a = 1 ,b=x%20y;prop=1;flag, bad member ,c=,=novalue,d=q\"uote,, e=2");
  REQUIRE(list.members.size() == 4);
  CHECK(list.members[0].key == "a");
  CHECK(list.members[0].value == "1");
  CHECK(list.members[0].raw == "a = 1");
  CHECK(list.members[1].key == "b");
  CHECK(list.members[1].value == "x y");
  CHECK(list.members[1].raw == "b=x%20y;prop=1;flag");
  CHECK(list.members[2].key == "c");
  CHECK(list.members[2].value == "");
  CHECK(list.members[3].key == "e");
  CHECK(list.invalid == std::vector<std::string>{"bad member", "=novalue", "d=q\"uote"});
  CHECK(ctxrun::read_baggage("").members.empty());
  CHECK(ctxrun::read_baggage("").invalid.empty());
}

TEST_CASE("baggage: the last member with a key is its value") {
  auto list = ctxrun::read_baggage("k=1,other=x,k=2");
  REQUIRE(ctxrun::find_member(list, "k") != nullptr);
  CHECK(ctxrun::find_member(list, "k")->value == "2");
  CHECK(ctxrun::find_member(list, "K") == nullptr);
  CHECK(ctxrun::find_member(list, "missing") == nullptr);
}

TEST_CASE("baggage: new values replace the inherited ones of the same key and go last; limits are refused") {
  auto inherited = ctxrun::read_baggage("a=1,k=old;p,b=2, bad ");
  std::string out = "unchanged";
  CHECK_FALSE(ctxrun::add_to_baggage(inherited, {{"k", "new value"}, {"z", "é"}}, out));
  CHECK(out == "a=1,b=2,k=new%20value,z=%C3%A9");

  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 65; ++i) many.emplace_back("k" + std::to_string(i), "v");
  std::string kept = "unchanged";
  auto error = ctxrun::add_to_baggage(ctxrun::read_baggage(""), many, kept);
  REQUIRE(error);
  CHECK(*error == "BAGGAGE would hold 65 values, more than the 64 that W3C Baggage propagates");
  CHECK(kept == "unchanged");
  error = ctxrun::add_to_baggage(ctxrun::read_baggage(""), {{"big", std::string(8190, 'x')}}, kept);
  REQUIRE(error);
  CHECK(*error == "BAGGAGE would be 8194 bytes long, more than the 8192 that W3C Baggage propagates");
  many.pop_back();
  CHECK_FALSE(ctxrun::add_to_baggage(ctxrun::read_baggage(""), many, kept));
}
