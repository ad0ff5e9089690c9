// File: causeway/common/listen_address.h
//
// The daemons' HOST:PORT flags (causeway-broker --listen and --registry-listen,
// causeway-registry --listen): an IPv4 or IPv6 address ("[::1]:8081" also accepted) and a
// port 0-65535, where 0 asks the OS for a free port.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway {

// Splits `text` into host and port. kInvalidArgument saying what is wrong and what is
// expected; `host` and `port` are untouched then.
Status parse_listen_address(std::string_view text, std::string& host, uint16_t& port);

// The options our HTTP listeners (the registry, the broker's admin port) set on their
// socket before binding: SO_REUSEADDR only, so that a restart binds at once. cpp-httplib's
// default also sets SO_REUSEPORT on Linux, which lets a second process bind the same port
// and take half of its connections; with this, that second bind fails (EADDRINUSE).
void set_listen_socket_options(int socket_fd);

}  // namespace causeway
