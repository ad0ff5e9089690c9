// `causeway auth ...` and `causeway acl ...`; see client/cli/auth_commands.h.
#include "client/cli/auth_commands.h"

#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "causeway/client/admin.h"
#include "client/cli/cli_errors.h"
#include "client/cli/event_json.h"

namespace causeway::cli {
namespace {

struct AuthArgs {
  std::string principal;
  std::string description;
  std::string token_id;
  std::string operation;
  std::string topic;
  std::string topic_prefix;
  bool any_topic = false;
  std::string subject;
  std::string subject_prefix;
  bool any_subject = false;
  std::string output = "text";
};

nlohmann::json token_json(const client::TokenInfo& t) {
  return {{"id", t.id}, {"principal", t.principal}, {"description", t.description}, {"created", format_time_ms(t.created_ms)}};
}

bool is_registry(const client::AclEntry& a) {
  return a.operation == client::AclOperation::kRegistryRead || a.operation == client::AclOperation::kRegistryWrite;
}

nlohmann::json acl_json(const client::AclEntry& a) {
  const std::string what = is_registry(a) ? "subject" : "topic";
  return {{"principal", a.principal},
          {"operation", client::acl_operation_name(a.operation)},
          {a.prefix ? what + "_prefix" : what, a.topic}};
}

std::string acl_text(const client::AclEntry& a) {
  const std::string what = is_registry(a) ? "subject" : "topic";
  return a.principal + "  " + client::acl_operation_name(a.operation) + "  " +
         (a.prefix ? (a.topic.empty() ? "every " + what : what + "s " + a.topic + "*") : what + " " + a.topic);
}

client::AclOperation operation_named(const std::string& name) {
  if (name == "subscribe") return client::AclOperation::kSubscribe;
  if (name == "admin") return client::AclOperation::kAdmin;
  if (name == "registry-read") return client::AclOperation::kRegistryRead;
  if (name == "registry-write") return client::AclOperation::kRegistryWrite;
  return client::AclOperation::kPublish;
}

}  // namespace

std::function<std::optional<int>()> add_auth_commands(CLI::App& app, const client::ClientOptions& options) {
  auto args = std::make_shared<AuthArgs>();
  auto* auth = app.add_subcommand("auth", "Bearer tokens and who the broker takes you for (docs/security.md)");
  auth->require_subcommand(1);
  auto* token = auth->add_subcommand("token", "Create, list and revoke bearer tokens (superusers)");
  token->require_subcommand(1);
  auto* create = token->add_subcommand(
      "create", "Create a token for PRINCIPAL and print it once (the broker keeps only its hash); clients pass it "
                "with --token or CAUSEWAY_TOKEN");
  create->add_option("principal", args->principal, "Who the token authenticates as: 1-128 of A-Z a-z 0-9 . _ - @")
      ->required();
  create->add_option("--description", args->description, "What the token is for (shown by list)");
  create->add_option("--output", args->output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* list = token->add_subcommand("list", "List tokens (ids and principals; never the tokens)");
  list->add_option("--output", args->output, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* revoke = token->add_subcommand("revoke", "Revoke a token: connections using it are refused at their next request");
  revoke->add_option("id", args->token_id, "The token's id (cwt_...), as list shows it")->required();
  auto* whoami = auth->add_subcommand("whoami", "Show the principal the broker takes this connection for");
  whoami->add_option("--output", args->output, "text or json")->check(CLI::IsMember({"text", "json"}));

  auto* acl = app.add_subcommand(
      "acl", "Allow principals to publish, subscribe or administer topics, and to read or write registry subjects "
             "(docs/security.md)");
  acl->require_subcommand(1);
  const auto entry_flags = [&](CLI::App* cmd) {
    cmd->add_option("--principal", args->principal,
                    "A token's principal, or a TLS client certificate's subject (e.g. CN=orders)")
        ->required();
    cmd->add_option("--operation", args->operation,
                    "On topics: publish (publish to), subscribe (fetch, subscribe, ack) or admin (create, delete, "
                    "describe; subscriptions and replays). On registry subjects (REST API): registry-read (get, "
                    "look up, check compatibility) or registry-write (register, delete, set compatibility; "
                    "implies registry-read)")
        ->required()
        ->check(CLI::IsMember({"publish", "subscribe", "admin", "registry-read", "registry-write"}));
    auto* t = cmd->add_option("--topic", args->topic, "One topic, by name");
    auto* p = cmd->add_option("--topic-prefix", args->topic_prefix, "Every topic whose name starts with this");
    auto* a = cmd->add_flag("--any-topic", args->any_topic, "Every topic");
    auto* s = cmd->add_option("--subject", args->subject, "One registry subject, by name (registry-read/-write)");
    auto* sp = cmd->add_option("--subject-prefix", args->subject_prefix,
                               "Every registry subject whose name starts with this (registry-read/-write)");
    auto* as = cmd->add_flag("--any-subject", args->any_subject,
                             "Every registry subject, and registry-wide settings (registry-read/-write)");
    for (CLI::Option* x : {t, p, a}) {
      for (CLI::Option* y : {p, a, s, sp, as}) {
        if (x != y) x->excludes(y);
      }
    }
    s->excludes(sp)->excludes(as);
    sp->excludes(as);
  };
  auto* add = acl->add_subcommand(
      "add", "Allow an operation (the first ACL turns on default deny: what no ACL allows is refused)");
  entry_flags(add);
  auto* remove = acl->add_subcommand("remove", "Remove an ACL entry (as list shows it)");
  entry_flags(remove);
  auto* acl_list = acl->add_subcommand("list", "List ACL entries");
  acl_list->add_option("--principal", args->principal, "Only this principal's");
  acl_list->add_option("--output", args->output, "text or json")->check(CLI::IsMember({"text", "json"}));

  return [=, &options]() -> std::optional<int> {
    if (!auth->parsed() && !acl->parsed()) return std::nullopt;
    auto admin = client::Admin::connect(options);
    const std::string what = auth->parsed() ? "auth" : "acl";
    if (!admin) return fail(what, admin.status());
    const bool json = args->output == "json";
    if (create->parsed()) {
      auto t = (*admin)->create_token(args->principal, args->description);
      if (!t) return fail("auth token create", t.status());
      if (json) {
        auto j = token_json(t->info);
        j["token"] = t->token;
        std::cout << j.dump() << "\n";
      } else {
        std::cout << t->token << "\n";
        std::cerr << "token " << t->info.id << " for principal " << t->info.principal
                  << ": shown once, keep it secret (clients: --token TOKEN or CAUSEWAY_TOKEN)\n";
      }
      return 0;
    }
    if (list->parsed()) {
      auto all = (*admin)->list_tokens();
      if (!all) return fail("auth token list", all.status());
      nlohmann::json j = nlohmann::json::array();
      for (const auto& t : *all) {
        if (json) {
          j.push_back(token_json(t));
        } else {
          std::cout << t.id << "  " << t.principal << "  created " << format_time_ms(t.created_ms)
                    << (t.description.empty() ? "" : "  " + t.description) << "\n";
        }
      }
      if (json) std::cout << j.dump() << "\n";
      return 0;
    }
    if (revoke->parsed()) {
      Status s = (*admin)->revoke_token(args->token_id);
      if (!s.ok()) return fail("auth token revoke", s);
      std::cout << "revoked " << args->token_id << "\n";
      return 0;
    }
    if (whoami->parsed()) {
      auto me = (*admin)->whoami();
      if (!me) return fail("auth whoami", me.status());
      if (json) {
        std::cout << nlohmann::json{{"principal", me->principal}, {"superuser", me->superuser},
                                    {"acls_enforced", me->acls_enforced}}
                         .dump()
                  << "\n";
      } else {
        std::cout << me->principal << (me->superuser ? "  (superuser)" : "")
                  << (me->acls_enforced ? "  ACLs enforced" : "  no ACLs: everything is allowed") << "\n";
      }
      return 0;
    }
    if (add->parsed() || remove->parsed()) {
      const bool adding = add->parsed();
      client::AclEntry e;
      e.principal = args->principal;
      e.operation = operation_named(args->operation);
      const char* cmd = adding ? "add" : "remove";
      if (is_registry(e)) {
        if (!args->topic.empty() || !args->topic_prefix.empty() || args->any_topic) {
          std::cerr << "causeway: acl " << cmd << ": " << args->operation
                    << " is about registry subjects: use --subject NAME, --subject-prefix PREFIX or --any-subject\n";
          return 2;
        }
        if (!args->subject.empty()) {
          e.topic = args->subject;
        } else if (!args->subject_prefix.empty() || args->any_subject) {
          e.prefix = true;
          e.topic = args->subject_prefix;
        } else {
          std::cerr << "causeway: acl " << cmd
                    << ": say which subjects: --subject NAME, --subject-prefix PREFIX or --any-subject\n";
          return 2;
        }
      } else {
        if (!args->subject.empty() || !args->subject_prefix.empty() || args->any_subject) {
          std::cerr << "causeway: acl " << cmd << ": " << args->operation
                    << " is about topics: use --topic NAME, --topic-prefix PREFIX or --any-topic (registry subjects "
                       "take --operation registry-read or registry-write)\n";
          return 2;
        }
        if (!args->topic.empty()) {
          e.topic = args->topic;
        } else if (!args->topic_prefix.empty() || args->any_topic) {
          e.prefix = true;
          e.topic = args->topic_prefix;
        } else {
          std::cerr << "causeway: acl " << cmd << ": say which topics: --topic NAME, --topic-prefix PREFIX or --any-topic\n";
          return 2;
        }
      }
      auto changed = adding ? (*admin)->add_acl(e) : (*admin)->remove_acl(e);
      if (!changed) return fail(adding ? "acl add" : "acl remove", changed.status());
      std::cout << (adding ? (*changed ? "added: " : "already there: ") : (*changed ? "removed: " : "no such entry: "))
                << acl_text(e) << "\n";
      return adding || *changed ? 0 : 1;
    }
    auto all = (*admin)->list_acls(args->principal);
    if (!all) return fail("acl list", all.status());
    nlohmann::json j = nlohmann::json::array();
    for (const auto& a : *all) {
      if (json) {
        j.push_back(acl_json(a));
      } else {
        std::cout << acl_text(a) << "\n";
      }
    }
    if (json) std::cout << j.dump() << "\n";
    return 0;
  };
}

}  // namespace causeway::cli
