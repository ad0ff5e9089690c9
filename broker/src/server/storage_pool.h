// File: server/storage_pool.h
//
// The broker's storage threads: a fixed pool where everything that may block on disk runs
// (topic changes, fetches, LMDB write commits, the subscription coordinator's delivery
// work), so that no network thread ever waits for the disk. The daemon builds one and hands
// it to the subscription coordinator (as its Executor) and to the server, which joins it
// when it stops.
//
// Thread-safety: post() and executor() may be called from any thread. join() is called
// once, by the server's stop(); work posted after it is destroyed unrun with the pool.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace asio {
class thread_pool;
}  // namespace asio

namespace causeway::server {

class StoragePool {
 public:
  explicit StoragePool(uint32_t threads);
  // Stops the threads and joins them; work still queued is destroyed unrun.
  ~StoragePool();
  StoragePool(const StoragePool&) = delete;
  StoragePool& operator=(const StoragePool&) = delete;

  void post(std::function<void()> fn);
  // post() as a callable, for subscribe::Coordinator's Executor. It refers to this pool,
  // which must outlive whoever holds it.
  std::function<void(std::function<void()>)> executor();
  // Waits for the queued work to finish and the threads to exit.
  void join();

  // For the server, which posts to it with Asio directly.
  asio::thread_pool& asio_pool() noexcept { return *pool_; }

 private:
  std::unique_ptr<asio::thread_pool> pool_;
};

}  // namespace causeway::server
