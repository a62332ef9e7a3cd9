// Helpers shared by the MCP tests: start `pyro mcp serve` over stdio or
// Streamable HTTP and connect the official TypeScript SDK client to it.
// The environment comes from ctest (tests/mcp/CMakeLists.txt): PYRO is the
// binary, PYRO_TEST_CACHE the shared environment cache.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, readdirSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

export const PYRO = process.env.PYRO;
if (!PYRO) throw new Error("PYRO must point at the pyro binary");

// A private state dir per test file; the environment cache is shared.
export function testHome(name) {
  const dir = mkdtempSync(join(tmpdir(), `pyro-mcp-${name}-`));
  const env = {
    ...process.env,
    PYRO_HOME: join(dir, "state"),
    XDG_CACHE_HOME: process.env.PYRO_TEST_CACHE || join(dir, "cache"),
  };
  // The backend the server's creates default to (ctest's ".vm" variants).
  if (process.env.PYRO_TEST_BACKEND) env.PYRO_BACKEND = process.env.PYRO_TEST_BACKEND;
  // A failed test must not leave sandboxes running once their state is
  // gone: delete the remaining VMs and workspaces through the CLI first.
  const cleanup = () => {
    for (const [kind, cmd] of [["vms", "vm"], ["workspaces", "workspace"]]) {
      const d = join(env.PYRO_HOME, kind);
      for (const id of existsSync(d) ? readdirSync(d).filter((n) => !n.startsWith(".")) : [])
        spawnSync(PYRO, [cmd, "delete", id], { env, stdio: "ignore", timeout: 60000 });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, env, cleanup };
}

// Starts an HTTP server; resolves with {url, proc, token, tokenFile} once
// it listens. Without --auth-token-file in args the server generates a
// token into a 0600 file under the state dir and names it on stderr.
export function startHttp(args, env, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(PYRO, ["mcp", "serve", "--transport", "http", "--listen", "127.0.0.1:0", ...args, ...extra], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    const timer = setTimeout(() => reject(new Error(`server did not listen: ${err}`)), 10000);
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        const all = [...args, ...extra];
        const given = all.indexOf("--auth-token-file");
        const tokenFile = given >= 0 ? all[given + 1] : /bearer token in (\S+)/.exec(err)?.[1];
        const token = tokenFile ? readFileSync(tokenFile, "utf8").split(/\r?\n/)[0] : undefined;
        resolve({ url: m[1], proc, token, tokenFile, stderr: () => err });
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

export function stopProc(proc, signal = "SIGTERM") {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill(signal);
  });
}

// Connects an SDK client. transport: "stdio" | "http". Returns
// {client, close, proc (http), url (http), transport}.
export async function connect(transport, args, env, opts = {}) {
  const client = new Client({ name: "pyro-tests", version: "0" });
  if (transport === "stdio") {
    const t = new StdioClientTransport({ command: PYRO, args: ["mcp", "serve", ...args], env, stderr: "inherit",
                                         cwd: opts.cwd });
    await client.connect(t);
    return { client, transport: t, close: () => client.close() };
  }
  const { url, proc, token } = await startHttp(args, env);
  const requestInit = { ...(opts.requestInit || {}) };
  requestInit.headers = { Authorization: `Bearer ${token}`, ...(requestInit.headers || {}) };
  const t = new StreamableHTTPClientTransport(new URL(url), { requestInit });
  await client.connect(t);
  return {
    client, transport: t, url, proc, token,
    close: async () => { await client.close().catch(() => {}); await stopProc(proc); },
  };
}

export const TRANSPORTS = ["stdio", "http"];

// Long calls: generous timeouts, reset by progress.
export const LONG = { timeout: 600_000, resetTimeoutOnProgress: true };

export function vmIds(home) {
  const d = join(home.env.PYRO_HOME, "vms");
  return existsSync(d) ? readdirSync(d) : [];
}

export async function until(pred, ms = 20000, step = 100) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, step));
  }
  return false;
}
