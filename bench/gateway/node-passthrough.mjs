#!/usr/bin/env node
// Reference point, not a peer: the least a Node.js reverse proxy can do — node:http in, undici
// Pool.stream out, keep-alive both sides, no added headers, no logs, no metrics. Its throughput
// is the ceiling for any gateway built on the same two parts on this machine, so the gap between
// it and Bulwark is what Bulwark's own per-request work costs.
//
//   node bench/gateway/node-passthrough.mjs --listen 8081 --upstream 8080
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Pool } from "undici";

const { values } = parseArgs({ options: { listen: { type: "string" }, upstream: { type: "string" } } });
const pool = new Pool(`http://127.0.0.1:${values.upstream}`, { connections: 256, pipelining: 1 });

createServer((req, res) => {
  pool
    .stream(
      { path: req.url, method: req.method, headers: { host: req.headers.host ?? "" } },
      ({ statusCode, headers }) => {
        delete headers.connection;
        delete headers["keep-alive"];
        res.writeHead(statusCode, headers);
        return res;
      },
    )
    .catch(() => res.destroy());
}).listen({ host: "127.0.0.1", port: Number(values.listen) });

process.on("SIGTERM", () => process.exit(0));
