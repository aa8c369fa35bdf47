// Configurations for the shared upstream and for each proxy under test. Every proxy is set up to do
// the same work per request as Bulwark in quick mode (strict profile, plaintext listener):
//
// - response: the strict profile's headers with the same values (taken from Bulwark's own
//   header-profiles module, so the lists cannot drift), Cache-Control only when the upstream sent
//   none, X-Request-Id, upstream banners (Server, X-Powered-By, ... the same 35 names) removed;
// - request to the upstream: a fresh X-Request-Id, X-Forwarded-For/-Proto/-Host, Forwarded and
//   X-Real-IP replaced (the client is not a trusted proxy), the client's Host preserved;
// - a keep-alive connection pool to the upstream, HTTP/1.1;
// - one JSON (or, for HAProxy, httplog) access log line per request, written to a file.
//
// - per-request metrics where the peer has them: Caddy's Prometheus metrics are switched on;
//   HAProxy always keeps its own counters; nginx-light has no per-request metrics module.
//
// What is not replicated: Bulwark also sends a W3C traceparent both ways; the peers would need
// modules that Debian's packages do not ship (docs/performance.md).
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** The strict profile as sent on plaintext responses: [{ name, value, overwrite }]. */
export async function strictProfile(distDir) {
  const profiles = await import(join(distDir, "gateway", "header-profiles.js"));
  const plan = profiles.planHeaders({ profile: "strict", set: {}, keepUpstream: [], stripBanners: true });
  return {
    headers: plan.onPlaintext.map(({ name, value, overwrite }) => ({ name, value, overwrite })),
    banners: [...profiles.BANNER_HEADERS.keys()],
  };
}

// Header names as they are usually written (all proxies treat names case-insensitively).
function display(name) {
  return name.replace(/(^|-)([a-z])/g, (_, dash, letter) => dash + letter.toUpperCase());
}

const NGINX_TEMP_PATHS = (dir) => `
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;`;

/**
 * The shared upstream: nginx, one worker, keep-alive, "hello\n" with a Server banner (nginx adds
 * its own) and an X-Powered-By banner for the proxies to strip. /__bench/echo returns the
 * forwarding headers it received, for the pre-flight check.
 */
export function writeUpstreamConfig(dir, port) {
  const file = join(dir, "upstream.conf");
  writeFileSync(
    file,
    `# shared upstream for the gateway benchmark (not a system service)
worker_processes 1;
pid ${dir}/upstream.pid;
error_log ${dir}/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 65s;
  default_type text/plain;${NGINX_TEMP_PATHS(dir)}
  server {
    listen 127.0.0.1:${port} reuseport;
    location / {
      add_header X-Powered-By "bench-upstream/1.0";
      return 200 "hello\\n";
    }
    location = /__bench/echo {
      return 200 "host=$http_host\\nx-request-id=$http_x_request_id\\nx-forwarded-for=$http_x_forwarded_for\\nx-forwarded-proto=$http_x_forwarded_proto\\nx-forwarded-host=$http_x_forwarded_host\\nforwarded=$http_forwarded\\nx-real-ip=$http_x_real_ip\\n";
    }
  }
}
`,
  );
  return file;
}

