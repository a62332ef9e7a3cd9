// Tasks (2025-11-25 experimental tasks, docs/mcp.md "Tasks"), driven with
// the SDK's experimental task client: a 90-second workspace_exec runs as a
// task the client polls (no request lasts anywhere near a host's 60-s
// tool-call limit: every request here has a 60-s timeout) and completes;
// cancelling a task kills the guest process; a task survives its HTTP
// connection and is read from a new one; another session cannot see or
// cancel it; bad task ids are errors; ended results go after their ttl;
// a session's working tasks are capped.
// The 90-second task is the only long step: everything else runs while it
// works.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { connect, testHome, until, vmIds } from "./lib.mjs";

const home = testHome("tasks");
// Up to five sandboxes at once here (the default cap is four).
home.env.PYRO_MAX_ACTIVE_VMS = "8";
test.after(() => home.cleanup());

// What a chat host allows one request (and what these tests allow each).
const HOST = { timeout: 60_000 };

function procsWith(marker) {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.includes(marker) && !l.includes("ps -eo"));
}

// Runs a tool as a task through the SDK's stream: {created, statuses, result, error}.
async function runTask(client, name, args, opts = {}) {
  const out = { statuses: [] };
  const stream = client.experimental.tasks.callToolStream({ name, arguments: args }, CallToolResultSchema,
                                                          { ...HOST, ...opts });
  for await (const m of stream) {
    if (m.type === "taskCreated") out.created = m.task;
    else if (m.type === "taskStatus") out.statuses.push(m.task.status);
    else if (m.type === "result") out.result = m.result;
    else if (m.type === "error") out.error = m.error;
  }
  return out;
}

// Starts a task without waiting for it: its CreateTaskResult's task.
async function startTask(client, name, args, task = {}) {
  const stream = client.experimental.tasks.callToolStream({ name, arguments: args }, CallToolResultSchema,
                                                          { ...HOST, task });
  const first = await stream.next();
  await stream.return();
  assert.equal(first.value.type, "taskCreated", JSON.stringify(first.value));
  return first.value.task;
}

async function rejectsWith(promise, code, re) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, String(e));
    if (re) assert.match(e.message, re);
    return true;
  });
}

async function newWorkspace(client) {
  const r = await client.callTool({ name: "workspace_create", arguments: { environment: "debian:12-base" } },
                                  undefined, HOST);
  assert.equal(r.isError, false, JSON.stringify(r));
  return r.structuredContent.workspace_id;
}

