// File: client/src/options.cc
//
// Names of the option enums of causeway/client/options.h.
#include "causeway/client/options.h"

namespace causeway::client {

const char* connection_state_name(ConnectionState state) noexcept {
  switch (state) {
    case ConnectionState::kDisconnected: return "disconnected";
    case ConnectionState::kReconnecting: return "reconnecting";
    case ConnectionState::kReconnected: return "reconnected";
    case ConnectionState::kClosed: return "closed";
  }
  return "unknown";
}

}  // namespace causeway::client
