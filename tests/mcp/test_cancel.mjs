// Cancellation of a long call kills the guest command and removes the VM
// vm_run had created (no process or state left), sends no reply, and does
// not disturb the session. kill -9 of the server during a call loses no VM:
// a new server sees and uses it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { connect, testHome, TRANSPORTS, LONG, vmIds, until, stopProc } from "./lib.mjs";

const home = testHome("cancel");
test.after(() => home.cleanup());

// Processes whose command line carries marker (the guest's sleep runs in
// the host's process table under a pid namespace).
function procsWith(marker) {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.includes(marker) && !l.includes("ps -eo"));
}

for (const transport of TRANSPORTS) {
  test(`${transport}: cancelling a long vm_run leaves nothing behind`, async () => {
    const c = await connect(transport, ["--profile", "vm-run"], home.env);
    const marker = transport === "stdio" ? "31.25" : "31.5";
    try {
      await c.client.listTools();
      const ac = new AbortController();
      let execStarted = false;
      const call = c.client.callTool(
        { name: "vm_run", arguments: { environment: "debian:12-base", command: `sleep ${marker}` } },
        undefined,
        { ...LONG, signal: ac.signal, onprogress: (p) => { if (/exec/.test(p.message)) execStarted = true; } },
      );
      assert.ok(await until(() => execStarted && procsWith(`sleep ${marker}`).length > 0, 60000),
                "the guest command runs");
      assert.equal(vmIds(home).length, 1);
      const t0 = Date.now();
      ac.abort("test cancels");
      await assert.rejects(call);
      assert.ok(await until(() => procsWith(`sleep ${marker}`).length === 0, 10000), "guest process killed");
      assert.ok(await until(() => vmIds(home).length === 0, 20000), `the VM is removed: ${vmIds(home)}`);
      console.log(`# ${transport}: cancel to clean: ${Date.now() - t0} ms`);
      await c.client.ping(); // the session goes on
    } finally {
      await c.close();
    }
  });
}

test("kill -9 of the server during a call loses no VM", async () => {
  const c = await connect("http", ["--profile", "workspace-full"], home.env);
  let vmId;
  try {
    await c.client.listTools();
    const created = await c.client.callTool(
      { name: "vm_create", arguments: { environment: "debian:12-base", ttl_seconds: 600 } }, undefined, LONG);
    vmId = created.structuredContent.vm_id;
    const started = await c.client.callTool({ name: "vm_start", arguments: { vm_id: vmId } }, undefined, LONG);
    assert.equal(started.structuredContent.state, "running");
    // A long call in flight when the server dies.
    c.client.callTool({ name: "vm_run", arguments: { environment: "debian:12-base", command: "sleep 5" } },
                      undefined, LONG).catch(() => {});
    await new Promise((r) => setTimeout(r, 1500));
    await stopProc(c.proc, "SIGKILL");
  } finally {
    await c.client.close().catch(() => {});
  }
  const d = await connect("stdio", ["--profile", "workspace-full"], home.env);
  try {
    await d.client.listTools();
    const st = await d.client.callTool({ name: "vm_status", arguments: { vm_id: vmId } });
    assert.equal(st.isError, false, JSON.stringify(st));
    assert.equal(st.structuredContent.state, "running");
    const ex = await d.client.callTool({ name: "vm_exec", arguments: { vm_id: vmId, command: "echo alive" } },
                                       undefined, LONG);
    assert.equal(ex.structuredContent.stdout, "alive\n");
    const gone = await d.client.callTool({ name: "vm_status", arguments: { vm_id: vmId } });
    assert.equal(gone.isError, true, "vm_exec auto-cleans the VM");
    // The orphaned worker of the killed server finished its vm_run and
    // removed that VM itself.
    assert.ok(await until(() => vmIds(home).length === 0, 30000), `left: ${vmIds(home)}`);
  } finally {
    await d.close();
  }
});
