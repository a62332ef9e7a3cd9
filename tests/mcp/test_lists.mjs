// tools/list for every profile and mode, over stdio and HTTP, against the
// hand-written table in expected-tools.mjs; the shape of every tool; the
// tool and parameter tables of docs/mcp.md against what the server lists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
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

test("narrowed schemas: network_policy and allow_hosts on workspace_create in workspace-full only", async () => {
  for (const [profile, has] of [["workspace-full", true], ["workspace-core", false]]) {
    const c = await connect("stdio", ["--profile", profile], home.env);
    try {
      const t = (await c.client.listTools()).tools.find((x) => x.name === "workspace_create");
      const p = t.inputSchema.properties;
      assert.equal("network_policy" in p, has, `${profile}: network_policy`);
      assert.equal("allow_hosts" in p, has, `${profile}: allow_hosts`);
      if (has) {
        assert.deepEqual(p.network_policy.enum, ["off", "egress", "egress+published-ports"]);
        assert.equal(p.network_policy.default, "off");
        assert.equal(p.allow_hosts.type, "array");
      }
    } finally {
      await c.close();
    }
  }
});

test("text and patch are required on every surface that lists their tools, as in the seed", async () => {
  const seen = new Set();
  for (const s of surfaces) {
    const c = await connect("stdio", s.args, home.env);
    try {
      const { tools } = await c.client.listTools();
      for (const [tool, param, cliOnly] of [["workspace_file_write", "text", "text_file"],
                                            ["workspace_patch_apply", "patch", "patch_file"]]) {
        const t = tools.find((x) => x.name === tool);
        if (!t) continue;
        seen.add(tool);
        assert.deepEqual([...t.inputSchema.required].sort(),
                         tool === "workspace_file_write" ? ["path", "text", "workspace_id"] : ["patch", "workspace_id"],
                         `${s.name}: ${tool} required`);
        assert.equal(t.inputSchema.properties[param].type, "string");
        assert.equal(t.inputSchema.properties[cliOnly], undefined, `${s.name}: ${cliOnly} is CLI-only`);
        assert.equal(t.inputSchema.oneOf, undefined);
      }
      // No published schema names a CLI option or a CLI-only parameter.
      for (const t of tools) assert.doesNotMatch(JSON.stringify(t.inputSchema), /text_file|patch_file/, t.name);
    } finally {
      await c.close();
    }
  }
  assert.deepEqual([...seen].sort(), ["workspace_file_write", "workspace_patch_apply"]);
});

// The rows of the first markdown table after `heading` in docs/mcp.md, as
// arrays of cells, without the header and separator rows.
function docTable(heading) {
  const doc = readFileSync(join(process.env.PYRO_SOURCE_DIR, "docs", "mcp.md"), "utf8");
  const at = doc.indexOf(heading);
  assert.ok(at >= 0, `docs/mcp.md has ${heading}`);
  const lines = doc.slice(at).split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const rows = [];
  for (const l of lines.slice(start)) {
    if (!l.startsWith("|")) break;
    if (!/^\|[-|]+\|$/.test(l)) rows.push(l.split("|").slice(1, -1).map((c) => c.trim()));
  }
  assert.ok(rows.length > 1, `a table after ${heading}`);
  return rows.slice(1);
}
const ticked = (cell) => [...cell.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);

test("docs/mcp.md: the mode table and the parameter table say what the server lists", async () => {
  for (const [mode, , tools] of docTable("| mode | task | tools |"))
    assert.deepEqual(ticked(tools).sort(), [...EXPECTED.modes[mode.replaceAll("`", "")]].sort(), `mode ${mode}`);
  const c = await connect("stdio", ["--profile", "workspace-full"], home.env);
  try {
    const { tools } = await c.client.listTools();
    const documented = new Set();
    for (const [names, params] of docTable("## Tool parameters")) {
      const want = { props: [], required: [], defaults: {} };
      if (params !== "none")
        for (const m of params.split("; not yet")[0].matchAll(/`([a-z_]+)`(\*)?(?:=("[^"]*"|[^,\s]+))?/g)) {
          want.props.push(m[1]);
          if (m[2]) want.required.push(m[1]);
          if (m[3] !== undefined) want.defaults[m[1]] = m[3].replace(/^"|"$/g, "");
        }
      for (const name of ticked(names)) {
        documented.add(name);
        const t = tools.find((x) => x.name === name);
        assert.ok(t, `documented tool ${name} is listed`);
        const sch = t.inputSchema;
        assert.deepEqual(Object.keys(sch.properties).sort(), [...want.props].sort(), `${name}: parameters`);
        assert.deepEqual([...(sch.required ?? [])].sort(), [...want.required].sort(), `${name}: required`);
        for (const [k, v] of Object.entries(want.defaults))
          assert.equal(String(sch.properties[k].default), v, `${name}.${k}: default`);
        for (const [k, v] of Object.entries(sch.properties))
          if (v.default !== undefined) assert.ok(k in want.defaults, `${name}.${k}: default ${v.default} documented`);
      }
    }
    assert.deepEqual([...documented].sort(), tools.map((t) => t.name).sort(), "every tool documented once");
  } finally {
    await c.close();
  }
});

test("bad server options are refused with one clear line", () => {
  // Usage errors (what parsing the options finds) exit 2; what the server
  // finds when it starts (a non-loopback address without a token) exits 1.
  const cases = [
    [["--profile", "nope"], /unknown profile 'nope'/, 2],
    [["--mode", "nope"], /unknown mode 'nope'/, 2],
    [["--mode", "inspect", "--profile", "vm-run"], /not both/, 2],
    [["--transport", "carrier-pigeon"], /unknown transport/, 2],
    [["--listen", "127.0.0.1:1"], /need --transport http/, 2],
    [["--transport", "http", "--listen", "0.0.0.0:0"], /auth-token-file is required/, 1],
    [["--repo-ref", "main"], /--repo-ref needs --repo-url/, 2],
    [["--bogus"], /unknown option '--bogus'/, 2],
  ];
  for (const [args, re, status] of cases) {
    const r = spawnSync(PYRO, ["mcp", "serve", ...args], { env: home.env, input: "", encoding: "utf8" });
    assert.equal(r.status, status, args.join(" "));
    assert.match(r.stderr, re, args.join(" "));
    assert.equal(r.stdout, "", "nothing on stdout");
  }
});
