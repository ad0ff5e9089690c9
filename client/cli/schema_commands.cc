// `causeway schema ...` commands. Contract: schema_commands.h; API: docs/registry.md.
#include "client/cli/schema_commands.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "causeway/client/admin.h"
#include "causeway/client/registry_client.h"
#include "client/cli/cli_args.h"

namespace causeway::cli {
namespace {

using causeway::client::RegistryClient;
using causeway::client::registry_error_code;
using nlohmann::json;

// Prints the error with what to do next and returns 1.
int fail(const std::string& what, const Status& status, const std::string& registry) {
  std::string hint;
  const int code = registry_error_code(status);
  if (status.code() == Code::kUnavailable) {
    hint = std::string(" — is the registry running at ") + registry +
           "? start it with causeway-registry or causeway-broker, or pass --registry URL";
  } else if (code == 40401) {
    hint = " — `causeway schema list` shows the subjects";
  } else if (code == 40402) {
    hint = " — `causeway schema versions SUBJECT` shows its versions";
  } else if (code == 40403) {
    hint = " — check the id or the schema text; `causeway schema get SUBJECT` shows what is registered";
  } else if (code == 42201) {
    hint = " — fix the schema as the message says and try again";
  } else if (code == 40405 || code == 40407) {
    hint = " — delete it without --permanent first, then again with --permanent";
  } else if (code == 40404 || code == 40406) {
    hint = " — it is already soft-deleted; add --permanent to remove it for good";
  } else if (code == 42206) {
    hint = " — `causeway schema referencedby SUBJECT --version V` lists the schemas that reference it; delete "
           "their versions (soft, then --permanent) first";
  }  // 42203 (bad mode): the registry's message already lists the valid ones
  std::cerr << "causeway: " << what << ": " << status.message() << hint << "\n";
  return 1;
}

// A malformed flag value: bad usage, exit 2.
int usage_error(const std::string& what, const Status& status) {
  std::cerr << "causeway: " << what << ": " << status.message() << "\n";
  return 2;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error_errno(std::string("cannot read ") + path, errno);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// "latest" or a positive number.
Result<int> parse_version(const std::string& text) {
  if (text == "latest") return client::kLatestVersion;
  try {
    std::size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size() && v > 0) return v;
  } catch (const std::exception&) {
  }
  return invalid_argument(std::string("--version \"") + text + "\" is not a version (a positive number or latest)");
}

// "NAME=SUBJECT:VERSION" (the subject may hold ':' and '='; the name may not hold '=').
Result<client::SchemaReference> parse_reference(const std::string& text) {
  const auto eq = text.find('=');
  const auto colon = text.rfind(':');
  const auto bad = [&](const std::string& why) {
    return invalid_argument("--reference \"" + text + "\": " + why + "; expected NAME=SUBJECT:VERSION, e.g. " +
                            "common.fbs=common-types:2");
  };
  if (eq == std::string::npos || eq == 0) return bad("no NAME=");
  if (colon == std::string::npos || colon < eq + 2) return bad("no SUBJECT:VERSION after the name");
  const std::string version_text = text.substr(colon + 1);
  int version = 0;
  const auto [end, ec] = std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  if (ec != std::errc() || end != version_text.data() + version_text.size() || version < 1) {
    return bad("version \"" + version_text + "\" is not a positive number");
  }
  return client::SchemaReference{text.substr(0, eq), text.substr(eq + 1, colon - eq - 1), version};
}

json references_json(const std::vector<client::SchemaReference>& refs) {
  json arr = json::array();
  for (const auto& r : refs) arr.push_back({{"name", r.name}, {"subject", r.subject}, {"version", r.version}});
  return arr;
}

json schema_fields(const client::RegistrySchema& s) {
  json j = {{"id", s.id}, {"schemaType", "FLATBUFFERS"}};
  if (!s.root_type.empty()) j["rootType"] = s.root_type;  // none: a file of shared types
  j["schema"] = s.schema;
  if (!s.references.empty()) j["references"] = references_json(s.references);
  return j;
}

json version_json(const client::SubjectVersionInfo& v) {
  json j = {{"subject", v.subject}, {"version", v.version}};
  j.update(schema_fields(v.schema));
  if (v.deleted) j["deleted"] = true;
  return j;
}

class SchemaCommandsImpl : public SchemaCommands {
 public:
  explicit SchemaCommandsImpl(CLI::App& app) {
    app.add_option("--registry", registry_,
                   "Schema registry URL (causeway-registry, or the broker's embedded one); publish, fetch and subscribe "
                   "use it for JSON payloads of schema-bound topics")
        ->capture_default_str()
        ->envname("CAUSEWAY_REGISTRY");
    schema_ = app.add_subcommand("schema", "Register, check, inspect and delete FlatBuffers schemas in the registry");
    schema_->require_subcommand(1);

    register_ = schema_->add_subcommand("register", "Register a schema under SUBJECT; prints {\"id\":N,\"version\":V}");
    register_->add_option("subject", subject_, "Subject, e.g. orders-value")->required();
    register_->add_option("--file,-f", file_, ".fbs file to register")->required();
    register_->add_option("--root-type", root_type_,
                          "Root table (default: the file's root_type declaration; none for a file of shared types)");
    register_
        ->add_option("--reference", references_,
                     "NAME=SUBJECT:VERSION: the file's `include \"NAME\";` means that version of SUBJECT (repeatable)")
        ->allow_extra_args(false);

    check_ = schema_->add_subcommand(
        "check", "Check a schema against SUBJECT in its compatibility mode; exit 0 if compatible, 1 listing every violation");
    check_->add_option("subject", subject_, "Subject to check against")->required();
    check_->add_option("--file,-f", file_, ".fbs file to check")->required();
    check_->add_option("--root-type", root_type_, "Root table (default: the file's root_type declaration)");
    check_->add_option("--version", version_, "Check against this version only instead of as registration would");
    check_
        ->add_option("--reference", references_,
                     "NAME=SUBJECT:VERSION: the file's `include \"NAME\";` means that version of SUBJECT (repeatable)")
        ->allow_extra_args(false);

    referencedby_ = schema_->add_subcommand(
        "referencedby", "List the ids of the schemas that reference a version of SUBJECT (default latest), as JSON");
    referencedby_->add_option("subject", subject_, "Subject")->required();
    referencedby_->add_option("--version", version_, "Version number or latest");

    get_ = schema_->add_subcommand("get", "Print a subject's version (default latest), or a schema by --id, as JSON");
    get_->add_option("subject", subject_, "Subject");
    get_->add_option("--version", version_, "Version number or latest")->capture_default_str();
    get_->add_option("--id", id_, "Global schema id (instead of SUBJECT)");
    get_->add_flag("--fbs", print_fbs_, "Print only the .fbs text");
    get_->add_flag("--deleted", deleted_, "Include soft-deleted versions");

    list_ = schema_->add_subcommand("list", "List subjects as a JSON array");
    list_->add_flag("--deleted", deleted_, "Include soft-deleted subjects");

    versions_ = schema_->add_subcommand("versions", "List a subject's versions as a JSON array");
    versions_->add_option("subject", subject_, "Subject")->required();
    versions_->add_flag("--deleted", deleted_, "Include soft-deleted versions");

    config_ = schema_->add_subcommand("config", "Show or set the compatibility mode (global, or of SUBJECT)");
    config_->add_option("subject", subject_, "Subject (omit for the global default)");
    config_->add_option("--set", set_mode_,
                        "NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE");

    delete_ = schema_->add_subcommand(
        "delete", "Soft-delete a subject or one --version; with --permanent remove a soft-deleted one for good");
    delete_->add_option("subject", subject_, "Subject")->required();
    delete_->add_option("--version", version_, "Version number or latest (default: the whole subject)");
    delete_->add_flag("--permanent", permanent_, "Hard delete (only after a soft delete, as in Confluent)");
    delete_->add_flag("--force", force_,
                      "Delete even if topics are bound to the subject (their publishes are then refused), or if the "
                      "broker (--broker) cannot be asked");
  }