function nginxQuote(value) {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function writeNginxConfig(dir, { port, upstreamPort, workers, profile }) {
  const file = join(dir, `nginx-w${workers}.conf`);
  const replaced = profile.headers.filter((header) => header.overwrite);
  const defaulted = profile.headers.filter((header) => !header.overwrite);
  const hidden = [...new Set([...profile.banners, ...replaced.map((header) => header.name)])];
  // "default" headers: sent only when the upstream sent none (an empty add_header value adds nothing).
  const maps = defaulted
    .map(
      (header) =>
        `  map $upstream_http_${header.name.replace(/-/g, "_")} $bench_default_${header.name.replace(/-/g, "_")} {\n` +
        `    "" ${nginxQuote(header.value)};\n    default "";\n  }`,
    )
    .join("\n");
  const addHeaders = [
    ...replaced.map(
      (header) => `      add_header ${display(header.name)} ${nginxQuote(header.value)} always;`,
    ),
    ...defaulted.map(
      (header) =>
        `      add_header ${display(header.name)} $bench_default_${header.name.replace(/-/g, "_")} always;`,
    ),
    "      add_header X-Request-Id $request_id always;",
  ].join("\n");
  writeFileSync(
    file,
    `# nginx as hardening reverse proxy, equivalent to bulwark serve quick mode (strict profile)
worker_processes ${workers};
pid ${dir}/nginx-w${workers}.pid;
error_log ${dir}/nginx-w${workers}-error.log warn;
events { worker_connections 4096; }
http {
  server_tokens off;
  keepalive_requests 10000000;
  keepalive_timeout 5s;${NGINX_TEMP_PATHS(dir)}
  log_format bench escape=json '{"time":"$time_iso8601","method":"$request_method","path":"$uri",'
    '"status":$status,"durationS":$request_time,"bytesIn":$request_length,"bytesOut":$bytes_sent,'
    '"protocol":"$server_protocol","requestId":"$request_id","clientIp":"$remote_addr",'
    '"userAgent":"$http_user_agent","referer":"$http_referer","target":"$upstream_addr"}';
  access_log ${dir}/nginx-w${workers}-access.log bench;
${maps}
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 256;
    keepalive_requests 10000000;
    keepalive_timeout 4s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header Forwarded "for=$remote_addr;host=\\"$http_host\\";proto=$scheme";
      proxy_set_header X-Real-IP $remote_addr;
${hidden.map((name) => `      proxy_hide_header ${display(name)};`).join("\n")}
${addHeaders}
    }
  }
}
`,
  );
  return file;
}

function haproxyQuote(value) {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * HAProxy logs through a syslog-style target; `log stdout format raw` writes each httplog line
 * to its standard output, which the benchmark redirects to a file: the closest equivalent of an
 * access log file (docs/performance.md).
 */
export function writeHaproxyConfig(dir, { port, upstreamPort, workers, profile }) {
  const file = join(dir, `haproxy-w${workers}.cfg`);
  const bannerPattern = `^(${profile.banners.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})$`;
  const responseRules = [
    // Single quotes: no "$" environment expansion inside the pattern.
    `  http-response del-header '${bannerPattern}' -m reg`,
    ...profile.headers.map((header) =>
      header.overwrite
        ? `  http-response set-header ${display(header.name)} ${haproxyQuote(header.value)}`
        : `  http-response set-header ${display(header.name)} ${haproxyQuote(header.value)} unless { res.hdr(${header.name}) -m found }`,
    ),
    "  http-response set-header X-Request-Id %[unique-id]",
  ].join("\n");
  writeFileSync(
    file,
    `# HAProxy as hardening reverse proxy, equivalent to bulwark serve quick mode (strict profile)
global
  nbthread ${workers}
  maxconn 8192
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 5s
  maxconn 8192

frontend bench
  bind 127.0.0.1:${port}
  unique-id-format %[uuid()]
  unique-id-header X-Request-Id
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header Forwarded "for=%[src];host=\\"%[req.hdr(host)]\\";proto=http"
  http-request set-header X-Real-IP %[src]
${responseRules}
  default_backend app

backend app
  http-reuse always
  server upstream 127.0.0.1:${upstreamPort} maxconn 1024
`,
  );
  return file;
}

function caddyQuote(value) {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function writeCaddyConfig(dir, { port, upstreamPort, workers, profile }) {
  const file = join(dir, `Caddyfile-w${workers}`);
  const headerLines = [
    ...profile.headers.map((header) =>
      header.overwrite
        ? `    ${display(header.name)} ${caddyQuote(header.value)}`
        : `    ?${display(header.name)} ${caddyQuote(header.value)}`,
    ),
    "    X-Request-Id {http.request.uuid}",
    // Caddy's own Server header goes too, with the upstream banners.
    ...profile.banners.map((name) => `    -${display(name)}`),
  ].join("\n");
  writeFileSync(
    file,
    `# Caddy as hardening reverse proxy, equivalent to bulwark serve quick mode (strict profile)
{
  admin off
  auto_https off
  # Per-request Prometheus metrics, as Bulwark keeps (opt-in since Caddy 2.6; with the admin API
  # off nothing scrapes them, but they are collected on every request).
  servers {
    metrics
  }
}

http://127.0.0.1:${port} {
  log {
    output file ${dir}/caddy-w${workers}-access.log {
      roll_disabled
    }
    format json
  }
  header {
${headerLines}
  }
  reverse_proxy 127.0.0.1:${upstreamPort} {
    header_up X-Request-Id {http.request.uuid}
    header_up X-Forwarded-For {remote_host}
    header_up X-Forwarded-Proto {scheme}
    header_up X-Forwarded-Host {hostport}
    header_up Forwarded "for={remote_host};host=\\"{hostport}\\";proto={scheme}"
    header_up X-Real-IP {remote_host}
    transport http {
      keepalive 4s
      keepalive_idle_conns 256
      keepalive_idle_conns_per_host 256
    }
  }
}
`,
  );
  return file;
}
