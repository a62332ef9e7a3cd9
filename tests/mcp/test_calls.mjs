// tools/call through the SDK over both transports: vm_run in
// debian:12-base with progress, isError results, protocol errors, and two
// concurrent long calls that do not block each other or ping. The SDK
// validates structuredContent against each tool's outputSchema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { McpError, EmptyResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { connect, testHome, TRANSPORTS, LONG, vmIds } from "./lib.mjs";

const home = testHome("calls");
test.after(() => home.cleanup());

for (const transport of TRANSPORTS) {
  test(`${transport}: vm_run in debian:12-base with progress notifications`, async () => {
    const c = await connect(transport, ["--profile", "vm-run"], home.env);
    try {
      await c.client.listTools(); // the SDK caches outputSchemas for validation
      const progress = [];
      const r = await c.client.callTool(
        { name: "vm_run", arguments: { environment: "debian:12-base", command: "echo hi; echo err >&2; exit 3" } },
        undefined,
        { ...LONG, onprogress: (p) => progress.push(p) },
      );
      assert.equal(r.isError, false);
      assert.equal(r.structuredContent.exit_code, 3, "a failing command is a result, not an error");
      assert.equal(r.structuredContent.stdout, "hi\n");
      assert.equal(r.structuredContent.stderr, "err\n");
      assert.equal(r.structuredContent.cleanup.deleted, true);
      assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent, "text copy");
      assert.ok(progress.length >= 3, `progress notifications: ${JSON.stringify(progress)}`);
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress);
      assert.ok(progress.some((p) => /exec/.test(p.message)), "an exec phase");
      assert.deepEqual(vmIds(home), [], "vm_run leaves no VM");
    } finally {
      await c.close();
    }
  });

  test(`${transport}: isError for bad arguments and runtime failures, JSON-RPC errors for protocol faults`, async () => {
    const c = await connect(transport, ["--profile", "workspace-full"], home.env);
    try {
      await c.client.listTools();
      const bad = await c.client.callTool({ name: "vm_run", arguments: { environment: "debian:12-base" } });
      assert.equal(bad.isError, true);
      assert.match(bad.content[0].text, /missing required parameter 'command'/);
      assert.equal(bad.structuredContent, undefined);
      const extra = await c.client.callTool({ name: "vm_status", arguments: { vm_id: "x", secret: 1 } });
      assert.equal(extra.isError, true);
      assert.match(extra.content[0].text, /unknown parameter 'secret'/);
      const range = await c.client.callTool({
        name: "vm_run", arguments: { environment: "debian:12-base", command: "true", timeout_seconds: 0 } });
      assert.equal(range.isError, true);
      assert.match(range.content[0].text, /timeout_seconds must be between 1 and 3600/);
      // text and patch are required, as in the seed; the CLI-only --text-file
      // and --patch-file are never named (MCP errors speak parameter names).
      for (const [tool, param, cliOnly] of [["workspace_file_write", "text", "text_file"],
                                            ["workspace_patch_apply", "patch", "patch_file"]]) {
        const args = { workspace_id: "abcdef012345", ...(tool === "workspace_file_write" ? { path: "a.txt" } : {}) };
        const r = await c.client.callTool({ name: tool, arguments: args });
        assert.equal(r.isError, true, `${tool} without ${param}`);
        const e = JSON.parse(r.content[0].text).error;
        assert.equal(e.code, "invalid_argument");
        assert.equal(e.message, `${tool}: missing required parameter '${param}'`);
        assert.doesNotMatch(r.content[0].text, new RegExp(`--|${cliOnly}`));
        const viaFile = await c.client.callTool({ name: tool, arguments: { ...args, [cliOnly]: "/etc/passwd" } });
        assert.equal(viaFile.isError, true, `${cliOnly} is not an MCP parameter`);
        assert.match(viaFile.content[0].text, new RegExp(`unknown parameter '${cliOnly}'`));
        assert.doesNotMatch(viaFile.content[0].text, /--/);
      }
      const missing = await c.client.callTool({ name: "vm_status", arguments: { vm_id: "abcdef012345" } });
      assert.equal(missing.isError, true);
      assert.equal(JSON.parse(missing.content[0].text).error.code, "not_found");
      await assert.rejects(c.client.callTool({ name: "no_such_tool", arguments: {} }),
                           (e) => e instanceof McpError && e.code === -32602 && /Unknown tool/.test(e.message));
      await assert.rejects(c.client.request({ method: "resources/list", params: {} }, EmptyResultSchema),
                           (e) => e.code === -32601);
      await c.client.setLoggingLevel("debug");
      await c.client.ping();
    } finally {
      await c.close();
    }
  });

  test(`${transport}: two long calls run concurrently and ping stays prompt`, async () => {
    const c = await connect(transport, ["--profile", "workspace-full"], home.env);
    try {
      await c.client.listTools();
      const t0 = Date.now();
      const call = (tag) => c.client.callTool(
        { name: "vm_run", arguments: { environment: "debian:12-base", command: `sleep 4; echo ${tag}` } },
        undefined, LONG);
      const both = Promise.all([call("a"), call("b")]);
      await new Promise((r) => setTimeout(r, 1500));
      const p0 = Date.now();
      await c.client.ping();
      const pingMs = Date.now() - p0;
      const [a, b] = await both;
      const wall = Date.now() - t0;
      assert.equal(a.structuredContent.stdout, "a\n");
      assert.equal(b.structuredContent.stdout, "b\n");
      assert.ok(pingMs < 500, `ping took ${pingMs} ms during two long calls`);
      assert.ok(wall < 7500, `two 4 s calls took ${wall} ms: they did not overlap`);
      console.log(`# ${transport}: two concurrent 4 s vm_run calls: ${wall} ms; ping during them: ${pingMs} ms`);
    } finally {
      await c.close();
    }
  });
}
