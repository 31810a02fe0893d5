#include "agent/connectors/connector_module.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/base/file_util.h"

namespace kp::agent {
namespace {

// What to tell partner IT when a module cannot be used.
constexpr const char kRemedy[] =
    "the module comes with the ketenpoort-agent package: install that package again, so that the agent and "
    "its "
    "connector modules come from the same build";

std::mutex g_mu;
// Path -> the module's description, once loaded and checked (never unloaded).
std::map<std::string, const ConnectorModuleInfo*>& Loaded() {
  static auto* loaded = new std::map<std::string, const ConnectorModuleInfo*>();
  return *loaded;
}

// The file must be a regular file that only its owner (root or this
// process's user) may change, in a folder others may not write to: a module
// runs as the agent, with the agent's keys.
Status CheckModuleFile(const std::string& path, std::string_view kind) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return FailedPreconditionError("data source kind '" + std::string(kind) +
                                     "' is configured, but its connector module " + path +
                                     " is not installed; " + kRemedy);
    }
    return FailedPreconditionError("cannot read the connector module " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return FailedPreconditionError("the connector module " + path + " is not a file");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || (st.st_uid != 0 && st.st_uid != ::geteuid())) {
    return FailedPreconditionError(
        "the connector module " + path +
        " may be changed by other users (it must belong to root or to this agent's "
        "user and be writable by its owner only); it is not loaded");
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (Status s = CheckDirNotGroupOrWorldWritable(dir); !s.ok()) {
    return FailedPreconditionError("the folder of connector modules: " + s.message() +
                                   "; no module is loaded from it");
  }
  return OkStatus();
}

Result<const ConnectorModuleInfo*> LoadLocked(const std::string& path, std::string_view kind) {
  auto it = Loaded().find(path);
  if (it != Loaded().end()) return it->second;
  KP_RETURN_IF_ERROR(CheckModuleFile(path, kind));
  // RTLD_LOCAL: the module's symbols (and libpq's, libcurl's) stay its own.
  // RTLD_NODELETE: connectors made by it live as long as the agent.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return FailedPreconditionError(
        "cannot load the connector module " + path + " for '" + std::string(kind) +
        "' sources: " + (why != nullptr ? why : "unknown error") +
        " (a library it needs may be missing: install the ketenpoort-agent package "
        "again, which installs what its modules need)");
  }
  using Entry = const ConnectorModuleInfo* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, kConnectorModuleSymbol));
  const ConnectorModuleInfo* info = entry != nullptr ? entry() : nullptr;
  if (info == nullptr) {
    return FailedPreconditionError("the file " + path + " is not a Ketenpoort connector module; " + kRemedy);
  }
  const bool same_build = info->abi == kConnectorModuleAbi && info->config_size == sizeof(ConnectorConfig) &&
                          info->release != nullptr && std::strcmp(info->release, KP_RELEASE) == 0 &&
                          info->compiler != nullptr && std::strcmp(info->compiler, __VERSION__) == 0;
  if (!same_build) {
    return FailedPreconditionError(
        "the connector module " + path + " is from another build (release " +
        (info->abi == kConnectorModuleAbi && info->release != nullptr ? info->release : "unknown") +
        ", module ABI " + std::to_string(info->abi) + ") than this agent (release " + KP_RELEASE +
        ", module ABI " + std::to_string(kConnectorModuleAbi) + "); " + kRemedy);
  }
  if (info->kind == nullptr || std::string_view(info->kind) != kind || info->create == nullptr) {
    return FailedPreconditionError("the connector module " + path + " is not the module for '" +
                                   std::string(kind) + "' sources; " + kRemedy);
  }
  Loaded().emplace(path, info);
  return info;
}

}  // namespace

std::string ConnectorModulePath(const std::string& dir, std::string_view kind) {
  return dir + "/ketenpoort-connector-" + std::string(kind) + ".so";
}

std::string ConnectorModuleDir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::canonical("/proc/self/exe", ec);
  // Without /proc: the installed folder.
  if (ec) return "/usr/lib/ketenpoort/connectors";
  return (self.parent_path().parent_path() / "lib" / "ketenpoort" / "connectors").string();
}

Result<std::unique_ptr<Connector>> MakeModuleConnector(const ConnectorConfig& config, std::string_view kind,
                                                       const std::string& dir) {
  const ConnectorModuleInfo* info = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto loaded = LoadLocked(ConnectorModulePath(dir, kind), kind);
    if (!loaded.ok()) return loaded.status();
    info = *loaded;
  }
  return info->create(config);
}

}  // namespace kp::agent
