// Services through the official SDK: workspace-full drives one service
// (start with a readiness command, list, status, logs, stop) with the SDK
// validating every structuredContent against its tool's outputSchema, and
// a failing start reports 'failed' with its exit code and log tail;
// workspace-core lists none of the service tools.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, testHome, TRANSPORTS, LONG } from "./lib.mjs";

const home = testHome("service");
test.after(() => home.cleanup());
const ENV = "debian:12-base";
const SERVICE_TOOLS = ["service_start", "service_list", "service_status", "service_logs", "service_stop"];

async function call(c, name, args) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, LONG);
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent, `${name}: text copy`);
  return r.structuredContent;
}

for (const transport of TRANSPORTS) {
  test(`${transport}: workspace-full drives a service`, async () => {
    const c = await connect(transport, ["--profile", "workspace-full"], home.env);
    let ws;
    try {
      const tools = (await c.client.listTools()).tools.map((t) => t.name);
      for (const t of SERVICE_TOOLS) assert.ok(tools.includes(t), `workspace-full lacks ${t}`);
      ws = (await call(c, "workspace_create", { environment: ENV })).workspace_id;
      const started = await call(c, "service_start", {
        workspace_id: ws, service_name: "app",
        command: "echo up; echo warn >&2; sleep 1; touch /tmp/app.ready; exec sleep 600",
        ready_command: "test -f /tmp/app.ready", ready_interval_ms: 100,
      });
      assert.equal(started.state, "running");
      assert.equal(started.service_name, "app");
      assert.deepEqual(started.readiness, { type: "command", command: "test -f /tmp/app.ready" });
      assert.equal(started.stop_reason, null);
      assert.ok(started.ready_at >= started.started_at);

      const list = await call(c, "service_list", { workspace_id: ws });
      assert.equal(list.count, 1);
      assert.equal(list.running_count, 1);
      const status = await call(c, "workspace_status", { workspace_id: ws });
      assert.equal(status.service_count, 1);
      assert.equal(status.running_service_count, 1);

      const logs = await call(c, "service_logs", { workspace_id: ws, service_name: "app", tail_lines: 5 });
      assert.equal(logs.stdout, "up\n");
      assert.equal(logs.stderr, "warn\n");
      const all = await call(c, "service_logs", { workspace_id: ws, service_name: "app", all: true });
      assert.equal(all.tail_lines, null);

      const stopped = await call(c, "service_stop", { workspace_id: ws, service_name: "app" });
      assert.equal(stopped.state, "stopped");
      assert.equal(stopped.stop_reason, "stopped");
      assert.equal((await call(c, "service_status", { workspace_id: ws, service_name: "app" })).state, "stopped");

      const bad = await call(c, "service_start", {
        workspace_id: ws, service_name: "bad", command: "echo oops >&2; exit 3", ready_file: "never",
      });
      assert.equal(bad.state, "failed");
      assert.equal(bad.exit_code, 3);
      assert.equal(bad.stop_reason, "exited");
      assert.match(bad.stderr_tail, /oops/);

      const dup = await c.client.callTool({ name: "service_start", arguments: {
        workspace_id: ws, service_name: "dup", command: "exec sleep 600" } }, undefined, LONG);
      assert.equal(dup.isError, false);
      const again = await c.client.callTool({ name: "service_start", arguments: {
        workspace_id: ws, service_name: "dup", command: "exec sleep 600" } }, undefined, LONG);
      assert.equal(again.isError, true);
      assert.match(JSON.stringify(again.content), /already exists/);

      const del = await call(c, "workspace_delete", { workspace_id: ws });
      ws = undefined;
      assert.deepEqual(del.stopped_services.map((s) => [s.service_name, s.stop_reason]), [["dup", "deleted"]]);
    } finally {
      if (ws) await c.client.callTool({ name: "workspace_delete", arguments: { workspace_id: ws } }).catch(() => {});
      await c.close();
    }
  });
}

test("workspace-core lists no service tool", async () => {
  const c = await connect("stdio", [], home.env);
  try {
    const tools = (await c.client.listTools()).tools.map((t) => t.name);
    for (const t of SERVICE_TOOLS) assert.ok(!tools.includes(t), `workspace-core exposes ${t}`);
    assert.ok(tools.includes("workspace_exec"));
  } finally {
    await c.close();
  }
});
