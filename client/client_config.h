// The coordinator's (and privacy officer's) client configuration: where the
// gateway is, its pinned card, who I am, whom the region enrolled, and where
// my local store lives. Found through `--config` or KETENPOORT_CONFIG
// (docs/cli.md, "Client configuration").
#ifndef KETENPOORT_CLIENT_CLIENT_CONFIG_H_
#define KETENPOORT_CLIENT_CLIENT_CONFIG_H_

#include <cstdint>
#include <string>

#include "core/base/status.h"

namespace kp::client {

struct ClientConfig {
  std::string gateway_endpoint;  // gateway.endpoint, e.g. tcp://gateway.zvh.local:7400
  std::string gateway_card;      // gateway.card: the gateway's public card, pinned
  std::string identity;          // my secret identity file (0600)
  std::string enrolment_card;    // the region's enrolment card, pinned
  std::string registry;          // folder with registry.signed and the cards
  std::string store;             // folder of my local store (made 0700)
  int64_t timeout_ms = 10'000;   // how long to wait for the gateway's answer to a command
  // The region's policy file, the same the gateway uses: the console
  // (`ketenpoort console`) shows with it what may be asked and why. The
  // gateway and the agents decide; the client never does. Empty: not given.
  std::string policy;
  // The region's pseudonym key file (case/pseudonym.h; docs/operations.md,
  // "The region's pseudonym key"): the client fills every subject's keyed
  // pseudonyms with it. Required to open a coordinator's client; a privacy
  // officer's configuration may name it too. Empty: not given.
  std::string pseudonym_key;
};

// Parses YAML `text`; relative paths are resolved against the folder of
// `path`. InvalidArgument listing every problem found, each as
// "file:line:column: error: ..." (core/config).
Result<ClientConfig> ParseClientConfig(const std::string& text, const std::string& path);

// The config file to use: `flag` when given, else $KETENPOORT_CONFIG; loads
// and parses it. InvalidArgument when neither names a file.
Result<ClientConfig> LoadClientConfig(const std::string& flag);

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_CLIENT_CONFIG_H_
