// File: client/cli/main.cc
//
// The `causeway` command-line tool: topics (create/list/describe/delete), publish (JSON
// lines in, one JSON ack per line out, in input order) and fetch (events as JSON lines).
// On schema-bound topics publish encodes a "data" JSON object with the subject's schema and
// fetch/subscribe decode payloads back to JSON (client/cli/payload_codec.h,
// docs/registry.md "JSON payloads in the CLI").
// Built on causeway::client; usage is in docs/client.md and `causeway --help`. Exit codes:
// 0 success, 1 an operation failed (the message says what to do next), 2 bad usage
// (CLI11's own code for parse errors is 105/106/..., mapped by CLI11_PARSE).
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/registry_client.h"
#include "causeway/common/units.h"
#include "client/cli/event_json.h"
#include "client/cli/pattern_commands.h"
#include "client/cli/payload_codec.h"
#include "client/cli/schema_commands.h"
#include "client/cli/subscribe_commands.h"

namespace {

using causeway::Code;
using causeway::Status;
using namespace causeway::client;
using causeway::cli::to_line;

// Prints the error with a hint for the common cases and returns the exit code.
int fail(const std::string& what, const Status& status) {
  std::string hint;
  const std::string_view msg = status.message();
  if (status.code() == Code::kUnavailable &&
      (msg.find("cannot connect") != std::string_view::npos || msg.find("cannot resolve") != std::string_view::npos)) {
    hint = " — is causeway-broker running? (scripts/run starts it; --broker HOST:PORT picks another)";
  } else if (status.code() == Code::kDeadlineExceeded && msg.find("connect") != std::string_view::npos) {
    hint = " — is the broker address right and reachable? (--broker HOST:PORT)";
  } else if (status.code() == Code::kNotFound && msg.find("topic") != std::string_view::npos) {
    hint = " — `causeway topic list` shows the topics; `causeway topic create NAME` makes one";
  }
  std::cerr << "causeway: " << what << ": " << msg << hint << "\n";
  return 1;
}

causeway::Result<std::chrono::milliseconds> parse_ms(const std::string& flag, const std::string& text, bool allow_zero) {
  if (allow_zero && (text == "0" || text == "forever")) return std::chrono::milliseconds(0);
  auto d = causeway::units::parse_duration(text);
  if (!d) return d.error().with_context(flag);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

causeway::Result<uint64_t> parse_bytes(const std::string& flag, const std::string& text) {
  auto s = causeway::units::parse_size(text);
  if (!s) return s.error().with_context(flag);
  return *s;
}

void print_topic_table(const TopicInfo& t) {
  const auto& s = t.spec;
  std::cout << "topic " << s.name << "  id " << t.topic_id << "  partitions " << s.partitions << "  durability "
            << (s.durability == Durability::kOs ? "os" : "fsync") << "  dedup-window "
            << causeway::units::format_duration(s.dedup_window) << "  retention "
            << (s.retention.count() == 0 ? std::string("forever") : causeway::units::format_duration(s.retention))
            << "  retention-bytes "
            << (s.retention_bytes == 0 ? std::string("unlimited") : causeway::units::format_size(s.retention_bytes))
            << "  segment-bytes " << causeway::units::format_size(s.segment_bytes);
  if (!s.schema_subject.empty())
    std::cout << "  schema-subject " << s.schema_subject << "  validate " << (s.validate_payloads ? "full" : "id");
  std::cout << "\n";
  if (t.partitions.empty()) return;
  std::printf("%-10s %-20s %-20s %-14s %s\n", "PARTITION", "START-OFFSET", "END-OFFSET", "SIZE", "LAST-LAMPORT");
  for (const auto& p : t.partitions) {
    std::printf("%-10u %-20llu %-20llu %-14s %llu\n", p.partition, static_cast<unsigned long long>(p.log_start_offset),
                static_cast<unsigned long long>(p.high_watermark), causeway::units::format_size(p.size_bytes).c_str(),
                static_cast<unsigned long long>(p.last_lamport));
  }
  std::fflush(stdout);
}

// Prints a registry failure with what to do next and returns 1.
int fail_registry(const std::string& what, const Status& status, const std::string& registry_url) {
  std::string hint;
  if (status.code() == Code::kUnavailable) {
    hint = " — is the registry running at " + registry_url +
           "? (causeway-broker embeds one on 127.0.0.1:8081; --registry URL picks another)";
  } else if (causeway::client::registry_error_code(status) == 40401) {
    hint = " — register a schema under it with `causeway schema register SUBJECT --file F.fbs`";
  } else if (causeway::client::registry_error_code(status) == 40402) {
    hint = " — `causeway schema versions SUBJECT` lists the versions";
  }
  std::cerr << "causeway: " << what << ": " << status.message() << hint << "\n";
  return 1;
}

// For a topic bound to a schema subject: the codec of the subject's version `version`
// (kLatestVersion: the latest), fetched once for the whole run.
causeway::Result<std::unique_ptr<causeway::cli::PayloadCodec>> topic_codec(RegistryClient& registry,
                                                                           const std::string& subject, int version) {
  auto v = registry.get_version(subject, version);
  if (!v) return v.error();
  return causeway::cli::PayloadCodec::create(v->schema, &registry);
}

int run_publish(const ClientOptions& options, const std::string& registry_url, const std::string& topic,
                const std::string& file, int schema_version) {
  // The topic's binding decides whether "data" may be a JSON object, so look it up first.
  std::string subject;
  {
    auto admin = Admin::connect(options);
    if (!admin) return fail("publish to " + topic, admin.error());
    auto info = (*admin)->describe_topic(topic);
    if (!info) return fail("publish to " + topic, info.error());
    subject = info->spec.schema_subject;
  }
  if (subject.empty() && schema_version != 0) {
    return fail("publish to " + topic,
                causeway::invalid_argument("--schema-version needs a topic bound to a schema subject; topic '" + topic +
                                           "' is not (topic create --schema-subject SUBJECT)"));
  }
  // The schema is fetched once, when the first "data" object needs it (at once with
  // --schema-version), so lines with string data, already encoded by the producer, publish
  // as before even when the registry cannot be reached.
  std::unique_ptr<RegistryClient> registry;
  std::unique_ptr<causeway::cli::PayloadCodec> codec;
  causeway::cli::DataObjectEncoder encoder;
  if (!subject.empty()) {
    auto r = RegistryClient::create({.url = registry_url});
    if (!r) return fail_registry("--registry", r.error(), registry_url);
    registry = std::move(*r);
    const int version = schema_version == 0 ? causeway::client::kLatestVersion : schema_version;
    const std::string which = "schema subject " + subject + " version " +
                              (schema_version == 0 ? std::string("latest") : std::to_string(schema_version));
    if (schema_version != 0) {
      auto c = topic_codec(*registry, subject, version);
      if (!c) return fail_registry("publish to " + topic + ": " + which, c.error(), registry_url);
      codec = std::move(*c);
    }
    encoder = [&codec, &registry, subject, version, which](
                  const nlohmann::json& data) -> causeway::Result<causeway::cli::EncodedData> {
      if (!codec) {
        auto c = topic_codec(*registry, subject, version);
        if (!c) return c.error().with_context(which);
        codec = std::move(*c);
      }
      auto payload = codec->encode(data);
      if (!payload) return payload.error();
      return causeway::cli::EncodedData{std::move(*payload), static_cast<uint32_t>(codec->schema_id())};
    };
  }

  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (!file.empty() && file != "-") {
    in_file.open(file);
    if (!in_file) {
      std::cerr << "causeway: cannot open " << file << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    in = &in_file;
  }
  PublisherOptions publisher_options;
  publisher_options.linger = std::chrono::milliseconds(5);
  auto publisher = Publisher::connect(options, publisher_options);
  if (!publisher) return fail("publish to " + topic, publisher.error());

  constexpr std::size_t kMaxPending = 10000;
  std::deque<std::pair<std::size_t, std::future<causeway::Result<PublishAck>>>> pending;
  std::size_t failed_line = 0;
  Status failure;
  const auto settle_front = [&] {
    auto [line_no, future] = std::move(pending.front());
    pending.pop_front();
    causeway::Result<PublishAck> ack = future.get();
    if (ack) {
      std::cout << to_line(causeway::cli::ack_to_json(*ack)) << "\n";
    } else if (failed_line == 0) {
      failed_line = line_no;
      failure = ack.error();
    }
  };
  std::string line;
  std::size_t line_no = 0;
  while (failed_line == 0 && std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto event = causeway::cli::parse_event_line(line, encoder);
    if (!event) {
      failed_line = line_no;
      failure = event.error();
      break;
    }
    pending.emplace_back(line_no, (*publisher)->publish(topic, std::move(*event)));
    while (!pending.empty() &&
           (pending.size() > kMaxPending || pending.front().second.wait_for(std::chrono::seconds(0)) == std::future_status::ready)) {
      settle_front();
    }
  }
  static_cast<void>((*publisher)->flush(options.request_timeout));
  while (!pending.empty()) settle_front();
  std::cout.flush();
  static_cast<void>((*publisher)->close());
  if (failed_line != 0) {
    const std::string what = "publish to " + topic + ": line " + std::to_string(failed_line);
    // Fetching the schema for the first "data" object can fail in the registry.
    const bool from_registry = causeway::client::registry_error_code(failure) != 0 ||
                               (failure.code() == Code::kUnavailable &&
                                failure.message().find("schema registry") != std::string_view::npos);
    return from_registry ? fail_registry(what, failure, registry_url) : fail(what, failure);
  }
  if (in->bad()) {
    std::cerr << "causeway: reading input failed after line " << line_no << "\n";
    return 1;
  }
  return 0;
}

int run_fetch(const ClientOptions& options, const std::string& registry_url, bool raw, const std::string& topic,
              uint32_t partition, uint64_t offset, uint64_t max_events) {
  auto admin = Admin::connect(options);
  if (!admin) return fail("fetch " + topic, admin.error());
  std::unique_ptr<RegistryClient> registry;
  if (!raw) {
    auto r = causeway::cli::renderer_registry(registry_url);
    if (!r) return fail_registry("--registry", r.error(), registry_url);
    registry = std::move(*r);
  }
  causeway::cli::PayloadRenderer renderer(registry.get(), std::cerr);
  uint64_t remaining = max_events;
  while (remaining > 0) {
    const auto batch = static_cast<uint32_t>(std::min<uint64_t>(remaining, 1000));
    auto r = (*admin)->fetch(topic, partition, offset, batch);
    if (!r) return fail("fetch", r.error());
    for (const auto& e : r->events) std::cout << to_line(renderer.render(e)) << "\n";
    if (r->events.empty()) break;
    remaining -= std::min<uint64_t>(remaining, r->events.size());
    offset = r->next_offset;
  }
  std::cout.flush();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"causeway: command-line client for the Causeway event bus"};
  app.require_subcommand(1);
  app.fallthrough();
  ClientOptions options;
  options.client_name = "causeway-cli";
  app.add_option("--broker", options.broker, "Broker address HOST:PORT")->capture_default_str();

  // topic ...
  auto* topic = app.add_subcommand("topic", "Create, list, describe and delete topics");
  topic->require_subcommand(1);

  std::string create_name;
  uint32_t partitions = 1;
  std::string durability = "fsync";
  std::string dedup_window = "2m";
  std::string retention = "7d";
  std::string retention_bytes = "0";
  std::string segment_bytes = "1GiB";
  auto* create = topic->add_subcommand("create", "Create a topic (an identical re-create succeeds)");
  create->add_option("name", create_name, "Topic name: 1-249 chars of [A-Za-z0-9._-]")->required();
  create->add_option("--partitions", partitions, "Number of partitions")->capture_default_str()->check(CLI::Range(1u, 100000u));
  create->add_option("--durability", durability, "fsync: ack after fdatasync; os: ack after write()")
      ->capture_default_str()
      ->check(CLI::IsMember({"fsync", "os"}));
  create->add_option("--dedup-window", dedup_window, "How long dedup keys are remembered, e.g. 2m, 1h")->capture_default_str();
  create->add_option("--retention", retention, "Keep events this long, e.g. 7d, 12h; 0 or 'forever' keeps all")
      ->capture_default_str();
  create->add_option("--retention-bytes", retention_bytes, "Per-partition size cap, e.g. 10GiB; 0 is unlimited")
      ->capture_default_str();
  create->add_option("--segment-bytes", segment_bytes, "Segment file size, e.g. 1GiB, 64MiB")->capture_default_str();
  std::string schema_subject;
  std::string validate = "id";
  create->add_option("--schema-subject", schema_subject,
                     "Bind the topic to a registry subject: every event must carry a schema id that is a version of it");
  create->add_option("--validate", validate,
                     "With --schema-subject: id (check the schema id) or full (also verify each payload)")
      ->capture_default_str()
      ->check(CLI::IsMember({"id", "full"}));

  std::string list_output = "table";
  auto* list = topic->add_subcommand("list", "List topics");
  list->add_option("--output", list_output, "table or json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));

  std::string describe_name;
  std::string describe_output = "table";
  auto* describe = topic->add_subcommand("describe", "Show a topic's settings and partitions (start/end offsets)");
  describe->add_option("name", describe_name, "Topic name")->required();
  describe->add_option("--output", describe_output, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));

  std::string delete_name;
  auto* del = topic->add_subcommand("delete", "Delete a topic and its data");
  del->add_option("name", delete_name, "Topic name")->required();

  // publish
  std::string publish_topic;
  std::string publish_file;
  int publish_schema_version = 0;
  auto* publish = app.add_subcommand(
      "publish",
      "Publish JSON lines ({\"data\":..., optional key, dedup_key, source, type, headers, partition, schema_id}); "
      "prints one ack per line. \"data\" is a string (the payload bytes) or, on a topic bound to a schema subject, "
      "a JSON object encoded to FlatBuffers with the subject's latest schema (or --schema-version), whose id the "
      "event then carries. The first bad line stops the run with exit 1, naming the line; it is not published");
  publish->add_option("topic", publish_topic, "Topic to publish to")->required();
  publish->add_option("--file,-f", publish_file, "Read events from this file instead of stdin");
  publish->add_option("--schema-version", publish_schema_version,
                      "Encode \"data\" objects with this version of the topic's subject instead of the latest")
      ->check(CLI::PositiveNumber);

  // fetch
  std::string fetch_topic;
  uint32_t fetch_partition = 0;
  uint64_t fetch_offset = 0;
  uint64_t fetch_max = 100;
  bool fetch_raw = false;
  auto* fetch = app.add_subcommand(
      "fetch",
      "Print a partition's events as JSON lines; payloads with a schema id are decoded into a JSON object in "
      "\"data\" with that schema from the registry (else, or with --raw, \"data\" is the payload as a string, or "
      "\"data_base64\")");
  fetch->add_option("topic", fetch_topic, "Topic to read")->required();
  fetch->add_option("--partition,-p", fetch_partition, "Partition to read")->required();
  fetch->add_option("--offset", fetch_offset, "First offset to print")->capture_default_str();
  fetch->add_option("--max", fetch_max, "Print at most this many events")->capture_default_str();
  fetch->add_flag("--raw", fetch_raw, "Do not decode payloads with their schema; print them as stored");

  auto schema_commands = causeway::cli::add_schema_commands(app);  // schema ... and --registry
  auto run_subscribe_commands = causeway::cli::add_subscribe_commands(app, options, schema_commands->registry_url());
  auto run_pattern_commands = causeway::cli::add_pattern_commands(app);
  CLI11_PARSE(app, argc, argv);
  if (schema_commands->parsed()) return schema_commands->run();
  if (auto code = run_subscribe_commands()) return *code;
  if (auto code = run_pattern_commands()) return *code;

  const std::string& registry_url = schema_commands->registry_url();
  if (publish->parsed()) return run_publish(options, registry_url, publish_topic, publish_file, publish_schema_version);
  if (fetch->parsed()) {
    return run_fetch(options, registry_url, fetch_raw, fetch_topic, fetch_partition, fetch_offset, fetch_max);
  }

  // topic subcommands share one Admin.
  TopicSpec spec;
  if (create->parsed()) {
    spec.name = create_name;
    spec.partitions = partitions;
    spec.durability = durability == "os" ? Durability::kOs : Durability::kFsync;
    auto dw = parse_ms("--dedup-window", dedup_window, false);
    if (!dw) return fail("topic create", dw.error());
    auto rt = parse_ms("--retention", retention, true);
    if (!rt) return fail("topic create", rt.error());
    auto rb = parse_bytes("--retention-bytes", retention_bytes);
    if (!rb) return fail("topic create", rb.error());
    auto sb = parse_bytes("--segment-bytes", segment_bytes);
    if (!sb) return fail("topic create", sb.error());
    spec.dedup_window = *dw;
    spec.retention = *rt;
    spec.retention_bytes = *rb;
    spec.segment_bytes = *sb;
    spec.schema_subject = schema_subject;
    spec.validate_payloads = validate == "full";
    if (spec.validate_payloads && spec.schema_subject.empty())
      return fail("topic create", causeway::invalid_argument("--validate full needs --schema-subject SUBJECT"));
  }
  auto admin = Admin::connect(options);
  if (!admin) return fail("topic", admin.error());
  if (create->parsed()) {
    auto t = (*admin)->create_topic(spec);
    if (!t) return fail("topic create", t.error());
    print_topic_table(*t);
    return 0;
  }
  if (list->parsed()) {
    auto topics = (*admin)->list_topics();
    if (!topics) return fail("topic list", topics.error());
    if (list_output == "json") {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& t : *topics) arr.push_back(causeway::cli::topic_to_json(t));
      std::cout << to_line(arr) << "\n";
    } else {
      if (topics->empty()) std::cerr << "no topics (create one with `causeway topic create NAME`)\n";
      for (const auto& t : *topics) print_topic_table(t);
    }
    return 0;
  }
  if (describe->parsed()) {
    auto t = (*admin)->describe_topic(describe_name);
    if (!t) return fail("topic describe", t.error());
    if (describe_output == "json") {
      std::cout << to_line(causeway::cli::topic_to_json(*t)) << "\n";
    } else {
      print_topic_table(*t);
    }
    return 0;
  }
  if (del->parsed()) {
    Status s = (*admin)->delete_topic(delete_name);
    if (!s.ok()) return fail("topic delete", s);
    std::cout << "deleted topic " << delete_name << "\n";
    return 0;
  }
  return 0;
}
