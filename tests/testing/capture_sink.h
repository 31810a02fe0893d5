// A spdlog sink that keeps every line, for tests that check what was (and
// was never) logged. Safe to read while other threads log.
#ifndef KETENPOORT_TESTS_TESTING_CAPTURE_SINK_H_
#define KETENPOORT_TESTS_TESTING_CAPTURE_SINK_H_

#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>

namespace kp::testing {

class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string Text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_CAPTURE_SINK_H_
