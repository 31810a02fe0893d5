#include "agent/connectors/https_connector.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/connectors/connector_module.h"
#include "core/base/file_util.h"

namespace kp::agent {
namespace {

// The body so far and its limit; past the limit the transfer is stopped.
struct Body {
  std::string text;
  size_t limit = 0;
  bool oversize = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t bytes = size * count;
  if (body->text.size() + bytes > body->limit) {
    body->oversize = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  body->text.append(data, bytes);
  return bytes;
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const char* header) { list = curl_slist_append(list, header); }
};

Status CheckReadable(const std::string& path, const std::string& what) {
  if (path.empty()) return InvalidArgumentError("an https source needs " + what);
  if (::access(path.c_str(), R_OK) != 0) {
    return UnavailableError("cannot read " + what + " " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<Connector>> HttpsConnector::Create(const ConnectorConfig& config) {
  if (config.kind != ConnectorConfig::Kind::kHttps) return InvalidArgumentError("not an https source");
  const HttpsSourceConfig& h = config.https;
  if (h.url.rfind("https://", 0) != 0 || h.url.size() <= 8) {
    return InvalidArgumentError(
        "the url of an https source must start with https:// (plain http is not allowed)");
  }
  if (config.timeout_ms <= 0 || h.connect_timeout_ms <= 0) {
    return InvalidArgumentError("the timeouts of an https source must be positive");
  }
  if (config.max_output_bytes == 0)
    return InvalidArgumentError("the output limit of an https source must be positive");
  KP_RETURN_IF_ERROR(CheckReadable(h.ca_file, "ca_file (the CA that signed the server's certificate)"));
  KP_RETURN_IF_ERROR(CheckReadable(h.client_cert, "client_cert (this agent's certificate)"));
  KP_RETURN_IF_ERROR(CheckReadable(h.client_key, "client_key (the key of client_cert)"));
  if (Status s = CheckSecretFileMode(h.client_key); !s.ok()) {
    return Status(s.code(), "the https client key: " + s.message());
  }
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);  // once, thread-safe
  if (global != CURLE_OK)
    return UnavailableError("cannot start libcurl: " + std::string(curl_easy_strerror(global)));
  std::unique_ptr<HttpsConnector> c(new HttpsConnector(config));
  c->curl_ = curl_easy_init();
  if (c->curl_ == nullptr) return UnavailableError("cannot start libcurl: out of memory");
  return std::unique_ptr<Connector>(std::move(c));
}

HttpsConnector::~HttpsConnector() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<std::optional<int64_t>> HttpsConnector::ChangedSince(const SubjectQuery&, int64_t) {
  return UnimplementedError("source " + Describe() +
                            " cannot say what changed: watches are not available for " +
                            "https sources yet (docs/agent.md, \"Watches\")");
}

std::string HttpsConnector::Describe() const { return "https " + config_.https.url; }

Result<std::vector<Record>> HttpsConnector::Query(const SubjectQuery& subject) {
  std::string request;
  try {
    nlohmann::ordered_json j;
    j["ref"] = subject.ref;
    j["role"] = subject.role;
    j["bsn"] = subject.bsn;
    j["name"] = subject.name;
    j["date_of_birth"] = subject.date_of_birth;
    request = j.dump();
  } catch (const std::exception&) {  // the message would quote the text
    return InvalidArgumentError("the subject's identifiers are not valid UTF-8; the source was not asked");
  }

  std::lock_guard<std::mutex> lock(mu_);
  CURL* curl = static_cast<CURL*>(curl_);
  const HttpsSourceConfig& h = config_.https;
  Body body;
  body.limit = config_.max_output_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  HeaderList headers;
  headers.Add("Content-Type: application/json");
  headers.Add("Accept: application/json");
  headers.Add("Expect:");

  // Every option again on each request (a handle keeps its connections, and
  // what a previous request left set is not relied on).
  curl_easy_reset(curl);
  bool ok = true;
  auto set = [&ok](CURLcode rc) { ok = ok && rc == CURLE_OK; };
  set(curl_easy_setopt(curl, CURLOPT_URL, h.url.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https"));
  set(curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(curl, CURLOPT_PROXY, ""));  // never the environment's proxy
  set(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)));
  set(curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L));
  set(curl_easy_setopt(curl, CURLOPT_CAINFO, h.ca_file.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr));  // the pinned CA alone
  set(curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM"));
  set(curl_easy_setopt(curl, CURLOPT_SSLCERT, h.client_cert.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM"));
  set(curl_easy_setopt(curl, CURLOPT_SSLKEY, h.client_key.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(h.connect_timeout_ms)));
  set(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout_ms)));
  set(curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(config_.max_output_bytes)));
  set(curl_easy_setopt(curl, CURLOPT_USERAGENT, "ketenpoort-agent"));
  set(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list));
  set(curl_easy_setopt(curl, CURLOPT_POST, 1L));
  set(curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size())));
  set(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody));
  set(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body));
  set(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error));
  if (!ok || headers.list == nullptr) {
    return UnavailableError("source unavailable: cannot set up the request to " + h.url);
  }

  const CURLcode rc = curl_easy_perform(curl);
  long made = 0;
  if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &made) == CURLE_OK) connections_made_ += made;
  // The request held the subject; the handle must not point at it any more.
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);

  if (rc != CURLE_OK) {
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return DeadlineExceededError("source " + h.url + " timed out (timeout " +
                                   std::to_string(config_.timeout_ms) + " ms, connect_timeout " +
                                   std::to_string(h.connect_timeout_ms) + " ms)");
    }
    if (body.oversize || rc == CURLE_FILESIZE_EXCEEDED) {
      return InvalidArgumentError("the answer of " + h.url + " exceeds " +
                                  std::to_string(config_.max_output_bytes) + " bytes");
    }
    // libcurl's words name the host, the certificate or the TLS problem; never the request.
    const std::string why = error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(rc));
    return UnavailableError("source unavailable: " + h.url + ": " + why);
  }
  long http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status != 200) {
    return UnavailableError("source unavailable: " + h.url + " answered HTTP " + std::to_string(http_status) +
                            " (expected 200 with the records as JSON)");
  }
  auto records = ParseRecordsJson(body.text);
  if (!records.ok()) {
    return InvalidArgumentError("source " + h.url +
                                " answered malformed JSON: " + records.status().message());
  }
  return records;
}

}  // namespace kp::agent

// Built as the module ketenpoort-connector-https.so (connector_module.h).
KP_CONNECTOR_MODULE("https", kp::agent::HttpsConnector::Create)
