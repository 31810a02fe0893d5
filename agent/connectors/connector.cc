#include "agent/connectors/connector.h"

#include "agent/connectors/command_connector.h"
#include "agent/connectors/connector_module.h"
#include "agent/connectors/json_files_connector.h"
#include "agent/connectors/sqlite_connector.h"

namespace kp::agent {

Result<std::unique_ptr<Connector>> MakeConnector(const ConnectorConfig& config,
                                                 const std::string& module_dir) {
  switch (config.kind) {
    case ConnectorConfig::Kind::kSqlite:
      return SqliteConnector::Create(config);
    case ConnectorConfig::Kind::kJsonFiles:
      return JsonFilesConnector::Create(config);
    case ConnectorConfig::Kind::kCommand:
      return CommandConnector::Create(config);
    case ConnectorConfig::Kind::kPostgres:
      return MakeModuleConnector(config, "postgres", module_dir.empty() ? ConnectorModuleDir() : module_dir);
    case ConnectorConfig::Kind::kHttps:
      return MakeModuleConnector(config, "https", module_dir.empty() ? ConnectorModuleDir() : module_dir);
  }
  return InvalidArgumentError("unknown data source kind");
}

}  // namespace kp::agent
