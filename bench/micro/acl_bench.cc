// The cost of an ACL check per request (docs/security.md, "Cost"): the sequence the broker
// runs before a request's handler on a broker that enforces ACLs (the token still valid,
// ACLs on, not a superuser, the operation allowed on the topic), with the bench principal
// allowed by prefix and 20 (or 1,000) other principals' ACLs in the table. What a request
// costs otherwise is the load generator's business (bench/security/run_security_bench.sh):
// this isolates the check from that run's noise.
#include <benchmark/benchmark.h>

#include "auth/authorizer.h"
#include "meta/meta_store.h"

#include "bench_util.h"

namespace causeway::bench {
namespace {

struct Fixture {
  std::unique_ptr<meta::MetaStore> store;
  std::unique_ptr<auth::Authorizer> authorizer;
  auth::Principal principal;

  explicit Fixture(int others) {
    auto opened = meta::MetaStore::open(fresh_dir("acl"));
    if (!opened.ok()) std::abort();
    store = std::move(*opened);
    authorizer = std::make_unique<auth::Authorizer>(*store, std::vector<std::string>{"root"});
    if (!authorizer->load().ok()) std::abort();
    auto token = authorizer->create_token("causeway-bench", "");
    if (!token.ok()) std::abort();
    auto p = authorizer->authenticate("token", token->token, "");
    if (!p.ok()) std::abort();
    principal = *p;
    for (auto op : {meta::AclOperation::kPublish, meta::AclOperation::kSubscribe, meta::AclOperation::kAdmin}) {
      if (!authorizer->add_acl(meta::AclRecord{"causeway-bench", op, true, "bench.", 0}).ok()) std::abort();
    }
    for (int i = 0; i < others; ++i) {
      const meta::AclRecord other{"svc" + std::to_string(i), meta::AclOperation::kPublish, true,
                                  "svc" + std::to_string(i) + ".", 0};
      if (!authorizer->add_acl(other).ok()) std::abort();
    }
  }
};

// What authorize_request does for a PublishRequest.
void BM_PublishCheck(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  const auth::Authorizer& az = *f.authorizer;
  for (auto _ : state) {
    bool ok = az.still_valid(f.principal) && az.enforcing() && !az.is_superuser(f.principal) &&
              az.check(f.principal, meta::AclOperation::kPublish, "bench.orders").ok();
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishCheck)->Arg(20)->Arg(1000);

// The same, refused (the error message is built).
void BM_PublishRefused(benchmark::State& state) {
  Fixture f(20);
  const auth::Authorizer& az = *f.authorizer;
  for (auto _ : state) {
    Status s = az.check(f.principal, meta::AclOperation::kPublish, "payments");
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishRefused);

// Checks from both cores at once (the snapshot is read under a mutex).
void BM_PublishCheckContended(benchmark::State& state) {
  static Fixture* f = nullptr;
  if (state.thread_index() == 0) f = new Fixture(20);
  for (auto _ : state) {
    benchmark::DoNotOptimize(f->authorizer->check(f->principal, meta::AclOperation::kPublish, "bench.orders").ok());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) at_exit_cleanup([fx = f] { delete fx; });
}
BENCHMARK(BM_PublishCheckContended)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace causeway::bench

int main(int argc, char** argv) { return causeway::bench::run_main(argc, argv); }