  bool parsed() const override { return schema_->parsed(); }
  const std::string& registry_url() const override { return registry_; }

  int run(const client::ClientOptions& broker) override {
    broker_ = broker;
    client::RegistryClientOptions options = registry_client_options(registry_);
    auto rc = RegistryClient::create(options);
    if (!rc) return fail("--registry", rc.error(), registry_);
    RegistryClient& client = **rc;
    if (register_->parsed()) return run_register(client);
    if (check_->parsed()) return run_check(client);
    if (get_->parsed()) return run_get(client);
    if (list_->parsed()) {
      auto subjects = client.list_subjects(deleted_);
      if (!subjects) return fail("schema list", subjects.error(), registry_);
      std::cout << json(*subjects).dump() << "\n";
      return 0;
    }
    if (versions_->parsed()) {
      auto versions = client.list_versions(subject_, deleted_);
      if (!versions) return fail(std::string("schema versions ") + subject_, versions.error(), registry_);
      std::cout << json(*versions).dump() << "\n";
      return 0;
    }
    if (referencedby_->parsed()) return run_referencedby(client);
    if (config_->parsed()) return run_config(client);
    if (delete_->parsed()) return run_delete(client);
    return 2;
  }

 private:
  Result<std::vector<client::SchemaReference>> references() const {
    std::vector<client::SchemaReference> out;
    for (const auto& text : references_) {
      CAUSEWAY_ASSIGN_OR_RETURN(client::SchemaReference r, parse_reference(text));
      out.push_back(std::move(r));
    }
    return out;
  }

