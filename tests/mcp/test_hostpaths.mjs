// The host-path policy (docs/mcp.md "Host-path policy"), through the
// official SDK over stdio and HTTP: every host path an MCP caller names
// (seed_path, source_path, output_path) must resolve beneath an allowed
// root; a symlink inside a root that points outside is refused; export
// writes only into a root, never through or as a link leaving it, and the
// file belongs to the invoking user; the narrowed modes meant for untrusted
// code are confined too; the client's MCP roots add roots for its session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdirSync, writeFileSync, readFileSync, existsSync, symlinkSync, chmodSync, chownSync, lstatSync, readlinkSync,
  readdirSync, realpathSync,
} from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { PYRO, testHome, TRANSPORTS, LONG, stopProc } from "./lib.mjs";

const home = testHome("hostpaths");
test.after(() => home.cleanup());
const ENV = "debian:12-base";
const D = realpathSync(home.dir);

// allowed/ is the root given with --allow-host-path; outside/ is not.
const allowed = join(D, "allowed");
const outside = join(D, "outside");
const extra = join(D, "client-root"); // offered by the client as an MCP root
mkdirSync(join(allowed, "seed", "src"), { recursive: true });
mkdirSync(join(allowed, "out"), { recursive: true });
mkdirSync(join(outside, "cron.d"), { recursive: true });
mkdirSync(join(allowed, ".git", "hooks"), { recursive: true });
mkdirSync(extra);
writeFileSync(join(allowed, "seed", "README"), "inside the root\n");
writeFileSync(join(outside, "secret.txt"), "root only\n");
chmodSync(outside, 0o700);
writeFileSync(join(extra, "pushed.txt"), "from the client's root\n");
symlinkSync(outside, join(allowed, "escape"));                          // a directory link leaving the root
symlinkSync(join(outside, "secret.txt"), join(allowed, "escape-file")); // a file link leaving the root
symlinkSync(join(outside, "cron.d", "pwned"), join(allowed, "dangling")); // a dangling link leaving the root

// The HTTP server always requires a bearer token: the test gives it one.
const token = randomBytes(24).toString("hex");
const tokenFile = join(D, "token");
writeFileSync(tokenFile, token + "\n", { mode: 0o600 });

function startHttp(args, env) {
  const extraArgs = ["--auth-token-file", tokenFile];
  return new Promise((resolve, reject) => {
    const proc = spawn(PYRO, ["mcp", "serve", "--transport", "http", "--listen", "127.0.0.1:0", ...args, ...extraArgs],
                       { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const timer = setTimeout(() => reject(new Error(`server did not listen: ${err}`)), 10000);
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], proc });
      }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${err}`)); });
  });
}

// Connects the SDK client; roots: the client's MCP roots (an array of
// directories, changeable through .roots), or undefined for a client without
// the roots capability.
async function open(transport, args, { env = home.env, roots } = {}) {
  const state = { roots, asked: 0 };
  const client = new Client({ name: "pyro-hostpaths", version: "0" },
                            roots ? { capabilities: { roots: { listChanged: true } } } : {});
  if (roots)
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      state.asked++;
      return { roots: state.roots.map((d) => ({ uri: "file://" + encodeURI(d), name: d })) };
    });
  if (transport === "stdio") {
    await client.connect(new StdioClientTransport({ command: PYRO, args: ["mcp", "serve", ...args], env,
                                                    stderr: "inherit" }));
    return { client, state, close: () => client.close() };
  }
  const { url, proc } = await startHttp(args, env);
  const headers = { Authorization: `Bearer ${token}` };
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return { client, state, proc,
           close: async () => { await client.close().catch(() => {}); await stopProc(proc); } };
}

async function ok(c, name, args) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, LONG);
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

// A refused call: isError, naming the parameter and the allowed roots.
async function refused(c, name, args, param, roots = [allowed]) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, LONG);
  const text = r.content?.[0]?.text ?? "";
  assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} was not refused: ${text}`);
  assert.match(text, new RegExp(param), `${name}: the error names ${param}: ${text}`);
  for (const root of roots) assert.ok(text.includes(root), `${name}: the error names the root ${root}: ${text}`);
  return text;
}

