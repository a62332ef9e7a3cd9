// The attackers of test_load.mjs, in a process of their own so that the
// SDK sessions' work does not distort their timings (and the other way
// round). usage: node load-attack.mjs PORT TOKEN
// Prints "ready" once the attack is on, attacks until stdin ends, then
// prints its statistics as one JSON line and exits:
//   - SLOW_CLIENTS slowloris clients send half a request head, then one
//     byte a second, from several loopback addresses, reconnecting when
//     closed: how many the server closed, how many before their deadline
//     (over the caps), the longest life from connect to close;
//   - oversized clients send a 10 GiB Content-Length (or an endless chunked
//     body) and pump bytes, with no token, a wrong token, or the right one,
//     at once (rude) or after the answer to their head (polite): what they
//     were answered, how much they could write, how long the close took;
//   - a probe sends a token-less request head every 100 ms and times the
//     401: the server stays responsive under the attack.
import net from "node:net";

const [port, token] = [Number(process.argv[2]), process.argv[3]];
const SLOW_CLIENTS = 320; // more than the 256 half-open connections allowed
const SLOW_ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
const HEADER_DEADLINE_MS = 10000; // HTTP_HEADER_TIMEOUT_MS
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let attacking = true;
const running = () => attacking;

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
      if (s.ours) return; // closed by us at the end, not by the server
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
    const s = net.connect({ host: "127.0.0.1", port });
    let answer = "", sent = 0, done = false, pumping = false, t0 = 0, connectMs = 0;
    const tc = Date.now();
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
      t0 = Date.now();
      connectMs = t0 - tc;
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
    s.on("close", () => {
      done = true;
      resolve({ status: answer.split("\r\n")[0], sent, ms: t0 ? Date.now() - t0 : 0, connectMs });
    });
    setTimeout(() => s.destroy(), 15000).unref(); // a server that never answers fails below
  });
}

async function oversizedLoop(port, how, want, stats, running) {
  while (running()) {
    const r = await oversized(port, how);
    stats.count++;
    stats.maxSent = Math.max(stats.maxSent, r.sent);
    stats.maxMs = Math.max(stats.maxMs, r.ms);
    stats.maxConnectMs = Math.max(stats.maxConnectMs, r.connectMs);
    if (r.status) stats.answered++;
    if (r.status ? !r.status.startsWith(`HTTP/1.1 ${want} `) : how.polite) stats.wrong.push(r.status || "(none)");
    await sleep(20);
  }
}

function probe(stats) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let t0 = 0, answer = "";
    s.on("connect", () => {
      t0 = Date.now();
      s.write("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");
    });
    s.on("data", (d) => {
      answer += d;
      if (answer.includes("\r\n")) {
        stats.count++;
        stats.maxMs = Math.max(stats.maxMs, Date.now() - t0);
        if (!answer.startsWith("HTTP/1.1 401 ")) stats.wrong.push(answer.split("\r\n")[0]);
        s.destroy();
      }
    });
    s.on("error", () => {});
    s.on("close", () => resolve());
    setTimeout(() => s.destroy(), 15000).unref();
  });
}

async function probeLoop(stats) {
  while (running()) {
    await probe(stats);
    await sleep(100);
  }
}

const slow = { open: new Set(), closed: 0, early: 0, maxLife: 0, answers: new Set() };
const attacks = {}, loops = [];
const attack = (name, how, want) => {
  attacks[name] = { want, count: 0, answered: 0, maxSent: 0, maxMs: 0, maxConnectMs: 0, wrong: [] };
  loops.push(oversizedLoop(port, how, want, attacks[name], running));
};
const probes = { count: 0, maxMs: 0, wrong: [] };

slowloris(port, slow, running);
const wrong = `Bearer ${"0".repeat(64)}`, right = `Bearer ${token}`;
attack("no token, 10 GiB Content-Length", {}, 401);
attack("no token, endless chunked body", { chunked: true }, 401);
attack("wrong token, 10 GiB Content-Length", { auth: wrong }, 401);
attack("token, 10 GiB Content-Length", { auth: right }, 413);
attack("no token, 10 GiB Content-Length, polite", { polite: true }, 401);
attack("wrong token, endless chunked body, polite", { auth: wrong, chunked: true, polite: true }, 401);
attack("token, 10 GiB Content-Length, polite", { auth: right, polite: true }, 413);
loops.push(probeLoop(probes));
await sleep(1000);
console.log("ready");

process.stdin.resume();
process.stdin.on("end", async () => {
  // Half-open connections still open now count with their age so far.
  const now = Date.now();
  for (const s of slow.open) slow.maxLife = Math.max(slow.maxLife, s.t0 ? now - s.t0 : 0);
  attacking = false;
  for (const s of slow.open) {
    s.ours = true;
    s.destroy();
  }
  await Promise.all(loops);
  console.log(JSON.stringify({ slow: { ...slow, open: undefined, answers: [...slow.answers] }, attacks, probes }));
  process.exit(0);
});
