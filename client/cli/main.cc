// File: client/cli/main.cc
//
// The `causeway` command-line tool: topics (create/list/describe/delete), publish (JSON
// lines in, one JSON ack per line out, in input order) and fetch (events as JSON lines).
// On schema-bound topics publish encodes a "data" JSON object with the subject's schema and
// fetch/subscribe decode payloads back to JSON (client/cli/payload_codec.h,
// docs/registry.md "JSON payloads in the CLI").
// Built on causeway::client; usage is in docs/client.md and `causeway --help`. Exit codes:
// 0 success, 1 an operation failed (the message says what to do next), 2 bad usage
// (client/cli/cli_args.h maps CLI11's own codes, 105/106/109..., to it).
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "causeway/client/admin.h"
#include "causeway/client/reader.h"
#include "causeway/client/registry_client.h"
#include "causeway/common/units.h"
#include "client/cli/cli_args.h"
#include "client/cli/cli_errors.h"
#include "client/cli/event_json.h"
#include "client/cli/pattern_commands.h"
#include "client/cli/auth_commands.h"
#include "client/cli/replay_commands.h"
#include "client/cli/top_command.h"
#include "client/cli/payload_codec.h"
#include "client/cli/publish_command.h"
#include "client/cli/schema_commands.h"
#include "client/cli/subscribe_commands.h"

