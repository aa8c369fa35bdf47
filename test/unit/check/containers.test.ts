import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isComposeFile, scanCompose } from "../../../src/check/scanners/compose.js";
import { isDockerfile, parseDockerfile, scanDockerfile } from "../../../src/check/scanners/dockerfile.js";

const summary = (result: { findings: { id: string; location: string }[] }) =>
  result.findings.map((item) => `${item.id}@${item.location.split(":").pop()}`).sort();

describe("Dockerfile rules", () => {
  it("names Dockerfiles, not code about them", () => {
    for (const name of ["Dockerfile", "x/Dockerfile.prod", "api.Dockerfile", "Containerfile"])
      assert.ok(isDockerfile(name), name);
    for (const name of ["src/dockerfile.ts", "docs/Dockerfile.md", "dockerfile-lint.js"])
      assert.ok(!isDockerfile(name), name);
  });

  it("flags root, latest, ADD from URL, secrets in ENV/ARG and no HEALTHCHECK", () => {
    const text = [
      "FROM node:latest",
      "ARG NPM_TOKEN",
      "ENV DB_PASSWORD=hunter2hunter2 \\",
      "    LOG_LEVEL=info",
      "ADD https://example.com/tool.tar.gz /opt/",
      "ENV API_KEY_FILE=/run/secrets/key",
      "USER root",
      'CMD ["node", "server.js"]',
    ].join("\n");
    const result = scanDockerfile(text, "Dockerfile");
    assert.deepEqual(summary(result), [
      "docker-add-url@5",
      "docker-base-latest@1",
      "docker-no-healthcheck@1",
      "docker-secret-in-env@2",
      "docker-secret-in-env@3",
      "docker-user-root@7",
    ]);
    const env = result.findings.find((item) => item.location === "Dockerfile:3")!;
    assert.ok(!env.evidence.includes("hunter2hunter2"), env.evidence);
  });

  it("a hardened multi-stage Dockerfile is clean; only the final stage's USER counts", () => {
    const text = [
      "# escape=`",
      "FROM node:20.18-bookworm@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef AS build",
      "RUN npm ci `",
      "  && npm run build",
      "FROM build AS test",
      "FROM gcr.io/distroless/nodejs20-debian12@sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
      "COPY --from=build /app /app",
      "USER 10001:10001",
      'HEALTHCHECK CMD ["/nodejs/bin/node", "/app/health.js"]',
    ].join("\n");
    assert.deepEqual(summary(scanDockerfile(text, "Dockerfile")), []);
  });

  it("a final stage built FROM an earlier stage inherits its USER", () => {
    const text =
      "FROM node:20@sha256:abc AS base\nUSER node\nFROM base AS app\nHEALTHCHECK CMD true\nFROM app\n";
    assert.deepEqual(summary(scanDockerfile(text, "Dockerfile")), []);
    const root = "FROM node:20@sha256:abc AS base\nUSER node\nFROM base\nUSER root\nHEALTHCHECK CMD true\n";
    assert.deepEqual(summary(scanDockerfile(root, "Dockerfile")), ["docker-user-root@4"]);
  });

  it("pinned tag without digest is low; inline ignore works; unknown instructions warn", () => {
    const result = scanDockerfile(
      "FROM python:3.12-slim\nFROBNICATE x\nUSER app\nHEALTHCHECK NONE # bulwark:ignore\n",
      "D/Dockerfile",
    );
    assert.deepEqual(summary(result), ["docker-base-unpinned@1"]);
    assert.match(result.warnings[0]!, /line 2: unknown instruction "FROBNICATE"/);
    assert.equal(parseDockerfile("RUN a \\\n  b \\\n  c\n").instructions[0]!.args, "a b c");
  });
});

describe("compose rules", () => {
  it("names compose files", () => {
    for (const name of ["docker-compose.yml", "compose.yaml", "deploy/docker-compose.prod.yml"])
      assert.ok(isComposeFile(name), name);
    assert.ok(!isComposeFile("compose.ts"));
  });

  it("flags privileged, host network, the docker socket, limits, rootfs and capabilities per service", () => {
    const text = `services:
  web:
    image: nginx:1.27
    privileged: true
    network_mode: host
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
  hardened:
    image: app:1.0
    read_only: true
    cap_drop: [ALL]
    deploy:
      resources:
        limits: { memory: 256m, cpus: "0.5" }
  socket-long:
    image: tool:1
    mem_limit: 128m
    cpus: 1
    read_only: true
    cap_drop: [all]
    volumes:
      - type: bind
        source: /var/run/docker.sock
        target: /sock
`;
    assert.deepEqual(summary(scanCompose(text, "docker-compose.yml")), [
      "compose-caps-not-dropped@2",
      "compose-docker-socket@21",
      "compose-docker-socket@6",
      "compose-host-network@5",
      "compose-no-resource-limits@2",
      "compose-privileged@4",
      "compose-writable-rootfs@2",
    ]);
  });

  it("invalid YAML is a warning, not a crash", () => {
    const result = scanCompose("services:\n  web: [unclosed\n", "compose.yml");
    assert.deepEqual(result.findings, []);
    assert.match(result.warnings[0]!, /compose\.yml: not valid YAML/);
  });
});
