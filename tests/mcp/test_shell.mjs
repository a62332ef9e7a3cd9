// PTY shells through the official SDK: workspace-core lists no shell tool;
// workspace-full opens a shell, drives read-driven input with plain reads
// that wait for quiet output, interrupts a sleep with shell_signal, and a
// second server (another client process) reads the same shell by cursor
// after the first one is gone; delete says how many shells it closed.
// Every structuredContent is validated by the SDK against its tool's
// outputSchema (listTools first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, testHome, LONG } from "./lib.mjs";

const home = testHome("shell");
test.after(() => home.cleanup());
const ENV = "debian:12-base";

async function call(c, name, args) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, LONG);
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

// Reads from cursor until the plain output holds want; returns {text, cursor}.
async function readUntil(c, ws, shell, cursor, want) {
  let text = "";
  const end = Date.now() + 120_000;
  while (!text.includes(want) && Date.now() < end) {
    const r = await call(c, "shell_read",
                         { workspace_id: ws, shell_id: shell, cursor, plain: true, wait_for_idle_ms: 300 });
    assert.equal(r.plain, true);
    assert.ok(!r.output.includes("\x1b"), `plain output has no escapes: ${JSON.stringify(r.output)}`);
    text += r.output;
    cursor = r.next_cursor;
  }
  assert.ok(text.includes(want), `no ${want} in ${JSON.stringify(text)}`);
  return { text, cursor };
}

test("workspace-core lists no shell tool", async () => {
  const c = await connect("stdio", [], home.env);
  try {
    const { tools } = await c.client.listTools();
    assert.deepEqual(tools.filter((t) => t.name.startsWith("shell_")).map((t) => t.name), []);
    await assert.rejects(c.client.callTool({ name: "shell_open", arguments: { workspace_id: "x" } }),
                         /Unknown tool: shell_open/, "shell_open is not callable on workspace-core");
  } finally {
    await c.close();
  }
});

test("workspace-full: a shell driven by tools, read again by a second server", async () => {
  let c = await connect("stdio", ["--profile", "workspace-full"], home.env);
  let ws;
  try {
    const { tools } = await c.client.listTools();
    for (const n of ["shell_open", "shell_read", "shell_write", "shell_signal", "shell_close"])
      assert.ok(tools.some((t) => t.name === n), `${n} listed`);
    ws = (await call(c, "workspace_create", { environment: ENV })).workspace_id;
    const sh = await call(c, "shell_open", { workspace_id: ws });
    assert.equal(sh.shell_id, "shell-1");
    assert.equal(sh.state, "running");
    assert.equal(sh.cwd, "/workspace");
    assert.deepEqual([sh.cols, sh.rows], [120, 30]);
    let { cursor } = await readUntil(c, ws, "shell-1", 0, "# ");

    await call(c, "shell_write", { workspace_id: ws, shell_id: "shell-1",
                                   input: "read -r -p \"who$((6*7))? \" n; echo \"hi-$n\"" });
    ({ cursor } = await readUntil(c, ws, "shell-1", cursor, "who42? "));
    await call(c, "shell_write", { workspace_id: ws, shell_id: "shell-1", input: "mcp" });
    ({ cursor } = await readUntil(c, ws, "shell-1", cursor, "hi-mcp"));

    await call(c, "shell_write", { workspace_id: ws, shell_id: "shell-1",
                                   input: "sh -c 'echo sleeping-now; exec sleep 100'" });
    ({ cursor } = await readUntil(c, ws, "shell-1", cursor, "sleeping-now\n"));
    const sig = await call(c, "shell_signal", { workspace_id: ws, shell_id: "shell-1" });
    assert.equal(sig.signal, "INT");
    await call(c, "shell_write", { workspace_id: ws, shell_id: "shell-1", input: "echo rc-$?" });
    ({ cursor } = await readUntil(c, ws, "shell-1", cursor, "rc-130"));

    // Bad input is a tool error and changes nothing.
    const bad = await c.client.callTool({ name: "shell_read", arguments: { workspace_id: ws, shell_id: "shell-7" } });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0].text, /no shell shell-7/);
    const badSig = await c.client.callTool({ name: "shell_signal",
                                             arguments: { workspace_id: ws, shell_id: "shell-1", signal_name: "STOP" } });
    assert.equal(badSig.isError, true);

    // The shell outlives this server: a new one reads it by cursor.
    await call(c, "shell_write", { workspace_id: ws, shell_id: "shell-1", input: "echo after-$((40+2))" });
    await c.close();
    c = await connect("stdio", ["--profile", "workspace-full"], home.env);
    await c.client.listTools();
    const again = await readUntil(c, ws, "shell-1", cursor, "after-42");
    assert.ok(!again.text.includes("rc-130"), "a read from the cursor starts after it");

    const closed = await call(c, "shell_close", { workspace_id: ws, shell_id: "shell-1" });
    assert.equal(closed.state, "closed");
    await call(c, "shell_open", { workspace_id: ws });
    const del = await call(c, "workspace_delete", { workspace_id: ws });
    assert.equal(del.closed_shells, 1);
    ws = null;
  } finally {
    if (ws) await c.client.callTool({ name: "workspace_delete", arguments: { workspace_id: ws } }).catch(() => {});
    await c.close();
  }
});
