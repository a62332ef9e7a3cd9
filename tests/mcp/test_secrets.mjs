// Secrets over MCP through the official SDK: workspace-core has no
// secrets or secret_env in its schemas; workspace-full creates a workspace
// with a literal and a file secret (a file_path outside the allowed host
// paths is refused, nothing created), uses secret_env on exec, shell_open
// and service_start, and every message the client receives (results,
// errors, progress and log notifications) is hunted for the values,
// including one the guest prints a byte at a time and one across the
// capture limit. Each result is checked by the SDK against its schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { connect, testHome, LONG } from "./lib.mjs";

const home = testHome("secrets");
test.after(() => home.cleanup());
const ENV = "debian:12-base";
const V1 = "mcp-literal-Q1w2E3r4T5";
const V2 = "mcp-file-P0o9I8u7Y6";
const allowed = join(home.dir, "allowed");
mkdirSync(allowed, { recursive: true });
writeFileSync(join(allowed, "tok"), `${V2}\n`);
writeFileSync(join(home.dir, "outside-tok"), `${V2}\n`);

const seen = []; // every text the client got
function keep(x) {
  seen.push(typeof x === "string" ? x : JSON.stringify(x));
}

async function open(args) {
  const c = await connect("stdio", args, home.env);
  c.client.fallbackNotificationHandler = async (n) => keep(n);
  return c;
}

async function call(c, name, args, ok = true) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, { ...LONG, onprogress: (p) => keep(p) });
  keep(r);
  if (ok) assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  return ok ? r.structuredContent : r;
}

function workspaces() {
  const d = join(home.env.PYRO_HOME, "workspaces");
  return existsSync(d) ? readdirSync(d).filter((n) => !n.startsWith(".")) : [];
}

test("workspace-core has no secrets and no secret_env", async () => {
  const c = await open([]);
  try {
    const { tools } = await c.client.listTools();
    const create = tools.find((t) => t.name === "workspace_create");
    const exec = tools.find((t) => t.name === "workspace_exec");
    assert.ok(!("secrets" in create.inputSchema.properties));
    assert.ok(!("secret_env" in exec.inputSchema.properties));
    const r = await call(c, "workspace_create", { environment: ENV, secrets: [{ name: "A", value: V1 }] }, false);
    assert.equal(r.isError, true);
    assert.equal(workspaces().length, 0);
  } finally {
    await c.close();
  }
});

