// Bearer authentication of the Streamable HTTP transport through the
// official SDK client: no token → 401, a wrong token → 401, the right one
// → served; the generated token file (0600, in the state dir, removed at
// exit) and a given one; a session id is no substitute for the token; an
// authenticated chunked body over 16 MiB loses its connection unanswered
// and the server goes on; a client trickling its request head one byte a
// second is closed 10 s after it connected.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { chmodSync, existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startHttp, stopProc, testHome } from "./lib.mjs";

const home = testHome("auth");
test.after(() => home.cleanup());

function client(url, headers) {
  const c = new Client({ name: "pyro-auth-test", version: "0" });
  const t = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  return { c, t };
}

async function refused(url, headers, label) {
  const { c, t } = client(url, headers);
  await assert.rejects(c.connect(t), (e) => {
    assert.equal(e.code, 401, `${label}: ${e}`);
    return true;
  }, label);
  await c.close().catch(() => {});
}

test("generated token: 401 without it or with a wrong one, served with it", async () => {
  const { url, proc, token, tokenFile } = await startHttp(["--profile", "vm-run"], home.env);
  try {
    assert.ok(tokenFile.startsWith(join(home.env.PYRO_HOME, "mcp", "http-token.")), tokenFile);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600, "token file mode");
    assert.equal(statSync(join(home.env.PYRO_HOME, "mcp")).mode & 0o077, 0, "token dir closed to others");
    assert.match(token, /^[0-9a-f]{64}$/);
    const wrong = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
    await refused(url, {}, "no token");
    await refused(url, { Authorization: `Bearer ${wrong}` }, "wrong token");
    await refused(url, { Authorization: `Bearer ${token.slice(0, 32)}` }, "a prefix of the token");
    await refused(url, { Authorization: `Bearer ${token}${token}` }, "the token twice");
    await refused(url, { Authorization: `Basic ${token}` }, "another scheme");

    const { c, t } = client(url, { Authorization: `Bearer ${token}` });
    await c.connect(t);
    const tools = await c.listTools();
    assert.deepEqual(tools.tools.map((x) => x.name), ["vm_run"]);
    await c.ping();
    // A valid session id without the token is refused too, with the challenge.
    const r = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream",
                 "Mcp-Session-Id": t.sessionId, "MCP-Protocol-Version": "2025-11-25" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
    });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /^Bearer\b/);
    assert.equal((await r.json()).error.code, -32600);
    await c.ping(); // the session goes on
    await c.close();
  } finally {
    await stopProc(proc);
  }
  assert.equal(existsSync(tokenFile), false, "the generated token file is removed at exit");
});

test("--auth-token-file: that token and no other", async () => {
  const file = join(home.dir, "token");
  writeFileSync(file, "pyro-auth-test-token-0123456789\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  const { url, proc, token, stderr } = await startHttp(["--auth-token-file", file], home.env);
  try {
    assert.equal(token, "pyro-auth-test-token-0123456789");
    assert.doesNotMatch(stderr(), /bearer token in/, "no token is generated when one is given");
    await refused(url, {}, "no token");
    await refused(url, { Authorization: "Bearer pyro-auth-test-token-012345678" }, "one character short");
    const { c, t } = client(url, { Authorization: `Bearer ${token}` });
    await c.connect(t);
    await c.ping();
    await c.close();
  } finally {
    await stopProc(proc);
  }
  assert.ok(existsSync(file), "a given token file stays");
});

// Writes a chunked body of `total` bytes; resolves with what came back and
// how the connection ended.
function chunkedPost(port, token, total) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let answer = "", sent = 0, ended = null;
    const chunk = Buffer.alloc(64 * 1024, "x");
    const pump = () => {
      while (sent < total && !ended) {
        sent += chunk.length;
        if (!s.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")])))
          return s.once("drain", pump);
      }
      if (!ended) s.write("0\r\n\r\n");
    };
    s.on("connect", () => {
      s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
              "Content-Type: application/json\r\nAccept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      pump();
    });
    s.on("data", (d) => { answer += d; });
    s.on("error", (e) => { ended ??= e.code; });
    s.on("close", () => resolve({ answer, sent, ended: ended ?? "close" }));
  });
}

test("an authenticated chunked body over 16 MiB loses its connection, unanswered", async () => {
  const { url, proc, token } = await startHttp([], home.env);
  try {
    const port = Number(new URL(url).port);
    const r = await chunkedPost(port, token, 64 * 1024 * 1024);
    assert.equal(r.answer, "", `no answer: ${r.answer.slice(0, 200)}`);
    assert.ok(r.sent > 16 * 1024 * 1024, `the server read up to the limit (sent ${r.sent})`);
    assert.ok(r.sent < 40 * 1024 * 1024, `and then closed (sent ${r.sent}, ${r.ended})`);
    // The server goes on.
    const { c, t } = client(url, { Authorization: `Bearer ${token}` });
    await c.connect(t);
    await c.ping();
    await c.close();
  } finally {
    await stopProc(proc);
  }
});

test("half-sent headers are closed 10 s after accept, however slowly bytes trickle in", async () => {
  const { url, proc, token } = await startHttp([], home.env);
  try {
    const port = Number(new URL(url).port);
    const lives = await Promise.all(Array.from({ length: 5 }, () => new Promise((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port });
      let t0, timer, answer = "";
      s.on("connect", () => {
        t0 = Date.now();
        s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nX-Slow: `);
        timer = setInterval(() => s.write("a"), 500);
      });
      s.on("data", (d) => { answer += d; });
      s.on("error", () => {});
      s.on("close", () => { clearInterval(timer); resolve({ ms: Date.now() - t0, answer }); });
      setTimeout(() => s.destroy(), 40000).unref();
    })));
    for (const { ms, answer } of lives) {
      assert.equal(answer, "", "no answer to a head that never ends");
      // (generous above: a loaded host delays the close event, not the deadline)
      assert.ok(ms >= 9500 && ms < 20000, `closed at the 10 s header deadline (${ms} ms)`);
    }
    // Meanwhile and after, a client with the token is served.
    const { c, t } = client(url, { Authorization: `Bearer ${token}` });
    await c.connect(t);
    await c.ping();
    await c.close();
  } finally {
    await stopProc(proc);
  }
});
