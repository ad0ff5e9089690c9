// File: client/cli/event_json.cc
//
// See event_json.h.
#include "client/cli/event_json.h"

#include <cstdio>
#include <ctime>
#include <set>
#include <vector>

#include "causeway/common/units.h"
#include "causeway/common/utf8.h"

namespace causeway::cli {
namespace {

using nlohmann::json;

const char* type_name(const json& j) { return j.type_name(); }

Status check_length(const char* what, const std::string& name, std::size_t size) {
  if (size <= kMaxEventFieldBytes) return Status();
  return invalid_argument(std::string(what) + name + " is " + std::to_string(size) + " bytes; the broker takes at most " +
                          std::to_string(kMaxEventFieldBytes));
}

Status optional_string(const json& obj, const char* field, std::string& out) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return Status();
  if (!it->is_string()) {
    return invalid_argument(std::string("\"") + field + "\" must be a string, got " + type_name(*it));
  }
  out = it->get<std::string>();
  return check_length("\"", std::string(field) + "\"", out.size());
}

constexpr const char* kOneObjectPerLine =
    "each input line must be one whole JSON object, e.g. {\"data\":\"hello\",\"key\":\"customer-1\"}";

// Parses `line`, refusing a key repeated within one object at any depth: nlohmann::json
// keeps only the last value, so a second "data" would silently replace the first.
Result<json> parse_strict(std::string_view line) {
  struct Level {
    bool is_object = false;
    std::string last_key;
    std::set<std::string> keys;
  };
  std::vector<Level> levels;
  std::string duplicate;
  const json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        levels.push_back(Level{event == json::parse_event_t::object_start, {}, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!levels.empty()) levels.pop_back();
        break;
      case json::parse_event_t::key:
        if (!levels.empty() && parsed.is_string()) {
          Level& top = levels.back();
          top.last_key = parsed.get<std::string>();
          if (!top.keys.insert(top.last_key).second && duplicate.empty()) {
            for (const Level& l : levels) {
              if (!l.is_object) continue;
              if (!duplicate.empty()) duplicate += '.';
              duplicate.append("\"").append(l.last_key).append("\"");
            }
          }
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(line.begin(), line.end(), check);
  } catch (const json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 17:
    // syntax error ..."; keep what follows the position, which is said once, as a column.
    std::string why = e.what();
    const std::string marker = ": ";
    if (const auto at = why.find("column "); at != std::string::npos) {
      if (const auto colon = why.find(marker, at); colon != std::string::npos) why = why.substr(colon + marker.size());
    }
    return invalid_argument("not valid JSON at column " + std::to_string(e.byte) + ": " + why + "; " +
                            kOneObjectPerLine);
  } catch (const json::out_of_range& e) {
    // A number beyond a double (e.g. 1e400): the parser throws out_of_range.406, not a
    // parse_error, and the message names the number.
    std::string why = e.what();
    if (const auto at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);
    return invalid_argument("not valid JSON: " + why + " (JSON numbers must fit a double)");
  } catch (const json::exception& e) {
    return invalid_argument(std::string("not valid JSON: ") + e.what() + "; " + kOneObjectPerLine);
  }
  if (!duplicate.empty()) {
    return invalid_argument("key " + duplicate + " appears twice in one object; give each key once (a JSON parser "
                            "would silently keep only one of the values)");
  }
  return j;
}

}  // namespace

Result<client::Event> parse_event_line(std::string_view line, const DataObjectEncoder& encode_object) {
  CAUSEWAY_ASSIGN_OR_RETURN(json j, parse_strict(line));
  if (!j.is_object()) {
    return invalid_argument(std::string("expected a JSON object, got ") + type_name(j) + "; " + kOneObjectPerLine);
  }
  static constexpr const char* kKnown[] = {"dedup_key", "key", "source", "type", "headers", "data", "partition", "schema_id"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) {
      return invalid_argument("unknown field \"" + it.key() +
                              "\" (expected dedup_key, key, source, type, headers, data, partition, schema_id)");
    }
  }
  client::Event event;
  auto data = j.find("data");
  if (data == j.end()) return invalid_argument("missing \"data\" (the payload, a string)");
  uint32_t encoded_with = 0;
  if (data->is_object() && encode_object) {
    CAUSEWAY_ASSIGN_OR_RETURN(EncodedData encoded, encode_object(*data));
    event.payload = std::move(encoded.payload);
    encoded_with = encoded.schema_id;
  } else if (data->is_object()) {
    return invalid_argument(
        "\"data\" is a JSON object, but the topic is not bound to a schema subject, so there is no schema to "
        "encode it with; give the payload as a string, or bind the topic (topic create --schema-subject)");
  } else if (data->is_string()) {
    event.payload = data->get<std::string>();
  } else {
    return invalid_argument(std::string("\"data\" must be a string") + (encode_object ? " or a JSON object" : "") +
                            ", got " + type_name(*data));
  }
  CAUSEWAY_RETURN_IF_ERROR(optional_string(j, "dedup_key", event.dedup_key));
  CAUSEWAY_RETURN_IF_ERROR(optional_string(j, "key", event.key));
  CAUSEWAY_RETURN_IF_ERROR(optional_string(j, "source", event.source));
  CAUSEWAY_RETURN_IF_ERROR(optional_string(j, "type", event.type));
  if (auto h = j.find("headers"); h != j.end() && !h->is_null()) {
    if (!h->is_object()) return invalid_argument(std::string("\"headers\" must be an object, got ") + type_name(*h));
    for (auto it = h->begin(); it != h->end(); ++it) {
      if (!it->is_string()) {
        return invalid_argument("header \"" + it.key() + "\" must be a string, got " + type_name(*it));
      }
      CAUSEWAY_RETURN_IF_ERROR(check_length("header name \"", it.key().substr(0, 64) + "\"", it.key().size()));
      event.headers.push_back(client::Header{it.key(), it->get<std::string>()});
    }
  }
  if (auto p = j.find("partition"); p != j.end() && !p->is_null()) {
    if (!p->is_number_integer() || p->get<int64_t>() < -1 || p->get<int64_t>() > INT32_MAX) {
      return invalid_argument("\"partition\" must be an integer >= 0 (or -1 for automatic)");
    }
    event.partition = static_cast<int32_t>(p->get<int64_t>());
  }
  if (auto s = j.find("schema_id"); s != j.end() && !s->is_null()) {
    if (!s->is_number_unsigned() || s->get<uint64_t>() > UINT32_MAX) {
      return invalid_argument("\"schema_id\" must be an unsigned 32-bit integer");
    }
    event.schema_id = static_cast<uint32_t>(s->get<uint64_t>());
  }
  if (encoded_with != 0) {
    if (event.schema_id != 0 && event.schema_id != encoded_with) {
      return invalid_argument("\"schema_id\" " + std::to_string(event.schema_id) +
                              " differs from the schema \"data\" was encoded with (id " + std::to_string(encoded_with) +
                              "); drop \"schema_id\" or pick the version with --schema-version");
    }
    event.schema_id = encoded_with;
  }
  return event;
}

