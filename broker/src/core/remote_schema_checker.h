// File: core/remote_schema_checker.h
//
// The SchemaChecker for a broker started with --registry-url: schema-bound topics are
// checked against a remote causeway-registry (or any Confluent-compatible registry serving
// FLATBUFFERS schemas) over HTTP, behind a cache, so that a publish on a network thread
// never waits for the network (docs/broker.md, "Remote registry").
//
// What it caches, per schema id: the subjects that have a live version using it
// (GET /schemas/ids/{id}/versions) and the parsed schema (GET /schemas/ids/{id}, with the
// subject versions its references reach, GET /subjects/{s}/versions/{v}, resolved into it
// by registry::parse_schema; the HTTP fetcher caches those versions too), for
// `cache_for` (5 s, like the embedded checker); an id the registry does not know, or a
// failed lookup, for `negative_cache_for` (1 s). try_check() answers only from the cache.
// A miss goes to check_async(), which queues one fetch per id (later callers for the same
// id join it) on `fetch_threads` threads of its own and answers every waiter, in the order
// they asked, when it completes; the entry enters the cache right after the waiters present
// at completion are answered, before those that joined meanwhile, who may thus be
// overtaken by cache hits. At most max_pending_lookups ids wait on lookups; a miss past
// that is answered at once with kUnavailable. An entry about to expire is refreshed in the
// background while it still answers. A failed refresh keeps the entry until it expires.
// Bounded: the cache (max_cached_ids), each lookup (HttpFetcherOptions::lookup_deadline,
// max_body_bytes); docs/registry.md lists the limits.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "causeway/common/status.h"
#include "causeway/registry/schema.h"
#include "core/schema_checker.h"

namespace causeway::core {

// What a registry says about one schema id.
struct RemoteSchema {
  using VersionKey = std::pair<std::string, int>;  // (subject, version)

  std::set<std::string, std::less<>> subjects;  // subjects with a live version using the id
  std::string schema_type;                      // "FLATBUFFERS" for ours
  std::string schema;                           // the .fbs text
  std::string root_type;                        // empty: the text's own, or none
  std::vector<registry::SchemaReference> references;
  // Every subject version the references reach (theirs too), as the registry answered...
  std::map<VersionKey, registry::ReferencedSchema> referenced;
  // ...and those it said do not exist, or that were not asked for, with why.
  std::map<VersionKey, std::string> missing;
};

// One lookup of a schema id; blocking, bounded by its own timeouts.
class SchemaFetcher {
 public:
  virtual ~SchemaFetcher() = default;
  // kNotFound if the registry says the id does not exist; any other error means the
  // registry could not be asked or gave an answer we do not understand.
  virtual Result<RemoteSchema> fetch(uint32_t schema_id) = 0;
  // Where it asks, for error messages ("http://host:8081").
  virtual const std::string& url() const = 0;
};

// A lookup for registry::parse_schema over what a fetch brought back (no network).
registry::ReferenceLookup lookup_in(const RemoteSchema& fetched);

struct HttpFetcherOptions {
  std::string url;  // http://HOST:PORT
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds io_timeout{2000};  // each read and write
  // One lookup (both GETs) as a whole: past it, a body still arriving is abandoned and the
  // lookup fails, however steadily a slow registry trickles bytes.
  std::chrono::milliseconds lookup_deadline{5000};
  size_t max_body_bytes = size_t{1} << 20;  // a larger answer fails the lookup
  // Referenced subject versions, fetched within the same lookup deadline (at most
  // registry::kMaxReferencedSchemas per lookup), are cached for this long, at most
  // max_cached_references of them (expired ones dropped first, then the oldest), and shared
  // by every id that references them. A registry refuses to delete a referenced version, so
  // a version's text does not change under a reference.
  std::chrono::milliseconds reference_cache_for{60000};
  size_t max_cached_references = 1024;
};

// The fetcher over cpp-httplib. kInvalidArgument if `url` is not http://HOST[:PORT].
Result<std::unique_ptr<SchemaFetcher>> make_http_schema_fetcher(HttpFetcherOptions options);

struct RemoteSchemaCheckerOptions {
  std::chrono::milliseconds cache_for{5000};
  std::chrono::milliseconds negative_cache_for{1000};
  size_t fetch_threads = 2;
  // Distinct ids with a lookup queued or running; a miss beyond it is answered at once
  // with kUnavailable ("schema registry lookups backlog full; retry").
  size_t max_pending_lookups = 1024;
  // Ids cached; past it, failed and expired entries are dropped first, then the oldest.
  size_t max_cached_ids = 4096;
};

class RemoteSchemaChecker final : public SchemaChecker {
 public:
  RemoteSchemaChecker(std::unique_ptr<SchemaFetcher> fetcher, RemoteSchemaCheckerOptions options = {});
  ~RemoteSchemaChecker() override;  // stop()
  RemoteSchemaChecker(const RemoteSchemaChecker&) = delete;
  RemoteSchemaChecker& operator=(const RemoteSchemaChecker&) = delete;