namespace {

using causeway::Code;
using causeway::Status;
using namespace causeway::client;
using causeway::cli::fail;
using causeway::cli::fail_registry;
using causeway::cli::number_in_range;
using causeway::cli::to_line;

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

int run_fetch(const ClientOptions& options, const std::string& registry_url, bool raw, const std::string& topic,
              uint32_t partition, uint64_t offset, uint64_t max_events) {
  auto admin = Admin::connect(options);
  if (!admin) return fail("fetch " + topic, admin.error());
  auto registry = raw ? causeway::Result<std::unique_ptr<RegistryClient>>(nullptr)
                      : causeway::cli::renderer_registry(registry_url);
  if (!registry) return fail_registry("--registry", registry.error(), registry_url);
  causeway::cli::PayloadRenderer renderer(registry->get(), std::cerr);
  uint64_t remaining = max_events;
  bool printed_any = false;
  while (remaining > 0) {
    const auto batch = static_cast<uint32_t>(std::min<uint64_t>(remaining, 1000));
    auto r = (*admin)->fetch(topic, partition, offset, batch);
    if (!r) return fail("fetch", r.error());
    for (const auto& e : r->events) std::cout << to_line(renderer.render(e)) << "\n";
    if (r->events.empty()) {
      // An empty answer at or past the end is not an error (the offset may be filled
      // later), but silence would look like one: say where the partition ends.
      if (!printed_any && offset >= r->high_watermark) {
        std::cerr << "causeway: note: nothing to print: " << topic << " partition " << partition
                  << (r->high_watermark == r->log_start_offset
                          ? std::string(" is empty")
                          : " holds offsets " + std::to_string(r->log_start_offset) + " to " +
                                std::to_string(r->high_watermark - 1))
                  << ", and --offset " << offset << " is at or past its end (" << r->high_watermark << ")\n";
      }
      break;
    }
    printed_any = true;
    remaining -= std::min<uint64_t>(remaining, r->events.size());
    offset = r->next_offset;
  }
  std::cout.flush();
  return 0;
}

// fetch --all-partitions: every partition merged by Lamport stamp up to a cut (a causal
// snapshot, causeway/client/reader.h). The cut and where to continue go to stderr, so that
// stdout stays JSON lines.
struct MergedFetch {
  std::optional<uint64_t> until_lamport;
  std::string until_time;  // ISO 8601
  std::string position;    // continue here
};

int run_merged_fetch(const ClientOptions& options, const std::string& registry_url, bool raw, const std::string& topic,
                     const MergedFetch& m, uint64_t max_events) {
  using causeway::client::Reader;
  Reader::Options ro;
  ro.topics = {topic};
  ro.until_lamport = m.until_lamport;
  if (!m.until_time.empty()) {
    auto t = causeway::cli::parse_start_position("time:" + m.until_time);
    if (!t) {
      return fail("fetch " + topic, causeway::invalid_argument("--until \"" + m.until_time +
                                                               "\" is not an ISO 8601 time (e.g. 2026-12-05T10:00:00Z)"));
    }
    ro.until_time_ms = static_cast<int64_t>(t->value);
  }
  if (!m.position.empty()) {
    auto p = causeway::client::ReaderPosition::parse(m.position);
    if (!p) return fail("fetch " + topic, p.error());
    ro.from = std::move(*p);
  }
  auto reader = Reader::open(options, ro);
  if (!reader) return fail("fetch " + topic, reader.error());
  auto registry = raw ? causeway::Result<std::unique_ptr<RegistryClient>>(nullptr)
                      : causeway::cli::renderer_registry(registry_url);
  if (!registry) return fail_registry("--registry", registry.error(), registry_url);
  causeway::cli::PayloadRenderer renderer(registry->get(), std::cerr);
  uint64_t printed = 0;
  bool more = true;
  while (printed < max_events) {
    auto e = (*reader)->next();
    if (!e) return fail("fetch " + topic, e.error());
    if (!e->has_value()) {
      more = false;
      break;
    }
    std::cout << to_line(renderer.render(**e)) << "\n";
    ++printed;
  }
  // Where to continue, taken before looking whether anything is left (which reads on).
  const std::string position = (*reader)->position().to_string();
  if (more) {
    // --max reached: is anything left below the cut?
    auto e = (*reader)->next();
    more = e.ok() && e->has_value();
  }
  std::cout.flush();
  std::cerr << "causeway: note: " << printed << " event(s) of " << topic << " with lamport <= " << (*reader)->cut()
            << ", merged in Lamport order";
  if (more) {
    std::cerr << "; more below the cut: continue with --all-partitions --position " << position;
  }
  std::cerr << "\n";
  return 0;
}

// `topic create --schema-subject S` binds the topic to S: every publish is checked against
// it, so a subject that does not exist (a typo) would refuse every event. Refuse it here,
// naming the registry asked; --no-subject-check skips this (e.g. the subject is about to be
// registered, or the broker uses another registry).
Status check_subject_exists(const std::string& subject, const std::string& registry_url) {
  auto registry = RegistryClient::create(causeway::cli::registry_client_options(registry_url));
  if (!registry) return registry.error();
  auto versions = (*registry)->list_versions(subject, false);
  if (versions && !versions->empty()) return Status();
  if (!versions && causeway::client::registry_error_code(versions.error()) != 40401) {
    return Status(versions.error().code(),
                  "cannot check that schema subject \"" + subject + "\" exists: " +
                      std::string(versions.error().message()) +
                      " (--registry URL names the registry; --no-subject-check creates the topic without checking)");
  }
  return causeway::not_found("schema subject \"" + subject + "\" does not exist in the registry at " + registry_url +
                             " (or has no live version), so every publish to the topic would be refused; register a "
                             "schema first (causeway schema register " + subject +
                             " --file F.fbs), or pass --no-subject-check if the broker uses another registry");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"causeway: command-line client for the Causeway event bus"};
  app.require_subcommand(1);
  app.fallthrough();
  ClientOptions options;
  options.client_name = "causeway-cli";
  app.add_option("--broker", options.broker, "Broker address HOST:PORT")
      ->capture_default_str()
      ->envname("CAUSEWAY_BROKER");
  causeway::cli::add_tls_flags(app, options.tls);
  causeway::cli::add_token_flag(app, options.token);

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
  create->add_option("--partitions", partitions, "Number of partitions")
      ->capture_default_str()
      ->check(number_in_range(1, 10000));
  create->add_option("--durability", durability, "fsync: ack after fdatasync; os: ack after write()")
      ->capture_default_str()
      ->check(CLI::IsMember({"fsync", "os"}));
  create->add_option("--dedup-window", dedup_window, "How long dedup keys are remembered, e.g. 2m, 1h")
      ->capture_default_str()
      ->check(causeway::cli::duration_value());
  create->add_option("--retention", retention, "Keep events this long, e.g. 7d, 12h; 0 or 'forever' keeps all")
      ->capture_default_str()
      ->check(causeway::cli::duration_value({"0", "forever"}));
  create->add_option("--retention-bytes", retention_bytes, "Per-partition size cap, e.g. 10GiB; 0 is unlimited")
      ->capture_default_str()
      ->check(causeway::cli::size_value());
  create->add_option("--segment-bytes", segment_bytes, "Segment file size, e.g. 1GiB, 64MiB")
      ->capture_default_str()
      ->check(causeway::cli::size_value());
  std::string schema_subject;
  std::string validate = "id";
  create->add_option("--schema-subject", schema_subject,
                     "Bind the topic to a registry subject: every event must carry a schema id that is a version of it");
  create->add_option("--validate", validate,
                     "With --schema-subject: id (check the schema id) or full (also verify each payload)")
      ->capture_default_str()
      ->check(CLI::IsMember({"id", "full"}));
  bool no_subject_check = false;
  create->add_flag("--no-subject-check", no_subject_check,
                   "Bind to --schema-subject without checking that it exists in the registry (--registry)");

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
  causeway::cli::PublishArgs publish_args;
  auto* publish = app.add_subcommand(
      "publish",
      "Publish JSON lines, one object per line ({\"data\":..., optional key, dedup_key, source, type, headers, "
      "partition, schema_id}). \"data\" is a string (the payload bytes) or, on a topic bound to a schema subject, "
      "a JSON object encoded to FlatBuffers with the subject's latest schema (or --schema-version), whose id the "
      "event then carries. Prints one JSON line per input line, in input order, each with its input \"line\" number: "
      "the ack, or {\"line\":N,\"error\":...} for a line that failed. Every line is attempted: a bad line is "
      "checked before sending and never published, the others still are; if any failed, a summary names them and "
      "the exit status is 1, so publish only those lines again once fixed");
  publish->add_option("topic", publish_args.topic, "Topic to publish to")->required();
  publish->add_option("--file,-f", publish_args.file, "Read events from this file instead of stdin");
  publish->add_option("--schema-version", publish_args.schema_version,
                      "Encode \"data\" objects with this version of the topic's subject instead of the latest")
      ->check(number_in_range(1, INT32_MAX));

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
  auto* fetch_partition_opt = fetch->add_option("--partition,-p", fetch_partition, "Partition to read")
      ->check(number_in_range(0, UINT32_MAX));
  bool fetch_all = false;
  std::string fetch_order;
  MergedFetch merged;
  fetch->add_flag("--all-partitions", fetch_all,
                  "Read every partition, merged by Lamport stamp (ties by partition, offset) up to a cut: a causally "
                  "closed snapshot (docs/client.md, \"Causal snapshots\"); the cut and where to continue go to stderr");
  fetch->add_option("--order", fetch_order, "With --all-partitions: lamport (the only order)")
      ->check(CLI::IsMember({"lamport"}));
  fetch->add_option("--until-lamport", merged.until_lamport,
                    "With --all-partitions: the cut, events with lamport <= L (default and upper bound: the broker's "
                    "clock now)")
      ->check(number_in_range(0, UINT64_MAX));
  fetch->add_option("--until", merged.until_time,
                    "With --all-partitions: the cut at a time (ISO 8601, e.g. 2026-12-05T10:00:00Z): the largest stamp "
                    "appended by then");
  fetch->add_option("--position", merged.position,
                    "With --all-partitions: continue where an earlier fetch stopped (the position it printed)");
  fetch->add_option("--offset", fetch_offset, "First offset to print")
      ->capture_default_str()
      ->check(number_in_range(0, UINT64_MAX));
  fetch->add_option("--max", fetch_max, "Print at most this many events")
      ->capture_default_str()
      ->check(number_in_range(0, UINT64_MAX));
  fetch->add_flag("--raw", fetch_raw, "Do not decode payloads with their schema; print them as stored");

