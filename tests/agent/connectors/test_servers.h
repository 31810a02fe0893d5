// Real servers for the network connectors' tests: a PostgreSQL cluster made
// with Debian's initdb/pg_ctl in a temporary folder (unix socket only, no
// port), and a Python HTTPS server (https_test_server.py) with certificates
// made by the openssl command. Header-only: used by connector_test alone.
//
// PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as
// `nobody` (setpriv), the folder handed to that user; as anyone else they
// run as the test's own user. Not thread-safe.
#ifndef KETENPOORT_TESTS_AGENT_CONNECTORS_TEST_SERVERS_H_
#define KETENPOORT_TESTS_AGENT_CONNECTORS_TEST_SERVERS_H_

#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kp::testing {

// The build's connector modules (agent/connectors/connector_module.h): the
// postgres and https tests make their connectors through them.
inline std::string ConnectorModuleBuildDir() { return KP_CONNECTOR_MODULE_BUILD_DIR; }

// Runs argv (argv[0] a path) to its end with stdout and stderr appended to
// `log`; returns the exit status (-1 when it could not run or was killed).
inline int RunLogged(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string MakeTempFolder(const std::string& prefix) {
  std::string path = "/tmp/" + prefix + "-XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) return "";
  return path;
}

// Certificates made with the openssl command in `dir_`: ca and other-ca
// (self-signed), server (for IP 127.0.0.1 only) and client from ca,
// other-client from other-ca; every .key mode 0600. False when openssl failed
// (its output is in `log`).
inline bool MakeTestCertificates(const std::string& dir, const std::string& log) {
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  const std::string openssl = "/usr/bin/openssl";
  {
    std::ofstream(dir + "/server.ext") << "subjectAltName=IP:127.0.0.1\n";
    std::ofstream(dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  }
  auto ca = [&](const std::string& name) {
    return RunLogged({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".crt",
                      "-subj", "/CN=" + name, "-days", "2"},
                     log) == 0;
  };
  auto leaf = [&](const std::string& name, const std::string& ca_name, const std::string& ext) {
    return RunLogged(
               {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                dir + "/" + name + ".key", "-out", dir + "/" + name + ".csr", "-subj", "/CN=" + name},
               log) == 0 &&
           RunLogged({openssl, "x509", "-req", "-in", dir + "/" + name + ".csr", "-CA",
                      dir + "/" + ca_name + ".crt", "-CAkey", dir + "/" + ca_name + ".key", "-CAcreateserial",
                      "-out", dir + "/" + name + ".crt", "-days", "2", "-extfile", dir + "/" + ext},
                     log) == 0 &&
           ::chmod((dir + "/" + name + ".key").c_str(), 0600) == 0;
  };
  if (!ca("ca") || !ca("other-ca") || !leaf("server", "ca", "server.ext") ||
      !leaf("client", "ca", "client.ext") || !leaf("other-client", "other-ca", "client.ext")) {
    return false;
  }
  return true;
}

// A free TCP port on 127.0.0.1 (the kernel's choice; 0 when none).
inline int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// A PostgreSQL 15 cluster in a temporary folder, reached by its unix socket
// in `socket_dir()` and, with TLS only, on 127.0.0.1:`port()` (certificates
// of MakeTestCertificates in `cert_dir()`). Roles: `admin` (trust, local
// only, to set up), `reader` (scram-sha-256 password `reader_password()`,
// local or TLS) and `client` (TLS with the client certificate, `cert`).
class TestPostgres {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin/";

  // Empty when all went well, else what failed (with the log's path).
  std::string Start() {
    dir_ = MakeTempFolder("kp-pg");
    if (dir_.empty()) return "mkdtemp failed";
    ::chmod(dir_.c_str(), 0755);
    std::vector<std::string> as_user;
    if (::geteuid() == 0) {
      passwd* nobody = ::getpwnam("nobody");
      if (nobody == nullptr) return "no user nobody to run PostgreSQL as";
      if (::chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) return "chown failed";
      as_user = {"/usr/bin/setpriv", "--reuid=" + std::to_string(nobody->pw_uid),
                 "--regid=" + std::to_string(nobody->pw_gid), "--clear-groups", "--"};
    }
    auto as = [&](std::vector<std::string> argv) {
      std::vector<std::string> all = as_user;
      all.insert(all.end(), argv.begin(), argv.end());
      return all;
    };
    const std::string log = dir_ + "/setup.log";
    port_ = FreeLoopbackPort();
    if (port_ == 0) return "no free port";
    if (!MakeTestCertificates(cert_dir(), log)) return "openssl failed, see " + log;
    if (::geteuid() == 0) {
      passwd* nobody = ::getpwnam("nobody");
      for (const char* f : {"server.key", "server.crt", "ca.crt"}) {
        if (::chown((cert_dir() + "/" + f).c_str(), nobody->pw_uid, nobody->pw_gid) != 0)
          return "chown failed";
      }
    }
    if (RunLogged(as({std::string(kBin) + "initdb", "-D", dir_ + "/data", "-U", "admin", "--auth=trust",
                      "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C.UTF-8"}),
                  log) != 0) {
      return "initdb failed, see " + log;
    }
    {
      std::ofstream hba(dir_ + "/data/pg_hba.conf", std::ios::trunc);
      hba << "local all admin trust\nlocal all reader scram-sha-256\n"
             "hostssl all reader 127.0.0.1/32 scram-sha-256\nhostssl all client 127.0.0.1/32 cert\n";
      std::ofstream conf(dir_ + "/data/postgresql.conf", std::ios::app);
      conf << "ssl = on\nssl_cert_file = '" << cert_dir() << "/server.crt'\nssl_key_file = '" << cert_dir()
           << "/server.key'\nssl_ca_file = '" << cert_dir() << "/ca.crt'\n";
    }
    if (RunLogged(as({std::string(kBin) + "pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w",
                      "-t", "60", "-o",
                      "-k " + dir_ + " -c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -F",
                      "start"}),
                  log) != 0) {
      return "pg_ctl start failed, see " + log + " and " + dir_ + "/server.log";
    }
    started_ = true;
    stop_argv_ = as({std::string(kBin) + "pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"});
    return "";
  }

  void Stop() {
    if (started_) RunLogged(stop_argv_, dir_ + "/setup.log");
    started_ = false;
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs SQL as `admin` in database `db`: "" or PostgreSQL's message.
  std::string Admin(const std::string& sql, const std::string& db = "postgres") const {
    const std::string port = std::to_string(port_);
    const char* keys[] = {"host", "port", "dbname", "user", nullptr};
    const char* values[] = {dir_.c_str(), port.c_str(), db.c_str(), "admin", nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, 0);
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK) {
      error = PQerrorMessage(conn);
    } else {
      PGresult* r = PQexec(conn, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        error = PQresultErrorMessage(r);
      }
      PQclear(r);
    }
    PQfinish(conn);
    return error;
  }

  const std::string& socket_dir() const { return dir_; }
  int port() const { return port_; }
  std::string cert_dir() const { return dir_ + "/certs"; }
  static const char* reader_password() { return "CANARY-PW-s3cret"; }

 private:
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
  std::vector<std::string> stop_argv_;
};

// The Python HTTPS server (https_test_server.py) on 127.0.0.1, port 0, with a
// server certificate for 127.0.0.1 (not for localhost) from ca.crt, asking for a client
// certificate from the same CA. Files in `dir()`: ca.crt, client.crt,
// client.key (0600), other-ca.crt, other-client.crt, other-client.key.
class TestHttpsServer {
 public:
  std::string Start(const std::string& script) {
    dir_ = MakeTempFolder("kp-https");
    if (dir_.empty()) return "mkdtemp failed";
    const std::string log = dir_ + "/setup.log";
    if (!MakeTestCertificates(dir_, log)) return "openssl failed, see " + log;
    int out[2];
    if (::pipe(out) != 0) return "pipe failed";
    pid_ = ::fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      const int err = ::open((dir_ + "/server.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) ::dup2(err, 2);
      ::close(out[0]);
      ::execl("/usr/bin/python3", "python3", script.c_str(), dir_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    // The server prints its port once it listens.
    std::string line;
    pollfd p{out[0], POLLIN, 0};
    char c = 0;
    while (line.find('\n') == std::string::npos && ::poll(&p, 1, 30'000) > 0 && ::read(out[0], &c, 1) == 1) {
      line += c;
    }
    ::close(out[0]);
    port_ = std::atoi(line.c_str());
    if (port_ <= 0) return "the HTTPS test server did not start, see " + dir_ + "/server.log";
    return "";
  }

  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string Url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_AGENT_CONNECTORS_TEST_SERVERS_H_
