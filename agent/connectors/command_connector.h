// CommandConnector: a program the partner provides, run for each subject
// without a shell (posix_spawn, no PATH search). It gets the subject as one
// JSON object on stdin,
//   {"ref":"S1","role":"victim","bsn":"...","name":"...","date_of_birth":"..."}
// followed by a newline and end of input, and prints the records on stdout in
// the format of ParseRecordsJson (connector.h); [] when it holds nothing.
//
// The program runs in its own process group with stderr on /dev/null (it may
// hold personal data, so it is never read or logged) and no other inherited
// file descriptors. Exit status 0 means the output is the answer; anything
// else is Unavailable. Past the timeout, or once stdout exceeds the size
// limit, the whole group is killed (SIGKILL); when the program has answered,
// any process it left behind in its group is killed as well. The program is
// always reaped before Query returns, so no zombie is left. A program that
// does not read its stdin is fine. Thread-safe.
#ifndef KETENPOORT_AGENT_CONNECTORS_COMMAND_CONNECTOR_H_
#define KETENPOORT_AGENT_CONNECTORS_COMMAND_CONNECTOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/connectors/connector.h"
#include "core/base/status.h"

namespace kp::agent {

class CommandConnector : public Connector {
 public:
  // `config.kind` must be kCommand. Unavailable when argv[0] is not an
  // executable file; InvalidArgument for an empty argv, a timeout or size
  // limit that is not positive.
  static Result<std::unique_ptr<Connector>> Create(const ConnectorConfig& config);

  Result<std::vector<Record>> Query(const SubjectQuery& subject) override;
  std::string Describe() const override;
  // The program run with `--changed-since=<ms>` as an extra last argument;
  // any record it prints means a change (changed_since.cc).
  Result<std::optional<int64_t>> ChangedSince(const SubjectQuery& subject, int64_t since_ms) override;

  // Runs the program with `input` on stdin and returns its stdout (also the
  // agent's sink command, agent/receiver.h).
  Result<std::string> Run(const std::string& input) const;

 private:
  CommandConnector(std::vector<std::string> argv, int64_t timeout_ms, size_t max_output_bytes)
      : argv_(std::move(argv)), timeout_ms_(timeout_ms), max_output_bytes_(max_output_bytes) {}

  const std::vector<std::string> argv_;
  const int64_t timeout_ms_;
  const size_t max_output_bytes_;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_CONNECTORS_COMMAND_CONNECTOR_H_