function noSecretsLeft() {
  assert.deepEqual(readdirSync(join(outside, "cron.d")), [], "nothing was written outside the roots");
  assert.deepEqual(readdirSync(outside).sort(), ["cron.d", "secret.txt"]);
}

const ALLOW = ["--allow-host-path", allowed];
let wsId; // a workspace seeded from inside the root, shared by the tests below

for (const transport of TRANSPORTS) {
  test(`${transport}: seed_path and source_path outside the roots are refused, inside works`, async () => {
    const c = await open(transport, ["--profile", "workspace-full", ...ALLOW]);
    try {
      for (const p of [outside, join(outside, "secret.txt"), join(allowed, "escape"), join(allowed, "escape") + "/",
                       join(allowed, "escape-file"), join(allowed, "..", "outside"), "/etc", "/root", "/"])
        await refused(c, "workspace_create", { environment: ENV, seed_path: p }, "seed_path");
      const ws = await ok(c, "workspace_create", { environment: ENV, seed_path: join(allowed, "seed") });
      const id = ws.workspace_id;
      wsId ??= id;
      assert.equal((await ok(c, "workspace_file_read", { workspace_id: id, path: "README" })).content,
                   "inside the root\n");
      for (const p of [outside, join(allowed, "escape"), join(allowed, "escape-file"), "/etc"])
        await refused(c, "workspace_sync_push", { workspace_id: id, source_path: p }, "source_path");
      const push = await ok(c, "workspace_sync_push", { workspace_id: id, source_path: join(allowed, "seed", "src"),
                                                        dest: "again" });
      assert.equal(push.source_path, join(allowed, "seed", "src"));
      const listed = await ok(c, "workspace_exec", { workspace_id: id, command: "grep -rl 'root only' /workspace || true" });
      assert.equal(listed.stdout, "", "the root-only file never reached the workspace");
      if (id !== wsId) await ok(c, "workspace_delete", { workspace_id: id });
    } finally {
      await c.close();
    }
  });

  test(`${transport}: export writes only into a root, never through or as a link leaving it`, async () => {
    const c = await open(transport, ["--profile", "workspace-full", ...ALLOW]);
    try {
      const id = wsId;
      assert.ok(id, "the seeding test made a workspace");
      await ok(c, "workspace_exec", { workspace_id: id, command:
        "printf '* * * * * root touch /tmp/pwned\\n' > cron; chmod 755 cron; mkdir -p d; echo in-d > d/f; " +
        "ln -sfn ../../../../../../../etc/shadow up; ln -sfn /etc/passwd abs; ln -sfn README inside" });
      for (const p of [join(outside, "cron.d", "pyro"), join(allowed, "escape", "cron.d", "pyro"), "/etc/cron.d/pyro",
                       join(allowed, "..", "outside", "cron.d", "pyro")])
        await refused(c, "workspace_export", { workspace_id: id, path: "cron", output_path: p }, "output_path");
      // A final symlink is never written through, not even a dangling one.
      await refused(c, "workspace_export", { workspace_id: id, path: "cron", output_path: join(allowed, "dangling") },
                    "output_path", []);
      // Nothing goes into a .git directory (hooks would run on the host).
      await refused(c, "workspace_export",
                    { workspace_id: id, path: "cron", output_path: join(allowed, ".git", "hooks", "pre-commit") },
                    "output_path", []);
      noSecretsLeft();
      assert.equal(readlinkSync(join(allowed, "dangling")), join(outside, "cron.d", "pwned"), "the link is untouched");

      const out = join(allowed, "out", `cron-${transport}`);
      const e = await ok(c, "workspace_export", { workspace_id: id, path: "cron", output_path: out });
      assert.equal(e.output_path, out);
      assert.equal(readFileSync(out, "utf8"), "* * * * * root touch /tmp/pwned\n");
      assert.equal(lstatSync(out).mode & 0o111, 0, "no execute bits on an exported file");
      await refused(c, "workspace_export", { workspace_id: id, path: "cron", output_path: out }, "output_path", []);
      const tar = join(allowed, "out", `d-${transport}.tar`);
      assert.equal((await ok(c, "workspace_export", { workspace_id: id, path: "d", output_path: tar })).format, "tar");
      assert.ok(lstatSync(tar).isFile());
      // Exported symlinks: one that stays inside the root is fine; one whose
      // target leaves it is refused.
      const lin = join(allowed, "out", `inside-${transport}`);
      assert.equal((await ok(c, "workspace_export", { workspace_id: id, path: "inside", output_path: lin })).format,
                   "symlink");
      assert.equal(readlinkSync(lin), "README");
      for (const l of ["up", "abs"])
        await refused(c, "workspace_export",
                      { workspace_id: id, path: l, output_path: join(allowed, "out", `${l}-${transport}`) },
                      "output_path", []);
      assert.ok(!existsSync(join(allowed, "out", `up-${transport}`)) && !existsSync(join(allowed, "out", `abs-${transport}`)));
      noSecretsLeft();
    } finally {
      await c.close();
    }
  });

  test(`${transport}: the client's MCP roots add roots for its session`, async () => {
    const plain = await open(transport, ["--profile", "workspace-full", ...ALLOW]);
    try {
      await refused(plain, "workspace_sync_push", { workspace_id: wsId, source_path: extra }, "source_path");
    } finally {
      await plain.close();
    }
    const c = await open(transport, ["--profile", "workspace-full", ...ALLOW], { roots: [extra] });
    try {
      const r = await ok(c, "workspace_sync_push", { workspace_id: wsId, source_path: extra, dest: "from-client" });
      assert.equal(r.source_path, extra);
      assert.ok(c.state.asked >= 1, "the server asked roots/list");
      await refused(c, "workspace_sync_push", { workspace_id: wsId, source_path: outside }, "source_path",
                    [allowed, extra]);
      // roots/list_changed: the next call sees the new list.
      c.state.roots = [outside];
      await c.client.sendRootsListChanged();
      const r2 = await ok(c, "workspace_sync_push", { workspace_id: wsId, source_path: join(outside, "cron.d"),
                                                      dest: "changed" });
      assert.equal(r2.source_path, join(outside, "cron.d"));
      await refused(c, "workspace_sync_push", { workspace_id: wsId, source_path: extra }, "source_path",
                    [allowed, outside]);
    } finally {
      await c.close();
    }
  });
}

