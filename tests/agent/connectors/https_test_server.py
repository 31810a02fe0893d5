#!/usr/bin/python3
"""A real HTTPS server for connector_test (tests/agent/connectors/test_servers.h).

Usage: https_test_server.py DIR. Serves on 127.0.0.1 (a free port, printed on
stdout once it listens) with DIR/server.crt, and asks for a client certificate
from DIR/ca.crt. Every path takes a POST of the subject as JSON:
  /records    two records naming the subject's bsn (one with a null field)
  /politie    one record with the police category's fields (agent_test)
  /empty      []
  /slow       answers after 30 s (for timeouts)
  /big        a 2 MiB answer
  /malformed  JSON cut short
  /nested     a record with a nested object
  /error      HTTP 500
  /redirect   302 to /records
  /truncated  announces 100 bytes, sends 10, closes
"""
import http.server
import json
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the request may hold test personal data
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        subject = json.loads(self.rfile.read(length))
        if self.headers.get("Content-Type") != "application/json" or sorted(subject) != sorted(
                ["ref", "role", "bsn", "name", "date_of_birth"]):
            return self.answer(400, b'{"error":"bad request"}')
        path = self.path
        if path == "/records":
            records = [{"bsn": subject["bsn"], "soort": "CANARY-CONTENT-incident", "aantal": 2, "ernst": 1.50,
                        "open": True, "notitie": None},
                       {"bsn": subject["bsn"], "soort": "bedreiging"}]
            return self.answer(200, json.dumps(records).encode())
        if path == "/politie":  # the police's fields (agent_test), one the policy does not allow
            records = [{"datum": "2026-10-03", "incidentsoort": "CANARY-INCIDENT-CONTENT", "rol-betrokkene":
                        "slachtoffer", "geweld-gebruikt": "ja", "interne-notitie": "CANARY-DROPPED-COLUMN"}]
            return self.answer(200, json.dumps(records).encode())
        if path == "/empty":
            return self.answer(200, b"[]")
        if path == "/slow":
            time.sleep(30)
            return self.answer(200, b"[]")
        if path == "/big":
            return self.answer(200, json.dumps([{"x": "a" * (2 << 20)}]).encode())
        if path == "/malformed":
            return self.answer(200, b'[{"bsn": "1", "soort":')
        if path == "/nested":
            return self.answer(200, b'[{"bsn": {"nested": 1}}]')
        if path == "/error":
            return self.answer(500, b'{"error":"CANARY-SERVER-ERROR"}')
        if path == "/redirect":
            return self.answer(302, b"[]", [("Location", "/records")])
        if path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'[{"a": "b"')
            self.wfile.flush()
            self.close_connection = True
            return
        return self.answer(404, b"{}")


def main():
    folder = sys.argv[1]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder + "/server.crt", folder + "/server.key")
    context.load_verify_locations(folder + "/ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
