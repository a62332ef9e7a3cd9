// Protocol revision 2026-07-28 next to 2025-11-25 (docs/mcp.md "Protocol
// revisions"), as raw JSON-RPC: SDK 1.32.2 speaks only the handshake era.
// Stateless requests carry their version and capabilities in _meta;
// server/discover; UnsupportedProtocolVersionError; resultType; the tasks
// extension (tasks/get carries the outcome, tasks/cancel kills the guest
// process); over HTTP no session, headers checked against the body, and a
// modern task invisible to a handshake session (and the other way round).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateTaskResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { PYRO, testHome, startHttp, stopProc, until } from "./lib.mjs";

const home = testHome("revisions");
test.after(() => home.cleanup());

const V = "2026-07-28";
const TASKS = "io.modelcontextprotocol/tasks";
const meta = (extra = {}, caps = {}) => ({
  "io.modelcontextprotocol/protocolVersion": V,
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
  "io.modelcontextprotocol/clientCapabilities": caps,
  ...extra,
});
const withTasks = (extra = {}) => meta(extra, { extensions: { [TASKS]: {} } });

function procsWith(marker) {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.includes(marker) && !l.includes("ps -eo"));
}

// A stdio server spoken to line by line: rpc(method, params) -> message.
function stdioServer(args) {
  const proc = spawn(PYRO, ["mcp", "serve", ...args], { env: home.env, stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map();
  const notes = [];
  createInterface({ input: proc.stdout }).on("line", (l) => {
    const m = JSON.parse(l);
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    } else notes.push(m);
  });
  let next = 1;
  const rpc = (method, params) => new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    proc.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
  });
  return { proc, rpc, notes, close: () => { proc.stdin.end(); return stopProc(proc); } };
}

async function pollTask(rpc, taskId, ms = 60000) {
  let r;
  assert.ok(await until(async () => {
    r = await rpc("tasks/get", { taskId, _meta: withTasks() });
    return r.result && r.result.status !== "working";
  }, ms, 300), `task ${taskId} ended: ${JSON.stringify(r)}`);
  return r.result;
}

test("stdio: 2026-07-28 requests and 2025-11-25 in one server", async () => {
  const s = stdioServer(["--profile", "workspace-core"]);
  try {
    const d = await s.rpc("server/discover", { _meta: meta() });
    assert.equal(d.result.resultType, "complete");
    assert.deepEqual(d.result.supportedVersions, [V, "2025-11-25", "2025-06-18", "2025-03-26"]);
    assert.deepEqual(d.result.capabilities.extensions, { [TASKS]: {} });
    assert.equal(d.result._meta["io.modelcontextprotocol/serverInfo"].name, "pyro");
    assert.ok(d.result.ttlMs > 0 && d.result.cacheScope === "private");

    const bad = await s.rpc("tools/list", { _meta: { "io.modelcontextprotocol/protocolVersion": "1900-01-01" } });
    assert.equal(bad.error.code, -32022);
    assert.deepEqual(bad.error.data, { supported: [V, "2025-11-25", "2025-06-18", "2025-03-26"],
                                       requested: "1900-01-01" });
    for (const m of ["ping", "logging/setLevel", "initialize", "tasks/result", "tasks/list"])
      assert.equal((await s.rpc(m, { taskId: "x", level: "debug", _meta: meta() })).error.code, -32601, m);
    const caps = await s.rpc("tools/list", { _meta: { ...meta(), "io.modelcontextprotocol/clientCapabilities": 3 } });
    assert.equal(caps.error.code, -32602);

    const tl = await s.rpc("tools/list", { _meta: meta() });
    assert.equal(tl.result.resultType, "complete");
    assert.ok(tl.result.ttlMs > 0 && tl.result.cacheScope === "private");
    assert.equal(tl.result.tools.find((t) => t.name === "workspace_exec").execution.taskSupport, "optional");

    const c = await s.rpc("tools/call", { name: "workspace_create", arguments: { environment: "debian:12-base" },
                                          _meta: withTasks() });
    assert.equal(c.result.resultType, "complete", "workspace_create never becomes a task");
    const ws = c.result.structuredContent.workspace_id;

    // Without the extension declared: an ordinary result.
    const sync = await s.rpc("tools/call", { name: "workspace_exec", arguments: { workspace_id: ws, command: "echo s" },
                                             _meta: meta() });
    assert.equal(sync.result.resultType, "complete");
    assert.equal(sync.result.structuredContent.stdout, "s\n");
    assert.equal(s.notes.filter((n) => n.method === "notifications/message").length, 0,
                 "no log notifications without a logLevel in _meta");
    await s.rpc("tools/call", { name: "workspace_exec", arguments: { workspace_id: ws, command: "true" },
                                _meta: meta({ "io.modelcontextprotocol/logLevel": "debug" }) });
    assert.ok(s.notes.some((n) => n.method === "notifications/message"), "logLevel debug: log notifications");

    // With it: a task; tasks/get carries the result, an exit code or an
    // isError result included (the extension's "completed").
    const t = await s.rpc("tools/call", { name: "workspace_exec",
                                          arguments: { workspace_id: ws, command: "sleep 1; echo t; exit 4" },
                                          _meta: withTasks() });
    assert.equal(t.result.resultType, "task", JSON.stringify(t));
    assert.equal(t.result.status, "working");
    assert.ok(t.result.ttlMs > 0 && t.result.pollIntervalMs > 0);
    const done = await pollTask(s.rpc, t.result.taskId);
    assert.equal(done.status, "completed");
    assert.equal(done.result.structuredContent.stdout, "t\n");
    assert.equal(done.result.structuredContent.exit_code, 4);
    const e = await s.rpc("tools/call", { name: "workspace_exec", arguments: { workspace_id: "nosuchws", command: "true" },
                                          _meta: withTasks() });
    const ee = await pollTask(s.rpc, e.result.taskId);
    assert.equal(ee.status, "completed");
    assert.equal(ee.result.isError, true);

    // tasks/cancel: an empty acknowledgement; the guest process is killed.
    const marker = "sleep 33.75";
    const k = await s.rpc("tools/call", { name: "workspace_exec", arguments: { workspace_id: ws, command: marker },
                                          _meta: withTasks() });
    assert.ok(await until(() => procsWith(marker).length > 0, 30000), "the guest command runs");
    const ack = await s.rpc("tasks/cancel", { taskId: k.result.taskId, _meta: withTasks() });
    assert.deepEqual(Object.keys(ack.result).sort(), ["_meta", "resultType"]);
    assert.ok(await until(() => procsWith(marker).length === 0, 10000), "guest process killed");
    assert.equal((await s.rpc("tasks/get", { taskId: k.result.taskId, _meta: withTasks() })).result.status,
                 "cancelled");
    assert.equal((await s.rpc("tasks/update", { taskId: k.result.taskId, inputResponses: {},
                                                _meta: withTasks() })).result.resultType, "complete");
    for (const m of ["tasks/get", "tasks/cancel", "tasks/update"])
      assert.equal((await s.rpc(m, { taskId: "nope", _meta: withTasks() })).error.code, -32602, m);

    // The handshake era still works in the same process.
    const init = await s.rpc("initialize", { protocolVersion: "2025-11-25", capabilities: {},
                                             clientInfo: { name: "legacy", version: "0" } });
    assert.equal(init.result.protocolVersion, "2025-11-25");
    assert.deepEqual(init.result.capabilities.tasks.requests, { tools: { call: {} } });
    assert.deepEqual((await s.rpc("ping", {})).result, {});
    await s.rpc("tools/call", { name: "workspace_delete", arguments: { workspace_id: ws }, _meta: meta() });
  } finally {
    await s.close();
  }
});

