// The storage threads over an asio::thread_pool. See storage_pool.h.
#include "server/storage_pool.h"

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

namespace causeway::server {

StoragePool::StoragePool(uint32_t threads) : pool_(std::make_unique<asio::thread_pool>(threads)) {}

StoragePool::~StoragePool() = default;  // asio::thread_pool's destructor stops and joins

void StoragePool::post(std::function<void()> fn) { asio::post(*pool_, std::move(fn)); }

std::function<void(std::function<void()>)> StoragePool::executor() {
  return [this](std::function<void()> fn) { post(std::move(fn)); };
}

void StoragePool::join() { pool_->join(); }

}  // namespace causeway::server
