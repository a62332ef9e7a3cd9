// tools/list for every profile and mode, over stdio and HTTP, against the
// hand-written table in expected-tools.mjs; the shape of every tool.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { connect, testHome, TRANSPORTS, PYRO } from "./lib.mjs";
import { EXPECTED } from "./expected-tools.mjs";

const home = testHome("lists");
test.after(() => home.cleanup());

const surfaces = [
  ...Object.entries(EXPECTED.profiles).map(([n, tools]) => ({ args: ["--profile", n], name: n, tools })),
  ...Object.entries(EXPECTED.modes).map(([n, tools]) => ({ args: ["--mode", n], name: n, tools, mode: true })),
  { args: [], name: "default (workspace-core)", tools: EXPECTED.profiles["workspace-core"] },
];

for (const transport of TRANSPORTS) {
  for (const s of surfaces) {
    test(`${transport}: tools/list of ${s.name}`, async () => {
      const c = await connect(transport, s.args, home.env);
      try {
        assert.equal(c.client.getServerVersion().name, "pyro");
        assert.ok(c.client.getServerCapabilities().tools, "tools capability");
        assert.ok(c.client.getServerCapabilities().logging, "logging capability");
        const { tools, nextCursor } = await c.client.listTools();
        assert.equal(nextCursor, undefined);
        assert.deepEqual(tools.map((t) => t.name).sort(), [...s.tools].sort());
        for (const t of tools) {
          assert.ok(t.title && t.description, `${t.name}: title and description`);
          assert.equal(t.inputSchema.type, "object");
          assert.equal(t.inputSchema.additionalProperties, false, `${t.name}: additionalProperties false`);
          assert.equal(t.outputSchema.type, "object");
          for (const k of ["readOnlyHint", "idempotentHint", "openWorldHint"])
            assert.equal(typeof t.annotations[k], "boolean", `${t.name}: ${k}`);
          if (s.mode) assert.match(t.description, new RegExp(`^\\[${s.name}\\]`), "mode-specific description");
        }
        if (s.mode) assert.match(c.client.getInstructions(), new RegExp(`Mode ${s.name}:`));
      } finally {
        await c.close();
      }
    });
  }
}

test("narrowed schemas: vm_run has the same parameters on vm-run and workspace-full", async () => {
  const a = await connect("stdio", ["--profile", "vm-run"], home.env);
  const b = await connect("stdio", ["--profile", "workspace-full"], home.env);
  try {
    const ta = (await a.client.listTools()).tools.find((t) => t.name === "vm_run");
    const tb = (await b.client.listTools()).tools.find((t) => t.name === "vm_run");
    assert.deepEqual(Object.keys(ta.inputSchema.properties).sort(), Object.keys(tb.inputSchema.properties).sort());
    assert.deepEqual(ta.inputSchema.required.sort(), ["command", "environment"]);
    assert.equal(tb.annotations.destructiveHint, true);
    const status = (await b.client.listTools()).tools.find((t) => t.name === "vm_status");
    assert.equal(status.annotations.readOnlyHint, true);
  } finally {
    await a.close();
    await b.close();
  }
});

test("bad server options are refused with one clear line", () => {
  const cases = [
    [["--profile", "nope"], /unknown profile 'nope'/],
    [["--mode", "nope"], /unknown mode 'nope'/],
    [["--mode", "inspect", "--profile", "vm-run"], /not both/],
    [["--transport", "carrier-pigeon"], /unknown transport/],
    [["--listen", "127.0.0.1:1"], /need --transport http/],
    [["--transport", "http", "--listen", "0.0.0.0:0"], /auth-token-file is required/],
    [["--repo-ref", "main"], /--repo-ref needs --repo-url/],
    [["--bogus"], /unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(PYRO, ["mcp", "serve", ...args], { env: home.env, input: "", encoding: "utf8" });
    assert.notEqual(r.status, 0, args.join(" "));
    assert.match(r.stderr, re, args.join(" "));
    assert.equal(r.stdout, "", "nothing on stdout");
  }
});