  int run_register(RegistryClient& client) {
    auto refs = references();
    if (!refs) return usage_error("schema register", refs.error());
    auto text = read_file(file_);
    if (!text) return fail("schema register", text.error(), registry_);
    auto r = client.register_schema(subject_, *text, root_type_, *refs);
    if (!r) return fail(std::string("schema register ") + subject_, r.error(), registry_);
    std::cout << json{{"id", r->id}, {"version", r->version}}.dump() << "\n";
    return 0;
  }

  int run_check(RegistryClient& client) {
    auto refs = references();
    if (!refs) return usage_error("schema check", refs.error());
    auto text = read_file(file_);
    if (!text) return fail("schema check", text.error(), registry_);
    int version = client::kLatestVersion;
    if (!version_.empty()) {
      auto v = parse_version(version_);
      if (!v) return fail("schema check", v.error(), registry_);
      version = *v;
    }
    auto r = client.check_compatibility(subject_, *text, root_type_, version, *refs);
    if (!r && registry_error_code(r.error()) == 40401 && version == client::kLatestVersion) {
      std::cout << "compatible: subject " << subject_ << " has no versions yet, so this schema would be version 1\n";
      return 0;
    }
    if (!r) return fail(std::string("schema check ") + subject_, r.error(), registry_);
    const std::string against = version_.empty() ? mode_description(client) : std::string("version ") + version_;
    if (r->is_compatible) {
      std::cout << "compatible with " << subject_ << " (" << against << ")\n";
      return 0;
    }
    std::cout << "incompatible with " << subject_ << " (" << against << "), " << r->messages.size()
              << " violation(s):\n";
    for (const auto& m : r->messages) std::cout << "  " << m << "\n";
    return 1;
  }

  int run_get(RegistryClient& client) {
    if (id_ > 0) {
      auto s = client.get_schema(id_);
      if (!s) return fail(std::string("schema get --id ") + std::to_string(id_), s.error(), registry_);
      if (print_fbs_) {
        std::cout << s->schema;
      } else {
        std::cout << schema_fields(*s).dump() << "\n";
      }
      return 0;
    }
    if (subject_.empty()) {
      std::cerr << "causeway: schema get: give a SUBJECT or --id N (see causeway schema get --help)\n";
      return 2;
    }
    auto version = parse_version(version_.empty() ? std::string("latest") : version_);
    if (!version) return fail("schema get", version.error(), registry_);
    auto v = client.get_version(subject_, *version, deleted_);
    if (!v) return fail(std::string("schema get ") + subject_, v.error(), registry_);
    if (print_fbs_) {
      std::cout << v->schema.schema;
    } else {
      std::cout << version_json(*v).dump() << "\n";
    }
    return 0;
  }

  int run_referencedby(RegistryClient& client) {
    auto version = parse_version(version_.empty() ? std::string("latest") : version_);
    if (!version) return fail("schema referencedby", version.error(), registry_);
    auto ids = client.referenced_by(subject_, *version);
    if (!ids) return fail(std::string("schema referencedby ") + subject_, ids.error(), registry_);
    std::cout << json(*ids).dump() << "\n";
    return 0;
  }

  // "the subject's mode BACKWARD", or "the global mode BACKWARD (the subject has none of
  // its own)": which rules a check applies, and where they come from.
  std::string mode_description(RegistryClient& client) {
    auto own = client.get_mode(subject_, false);
    if (own) return "its compatibility mode " + *own;
    if (registry_error_code(own.error()) != 40408) return "its compatibility mode";
    auto global = client.get_mode("", false);
    if (!global) return "its compatibility mode";
    return "the global compatibility mode " + *global + ", which it inherits";
  }

