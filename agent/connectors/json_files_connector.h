// JsonFilesConnector: a folder with one JSON file per subject, named by one of
// the subject's identifiers: FOLDER/<key value>.json (connector.h describes
// the JSON). A missing file means the source holds nothing about the subject.
//
// The key value must match [A-Za-z0-9._-]{1,64} and not start with '.', so it
// can only name a file directly in the folder; a symbolic link is never
// followed (O_NOFOLLOW), nor is anything but a regular file of at most
// kMaxJsonFileBytes read. Error messages name the folder, never the file,
// since the file name is the subject's identifier. Thread-safe.
#ifndef KETENPOORT_AGENT_CONNECTORS_JSON_FILES_CONNECTOR_H_
#define KETENPOORT_AGENT_CONNECTORS_JSON_FILES_CONNECTOR_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/connectors/connector.h"
#include "core/base/status.h"

namespace kp::agent {

class JsonFilesConnector : public Connector {
 public:
  // `config.kind` must be kJsonFiles. Unavailable when the folder is not there.
  static Result<std::unique_ptr<Connector>> Create(const ConnectorConfig& config);

  Result<std::vector<Record>> Query(const SubjectQuery& subject) override;
  std::string Describe() const override;
  // The subject file's modification time, when after `since_ms` (changed_since.cc).
  Result<std::optional<int64_t>> ChangedSince(const SubjectQuery& subject, int64_t since_ms) override;

 private:
  JsonFilesConnector(std::string folder, std::string key)
      : folder_(std::move(folder)), key_(std::move(key)) {}

  const std::string folder_;
  const std::string key_;  // bsn | ref | role | name | date_of_birth
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_CONNECTORS_JSON_FILES_CONNECTOR_H_
