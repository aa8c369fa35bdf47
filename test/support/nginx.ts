/**
 * A real nginx (Debian's nginx-light) on a free loopback port, from a given server block, in a
 * temp dir that is removed on close. It runs in the foreground without a master process
 * (`daemon off; master_process off;`), so it needs no user switch and dies with its handle.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort } from "./ports.js";

const BINARY = process.env.NGINX ?? "/usr/sbin/nginx";

export interface TestNginx {
  readonly port: number;
  /** http://127.0.0.1:PORT or https://127.0.0.1:PORT */
  readonly url: string;
  /** The document root (files given at start are written there). */
  readonly root: string;
  close(): Promise<void>;
}

export interface NginxOptions {
  /** Directives inside `server { … }` after listen and root; `{{root}}` and `{{dir}}` are replaced. */
  readonly server: string;
  /** Directives inside `http { … }` before the server block. */
  readonly http?: string;
  /** Files to write under the document root, by relative path. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** Serve HTTPS with this certificate and key (PEM files). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1");
  });
}

export async function startNginx(options: NginxOptions): Promise<TestNginx> {
  const probe = spawnSync(BINARY, ["-v"]);
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `nginx not found at ${BINARY}; install it with: apt-get install -y nginx-light (or set NGINX)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "bulwark-nginx-"));
  const root = join(dir, "www");
  mkdirSync(root);
  for (const [path, content] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  let lastError = "";
  // A free port can be taken between the probe and nginx's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const listen = `listen 127.0.0.1:${port}${options.tls ? " ssl" : ""};`;
    const tls = options.tls
      ? `ssl_certificate ${options.tls.certFile}; ssl_certificate_key ${options.tls.keyFile};`
      : "";
    const config = `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { text/html html; text/plain txt; application/json json; application/zip zip; }
  default_type application/octet-stream;
  ${options.http ?? ""}
  server {
    ${listen}
    server_name localhost;
    root ${root};
    ${tls}
    ${options.server.replaceAll("{{root}}", root).replaceAll("{{dir}}", dir)}
  }
}
`;
    writeFileSync(join(dir, "nginx.conf"), config);
    const child: ChildProcess = spawn(BINARY, ["-p", dir, "-c", join(dir, "nginx.conf")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if (await connects(port)) {
        up = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (up) {
      return {
        port,
        url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
        root,
        async close() {
          if (child.exitCode === null) {
            const exited = new Promise((resolve) => child.once("exit", resolve));
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
            await exited;
            clearTimeout(timer);
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill("SIGKILL");
    let log = "";
    try {
      log = readFileSync(join(dir, "error.log"), "utf8");
    } catch {}
    lastError = `${stderr}${log}`.trim();
    if (!/Address already in use/.test(lastError)) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`nginx did not start: ${lastError}`);
}