test("workspace-full: secrets in every path, redacted", async () => {
  const c = await open(["--profile", "workspace-full", "--allow-host-path", allowed]);
  let ws;
  try {
    await c.client.setLoggingLevel("debug");
    const { tools } = await c.client.listTools();
    const create = tools.find((t) => t.name === "workspace_create");
    assert.equal(create.inputSchema.properties.secrets.items.type, "object");
    assert.ok(!("secret" in create.inputSchema.properties), "the CLI's --secret is not an MCP parameter");
    // Refused before anything exists: a file outside the roots, a bad name,
    // a short value, a duplicate.
    for (const [secrets, why] of [
      [[{ name: "A", file_path: join(home.dir, "outside-tok") }], /file_path|allowed/],
      [[{ name: "1A", value: V1 }], /environment variable name/],
      [[{ name: "A", value: "short" }], /8 to 4096 bytes/],
      [[{ name: "A", value: V1 }, { name: "A", value: V2 }], /defined twice/],
      [[{ name: "A", value: V1, file_path: "x" }], /exactly one of value or file_path/],
    ]) {
      const r = await call(c, "workspace_create", { environment: ENV, secrets }, false);
      assert.equal(r.isError, true, JSON.stringify(secrets));
      assert.match(r.content[0].text, why);
    }
    assert.equal(workspaces().length, 0, "refused creates left nothing");

    const w = await call(c, "workspace_create", {
      environment: ENV,
      secrets: [{ name: "API_TOKEN", value: V1 }, { name: "FILE_TOKEN", file_path: join(allowed, "tok") }],
    });
    ws = w.workspace_id;
    assert.deepEqual(w.secrets, [{ name: "API_TOKEN", source_kind: "literal" }, { name: "FILE_TOKEN", source_kind: "file" }]);

    const e = await call(c, "workspace_exec", {
      workspace_id: ws,
      secret_env: { API_TOKEN: "API_TOKEN", FILE_TOKEN: "F" },
      command: 'test "$F" = "' + V2 + '" && echo env-ok; echo "$API_TOKEN"; echo "$F" >&2; ' +
        'for c in $(printf %s "$API_TOKEN" | fold -w1); do printf %s "$c"; sleep 0.01; done; echo',
    });
    assert.equal(e.stdout, "env-ok\n[REDACTED]\n[REDACTED]\n");
    assert.equal(e.stderr, "[REDACTED]\n");
    const cut = await call(c, "workspace_exec", {
      workspace_id: ws, secret_env: { API_TOKEN: "T" },
      command: 'head -c 1048571 /dev/zero | tr "\\0" x; printf %s "$T"',
    });
    assert.equal(cut.stdout_truncated, true);
    assert.ok(cut.stdout.endsWith("x[REDACTED]"), cut.stdout.slice(-30));
    const unknown = await call(c, "workspace_exec", { workspace_id: ws, secret_env: { NOPE: "X" }, command: "true" },
                               false);
    assert.match(unknown.content[0].text, /unknown secret 'NOPE'/);
    await call(c, "workspace_exec", { workspace_id: ws, command: `echo ${V1} > f.txt` });
    await call(c, "workspace_logs", { workspace_id: ws });
    await call(c, "workspace_file_read", { workspace_id: ws, path: `/workspace/${V1}` }, false);

    const sh = await call(c, "shell_open", { workspace_id: ws, secret_env: { API_TOKEN: "API_TOKEN" } });
    await call(c, "shell_write", { workspace_id: ws, shell_id: sh.shell_id,
      input: 'for c in $(printf %s "$API_TOKEN" | fold -w1); do printf %s "$c"; sleep 0.05; done; echo; echo DONE""-MARK' });
    let text = "", cursor = 0;
    for (let i = 0; i < 80 && !text.includes("DONE-MARK"); i++) {
      const r = await call(c, "shell_read", { workspace_id: ws, shell_id: sh.shell_id, cursor, plain: true });
      text += r.output;
      cursor = r.next_cursor;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(text, /\[REDACTED\]/);

    await call(c, "service_start", { workspace_id: ws, service_name: "svc", secret_env: { API_TOKEN: "T" },
      command: 'for c in $(printf %s "$T" | fold -w1); do printf %s "$c"; sleep 0.05; done; echo; sleep 60' });
    let logs;
    for (let i = 0; i < 40; i++) {
      logs = await call(c, "service_logs", { workspace_id: ws, service_name: "svc" });
      if (logs.stdout.endsWith("\n")) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(logs.stdout, "[REDACTED]\n");
    await call(c, "service_stop", { workspace_id: ws, service_name: "svc" });
    await call(c, "workspace_status", { workspace_id: ws });
    await call(c, "workspace_summary", { workspace_id: ws });
    const d = await call(c, "workspace_diff", { workspace_id: ws });
    assert.match(JSON.stringify(d), /\[REDACTED\]/);
    await call(c, "workspace_reset", { workspace_id: ws });
    const after = await call(c, "workspace_exec", { workspace_id: ws, secret_env: { API_TOKEN: "T" },
      command: 'test "$(cat /run/pyro-secrets/API_TOKEN)" = "$T" && echo again' });
    assert.equal(after.stdout, "again\n");
  } finally {
    if (ws) await call(c, "workspace_delete", { workspace_id: ws });
    await c.close();
  }
  const all = seen.join("\n");
  assert.match(all, /\[REDACTED\]/, "the hunt saw the outputs");
  for (const v of [V1, V2]) {
    assert.ok(!all.includes(v), `a message held ${v}: ${all.slice(Math.max(0, all.indexOf(v) - 200), all.indexOf(v) + 50)}`);
    assert.ok(!all.includes(v.slice(0, 12)) && !all.includes(v.slice(-12)), `a message held part of ${v}`);
  }
});
