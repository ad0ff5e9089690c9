// File: causeway/wire/response.h
//
// The status of any response, whatever its kind: every response table's first field is its
// Status (schemas/protocol.fbs, docs/wire-protocol.md "Messages"). For code that looks at
// responses in general: the broker's request metrics and its error log.
#pragma once

#include "causeway/schemas/protocol_generated.h"

namespace causeway::wire {

// The response's Status, or null when the message has no body or its status is absent
// (which reads as Ok). Do not call it on a pushed Delivery (it has no status).
inline const protocol::Status* response_status_of(const protocol::Message& m) {
  if (m.body() == nullptr || m.body_type() == protocol::Body::Delivery) return nullptr;
  return static_cast<const flatbuffers::Table*>(m.body())->GetPointer<const protocol::Status*>(4);
}

}  // namespace causeway::wire