  int run_config(RegistryClient& client) {
    if (!set_mode_.empty()) {
      auto m = client.set_mode(subject_, set_mode_);
      if (!m) return fail("schema config --set", m.error(), registry_);
      std::cout << json{{"compatibility", *m}}.dump() << "\n";
      return 0;
    }
    if (subject_.empty()) {
      auto m = client.get_mode("", false);
      if (!m) return fail("schema config", m.error(), registry_);
      std::cout << json{{"compatibilityLevel", *m}}.dump() << "\n";
      return 0;
    }
    // A subject without a mode of its own follows the global one, and changes with it: say so.
    auto own = client.get_mode(subject_, false);
    if (own) {
      std::cout << json{{"compatibilityLevel", *own}}.dump() << "\n";
      return 0;
    }
    if (registry_error_code(own.error()) != 40408) return fail("schema config " + subject_, own.error(), registry_);
    auto global = client.get_mode("", false);
    if (!global) return fail("schema config", global.error(), registry_);
    std::cout << json{{"compatibilityLevel", *global}, {"inheritedFrom", "global"}}.dump() << "\n";
    std::cerr << "causeway: note: subject " << subject_ << " has no compatibility mode of its own; it uses the global "
              << "one (" << *global << "), and follows it when that changes (set its own with `causeway schema config "
              << subject_ << " --set MODE`)\n";
    return 0;
  }

  // A delete that leaves the subject without a live version refuses every publish to the
  // topics bound to it; like Confluent refusing to delete a referenced schema, refuse it
  // while such a topic exists, naming it, unless --force. Returns 0 to go on.
  int check_no_bound_topic(RegistryClient& client, const std::string& what) {
    if (force_) return 0;
    if (!version_.empty()) {
      // Deleting one version matters only when it is the last live one.
      auto live = client.list_versions(subject_, false);
      if (!live || live->size() != 1) return 0;
    }
    auto admin = client::Admin::connect(broker_);
    if (!admin) {
      std::cerr << "causeway: " << what << ": cannot ask the broker at " << broker_.broker
                << " which topics are bound to subject " << subject_ << ": " << admin.error().message()
                << " — pass --broker HOST:PORT, or --force to delete without checking\n";
      return 1;
    }
    auto topics = (*admin)->list_topics();
    if (!topics) {
      std::cerr << "causeway: " << what << ": cannot list the broker's topics: " << topics.error().message()
                << " — pass --force to delete without checking\n";
      return 1;
    }
    std::string bound;
    for (const auto& t : *topics) {
      if (t.spec.schema_subject == subject_) bound += (bound.empty() ? "" : ", ") + t.spec.name;
    }
    if (bound.empty()) return 0;
    std::cerr << "causeway: " << what << ": refused: topic(s) " << bound << " are bound to subject " << subject_
              << ", and every publish to them would be refused once it has no live version; delete or re-create "
              << "those topics first, or pass --force to delete anyway\n";
    return 1;
  }

  int run_delete(RegistryClient& client) {
    if (int refused = check_no_bound_topic(client, "schema delete " + subject_); refused != 0) return refused;
    if (version_.empty()) {
      auto versions = client.delete_subject(subject_, permanent_);
      if (!versions) return fail(std::string("schema delete ") + subject_, versions.error(), registry_);
      std::cout << json(*versions).dump() << "\n";
      return 0;
    }
    auto version = parse_version(version_);
    if (!version) return fail("schema delete", version.error(), registry_);
    auto v = client.delete_version(subject_, *version, permanent_);
    if (!v) return fail(std::string("schema delete ") + subject_, v.error(), registry_);
    std::cout << *v << "\n";
    return 0;
  }

  std::string registry_ = "http://127.0.0.1:8081";
  CLI::App* schema_ = nullptr;
  CLI::App* register_ = nullptr;
  CLI::App* check_ = nullptr;
  CLI::App* get_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* versions_ = nullptr;
  CLI::App* config_ = nullptr;
  CLI::App* referencedby_ = nullptr;
  CLI::App* delete_ = nullptr;
  std::string subject_;
  std::string file_;
  std::string root_type_;
  std::string version_;
  std::string set_mode_;
  std::vector<std::string> references_;  // NAME=SUBJECT:VERSION, as given
  int id_ = 0;
  bool print_fbs_ = false;
  bool deleted_ = false;
  bool permanent_ = false;
  bool force_ = false;
  client::ClientOptions broker_;
};

}  // namespace

std::unique_ptr<SchemaCommands> add_schema_commands(CLI::App& app) {
  return std::make_unique<SchemaCommandsImpl>(app);
}

}  // namespace causeway::cli
