// File: client/src/io_thread.cc
//
// See io_thread.h.
#include "client/src/io_thread.h"

namespace causeway::client::internal {

IoThread::IoThread() : guard_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (...) {
        // A handler threw. Our handlers catch their own errors; this is a last line of
        // defence so that one bad completion cannot end the network thread.
      }
    }
  });
  // Set before the constructor returns, so before anything is posted that could read it.
  id_ = thread_.get_id();
}

IoThread::~IoThread() { stop_and_join(); }

void IoThread::stop_and_join() {
  if (!thread_.joinable()) return;
  guard_.reset();
  io_.stop();
  thread_.join();
}

}  // namespace causeway::client::internal
