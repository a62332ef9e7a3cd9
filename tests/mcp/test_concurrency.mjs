// Per-workspace concurrency: one workspace busy with as many long execs as
// the per-workspace limit allows (MCP_INSTANCE_CALLS_MAX = 4) does not
// block anything else. Meanwhile tools/list, workspace_list, the busy
// workspace's status and every call on another workspace succeed at once,
// and one more call on the busy workspace fails with limit_exceeded naming
// the workspace and the limit. Before, the execs waited for each other on
// the workspace lock and status waited behind them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect, testHome, TRANSPORTS, LONG, until } from "./lib.mjs";

const home = testHome("concurrency");
test.after(() => home.cleanup());
const ENV = "debian:12-base";
const CAP = 4;

async function call(c, name, args, opts = {}) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, { ...LONG, ...opts });
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

// fn must answer within ms (a call stuck behind the busy workspace fails).
async function quick(what, fn, ms = 10000) {
  const t0 = Date.now();
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), limit]);
  } finally {
    clearTimeout(timer);
    console.log(`# ${what}: ${Date.now() - t0} ms`);
  }
}

for (const transport of TRANSPORTS) {
  test(`${transport}: a workspace busy with long execs blocks neither other workspaces nor its own status`, async () => {
    const c = await connect(transport, ["--profile", "workspace-full"], home.env);
    let busy = [];
    try {
      const a = (await call(c, "workspace_create", { environment: ENV })).workspace_id;
      const b = (await call(c, "workspace_create", { environment: ENV })).workspace_id;
      // The writable layer as the host sees it: on the disk image mounted
      // at sandbox/disk/ (root, docs/workspaces.md "Disk quota"), else upper/.
      const wsdir = join(home.env.PYRO_HOME, "workspaces", a);
      const upper = existsSync(join(wsdir, "sandbox", "disk", "upper"))
        ? join(wsdir, "sandbox", "disk", "upper", "workspace") : join(wsdir, "upper", "workspace");
      for (let i = 0; i < CAP; i++) rmSync(join(upper, `.run${i}`), { force: true });
      // CAP long commands on a, all running at once.
      busy = Array.from({ length: CAP }, (_, i) =>
        c.client.callTool({ name: "workspace_exec",
                            arguments: { workspace_id: a, command: `touch .run${i}; sleep 25; echo ${i}`,
                                         timeout_seconds: 120 } }, undefined, LONG));
      assert.ok(await until(() => Array.from({ length: CAP }, (_, i) => existsSync(join(upper, `.run${i}`)))
                                      .every(Boolean), 30000, 200),
                `the ${CAP} execs on ${a} did not all run at once`);

      await quick("tools/list", () => c.client.listTools());
      const list = await quick("workspace_list", () => call(c, "workspace_list", {}));
      assert.equal(list.count, 2);
      const st = await quick("workspace_status (busy)", () => call(c, "workspace_status", { workspace_id: a }));
      assert.equal(st.state, "started");
      const e = await quick("workspace_exec (other)", () =>
        call(c, "workspace_exec", { workspace_id: b, command: "echo other" }));
      assert.equal(e.stdout, "other\n");
      await quick("workspace_file_write (other)", () =>
        call(c, "workspace_file_write", { workspace_id: b, path: "x.txt", text: "x\n" }));
      const rd = await quick("workspace_file_read (other)", () =>
        call(c, "workspace_file_read", { workspace_id: b, path: "x.txt" }));
      assert.equal(rd.content, "x\n");

      // One more call on the busy workspace: refused, naming it and the limit.
      const over = await quick("workspace_file_read (busy, past the limit)", () =>
        c.client.callTool({ name: "workspace_file_read", arguments: { workspace_id: a, path: ".run0" } }, undefined,
                          LONG));
      assert.equal(over.isError, true, JSON.stringify(over.content));
      const text = over.content[0].text;
      assert.match(text, /limit_exceeded/);
      assert.ok(text.includes(`workspace ${a}`), text);
      assert.match(text, new RegExp(`MCP_INSTANCE_CALLS_MAX, is ${CAP}`));

      // The long commands all finish, with distinct sequence numbers.
      const done = await Promise.all(busy);
      busy = [];
      const seqs = done.map((r) => {
        assert.equal(r.isError, false, JSON.stringify(r.content));
        return r.structuredContent.sequence;
      }).sort();
      assert.deepEqual(seqs, [1, 2, 3, 4]);
      // Now a has room again.
      await call(c, "workspace_file_read", { workspace_id: a, path: ".run0" });
      await call(c, "workspace_delete", { workspace_id: a });
      await call(c, "workspace_delete", { workspace_id: b });
    } finally {
      await Promise.allSettled(busy);
      await c.close();
    }
  });
}
