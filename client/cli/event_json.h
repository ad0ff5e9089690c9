// File: client/cli/event_json.h
//
// JSON for the causeway CLI (docs/client.md, "CLI"): parsing one input line of
// `causeway publish` into an Event, and rendering acks, fetched events and topics as JSON.
// Pure; tested in tests/unit/client/event_json_test.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::cli {

// A payload encoded from a "data" JSON object, and the schema id it was written with.
struct EncodedData {
  std::string payload;
  uint32_t schema_id = 0;
};
// Encodes a "data" JSON object (for a schema-bound topic: PayloadCodec::encode).
using DataObjectEncoder = std::function<Result<EncodedData>(const nlohmann::json& data)>;

// Parses `{"dedup_key":"...","key":"...","source":"...","type":"...","headers":{"k":"v"},
// "data":"..."}`. Only "data" is required: a string (the payload bytes), or, when
// `encode_object` is given, a JSON object that it encodes (the event's schema_id is then the
// encoder's; an explicit "schema_id" must agree). Other fields are optional strings,
// headers an object of strings, "partition" an optional integer. Unknown fields are refused
// so that typos do not pass silently. kInvalidArgument naming the field otherwise (the
// caller adds the line number).
// A line that is not one JSON object says where it stopped parsing (the column) and that
// input is one object per line; a key repeated in one object (at any depth) is refused,
// since only one of its values would be used; key, dedup_key, source, type and header
// names longer than the broker takes (kMaxEventFieldBytes) are refused before sending.
Result<client::Event> parse_event_line(std::string_view line, const DataObjectEncoder& encode_object = {});

// The longest key, dedup key, source, type or header name the broker stores (a u16 length;
// docs/wire-protocol.md, "Limits and behaviour on bad input").
constexpr std::size_t kMaxEventFieldBytes = 65535;

nlohmann::json ack_to_json(const client::PublishAck& ack);
// topic, partition, offset, lamport, time (ISO-8601 UTC with ms), key, dedup_key, source,
// type, headers, schema_id (when set), and "data" when the payload is valid UTF-8, else
// "data_base64".
nlohmann::json event_to_json(const client::FetchedEvent& event);
nlohmann::json topic_to_json(const client::TopicInfo& topic);

// "2024-05-01T12:00:00.123Z".
std::string format_time_ms(int64_t unix_ms);
std::string base64_encode(std::string_view bytes);
// dump() that never throws: invalid UTF-8 is replaced.
std::string to_line(const nlohmann::json& j);

}  // namespace causeway::cli
