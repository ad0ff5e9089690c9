// File: causeway/client/admin.h
//
// Admin: topic management and reading partitions (fetch) for tools and replay. The
// exchanges are the Topics and Fetch sections of docs/wire-protocol.md.
//
// Threads: every method is thread-safe; calls from several threads are serialized over the
// Admin's one connection. Each call blocks until its response arrives, bounded by
// ClientOptions::request_timeout (kDeadlineExceeded). A lost connection fails the call in
// progress with kUnavailable; the next call reconnects. Nothing in this API throws.
//
// Errors common to every call: kUnavailable (cannot connect / connection lost; retry),
// kDeadlineExceeded (no response in time), kInternal (the broker's response made no sense),
// kFailedPrecondition (the broker refused the protocol version or credentials).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "causeway/client/options.h"
#include "causeway/client/types.h"
#include "causeway/common/status.h"

namespace causeway::client {

class Admin {
 public:
  // Connects and completes the Hello handshake before returning; errors as
  // Publisher::connect.
  static Result<std::unique_ptr<Admin>> connect(ClientOptions options);

  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Creates a topic. An identical create of an existing topic returns it (idempotent);
  // kAlreadyExists if it exists with other settings (the message names the difference);
  // kInvalidArgument for a bad name or setting.
  Result<TopicInfo> create_topic(const TopicSpec& spec);
  // kNotFound if absent.
  Status delete_topic(const std::string& name);
  // All topics, sorted by name, without partition details.
  Result<std::vector<TopicInfo>> list_topics();
  // One topic with per-partition offsets. kNotFound if absent.
  Result<TopicInfo> describe_topic(const std::string& name);
  // Reads up to max_events events (and roughly max_bytes) of a partition from `offset` on.
  // Returns no events when offset >= high watermark. kOutOfRange when offset is below the
  // log start; kNotFound for an unknown topic; kInvalidArgument for a bad partition;
  // kCorruption if the returned batches fail their checksums.
  Result<FetchResult> fetch(const std::string& topic, uint32_t partition, uint64_t offset,
                            uint32_t max_events = 1000, uint32_t max_bytes = 1u << 20);

  // Subscriptions (docs/subscriptions.md). create: an identical create returns the existing
  // one; kAlreadyExists if it exists with other settings; kNotFound if the topic does not
  // exist; kInvalidArgument for a bad name or setting. The others: kNotFound if absent.
  Result<SubscriptionInfo> create_subscription(const SubscriptionSpec& spec);
  Status delete_subscription(const std::string& name);
  // Sorted by name; only those on `topic` unless it is empty.
  Result<std::vector<SubscriptionInfo>> list_subscriptions(const std::string& topic = "");
  Result<SubscriptionInfo> describe_subscription(const std::string& name);
  // Replaces the subscription's event pattern (docs/patterns.md; empty: every event). It
  // applies to the events the group has not read yet: those delivered or waiting for
  // redelivery stay. kInvalidArgument (naming the bad part of the pattern), kNotFound.
  Result<SubscriptionInfo> update_subscription_pattern(const std::string& name, const std::string& pattern);
  // The group consuming subscription `name`: members, assignments, committed and end
  // offsets and lag per partition. kNotFound if there is no such subscription.
  Result<GroupInfo> describe_group(const std::string& name);

  // Archive replays (docs/targets.md, "Archive replay"). start: kInvalidArgument (name,
  // range, a subscription without a rule target), kNotFound (subscription),
  // kAlreadyExists (replay names are never reused), kResourceExhausted (too many running).
  // cancel: kFailedPrecondition when the replay is over already. kNotFound when absent.
  Result<ReplayInfo> start_replay(const ReplaySpec& spec);
  // Sorted by name; only those of `subscription` unless it is empty.
  Result<std::vector<ReplayInfo>> list_replays(const std::string& subscription = "");
  Result<ReplayInfo> describe_replay(const std::string& name);
  Result<ReplayInfo> cancel_replay(const std::string& name);

  // Tokens and ACLs (docs/security.md, "Tokens and ACLs"). Managing them takes a superuser,
  // or any client while the broker has no ACL; otherwise kFailedPrecondition with
  // Reason::kPermissionDenied. create_token: the token is in the result only.
  Result<CreatedToken> create_token(const std::string& principal, const std::string& description = "");
  Result<std::vector<TokenInfo>> list_tokens();
  Status revoke_token(const std::string& id);
  // false: the entry was there already (add) or was not there (remove).
  Result<bool> add_acl(const AclEntry& acl);
  Result<bool> remove_acl(const AclEntry& acl);
  Result<std::vector<AclEntry>> list_acls(const std::string& principal = "");
  // Who the broker takes this connection for.
  Result<WhoAmI> whoami();

  // The highest Lamport stamp seen (the broker's clock at connect, and fetched events).
  uint64_t lamport() const;

 private:
  // Only connect() builds an Admin.
  class Impl;
  explicit Admin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace causeway::client