test("tasks", { concurrency: true }, async (t) => {
  const s = await connect("stdio", ["--profile", "workspace-core"], home.env);
  const h = await connect("http", ["--profile", "workspace-full"], home.env);
  try {
    const caps = s.client.getServerCapabilities();
    assert.deepEqual(caps.tasks, { list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const tools = (await s.client.listTools()).tools;
    const support = Object.fromEntries(tools.map((x) => [x.name, x.execution?.taskSupport]));
    assert.equal(support.workspace_exec, "optional");
    assert.equal(support.workspace_create, "forbidden");
    await h.client.listTools();
    const ws = await newWorkspace(s.client);

    // The ttl check: a short task first; its result is dropped ttl (clamped
    // to the 60-s minimum) after it ended, which the long task outlasts.
    const short = await runTask(s.client, "workspace_exec", { workspace_id: ws, command: "echo short" },
                                { task: { ttl: 1000 } });
    assert.equal(short.result?.structuredContent?.stdout, "short\n", JSON.stringify(short));
    assert.equal(short.created.ttl, 60000, "the ttl is clamped to the minimum");

    await Promise.all([
      t.test("a 90-second workspace_exec completes as a polled task", async () => {
        const t0 = Date.now();
        const r = await runTask(s.client, "workspace_exec",
                                { workspace_id: ws, command: "sleep 90; echo finished", timeout_seconds: 300 });
        const took = Date.now() - t0;
        assert.equal(r.error, undefined, String(r.error));
        assert.equal(r.created.status, "working");
        assert.match(r.created.taskId, /^[a-z0-9]{32}$/);
        assert.ok(r.statuses.length >= 30, `polled ${r.statuses.length} times`);
        assert.equal(r.statuses.at(-1), "completed");
        assert.equal(r.result.structuredContent.stdout, "finished\n");
        assert.equal(r.result.structuredContent.exit_code, 0);
        assert.equal(r.result._meta["io.modelcontextprotocol/related-task"].taskId, r.created.taskId);
        assert.ok(took >= 90000, `took ${took} ms`);
        console.log(`# 90-s task: ${took} ms, ${r.statuses.length} polls`);
        // By now the short task's result is past its ttl.
        await rejectsWith(s.client.experimental.tasks.getTask(short.created.taskId), -32602, /not found/i);
        const list = await s.client.experimental.tasks.listTasks();
        assert.ok(!list.tasks.some((x) => x.taskId === short.created.taskId));
      }),

      t.test("tasks/cancel kills the guest process", async () => {
        const marker = "sleep 47.25";
        const task = await startTask(s.client, "workspace_exec", { workspace_id: ws, command: marker });
        assert.ok(await until(() => procsWith(marker).length > 0, 30000), "the guest command runs");
        const got = await s.client.experimental.tasks.getTask(task.taskId);
        assert.equal(got.status, "working");
        const c = await s.client.experimental.tasks.cancelTask(task.taskId);
        assert.equal(c.status, "cancelled");
        assert.ok(await until(() => procsWith(marker).length === 0, 10000), "guest process killed");
        assert.equal((await s.client.experimental.tasks.getTask(task.taskId)).status, "cancelled");
        await rejectsWith(s.client.experimental.tasks.cancelTask(task.taskId), -32602, /terminal/);
        await rejectsWith(s.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema), -32602,
                          /cancelled/);
        // The workspace goes on.
        const r = await s.client.callTool({ name: "workspace_exec", arguments: { workspace_id: ws, command: "echo ok" } },
                                          undefined, HOST);
        assert.equal(r.structuredContent.stdout, "ok\n");
      }),

      t.test("bad task ids and tools that do not run as tasks are errors", async () => {
        const tasks = s.client.experimental.tasks;
        for (const id of ["nope", "", "../../etc/passwd", "a".repeat(5000)]) {
          await rejectsWith(tasks.getTask(id), -32602, /not found/i);
          await rejectsWith(tasks.cancelTask(id), -32602, /not found/i);
          await rejectsWith(tasks.getTaskResult(id, CallToolResultSchema), -32602, /not found/i);
        }
        await rejectsWith(s.client.request({ method: "tasks/get", params: {} }, CallToolResultSchema), -32602,
                          /taskId/);
        await rejectsWith(tasks.listTasks("some-cursor"), -32602, /cursor/);
        await rejectsWith(s.client.request({ method: "tasks/update", params: { taskId: "x" } },
                                           CallToolResultSchema), -32601);
        await rejectsWith(
          s.client.request({ method: "tools/call",
                             params: { name: "workspace_list", arguments: {}, task: {} } }, CallToolResultSchema),
          -32601, /taskSupport/);
        await rejectsWith(
          s.client.request({ method: "tools/call",
                             params: { name: "workspace_exec", arguments: { workspace_id: ws, command: "true" },
                                       task: 5 } }, CallToolResultSchema),
          -32602, /task/);
        // Invalid arguments: a tool error, as without a task; no task is made.
        const before = (await tasks.listTasks()).tasks.length;
        const bad = await s.client.request({ method: "tools/call",
                                             params: { name: "workspace_exec", arguments: { command: "true" },
                                                       task: {} } }, CallToolResultSchema);
        assert.equal(bad.isError, true);
        assert.equal((await tasks.listTasks()).tasks.length, before);
      }),

      t.test("at most 8 working tasks per session; cancelled, they leave no process", async () => {
        const c = await connect("stdio", ["--profile", "workspace-core"], home.env);
        try {
          await c.client.listTools();
          // Two workspaces of four (the per-workspace limit) fill the eight;
          // the ninth is refused by the task cap, checked first.
          const wss = [await newWorkspace(c.client), await newWorkspace(c.client)];
          const marker = "sleep 52.125";
          const tasks = [];
          for (let i = 0; i < 8; i++)
            tasks.push(await startTask(c.client, "workspace_exec", { workspace_id: wss[i % 2], command: marker }));
          const refused = await c.client.request(
            { method: "tools/call", params: { name: "workspace_exec", task: {},
                                              arguments: { workspace_id: wss[0], command: "true" } } },
            CallToolResultSchema);
          assert.equal(refused.isError, true);
          assert.match(refused.content[0].text, /limit_exceeded.*MCP_TASKS_RUNNING_MAX/);
          assert.ok(await until(() => procsWith(marker).length >= 8, 30000), "eight guest commands run");
          for (const x of tasks) await c.client.experimental.tasks.cancelTask(x.taskId);
          assert.ok(await until(() => procsWith(marker).length === 0, 15000), "every guest process killed");
          const ok = await runTask(c.client, "workspace_exec", { workspace_id: wss[0], command: "echo room" });
          assert.equal(ok.result?.structuredContent?.stdout, "room\n", JSON.stringify(ok));
          for (const w of wss)
            await c.client.callTool({ name: "workspace_delete", arguments: { workspace_id: w } }, undefined, HOST);
        } finally {
          await c.close();
        }
      }),

      t.test("http: a task survives its connection; another session cannot see it", async () => {
        const hws = await newWorkspace(h.client);
        const task = await startTask(h.client, "workspace_exec", { workspace_id: hws, command: "sleep 6; echo later" });
        // A tasks/result that waits, then its connection drops.
        const ac = new AbortController();
        const waiting = h.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema,
                                                                  { ...HOST, signal: ac.signal });
        await new Promise((r) => setTimeout(r, 500));
        ac.abort("drop");
        await assert.rejects(waiting);
        const sessionId = h.transport.sessionId;
        await h.transport.close(); // the client goes; the session and its task stay
        // A new connection of the same session polls on.
        const again = new Client({ name: "pyro-tests-again", version: "0" });
        const t2 = new StreamableHTTPClientTransport(new URL(h.url), {
          sessionId, requestInit: { headers: { Authorization: `Bearer ${h.token}` } } });
        await again.connect(t2);
        // Another session, same token: the task is not its to see.
        const other = new Client({ name: "pyro-tests-other", version: "0" });
        await other.connect(new StreamableHTTPClientTransport(new URL(h.url), {
          requestInit: { headers: { Authorization: `Bearer ${h.token}` } } }));
        try {
          await rejectsWith(other.experimental.tasks.getTask(task.taskId), -32602, /not found/i);
          await rejectsWith(other.experimental.tasks.cancelTask(task.taskId), -32602, /not found/i);
          await rejectsWith(other.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema), -32602);
          assert.equal((await other.experimental.tasks.listTasks()).tasks.length, 0);
          const st = await again.experimental.tasks.getTask(task.taskId);
          assert.ok(["working", "completed"].includes(st.status), st.status);
          const res = await again.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, HOST);
          assert.equal(res.structuredContent.stdout, "later\n");
          assert.equal((await again.experimental.tasks.getTask(task.taskId)).status, "completed");
          // vm_run runs as a task too (its VM is removed when it ends).
          const vr = await runTask(again, "vm_run", { environment: "debian:12-base", command: "echo from-vm" });
          assert.equal(vr.result?.structuredContent?.stdout, "from-vm\n", JSON.stringify(vr));
          assert.ok(await until(() => vmIds(home).length === 0, 20000), `left: ${vmIds(home)}`);
          // A failing command is a completed task (exit_code is data); a
          // tool error makes the task failed, its result still readable.
          const bad = await startTask(again, "workspace_exec", { workspace_id: "nosuchws", command: "true" });
          assert.ok(await until(async () =>
            (await again.experimental.tasks.getTask(bad.taskId)).status === "failed", 20000));
          const br = await again.experimental.tasks.getTaskResult(bad.taskId, CallToolResultSchema);
          assert.equal(br.isError, true);
          await again.callTool({ name: "workspace_delete", arguments: { workspace_id: hws } }, undefined, HOST);
        } finally {
          await other.close().catch(() => {});
          await again.close().catch(() => {});
        }
      }),
    ]);
    await s.client.callTool({ name: "workspace_delete", arguments: { workspace_id: ws } }, undefined, HOST);
  } finally {
    await s.close();
    await h.close();
  }
});