json ack_to_json(const client::PublishAck& ack) {
  json j;
  j["partition"] = ack.partition;
  j["offset"] = ack.offset;
  j["lamport"] = ack.lamport;
  j["duplicate"] = ack.duplicate;
  return j;
}

json event_to_json(const client::FetchedEvent& e) {
  json j;
  j["topic"] = e.topic;
  j["partition"] = e.partition;
  j["offset"] = e.offset;
  j["lamport"] = e.lamport;
  j["time"] = format_time_ms(e.time_ms);
  j["key"] = e.key;
  j["dedup_key"] = e.dedup_key;
  j["source"] = e.source;
  j["type"] = e.type;
  json headers = json::object();
  for (const auto& h : e.headers) headers[h.name] = utf8::is_valid(h.value) ? h.value : base64_encode(h.value);
  j["headers"] = std::move(headers);
  if (e.schema_id != 0) j["schema_id"] = e.schema_id;
  if (utf8::is_valid(e.payload)) {
    j["data"] = e.payload;
  } else {
    j["data_base64"] = base64_encode(e.payload);
  }
  return j;
}

json topic_to_json(const client::TopicInfo& t) {
  json j;
  j["name"] = t.spec.name;
  j["topic_id"] = t.topic_id;
  j["partitions"] = t.spec.partitions;
  j["durability"] = t.spec.durability == client::Durability::kOs ? "os" : "fsync";
  j["dedup_window"] = units::format_duration(t.spec.dedup_window);
  j["retention"] = t.spec.retention.count() == 0 ? std::string("forever") : units::format_duration(t.spec.retention);
  j["retention_bytes"] = t.spec.retention_bytes;
  j["segment_bytes"] = t.spec.segment_bytes;
  if (!t.spec.schema_subject.empty()) {
    j["schema_subject"] = t.spec.schema_subject;
    j["validate"] = t.spec.validate_payloads ? "full" : "id";
  }
  j["created"] = format_time_ms(t.created_ms);
  if (!t.partitions.empty()) {
    json parts = json::array();
    for (const auto& p : t.partitions) {
      parts.push_back({{"partition", p.partition},
                       {"log_start_offset", p.log_start_offset},
                       {"high_watermark", p.high_watermark},
                       {"size_bytes", p.size_bytes},
                       {"last_lamport", p.last_lamport}});
    }
    j["partition_info"] = std::move(parts);
  }
  return j;
}

std::string format_time_ms(int64_t unix_ms) {
  int64_t secs = unix_ms / 1000;
  int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string to_line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace causeway::cli
