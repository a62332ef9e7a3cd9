// The workspace-core flow through the official SDK over stdio and HTTP:
// create (seeded), file write, exec, diff, export, reset, delete, with the
// SDK validating every structuredContent against its tool's outputSchema;
// progress during create and exec; cancellation of a long exec that leaves
// no process behind; two concurrent long execs on different workspaces;
// the project source as default seed; kill -9 of the server loses no
// workspace.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect, testHome, TRANSPORTS, LONG, until, stopProc } from "./lib.mjs";

const home = testHome("workspace");
test.after(() => home.cleanup());
const ENV = "debian:12-base";

const seed = join(home.dir, "seed");
mkdirSync(join(seed, "src"), { recursive: true });
writeFileSync(join(seed, "README"), "hello\n");
writeFileSync(join(seed, "src", "main.sh"), "echo one\n");

function wsIds() {
  const d = join(home.env.PYRO_HOME, "workspaces");
  return existsSync(d) ? readdirSync(d).filter((n) => !n.startsWith(".")) : [];
}

function procsWith(marker) {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.includes(marker) && !l.includes("ps -eo"));
}

// On the vm backend the guest's processes are not the host's: ask the
// guest (its /proc) through another exec on the same workspace. The
// pattern does not match its own command line ("41[.]75").
const onVm = process.env.PYRO_TEST_BACKEND === "vm";
async function guestProcsWith(c, ws, marker) {
  if (!onVm) return procsWith(marker);
  const pattern = marker.replace(".", "[.]");
  const r = await call(c, "workspace_exec", { workspace_id: ws,
    command: `grep -l -a -e '${pattern}' /proc/[0-9]*/cmdline 2>/dev/null; true` });
  return r.stdout.split("\n").filter((l) => l && !l.includes("/self/"));
}

async function call(c, name, args, opts = {}) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, { ...LONG, ...opts });
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent, `${name}: text copy`);
  return r.structuredContent;
}

for (const transport of TRANSPORTS) {
  test(`${transport}: workspace-core flow (create, write, exec, diff, export, reset, delete)`, async () => {
    // default profile: workspace-core; the seed and the export live in home.dir
    const c = await connect(transport, ["--allow-host-path", home.dir], home.env);
    try {
      await c.client.listTools(); // the SDK validates results against these outputSchemas
      const progress = [];
      const ws = await call(c, "workspace_create", { environment: ENV, seed_path: seed, name: `flow-${transport}` },
                            { onprogress: (p) => progress.push(p.message) });
      const id = ws.workspace_id;
      assert.equal(ws.state, "started");
      assert.ok(progress.some((m) => /seed/.test(m)) && progress.some((m) => /baseline/.test(m)),
                `create progress: ${progress}`);

      await call(c, "workspace_file_write", { workspace_id: id, path: "src/new.txt", text: "new file\n" });
      const xp = [];
      const ex = await call(c, "workspace_exec",
                            { workspace_id: id, command: "sh src/main.sh; echo two >> README; cat src/new.txt; exit 4" },
                            { onprogress: (p) => xp.push(p.message) });
      assert.equal(ex.exit_code, 4, "a failing command is a result");
      assert.equal(ex.stdout, "one\nnew file\n");
      assert.ok(xp.some((m) => /exec/.test(m)), `exec progress: ${xp}`);

      const diff = await call(c, "workspace_diff", { workspace_id: id });
      const byPath = Object.fromEntries(diff.entries.map((x) => [x.path, x.status]));
      assert.equal(byPath["README"], "modified", JSON.stringify(diff.entries));
      assert.equal(byPath["src/new.txt"], "added");
      assert.equal(diff.changed, true);
      assert.match(diff.patch, /\+two/);

      const out = join(home.dir, `export-${transport}.txt`);
      await call(c, "workspace_export", { workspace_id: id, path: "README", output_path: out });
      assert.equal(readFileSync(out, "utf8"), "hello\ntwo\n");

      const reset = await call(c, "workspace_reset", { workspace_id: id });
      assert.equal(reset.workspace_id, id);
      const after = await call(c, "workspace_diff", { workspace_id: id });
      assert.equal(after.changed, false, `clean after reset: ${JSON.stringify(after.entries)}`);
      assert.equal(after.entries.length, 0);
      const read = await call(c, "workspace_file_read", { workspace_id: id, path: "README" });
      assert.equal(read.content, "hello\n");

      const bad = await c.client.callTool({ name: "workspace_file_read", arguments: { workspace_id: id, path: "../etc/passwd" } });
      assert.equal(bad.isError, true, "path escape is a tool error");

      await call(c, "workspace_delete", { workspace_id: id });
      assert.ok(!wsIds().includes(id), "deleted");
    } finally {
      await c.close();
    }
  });
}