test("http: stateless requests, header checks, tasks bound to their era's session", async () => {
  const { url, proc, token } = await startHttp(["--profile", "workspace-core"], home.env);
  const post = async (body, headers = {}) => {
    const r = await fetch(url, {
      method: "POST", body: JSON.stringify(body),
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json",
                 Accept: "application/json, text/event-stream", ...headers },
    });
    return { status: r.status, session: r.headers.get("mcp-session-id"), body: await r.json() };
  };
  let id = 1;
  const modern = (method, params, extra = {}) => post({ jsonrpc: "2.0", id: id++, method, params }, {
    "MCP-Protocol-Version": V, "Mcp-Method": method, ...(params.name ? { "Mcp-Name": params.name } : {}), ...extra });
  const lc = new Client({ name: "legacy", version: "0" });
  try {
    const d = await modern("server/discover", { _meta: meta() });
    assert.equal(d.status, 200);
    assert.equal(d.session, null, "no Mcp-Session-Id");
    assert.equal(d.body.result.resultType, "complete");

    const h1 = await modern("server/discover", { _meta: meta() }, { "Mcp-Method": "tools/list" });
    assert.equal(h1.status, 400);
    assert.equal(h1.body.error.code, -32020);
    const h2 = await post({ jsonrpc: "2.0", id: id++, method: "tools/list", params: { _meta: meta() } },
                          { "MCP-Protocol-Version": V });
    assert.equal(h2.status, 400, "Mcp-Method is required");
    const h3 = await modern("tools/call", { name: "workspace_list", arguments: {}, _meta: meta() },
                            { "Mcp-Name": "workspace_exec" });
    assert.equal(h3.body.error.code, -32020);
    const h4 = await modern("tools/list", { _meta: meta() }, { "MCP-Protocol-Version": "2099-01-01" });
    assert.equal(h4.status, 400);
    assert.equal(h4.body.error.code, -32022);
    const noauth = await fetch(url, { method: "POST", body: "{}", headers: { "Content-Type": "application/json",
                                                                              Accept: "application/json" } });
    assert.equal(noauth.status, 401);

    const c = await modern("tools/call", { name: "workspace_create", arguments: { environment: "debian:12-base" },
                                           _meta: meta() });
    const ws = c.body.result.structuredContent.workspace_id;
    const t = await modern("tools/call", { name: "workspace_exec", arguments: { workspace_id: ws, command: "sleep 2; echo h" },
                                           _meta: withTasks() });
    assert.equal(t.body.result.resultType, "task");
    const taskId = t.body.result.taskId;
    // Each poll is a new request (its own connection may come and go).
    const rpc = async (method, params) => (await modern(method, params)).body;
    const done = await pollTask(rpc, taskId);
    assert.equal(done.result.structuredContent.stdout, "h\n");

    // A handshake session (same token) cannot reach the modern task, and
    // a modern request cannot reach the session's tasks.
    await lc.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    await lc.listTools();
    await assert.rejects(lc.experimental.tasks.getTask(taskId), (e) => e.code === -32602);
    assert.equal((await lc.experimental.tasks.listTasks()).tasks.length, 0);
    const lt = await lc.request({ method: "tools/call", params: { name: "workspace_exec", task: {},
                                                                   arguments: { workspace_id: ws, command: "true" } } },
                                CreateTaskResultSchema);
    const r = await rpc("tasks/get", { taskId: lt.task.taskId, _meta: withTasks() });
    assert.equal(r.error.code, -32602);
    await modern("tools/call", { name: "workspace_delete", arguments: { workspace_id: ws }, _meta: meta() });
  } finally {
    await lc.close().catch(() => {});
    await stopProc(proc);
  }
});
