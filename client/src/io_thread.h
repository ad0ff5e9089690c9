// File: client/src/io_thread.h
//
// The one network thread inside each Publisher/Admin: an asio::io_context run by one
// std::thread, kept alive by a work guard until stop_and_join(). A client's network work
// happens on this thread, so its network state needs no locks (a context run by one thread
// is an implicit strand; STYLE.md §4). Two exceptions: a Publisher's and a Subscriber's
// state are guarded by a mutex, so that publish() on the caller's thread can send an event,
// and a Subscriber's handler thread its acks, without waking this one
// (client/src/publisher.cc, client/src/subscriber.cc).
#pragma once

#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace causeway::client::internal {

class IoThread {
 public:
  IoThread();
  ~IoThread();  // stop_and_join()
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  asio::io_context& context() { return io_; }
  // True on the network thread itself, i.e. inside a completion or a user callback: a call
  // that waits for this thread must refuse there instead of deadlocking.
  bool in_thread() const { return std::this_thread::get_id() == id_; }

  // Stops the context and joins. The owner first runs its own shutdown on the thread
  // (closing sockets, failing what is pending); completions still queued after that are
  // dropped, and suspended coroutines are destroyed with the context. Idempotent. Must not
  // be called from the thread itself.
  void stop_and_join();

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
  std::thread::id id_;  // thread_'s id, kept after join (reading thread_ while it is joined would race)
};

}  // namespace causeway::client::internal
