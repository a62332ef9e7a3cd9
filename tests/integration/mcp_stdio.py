"""A minimal MCP client over `pyro mcp serve` on stdio, for the shell suites
that check one tool call's error (test_oci.sh, test_lifecycle_caps.sh); the
full client tests use the official SDK (tests/mcp)."""
import json
import subprocess


class Session:
    """`pyro mcp serve` started and initialized; call() sends one request
    and returns its response, close() ends the server (EOF) and waits."""

    def __init__(self, pyro):
        self.p = subprocess.Popen([pyro, "mcp", "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.next_id = 1
        self.call("initialize",
                  {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def call(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        while True:
            m = json.loads(self.p.stdout.readline())
            if m.get("id") == i:
                return m

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def serve(pyro):
    return Session(pyro)