test("cancelling a long workspace_exec kills the guest process; two long execs run concurrently", async () => {
  const c = await connect("stdio", [], home.env);
  try {
    await c.client.listTools();
    const a = (await call(c, "workspace_create", { environment: ENV })).workspace_id;
    const b = (await call(c, "workspace_create", { environment: ENV })).workspace_id;

    // Two 3-second commands on different workspaces overlap; ping answers meanwhile.
    const t0 = Date.now();
    const both = Promise.all([
      call(c, "workspace_exec", { workspace_id: a, command: "sleep 3; echo a" }),
      call(c, "workspace_exec", { workspace_id: b, command: "sleep 3; echo b" }),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const p0 = Date.now();
    await c.client.ping();
    assert.ok(Date.now() - p0 < 1000, "ping is not blocked by long calls");
    const [ra, rb] = await both;
    assert.equal(ra.stdout, "a\n");
    assert.equal(rb.stdout, "b\n");
    const took = Date.now() - t0;
    assert.ok(took < 5500, `concurrent, not serial: ${took} ms`);

    // Cancel a long exec: the guest process dies, no reply, workspace usable.
    const ac = new AbortController();
    const marker = "sleep 41.75";
    const pending = c.client.callTool({ name: "workspace_exec", arguments: { workspace_id: a, command: marker } },
                                      undefined, { ...LONG, signal: ac.signal });
    assert.ok(await until(async () => (await guestProcsWith(c, a, marker)).length > 0, 30000), "the guest command runs");
    ac.abort("test cancels");
    await assert.rejects(pending);
    assert.ok(await until(async () => (await guestProcsWith(c, a, marker)).length === 0, 10000), "guest process killed");
    const again = await call(c, "workspace_exec", { workspace_id: a, command: "echo still here" });
    assert.equal(again.stdout, "still here\n");

    for (const id of [a, b]) await call(c, "workspace_delete", { workspace_id: id });
  } finally {
    await c.close();
  }
});

test("a server with --project-path seeds workspace_create from the project (git: tracked files only)", async () => {
  const proj = join(home.dir, "project");
  mkdirSync(join(proj, "build"), { recursive: true });
  writeFileSync(join(proj, "main.c"), "int main(void) { return 0; }\n");
  writeFileSync(join(proj, "build", "junk.o"), "untracked build output\n");
  const git = (...a) => execFileSync("git", ["-C", proj, ...a], { encoding: "utf8" });
  git("init", "-q");
  git("add", "main.c");
  git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init");
  for (const [source, tracked] of [[seed, false], [proj, true]]) {
    const c = await connect("stdio", ["--project-path", source], home.env);
    try {
      assert.ok(c.client.getInstructions().includes(source), "the project source is announced");
      await c.client.listTools();
      const ws = await call(c, "workspace_create", { environment: ENV });
      assert.equal(ws.workspace_seed.origin_kind, "project");
      const id = ws.workspace_id;
      if (!tracked) {
        const r = await call(c, "workspace_file_read", { workspace_id: id, path: "src/main.sh" });
        assert.equal(r.content, "echo one\n");
      } else {
        assert.equal(ws.workspace_seed.mode, "git_checkout");
        const r = await call(c, "workspace_file_read", { workspace_id: id, path: "main.c" });
        assert.match(r.content, /int main/);
        const head = await call(c, "workspace_file_read", { workspace_id: id, path: ".git/HEAD" });
        assert.match(head.content, /^ref: /, ".git comes along");
        const miss = await c.client.callTool({ name: "workspace_file_read", arguments: { workspace_id: id, path: "build/junk.o" } });
        assert.equal(miss.isError, true, "untracked files stay out");
      }
      await call(c, "workspace_delete", { workspace_id: id });
    } finally {
      await c.close();
    }
  }
});

test("kill -9 of the server during a call loses no workspace", async () => {
  const c = await connect("http", ["--allow-host-path", home.dir], home.env);
  let id;
  try {
    await c.client.listTools();
    id = (await call(c, "workspace_create", { environment: ENV, seed_path: seed })).workspace_id;
    c.client.callTool({ name: "workspace_exec", arguments: { workspace_id: id, command: "sleep 3; echo done > late.txt" } },
                      undefined, LONG).catch(() => {});
    await new Promise((r) => setTimeout(r, 1000));
    await stopProc(c.proc, "SIGKILL");
  } finally {
    await c.client.close().catch(() => {});
  }
  const d = await connect("stdio", [], home.env);
  try {
    await d.client.listTools();
    const list = await call(d, "workspace_list", {});
    assert.ok(list.workspaces.some((w) => w.workspace_id === id), "a new server lists the workspace");
    const ex = await call(d, "workspace_exec", { workspace_id: id, command: "cat README" });
    assert.equal(ex.stdout, "hello\n");
    await call(d, "workspace_delete", { workspace_id: id });
  } finally {
    await d.close();
  }
});
