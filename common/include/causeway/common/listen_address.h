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

}  // namespace causeway
