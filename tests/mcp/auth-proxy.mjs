// A reverse proxy for test clients that have no way to send a bearer token
// (the conformance suite): every request goes to TARGET as it came (method,
// path, headers including Host and Origin, body; answers streamed back) with
// `Authorization: Bearer <first line of TOKEN_FILE>` added.
// usage: node auth-proxy.mjs http://127.0.0.1:PORT TOKEN_FILE
// prints "listening on http://127.0.0.1:P/mcp" once it listens.
import http from "node:http";
import { readFileSync } from "node:fs";

const [target, tokenFile] = process.argv.slice(2);
const up = new URL(target);
const token = readFileSync(tokenFile, "utf8").split(/\r?\n/)[0];

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  const fwd = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers },
    (ans) => {
      res.writeHead(ans.statusCode, ans.headers);
      ans.pipe(res);
    });
  fwd.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  res.on("close", () => fwd.destroy());
  req.pipe(fwd);
});
server.listen(0, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}/mcp`));
