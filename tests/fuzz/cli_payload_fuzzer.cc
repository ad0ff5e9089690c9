// Fuzz target for the CLI's JSON side (docs/registry.md, "JSON payloads in the CLI";
// client/cli/event_json.h and payload_codec.h): `causeway publish` lines parsed into events,
// "data" objects encoded to FlatBuffers with a registered schema, and stored payloads
// decoded back to JSON for `fetch`/`subscribe`. No input may crash, hang or read out of
// bounds, and what the CLI accepts it must be able to print back:
//   - an event line whose "data" was encoded decodes again (unless a float became NaN or
//     infinite, the one documented case), and decoding is idempotent: encode(decode(p))
//     decodes to the same JSON;
//   - any bytes given as a stored payload decode to JSON or to a Status, and so does an
//     encoded payload damaged at the (position, byte) pairs its event's "key" holds;
//   - utf8::is_valid agrees with nlohmann::json's own UTF-8 check (it decides whether a
//     string is printed as "data" or goes to "data_base64").
//
// Input: "<root type>\n<fbs text>\n%%\n<event lines>", or, without "\n%%\n", event lines only,
// encoded with a built-in schema (shop.Order, as tests/unit/client/payload_codec_test.cc).
// Built as a libFuzzer target with Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked
// with corpus_driver.cc so that ctest replays corpus/cli_payload.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "causeway/common/coding.h"
#include "causeway/common/utf8.h"
#include "client/cli/event_json.h"
#include "client/cli/payload_codec.h"

namespace {

using causeway::cli::PayloadCodec;
using nlohmann::json;

constexpr uint32_t kSchemaId = 7;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "cli_payload_fuzzer: %s\n", what.c_str());
  std::abort();
}

causeway::client::RegistrySchema order_schema() {
  causeway::client::RegistrySchema s;
  s.id = kSchemaId;
  s.schema =
      "namespace shop;\n"
      "enum Channel : byte { Web, Store }\n"
      "struct Money { units:long; nanos:int; }\n"
      "table Item { sku:string; qty:uint = 1; }\n"
      "table Order { id:ulong; total:Money; items:[Item]; channel:Channel; note:string; ratio:double; }\n"
      "root_type Order;\n";
  s.root_type = "shop.Order";
  return s;
}

bool nlohmann_says_utf8(std::string_view s) {
  try {
    (void)json(std::string(s)).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

bool is_nan_or_infinite_note(const causeway::Status& s) {
  return s.message().find("NaN or infinite") != std::string_view::npos;
}

void check_round_trip(PayloadCodec& codec, const std::string& payload, std::string_view line) {
  auto first = codec.decode(payload);
  if (!first) {
    if (is_nan_or_infinite_note(first.error())) return;
    fail("an event line the CLI encoded does not decode: " + first.error().to_string() + "\nline: " + std::string(line));
  }
  auto again = codec.encode(*first);
  if (!again) fail("decoded data does not encode again: " + again.error().to_string() + "\njson: " + first->dump());
  auto second = codec.decode(*again);
  if (!second) fail("re-encoded data does not decode: " + second.error().to_string() + "\njson: " + first->dump());
  if (*second != *first) fail("decoding is not idempotent:\n" + first->dump() + "\n" + second->dump());
}

void run_lines(PayloadCodec& codec, std::string_view lines) {
  const causeway::cli::DataObjectEncoder encoder = [&codec](const json& data) -> causeway::Result<causeway::cli::EncodedData> {
    auto bytes = codec.encode(data);
    if (!bytes) return bytes.error();
    return causeway::cli::EncodedData{std::move(*bytes), static_cast<uint32_t>(codec.schema_id())};
  };
  while (!lines.empty()) {
    const auto nl = lines.find('\n');
    const std::string_view line = lines.substr(0, nl);
    lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);

    if (causeway::utf8::is_valid(line) != nlohmann_says_utf8(line)) {
      fail(std::string("utf8::is_valid says ") + (causeway::utf8::is_valid(line) ? "valid" : "invalid") +
           ", nlohmann::json disagrees");
    }
    // The line's bytes as a payload stored by some other producer, printed by fetch.
    (void)codec.decode(line);
    causeway::client::FetchedEvent fetched;
    fetched.payload = std::string(line);
    fetched.headers.push_back({"h", std::string(line)});
    fetched.schema_id = kSchemaId;
    if (line.size() >= 8) fetched.time_ms = static_cast<int64_t>(causeway::coding::decode_fixed64(line.data()));
    (void)causeway::cli::to_line(causeway::cli::event_to_json(fetched));

    auto event = causeway::cli::parse_event_line(line, encoder);
    if (event && event->schema_id == static_cast<uint32_t>(codec.schema_id())) {
      check_round_trip(codec, event->payload, line);
      // The encoded payload damaged as the event's "key" says ((position, byte) pairs): a
      // buffer that is valid but for a few bytes, of any schema, as another producer may
      // have stored it. It must decode or fail with a Status.
      std::string damaged = event->payload;
      for (size_t i = 0; i + 1 < event->key.size() && !damaged.empty(); i += 2) {
        damaged[static_cast<uint8_t>(event->key[i]) % damaged.size()] = event->key[i + 1];
      }
      if (damaged != event->payload) (void)codec.decode(damaged);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto sep = in.find("\n%%\n");
  if (sep == std::string_view::npos) {
    static std::unique_ptr<PayloadCodec> order = [] {
      auto c = PayloadCodec::create(order_schema());
      if (!c) fail("the built-in schema does not parse: " + c.error().to_string());
      return std::move(*c);
    }();
    run_lines(*order, in);
    return 0;
  }
  const std::string_view head = in.substr(0, sep);
  const auto nl = head.find('\n');
  causeway::client::RegistrySchema schema;
  schema.id = kSchemaId;
  schema.root_type = std::string(nl == std::string_view::npos ? std::string_view() : head.substr(0, nl));
  schema.schema = std::string(nl == std::string_view::npos ? head : head.substr(nl + 1));
  auto codec = PayloadCodec::create(schema);
  if (!codec) return 0;
  run_lines(**codec, in.substr(sep + 4));
  return 0;
}