  auto schema_commands = causeway::cli::add_schema_commands(app);  // schema ... and --registry
  auto run_subscribe_commands = causeway::cli::add_subscribe_commands(app, options, schema_commands->registry_url());
  auto run_pattern_commands = causeway::cli::add_pattern_commands(app);
  auto run_replay_commands = causeway::cli::add_replay_commands(app, options);
  auto run_auth_commands = causeway::cli::add_auth_commands(app, options);
  auto run_top_command = causeway::cli::add_top_command(app, options);
  if (auto code = causeway::cli::parse_command_line(app, argc, argv)) return *code;
  if (schema_commands->parsed()) return schema_commands->run(options);
  if (auto code = run_subscribe_commands()) return *code;
  if (auto code = run_pattern_commands()) return *code;
  if (auto code = run_replay_commands()) return *code;
  if (auto code = run_auth_commands()) return *code;
  if (auto code = run_top_command()) return *code;

  const std::string& registry_url = schema_commands->registry_url();
  if (publish->parsed()) return causeway::cli::run_publish(options, registry_url, publish_args);
  if (fetch->parsed()) {
    const auto usage_error = [](const std::string& message) {
      std::cerr << "causeway: " << message << "\nRun `causeway fetch --help` for usage.\n";
      return 2;
    };
    if (fetch_all) {
      if (fetch_partition_opt->count() > 0 || fetch->get_option("--offset")->count() > 0) {
        return usage_error("fetch: --all-partitions reads every partition from its start; leave out --partition and "
                           "--offset (continue with --position)");
      }
      if (merged.until_lamport && !merged.until_time.empty())
        return usage_error("fetch: give --until-lamport or --until, not both");
      return run_merged_fetch(options, registry_url, fetch_raw, fetch_topic, merged, fetch_max);
    }
    if (fetch_partition_opt->count() == 0)
      return usage_error("fetch: --partition is required (or --all-partitions to read them all in Lamport order)");
    if (!fetch_order.empty() || merged.until_lamport || !merged.until_time.empty() || !merged.position.empty())
      return usage_error("fetch: --order, --until-lamport, --until and --position go with --all-partitions");
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
    if (!spec.schema_subject.empty() && !no_subject_check) {
      Status s = check_subject_exists(spec.schema_subject, registry_url);
      if (!s.ok()) return fail_registry("topic create " + spec.name, s, registry_url);
    }
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
