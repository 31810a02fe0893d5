// Turning ZeroMQ errors into Status, and the few ZeroMQ calls that must
// survive a signal (internal to core/transport).
//
// A signal with a handler installed without SA_RESTART (SIGHUP for reload,
// SIGTERM for stop) makes a blocking zmq_poll or zmq_recv fail with EINTR.
// That is never an error here: a poll or a first frame interrupted is
// "nothing yet", so the caller's loop returns and looks at its flags; the
// rest of a message that has begun is read again until it is there.
#ifndef KETENPOORT_CORE_TRANSPORT_ZMQ_STATUS_H_
#define KETENPOORT_CORE_TRANSPORT_ZMQ_STATUS_H_

#include <pthread.h>
#include <signal.h>

#include <string>
#include <zmq.hpp>
#include <thread>
#include <utility>

#include "core/base/status.h"

namespace kp::transport_internal {

Status FromZmqError(const zmq::error_t& e, const std::string& what);

// Runs `fn`, turning any zmq::error_t into a Status.
template <typename Fn>
Status Guard(const std::string& what, Fn&& fn) {
  try {
    fn();
    return OkStatus();
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, what);
  }
}

// zmq_poll; returns false when a signal interrupted it (EINTR), true
// otherwise (look at revents). Throws zmq::error_t on any other error.
bool PollUnlessInterrupted(zmq::pollitem_t* items, int count, long timeout_ms);

// Takes the first frame of the next message without waiting. false when
// nothing is ready or a signal interrupted the call. Throws on other errors.
bool TryRecvFirst(zmq::socket_t& socket, zmq::message_t& frame);

// Takes the next frame of a message whose first frame was taken. ZMTP
// delivers a message whole, so the frame is always there; an interrupted
// call is simply made again (giving up would leave the socket mid-message).
void RecvRest(zmq::socket_t& socket, zmq::message_t& frame);

// Sends one frame without waiting, made again when a signal interrupts it.
// false when the pipe is full (EAGAIN). Throws on other errors.
bool SendUninterrupted(zmq::socket_t& socket, zmq::const_buffer data, zmq::send_flags flags);

// Starts a thread with every signal blocked. The transport's own threads (ZAP
// handler, receive guard) must never take a process signal: it would go
// unnoticed there, and the application thread that watches the stop and
// reload flags would sleep on in its poll.
template <typename Fn>
std::thread StartThreadWithSignalsBlocked(Fn&& fn) {
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread thread(std::forward<Fn>(fn));
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return thread;
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
}

}  // namespace kp::transport_internal

#endif  // KETENPOORT_CORE_TRANSPORT_ZMQ_STATUS_H_