test("the modes meant for untrusted code (inspect, review-eval) are confined", async () => {
  const i = await open("stdio", ["--mode", "inspect", ...ALLOW]);
  try {
    await refused(i, "workspace_create", { environment: ENV, seed_path: outside }, "seed_path");
  } finally {
    await i.close();
  }
  const r = await open("http", ["--mode", "review-eval", ...ALLOW]);
  try {
    await refused(r, "workspace_create", { environment: ENV, seed_path: join(allowed, "escape") }, "seed_path");
    await refused(r, "workspace_export", { workspace_id: wsId, path: "README", output_path: join(outside, "cron.d", "x") },
                  "output_path");
    noSecretsLeft();
  } finally {
    await r.close();
  }
});

test("default roots: the project source (read only) and the server's export directory", async () => {
  const c = await open("stdio", ["--project-path", join(allowed, "seed")]);
  try {
    const ins = c.client.getInstructions();
    const m = /export directory: (\S+?)[;.]?(\s|$)/.exec(ins);
    assert.ok(m, `the instructions name the export directory: ${ins}`);
    const exportDir = m[1];
    assert.ok(exportDir.startsWith(join(home.env.PYRO_HOME, "mcp", "exports")), exportDir);
    const out = join(exportDir, "readme.txt");
    await ok(c, "workspace_export", { workspace_id: wsId, path: "README", output_path: out });
    assert.equal(readFileSync(out, "utf8"), "inside the root\n");
    await ok(c, "workspace_sync_push", { workspace_id: wsId, source_path: join(allowed, "seed", "src"), dest: "proj" });
    // The project is a read root only: nothing is exported into it.
    await refused(c, "workspace_export", { workspace_id: wsId, path: "README",
                                           output_path: join(allowed, "seed", "x") }, "output_path", [exportDir]);
    await refused(c, "workspace_sync_push", { workspace_id: wsId, source_path: allowed }, "source_path",
                  [join(allowed, "seed"), exportDir]);
  } finally {
    await c.close();
  }
});

