// File: client/src/dedup_key.h
//
// Automatic dedup keys (PublisherOptions::auto_dedup_keys): 16 random bytes as 32 lowercase
// hex characters, made once per event at publish() so that every resend carries the same
// key. Random (not a counter) so that keys stay unique across processes and restarts.
#pragma once

#include <string>

namespace causeway::client::internal {

// Thread-safe; each thread keeps its own generator seeded from std::random_device.
std::string make_dedup_key();

}  // namespace causeway::client::internal
