// parse_probe (src/probe.h): what each kind accepts, and that every refusal says what it expects.
#include "probe.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <variant>

using ctxrun::parse_probe;
using ctxrun::ProbeKind;
using ctxrun::ProbeSpec;

namespace {

ProbeSpec accepted(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto parsed = parse_probe(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FAIL_CHECK("rejected: ", *error);
    return {};
  }
  return std::get<ProbeSpec>(parsed);
}

std::string refused(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto parsed = parse_probe(text);
  if (std::holds_alternative<ProbeSpec>(parsed)) {
    FAIL_CHECK("accepted");
    return {};
  }
  return std::get<std::string>(parsed);
}

}  // namespace

TEST_CASE("tcp probes: HOST:PORT with a name, IPv4 or [IPv6], a port of 1 to 65535") {
  for (auto [text, target] :
       {std::pair{"tcp://localhost:3000", "localhost:3000"}, std::pair{"tcp://127.0.0.1:1", "127.0.0.1:1"},
        std::pair{"tcp://[::1]:65535", "[::1]:65535"}, std::pair{"tcp://db.internal:5432/", "db.internal:5432"}}) {
    auto spec = accepted(text);
    CHECK(spec.kind == ProbeKind::tcp);
    CHECK(spec.target == target);
    CHECK(spec.text == text);
  }
  for (auto text : {"tcp://", "tcp://host", "tcp://:80", "tcp://host:0", "tcp://host:65536", "tcp://host:80x",
                    "tcp://host:-1", "tcp://[]:80", "tcp://a b:80", "tcp://user@host:80", "tcp://host:80/path"})
    CHECK(refused(text) == "tcp probes are tcp://HOST:PORT (a port of 1 to 65535)");
}

TEST_CASE("http and https probes keep the URL for libcurl; no host or a space is refused") {
  for (auto text : {"http://127.0.0.1:3000/health", "https://example.org", "http://[::1]:8080/a?b=c"}) {
    auto spec = accepted(text);
    CHECK(spec.kind == ProbeKind::http);
    CHECK(spec.target == text);
  }
  for (auto text : {"http://", "https:///path", "http://host/a b"}) CHECK(refused(text).starts_with("http probes are"));
}

TEST_CASE("unix, file and exec probes") {
  CHECK(accepted("unix:///run/app.sock").kind == ProbeKind::unix_socket);
  CHECK(accepted("unix:///run/app.sock").target == "/run/app.sock");
  CHECK(accepted("file:///tmp/ready").kind == ProbeKind::file);
  CHECK(accepted("file:///tmp/ready").target == "/tmp/ready");
  CHECK(accepted("exec:pg_isready -h 127.0.0.1").kind == ProbeKind::exec);
  CHECK(accepted("exec:pg_isready -h 127.0.0.1").target == "pg_isready -h 127.0.0.1");
  CHECK(refused("unix://relative.sock") == "unix probes are unix:///ABSOLUTE/PATH");
  CHECK(refused("file://") == "file probes are file:///ABSOLUTE/PATH");
  CHECK(refused("exec:") == "exec probes are exec:COMMAND (run by sh -c)");
}

TEST_CASE("anything else names the kinds there are") {
  for (auto text : {"", "localhost:80", "ftp://host/", "TCP://host:80", "exec"})
    CHECK(refused(text) == "not a probe: tcp://HOST:PORT, http(s)://..., unix:///PATH, file:///PATH or exec:COMMAND");
}
