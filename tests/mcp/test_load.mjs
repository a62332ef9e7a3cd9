// Load and abuse on one Streamable HTTP server, on loopback, bounded to a
// few tens of seconds: 50 concurrent SDK sessions do workspace work on a
// handful of workspaces (create, file write, exec, file read, delete) while
// on the same server
//   - slowloris clients send half a request head and then one byte a
//     second, from several loopback addresses, reconnecting when closed;
//   - oversized clients send a 10 GiB Content-Length (or an endless chunked
//     body) and pump bytes, with no token, a wrong token, or the right one,
//     at once or after the answer to their head;
// and every legitimate call must be answered (a limit_exceeded answer of the
// 16-worker cap is retried, as its message says), no half-open connection
// may outlive the 10 s header deadline, the attackers get 401 (413 with the
// token) from their head alone, their bodies are never read, and the
// server's peak resident size
// (VmHWM of /proc/<pid>/status) must stay under MEMORY_BOUND_MB
// (docs/mcp.md, "HTTP transport security").
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startHttp, stopProc, testHome } from "./lib.mjs";

const SESSIONS = 50;
const WORKSPACES = 4;
const ATTACK_MS = 20000;          // the legitimate work goes on for at least this long
const SLOW_CLIENTS = 320;         // half-open connections kept up: more than the 256 allowed
const SLOW_ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
const HEADER_DEADLINE_MS = 10000; // HTTP_HEADER_TIMEOUT_MS
// Measured here, a connection's life also holds its wait in the listen
// backlog and this busy process's own delays (test_auth.mjs measures the
// deadline itself on an idle server).
const LIFE_SLACK_MS = 6000;
const MEMORY_BOUND_MB = 32;
const ENV = "debian:12-base";

const home = testHome("load");
test.after(() => home.cleanup());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function memory(pid) {
  const st = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(st)[1]);
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

// ---- attackers ---------------------------------------------------------

function slowloris(port, stats, running) {
  const open = (localAddress) => {
    if (!running()) return;
    const s = net.connect({ host: "127.0.0.1", port, localAddress });
    let timer;
    stats.open.add(s);
    s.on("connect", () => {
      s.t0 = Date.now();
      s.write("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ");
      timer = setInterval(() => s.write("a"), 1000);
    });
    s.on("data", (d) => { stats.answers.add(String(d).split("\r\n")[0]); });
    s.on("error", () => {});
    s.on("close", () => {
      clearInterval(timer);
      stats.open.delete(s);
      stats.closed++;
      if (!s.t0) return setTimeout(() => open(localAddress), 500); // never connected
      const life = Date.now() - s.t0;
      stats.maxLife = Math.max(stats.maxLife, life);
      if (life < HEADER_DEADLINE_MS - 1000) stats.early++;
      setTimeout(() => open(localAddress), 500);
    });
  };
  for (let i = 0; i < SLOW_CLIENTS; i++) open(SLOW_ADDRESSES[i % SLOW_ADDRESSES.length]);
}

// One oversized request; resolves with the status line (if one came), the
// bytes the client managed to write before the server closed, and how long
// that took. A rude client pumps its body right after the head: the server
// answers and closes without reading it, and the kernel may then reset the
// connection before the client reads the answer (unread data at close). A
// polite one waits for the answer to its head first, so it always sees it.
function oversized(port, { auth, chunked, polite }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect({ host: "127.0.0.1", port });
    let answer = "", sent = 0, done = false, pumping = false;
    const block = Buffer.alloc(256 * 1024, "x");
    const pump = () => {
      pumping = true;
      while (!done && sent < 64 * 1024 * 1024) {
        const b = chunked ? Buffer.concat([Buffer.from(`${block.length.toString(16)}\r\n`), block, Buffer.from("\r\n")])
                          : block;
        sent += block.length;
        if (!s.write(b)) return s.once("drain", pump);
      }
    };
    s.on("connect", () => {
      s.write("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
              "Accept: application/json, text/event-stream\r\n" + (auth ? `Authorization: ${auth}\r\n` : "") +
              (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 10737418240\r\n") + "\r\n");
      if (!polite) pump();
    });
    s.on("data", (d) => {
      answer += d;
      if (polite && !pumping) pump(); // answered: now the body, which nobody reads
    });
    s.on("error", () => {});
    s.on("close", () => { done = true; resolve({ status: answer.split("\r\n")[0], sent, ms: Date.now() - t0 }); });
    setTimeout(() => s.destroy(), 15000).unref(); // a server that never answers fails below
  });
}

