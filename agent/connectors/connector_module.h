// Connector modules: the data sources that need heavy libraries (postgres:
// libpq with Kerberos and LDAP; https: libcurl with GnuTLS, libssh2, ...)
// are built as loadable modules, ketenpoort-connector-<kind>.so, that the
// agent loads with dlopen() only when its configuration names that kind
// (docs/agent.md "Data sources"). An agent with only sqlite, json-files or
// command sources never maps those libraries: they cost ~3.4 MB of resident
// memory per agent, loaded and initialised or not (issue 19).
//
// Where: one folder, never a path from the configuration or the
// environment. The agent uses ConnectorModuleDir(): the folder
// `lib/ketenpoort/connectors` beside the `bin` folder of the running program
// (/proc/self/exe), so /usr/bin/ketenpoort-agent loads from
// /usr/lib/ketenpoort/connectors (the ketenpoort-agent package installs them
// there) and build/agent/ketenpoort-agent from build/lib/ketenpoort/connectors.
// Tests that run an Agent or a connector in their own process name the build
// folder (AgentConfig::connector_module_dir), through the same LoadConnector.
//
// Fail closed: a missing module, a module file or folder others may write
// to, a file that is not a module, or one built for another ABI, release or
// compiler is an error naming the file and what to do; nothing else is tried.
//
// The module and the agent share C++ types (ConnectorConfig, Record, Status,
// std::string): a module only works with an agent of the same build, which
// ConnectorModuleInfo checks. Bump kConnectorModuleAbi whenever connector.h,
// core/base/status.h or this header change what crosses the boundary.
// Thread-safe. A loaded module stays loaded until the process ends.
#ifndef KETENPOORT_AGENT_CONNECTORS_CONNECTOR_MODULE_H_
#define KETENPOORT_AGENT_CONNECTORS_CONNECTOR_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/connectors/connector.h"
#include "core/base/status.h"

namespace kp::agent {

inline constexpr uint32_t kConnectorModuleAbi = 2;

// The symbol every module exports (extern "C"), returning its description.
inline constexpr const char kConnectorModuleSymbol[] = "ketenpoort_connector_module";

// What a module says about itself. Plain C layout, so a module of another
// build can be read far enough to be refused.
struct ConnectorModuleInfo {
  uint32_t abi;          // kConnectorModuleAbi of the module's build
  uint32_t config_size;  // sizeof(ConnectorConfig) there
  const char* kind;      // "postgres" | "https"
  const char* release;   // the release (CMake project version)
  const char* compiler;  // __VERSION__
  Result<std::unique_ptr<Connector>> (*create)(const ConnectorConfig& config);
};

// The module file of a kind: "<dir>/ketenpoort-connector-<kind>.so".
std::string ConnectorModulePath(const std::string& dir, std::string_view kind);

// The agent's folder of modules (see the top of this file).
std::string ConnectorModuleDir();

// Loads (once per process) the module of `kind` from `dir` and makes a
// connector with it. FailedPrecondition when the module is missing, unsafe
// or of another build (the message names the file and the package);
// otherwise what the module's create returns.
Result<std::unique_ptr<Connector>> MakeModuleConnector(const ConnectorConfig& config, std::string_view kind,
                                                       const std::string& dir);

}  // namespace kp::agent

// In a module's source, once: KP_CONNECTOR_MODULE("postgres", PostgresConnector::Create).
// KP_RELEASE is the release, given to module sources by CMake.
#define KP_CONNECTOR_MODULE(KIND, CREATE)                                                   \
  extern "C" __attribute__((visibility("default"))) const ::kp::agent::ConnectorModuleInfo* \
  ketenpoort_connector_module() {                                                           \
    static const ::kp::agent::ConnectorModuleInfo info{                                     \
        ::kp::agent::kConnectorModuleAbi,                                                   \
        static_cast<uint32_t>(sizeof(::kp::agent::ConnectorConfig)),                        \
        KIND,                                                                               \
        KP_RELEASE,                                                                         \
        __VERSION__,                                                                        \
        &CREATE};                                                                           \
    return &info;                                                                           \
  }

#endif  // KETENPOORT_AGENT_CONNECTORS_CONNECTOR_MODULE_H_
