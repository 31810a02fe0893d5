// HttpsConnector: a REST/JSON service of the partner, asked over HTTPS with
// mutual TLS. For each subject it POSTs, to the one configured `url`,
//   {"ref":"S1","role":"victim","bsn":"...","name":"...","date_of_birth":"..."}
// (Content-Type: application/json; the subject is never put in the URL, where
// access logs would keep it) and takes an HTTP 200 answer whose body is in the
// format of ParseRecordsJson (connector.h): one object, or an array of
// objects, [] for none. Any other status is Unavailable (the body is not read
// into any message); a body that is not such JSON is InvalidArgument.
//
// Trust is pinned: the server's certificate must chain to `ca_file` alone (no
// system CAs, no CA folder) and name the URL's host; TLS 1.2 at least. The
// agent shows `client_cert` with `client_key` (mode 0600). No redirects, no
// proxies (the environment's *_proxy variables are ignored), https only.
// Timeouts: connect_timeout_ms to connect (and finish the handshake),
// timeout_ms for the whole request (DeadlineExceeded). A body larger than
// max_output_bytes is cut off and refused (InvalidArgument).
//
// One libcurl handle, kept between requests so the TLS connection is reused;
// a mutex guards it. Thread-safe.
#ifndef KETENPOORT_AGENT_CONNECTORS_HTTPS_CONNECTOR_H_
#define KETENPOORT_AGENT_CONNECTORS_HTTPS_CONNECTOR_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/connectors/connector.h"
#include "core/base/status.h"

namespace kp::agent {

class HttpsConnector : public Connector {
 public:
  // `config.kind` must be kHttps. InvalidArgument for a URL that is not
  // https://, a missing ca_file/client_cert/client_key, a timeout or limit
  // that is not positive; Unavailable when a file cannot be read;
  // FailedPrecondition when the key file can be read by others. Nothing is
  // sent yet (`ketenpoort-agent check` asks the test_subject).
  static Result<std::unique_ptr<Connector>> Create(const ConnectorConfig& config);
  ~HttpsConnector() override;

  HttpsConnector(const HttpsConnector&) = delete;
  HttpsConnector& operator=(const HttpsConnector&) = delete;

  Result<std::vector<Record>> Query(const SubjectQuery& subject) override;
  std::string Describe() const override;
  // Watches are not available for this kind yet: Unimplemented, saying so.
  Result<std::optional<int64_t>> ChangedSince(const SubjectQuery& subject, int64_t since_ms) override;

  // How many TLS connections were opened (for tests of reuse).
  int64_t connections_made() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_made_;
  }

 private:
  explicit HttpsConnector(const ConnectorConfig& config) : config_(config) {}

  const ConnectorConfig config_;
  mutable std::mutex mu_;
  void* curl_ = nullptr;  // owned CURL*, kept for connection reuse
  int64_t connections_made_ = 0;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_CONNECTORS_HTTPS_CONNECTOR_H_