test("an export belongs to the invoking user (SUDO_UID, else the owner of the root)", async (t) => {
  if (process.getuid() !== 0) return t.skip("needs root to create files for another user");
  const owned = join(D, "owned-root");
  mkdirSync(owned);
  chownSync(owned, 4242, 4343);
  const env = { ...home.env, SUDO_UID: "1234", SUDO_GID: "5678" };
  const sudo = await open("stdio", ["--allow-host-path", owned], { env });
  try {
    await ok(sudo, "workspace_export", { workspace_id: wsId, path: "README", output_path: join(owned, "sudo.txt") });
    await ok(sudo, "workspace_export", { workspace_id: wsId, path: "inside", output_path: join(owned, "sudo-link") });
  } finally {
    await sudo.close();
  }
  const env2 = { ...home.env };
  delete env2.SUDO_UID;
  delete env2.SUDO_GID;
  const plain = await open("stdio", ["--allow-host-path", owned], { env: env2 });
  try {
    await ok(plain, "workspace_export", { workspace_id: wsId, path: "README", output_path: join(owned, "owner.txt") });
  } finally {
    await plain.close();
  }
  for (const [f, uid, gid] of [["sudo.txt", 1234, 5678], ["sudo-link", 1234, 5678], ["owner.txt", 4242, 4343]]) {
    const st = lstatSync(join(owned, f));
    assert.deepEqual([st.uid, st.gid], [uid, gid], `${f} owner`);
  }
});

test("disk tools over MCP: a running workspace is refused; a stopped one's disk export is confined like export", async () => {
  const c = await open("stdio", ["--profile", "workspace-full", ...ALLOW]);
  try {
    assert.ok(wsId, "the seeding test made a workspace");
    const out = join(allowed, "out", "disk.img");
    await refused(c, "workspace_disk_export", { workspace_id: wsId, output_path: out }, "stopped", []);
    await refused(c, "workspace_disk_list", { workspace_id: wsId }, "stopped", []);
    assert.ok(!existsSync(out), "a refused disk export wrote nothing");
    await ok(c, "workspace_stop", { workspace_id: wsId });
    for (const p of [join(outside, "cron.d", "disk.img"), "/etc/cron.d/pyro-disk", join(allowed, "..", "outside", "d.img")])
      await refused(c, "workspace_disk_export", { workspace_id: wsId, output_path: p }, "output_path");
    await refused(c, "workspace_disk_export", { workspace_id: wsId, output_path: join(allowed, "dangling") },
                  "output_path", []);
    noSecretsLeft();
    const l = await ok(c, "workspace_disk_list", { workspace_id: wsId });
    assert.ok(l.entries.some((e) => e.path === "/workspace/README"), JSON.stringify(l));
    const r = await ok(c, "workspace_disk_read", { workspace_id: wsId, path: "/workspace/README", max_bytes: 4 });
    assert.equal(r.bytes_read, 4);
    assert.equal(r.truncated, true);
    const e = await ok(c, "workspace_disk_export", { workspace_id: wsId, output_path: out });
    assert.equal(e.format, "raw-ext4");
    assert.equal(e.output_path, out);
    assert.ok(lstatSync(out).isFile());
    assert.equal(lstatSync(out).mode & 0o777, 0o600, "the image is the invoking user's alone");
    await ok(c, "workspace_start", { workspace_id: wsId });
  } finally {
    await c.close();
  }
});

test("cleanup", async () => {
  const c = await open("stdio", ["--profile", "workspace-full", ...ALLOW]);
  try {
    if (wsId) await ok(c, "workspace_delete", { workspace_id: wsId });
  } finally {
    await c.close();
  }
});
