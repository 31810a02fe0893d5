# Every dependency comes from a Debian 12 package (see ./run for the list);
# nothing is vendored and nothing is fetched at configure time.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium>=1.0.18)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq>=4.3)
find_package(OpenSSL REQUIRED)          # libcrypto's SHA-256 (uses SHA-NI)
find_package(Protobuf REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(GTest REQUIRED)
if(KP_BENCH)
  find_package(benchmark REQUIRED)
endif()
find_path(CPPZMQ_INCLUDE_DIR zmq.hpp REQUIRED)
# The coordinator's console (console/): HTTP on loopback and server-side
# templates. Debian builds cpp-httplib as a shared library; its pkg-config
# Cflags (OpenSSL, zlib, brotli support) must be used as given, or the
# library's classes and our view of them differ.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib>=0.11)
# sd_notify for the units' Type=notify and watchdog is written out in
# core/base/systemd_notify.cc (no libsystemd: it maps five more libraries
# into every process).
find_path(MUSTACHE_INCLUDE_DIR kainjow/mustache.hpp REQUIRED)
# The agent's PostgreSQL and HTTPS data sources (agent/connectors/): libpq and
# libcurl (the OpenSSL flavour: client certificates and a pinned CA file).
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq>=13)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl>=7.85)  # CURLOPT_PROTOCOLS_STR
