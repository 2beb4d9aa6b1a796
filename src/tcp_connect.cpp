#include "tcp_connect.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "ctxrun/duration.h"
#include "probe.h"

namespace ctxrun {

Result<std::vector<TcpAddress>> numeric_addresses(std::string_view host_port) {
  auto colon = host_port.rfind(':');
  std::string host(host_port.substr(0, colon));
  std::string_view port_text = host_port.substr(colon + 1);
  unsigned port = 0;
  std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::vector<std::string> hosts{host};
  if (host == "localhost") hosts = {"::1", "127.0.0.1"};
  std::vector<TcpAddress> out;
  for (const auto& h : hosts) {
    TcpAddress a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.address);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.address);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<std::uint16_t>(port));
      a.length = sizeof *v4;
    } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<std::uint16_t>(port));
      a.length = sizeof *v6;
    } else {
      return "host name '" + host +
             "': this ctxrun was built without libcurl and resolves no names (use a numeric address or localhost)";
    }
    out.push_back(a);
  }
  return out;
}

void TcpConnect::start() {
  cancel();
  at_ = 0;
  last_error_.clear();
  timer_.arm(limit_);
  loop_.watch(timer_.fd(), POLLIN, [this](short) {
    if (timer_.fired()) finish(fmt::format("connection timed out after {}", format_duration(limit_)));
  });
  next();
}

void TcpConnect::cancel() {
  drop_socket();
  loop_.unwatch(timer_.fd());
  timer_.disarm();
}

void TcpConnect::drop_socket() {
  if (socket_) loop_.unwatch(socket_.get());
  socket_.reset();
}

// Tries addresses from at_ on until one connects, one is in progress, or none is left.
void TcpConnect::next() {
  for (; at_ < addresses_.size(); ++at_) {
    const auto& a = addresses_[at_];
    socket_.reset(socket(a.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket_) {
      last_error_ = errno_text(errno);
      continue;
    }
    // A non-blocking connect interrupted by a signal goes on in the background, as one in
    // progress does (connecting again would say EALREADY).
    int r = connect(socket_.get(), reinterpret_cast<const sockaddr*>(&a.address), a.length);
    if (r == 0) return finish(std::nullopt);
    if (errno == EINPROGRESS || errno == EINTR) {
      loop_.watch(socket_.get(), POLLOUT, [this](short) {
        int error = 0;
        socklen_t length = sizeof error;
        if (getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
        if (error == 0) return finish(std::nullopt);
        last_error_ = errno_text(error);
        drop_socket();  // the attempt, and its limit, go on with the next address
        ++at_;
        next();
      });
      return;
    }
    last_error_ = errno_text(errno);
    socket_.reset();
  }
  finish(last_error_.empty() ? std::string("no address") : last_error_);
}

void TcpConnect::finish(Status result) {
  cancel();
  on_done_(std::move(result));
}

}  // namespace ctxrun
