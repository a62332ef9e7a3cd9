// Network policy, allow-list and published ports through the official SDK:
// workspace-core's schemas have no network_policy, allow_hosts or
// published_ports (and no service tool); workspace-full creates a
// workspace with network_policy egress+published-ports and allow_hosts,
// starts an HTTP service (perl, in debian:12-base) ready by the http probe
// with a published port, reaches it from the host, refuses a port out of
// range, and delete closes the port. Every structuredContent is validated by
// the SDK against its tool's outputSchema (listTools first).
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { connect, testHome, LONG } from "./lib.mjs";

const home = testHome("ports");
test.after(() => home.cleanup());
const ENV = "debian:12-base";
// A one-connection-at-a-time HTTP server on the guest's 127.0.0.1:8080.
const SERVER = `exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
  LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die "listen: $!";
  while ($c = $s->accept) { while (<$c>) { last if /^\\r?$/ }
    print $c "HTTP/1.0 200 OK\\r\\nContent-Length: 12\\r\\n\\r\\nhello-ports\\n"; close $c }'`;

async function call(c, name, args) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, LONG);
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

// Resolves true when 127.0.0.1:port accepts a connection.
function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

test("workspace-core has no network_policy, allow_hosts or published_ports", async () => {
  const c = await connect("stdio", [], home.env);
  try {
    const { tools } = await c.client.listTools();
    const create = tools.find((t) => t.name === "workspace_create").inputSchema.properties;
    assert.ok(!("network_policy" in create) && !("allow_hosts" in create), "workspace_create is narrowed");
    assert.ok(!tools.some((t) => t.name === "service_start"), "no service_start on workspace-core");
    for (const t of tools)
      assert.ok(!("published_ports" in (t.inputSchema.properties || {})), `${t.name} has no published_ports`);
  } finally {
    await c.close();
  }
});

test("workspace-full: a published port of a service under egress+published-ports with allow_hosts", async () => {
  const c = await connect("stdio", ["--profile", "workspace-full"], home.env);
  let ws;
  try {
    const { tools } = await c.client.listTools();
    const pp = tools.find((t) => t.name === "service_start").inputSchema.properties.published_ports;
    assert.equal(pp.type, "array");
    assert.equal(pp.maxItems, 16);
    const created = await call(c, "workspace_create", {
      environment: ENV, network_policy: "egress+published-ports", allow_hosts: ["Allowed.Test."] });
    ws = created.workspace_id;
    assert.equal(created.network_policy, "egress+published-ports");
    assert.deepEqual(created.allow_hosts, ["allowed.test"]);

    const web = await call(c, "service_start", {
      workspace_id: ws, service_name: "web", command: SERVER, ready_http: "http://127.0.0.1:8080/",
      ready_interval_ms: 100, published_ports: [{ guest_port: 8080, host_port: null }] });
    assert.equal(web.state, "running");
    assert.equal(web.published_ports.length, 1);
    const p = web.published_ports[0];
    assert.deepEqual([p.service_name, p.guest_port, p.host, p.protocol], ["web", 8080, "127.0.0.1", "tcp"]);
    const res = await fetch(`http://127.0.0.1:${p.host_port}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello-ports\n");

    const st = await call(c, "workspace_status", { workspace_id: ws });
    assert.deepEqual(st.published_ports.map((x) => x.host_port), [p.host_port]);
    assert.deepEqual((await call(c, "service_status", { workspace_id: ws, service_name: "web" }))
      .published_ports.map((x) => x.host_port), [p.host_port]);

    // A port out of range and a busy host port: tool errors, nothing started.
    for (const bad of [[{ guest_port: 70000 }], ["0"], [{ guest_port: 80, host_port: p.host_port }]]) {
      const r = await c.client.callTool({ name: "service_start", arguments: {
        workspace_id: ws, service_name: "bad", command: "exec sleep 600", published_ports: bad } }, undefined, LONG);
      assert.equal(r.isError, true, `published_ports ${JSON.stringify(bad)} refused`);
    }
    assert.equal((await call(c, "service_list", { workspace_id: ws })).count, 1);

    await call(c, "workspace_delete", { workspace_id: ws });
    ws = undefined;
    assert.equal(await accepts(p.host_port), false, "the published port is closed after delete");
  } finally {
    if (ws) await c.client.callTool({ name: "workspace_delete", arguments: { workspace_id: ws } }).catch(() => {});
    await c.close();
  }
});