async function oversizedLoop(port, how, want, stats, running) {
  while (running()) {
    const r = await oversized(port, how);
    stats.count++;
    stats.maxSent = Math.max(stats.maxSent, r.sent);
    stats.maxMs = Math.max(stats.maxMs, r.ms);
    if (r.status) stats.answered++;
    if (r.status ? !r.status.startsWith(`HTTP/1.1 ${want} `) : how.polite) stats.wrong.push(r.status || "(none)");
    await sleep(20);
  }
}

// ---- legitimate sessions -----------------------------------------------

async function connect(url, token) {
  const client = new Client({ name: "pyro-load", version: "0" });
  const t = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(t);
  return client;
}

async function call(client, name, args, stats) {
  for (let attempt = 0; ; attempt++) {
    const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 120000 });
    stats.calls++;
    const text = r.content?.[0]?.text ?? "";
    if (r.isError && /"code":"limit_exceeded"/.test(text) && attempt < 400) {
      stats.retries++;
      await sleep(50 + Math.random() * 200);
      continue;
    }
    assert.equal(r.isError, false, `${name}: ${text}`);
    return r.structuredContent;
  }
}

test(`${SESSIONS} sessions work while slowloris and oversized clients attack`, async () => {
  const seed = join(home.dir, "seed"); // an empty project: workspaces start empty
  mkdirSync(seed);
  const { url, proc, token } = await startHttp(["--profile", "workspace-core", "--project-path", seed], home.env);
  const port = Number(new URL(url).port);
  const mem0 = memory(proc.pid);
  let attacking = true;
  const running = () => attacking;
  const slow = { open: new Set(), closed: 0, early: 0, maxLife: 0, answers: new Set() };
  const attacks = {}, loops = [];
  const attack = (name, how, want) => {
    attacks[name] = { want, count: 0, answered: 0, maxSent: 0, maxMs: 0, wrong: [] };
    loops.push(oversizedLoop(port, how, want, attacks[name], running));
  };
  let peak = mem0;
  const sampler = setInterval(() => {
    const m = memory(proc.pid);
    if (m.rss > peak.rss) peak = m;
  }, 250);
  const stats = { calls: 0, retries: 0 };
  const clients = [];
  try {
    slowloris(port, slow, running);
    const wrong = `Bearer ${"0".repeat(64)}`, right = `Bearer ${token}`;
    attack("no token, 10 GiB Content-Length", {}, 401);
    attack("no token, endless chunked body", { chunked: true }, 401);
    attack("wrong token, 10 GiB Content-Length", { auth: wrong }, 401);
    attack("token, 10 GiB Content-Length", { auth: right }, 413);
    attack("no token, 10 GiB Content-Length, polite", { polite: true }, 401);
    attack("wrong token, endless chunked body, polite", { auth: wrong, chunked: true, polite: true }, 401);
    attack("token, 10 GiB Content-Length, polite", { auth: right, polite: true }, 413);
    await sleep(1000); // the attack is on before the first session connects

    const t0 = Date.now();
    clients.push(...await Promise.all(Array.from({ length: SESSIONS }, () => connect(url, token))));
    const connectMs = Date.now() - t0;
    const ws = await Promise.all(Array.from({ length: WORKSPACES }, (_, i) =>
      call(clients[i], "workspace_create", { environment: ENV, name: `load-${i}` }, stats)));
    const ids = ws.map((w) => w.workspace_id);
    let rounds = 0;
    while (rounds === 0 || Date.now() - t0 < ATTACK_MS) {
      rounds++;
      await Promise.all(clients.map(async (c, i) => {
        const id = ids[i % WORKSPACES];
        const path = `s${i}.txt`;
        const text = `session ${i} round ${rounds}\n`;
        await c.ping();
        await call(c, "workspace_file_write", { workspace_id: id, path, text }, stats);
        const ex = await call(c, "workspace_exec", { workspace_id: id, command: `cat ${path}` }, stats);
        assert.equal(ex.exit_code, 0);
        assert.equal(ex.stdout, text);
        const rd = await call(c, "workspace_file_read", { workspace_id: id, path }, stats);
        assert.equal(rd.content, text, JSON.stringify(rd));
      }));
    }
    await Promise.all(ids.map((id, i) => call(clients[i], "workspace_delete", { workspace_id: id }, stats)));
    const workMs = Date.now() - t0;

    // Half-open connections still open now must be young.
    const now = Date.now();
    for (const s of slow.open) slow.maxLife = Math.max(slow.maxLife, s.t0 ? now - s.t0 : 0);
    attacking = false;
    for (const s of slow.open) s.destroy();
    await Promise.all(loops);
    clearInterval(sampler);
    const mem = memory(proc.pid);
    console.log(`# ${SESSIONS} sessions connected in ${connectMs} ms; ${rounds} rounds, ${stats.calls} tool calls ` +
                `(${stats.retries} retries after limit_exceeded) in ${workMs} ms`);
    console.log(`# slowloris: ${slow.closed} half-open connections closed by the server (${slow.early} over the ` +
                `caps, before their deadline), longest lived ` +
                `${slow.maxLife} ms; answers seen: ${[...slow.answers].join(", ") || "none"}`);
    for (const [k, a] of Object.entries(attacks))
      console.log(`# ${k}: ${a.count} requests, ${a.answered} saw the ${a.want} before the close, at most ` +
                  `${(a.maxSent / 1048576).toFixed(1)} MiB written, closed within ${a.maxMs} ms`);
    console.log(`# server memory: VmHWM ${(mem0.hwm / 1024).toFixed(1)} MiB at start, ` +
                `${(mem.hwm / 1024).toFixed(1)} MiB after (bound ${MEMORY_BOUND_MB} MiB); VmRSS now ${(mem.rss / 1024).toFixed(1)} MiB`);

    assert.ok(slow.closed > SLOW_CLIENTS, `the server closed half-open connections (${slow.closed})`);
    assert.ok(slow.early > 0, `the oldest half-open connections were closed over the caps (${slow.early})`);
    assert.ok(slow.maxLife < HEADER_DEADLINE_MS + LIFE_SLACK_MS,
              `no half-open connection outlived the deadline (${slow.maxLife} ms)`);
    for (const [k, a] of Object.entries(attacks)) {
      assert.ok(a.count > 0, `${k} ran`);
      assert.deepEqual(a.wrong, [], `${k}: every answer is ${a.want} (a polite client always sees it)`);
      // Not read: what was written fits in the socket buffers, far below
      // the 64 MiB each client tries, and the close did not wait for a
      // body deadline.
      assert.ok(a.maxSent < 16 * 1048576, `${k}: the body is not read (${a.maxSent} bytes written)`);
      assert.ok(a.maxMs < 8000, `${k}: closed at once (${a.maxMs} ms)`);
    }
    assert.ok(mem.hwm < MEMORY_BOUND_MB * 1024, `VmHWM ${mem.hwm} kB under ${MEMORY_BOUND_MB} MiB`);
  } finally {
    attacking = false;
    clearInterval(sampler);
    for (const s of slow.open) s.destroy();
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await stopProc(proc);
  }
});
