// A pulled OCI image named by its reference over MCP, through the official
// SDK: vm_run and workspace_create take it as `environment`, and commands
// run in it (an image without a shell: argv). Run by
// tests/integration/test_oci.sh, which starts the registry, pulls the image
// into its cache and passes PYRO_OCI_IMAGE (the reference) and
// PYRO_TEST_CACHE (that cache); not a suite of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, testHome, LONG, vmIds } from "./lib.mjs";

const IMG = process.env.PYRO_OCI_IMAGE;
const home = testHome("image-ref");
test.after(() => home.cleanup());

async function call(c, name, args) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, LONG);
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

test("vm_run and a workspace in a pulled image named by its reference", async () => {
  assert.ok(IMG, "PYRO_OCI_IMAGE names the pulled image");
  const v = await connect("stdio", ["--profile", "vm-run"], home.env);
  try {
    await v.client.listTools(); // the SDK checks results against the output schemas
    const run = await call(v, "vm_run", { environment: IMG, command: "/bin/hello mcp" });
    assert.equal(run.exit_code, 0);
    assert.equal(run.stdout, "hello mcp\n");
  } finally {
    await v.close();
  }
  const c = await connect("stdio", ["--profile", "workspace-core"], home.env);
  try {
    await c.client.listTools();
    const ws = await call(c, "workspace_create", { environment: IMG });
    assert.equal(ws.environment, IMG);
    const ex = await call(c, "workspace_exec", { workspace_id: ws.workspace_id, command: "/bin/hello env" });
    assert.equal(ex.stdout, "2 /bin /workspace\n", "the image's Env, and the workspace's cwd");
    await call(c, "workspace_delete", { workspace_id: ws.workspace_id });
    assert.deepEqual(vmIds(home), []);
  } finally {
    await c.close();
  }
});