  std::optional<SchemaCheck> try_check(std::string_view subject, uint32_t schema_id, std::string_view payload,
                                       bool verify_payload) override;
  void check_async(std::string_view subject, uint32_t schema_id, std::string_view payload, bool verify_payload,
                   CheckDone done) override;
  // From the cache, or else a lookup on the calling thread (blocking, bounded by the
  // fetcher's timeouts) whose answer enters the cache.
  Result<std::vector<uint8_t>> reflection_schema(uint32_t schema_id) override;
  // Answers queued lookups with kUnavailable, lets running fetches finish (bounded by the
  // fetcher's timeouts) and answer their waiters, and joins the fetch threads. Idempotent.
  void stop() override;

  // Fetches started so far (tests, logs).
  uint64_t fetches_started() const;
  // Blocks until no fetch is queued or running and every waiter has been answered (tests:
  // a request that arrives while a completed fetch still answers its waiters joins them).
  void wait_idle() const;

 private:
  struct Entry {
    Status status;  // OK; kNotFound: no such id; else why the registry could not answer
    std::set<std::string, std::less<>> subjects;
    std::shared_ptr<const registry::ParsedSchema> schema;  // null if it is not a usable .fbs
    std::string schema_error;                              // why schema is null
    std::chrono::steady_clock::time_point until;           // answers until then
    std::chrono::steady_clock::time_point refresh_at;      // refetched in the background after
  };
  struct Waiter {
    std::string_view subject;
    std::string_view payload;
    bool verify_payload = false;
    CheckDone done;
  };

  // The verdict for an id the caller has ruled out as never valid (0, too large), if so.
  static std::optional<SchemaCheck> check_id(std::string_view subject, uint32_t schema_id);
  SchemaCheck answer(const Entry& entry, std::string_view subject, uint32_t schema_id, std::string_view payload,
                     bool verify_payload) const;
  // A cached entry that still answers, or null; starts a background refresh if it is due.
  std::shared_ptr<const Entry> cached_locked(uint32_t schema_id, std::chrono::steady_clock::time_point now);
  void enqueue_locked(uint32_t schema_id);
  // Caches `entry` for `schema_id`, evicting to stay within max_cached_ids.
  void insert_locked(uint32_t schema_id, std::shared_ptr<const Entry> entry, std::chrono::steady_clock::time_point now);
  void fetch_loop();
  std::shared_ptr<const Entry> fetch(uint32_t schema_id);

  const std::unique_ptr<SchemaFetcher> fetcher_;
  const RemoteSchemaCheckerOptions options_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable work_;
  mutable std::condition_variable idle_;  // in_flight_ became empty
  std::map<uint32_t, std::shared_ptr<const Entry>> cache_;
  // Ids with a fetch queued or running, and who waits for it (in the order they asked).
  std::map<uint32_t, std::vector<Waiter>> in_flight_;
  std::deque<uint32_t> queue_;
  size_t answering_ = 0;  // fetch threads answering waiters outside the lock
  bool stopping_ = false;
  uint64_t fetches_started_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace causeway::core
