/**
 * A real S3-compatible HTTP server for tests: s3rver (npm, filesystem-backed; it implements the
 * S3 REST API the SDK speaks: SigV4 authentication, path-style buckets, PUT/GET/DELETE,
 * multipart uploads, ListObjectsV2, DeleteObjects), in this process on a free loopback port, with
 * its data in a temp directory removed by close(). stop() and start() take it down and bring it
 * back on the same port and data (fault tests: an endpoint that goes away mid-upload).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: import("node:http").Server;
}

/** Closes the server without waiting for idle keep-alive connections (Node 20 clients keep them). */
async function shutdown(server: S3rverInstance | undefined): Promise<void> {
  if (!server) return;
  const closing = server.close();
  server.httpServer?.closeAllConnections();
  await closing;
}
type S3rverConstructor = new (options: {
  port: number;
  address: string;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

/** s3rver's fixed credentials (it accepts only these). */
export const S3RVER_KEY = "S3RVER";

export interface TestS3 {
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  /** The directory s3rver keeps buckets and objects in. */
  readonly directory: string;
  /** AWS_* variables for a child process (credentials, endpoint, region). */
  env(): Record<string, string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startS3(bucket = "bulwark-test"): Promise<TestS3> {
  let S3rver: S3rverConstructor;
  try {
    S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;
  } catch {
    throw new Error(
      "the s3rver package is missing; install it with: npm install --save-dev --save-exact s3rver@3.7.1",
    );
  }
  const directory = mkdtempSync(join(tmpdir(), "bulwark-s3-"));
  const port = await freePort();
  const options = {
    port,
    address: "127.0.0.1",
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  };
  let server: S3rverInstance | undefined = new S3rver(options);
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    bucket,
    directory,
    env: () => ({
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_KEY,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
    }),
    async stop() {
      await shutdown(server);
      server = undefined;
    },
    async start() {
      if (server) return;
      server = new S3rver({ ...options, configureBuckets: [] });
      await server.run();
    },
    async close() {
      await shutdown(server);
      server = undefined;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP-level stand-in for the network between Bulwark and the store: forwards HTTP to s3rver,
 * logs every request ("PUT /bucket/key?…"), reports each multipart part upload (`onPart`), and `cut()` drops every connection and refuses
 * new ones, as an endpoint that goes away mid-upload.
 */
export async function s3FaultProxy(
  s3: TestS3,
  onPart: (count: number) => void = () => {},
): Promise<{ endpoint: string; requests: string[]; cut(): void; close(): Promise<void> }> {
  let parts = 0;
  const requests: string[] = [];
  let down = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((incoming, outgoing) => {
    if (down) return incoming.socket.destroy();
    requests.push(`${incoming.method} ${incoming.url}`);
    if (/[?&]partNumber=/.test(incoming.url ?? "")) onPart(++parts);
    const forward = request(
      {
        host: "127.0.0.1",
        port: s3.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
        agent: false,
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    forward.on("error", () => outgoing.destroy());
    incoming.pipe(forward);
  });
  server.on("connection", (socket: Socket) => {
    if (down) return socket.destroy();
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    cut() {
      down = true;
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
