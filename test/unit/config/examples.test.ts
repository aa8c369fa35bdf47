/**
 * Every config in docs/examples/ must load: a new example is picked up by listing the directory.
 * An example that names TLS files or ${file:} secrets is copied into a temp dir next to freshly
 * made files at the relative paths it names (certificates from the real openssl binary), so the
 * example itself is what loads, relative paths included.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { loadConfigFile } from "../../../src/config/load.js";
import { writeSelfSignedCertificate } from "../../support/openssl.js";

const EXAMPLES = fileURLToPath(new URL("../../../docs/examples/", import.meta.url));
const names = (await readdir(EXAMPLES)).filter((name) => /\.ya?ml$/.test(name)).sort();
const scratch: string[] = [];

after(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

interface Needs {
  readonly tls: { cert: string; key: string }[];
  readonly env: string[];
  readonly files: string[];
}

function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(stringsIn);
  return [];
}

/** What an example needs from its surroundings: TLS files, and references in values (not comments). */
function needsOf(text: string): Needs {
  const raw = parse(text) as { listeners?: { tls?: { cert: string; key: string } }[] } | null;
  const tls = (raw?.listeners ?? []).flatMap((listener) => (listener.tls ? [listener.tls] : []));
  const values = stringsIn(raw);
  const references = (kind: string) =>
    values.flatMap((value) =>
      [...value.matchAll(new RegExp(`(?<!\\$)\\$\\{${kind}:([^}]*)\\}`, "g"))].map((match) => match[1]!),
    );
  return { tls, env: references("env"), files: references("file") };
}

test("docs/examples holds the documented examples", () => {
  for (const name of ["api-behind-tls.yaml", "webapp-with-cors.yaml", "several-upstreams.yaml"]) {
    assert.ok(names.includes(name), `docs/examples/${name} is missing`);
  }
});

for (const name of names) {
  test(`docs/examples/${name} is a valid config`, async () => {
    const original = join(EXAMPLES, name);
    const text = await readFile(original, "utf8");
    const needs = needsOf(text);
    const env = Object.fromEntries(needs.env.map((variable) => [variable, randomBytes(24).toString("hex")]));

    let file = original;
    if (needs.tls.length > 0 || needs.files.length > 0) {
      const dir = await mkdtemp(join(tmpdir(), "bulwark-example-"));
      scratch.push(dir);
      file = join(dir, name);
      await copyFile(original, file);
      const inDir = (path: string) => (isAbsolute(path) ? path : resolve(dir, path));
      for (const tls of needs.tls) {
        assert.ok(
          !isAbsolute(tls.cert) && !isAbsolute(tls.key),
          "examples name TLS files relative to themselves",
        );
        await writeSelfSignedCertificate({ certFile: inDir(tls.cert), keyFile: inDir(tls.key) });
      }
      for (const secret of needs.files) {
        assert.ok(!isAbsolute(secret), "examples name secret files relative to themselves");
        await mkdir(dirname(inDir(secret)), { recursive: true });
        await writeFile(inDir(secret), `${randomBytes(24).toString("hex")}\n`);
      }
    }

    const config = loadConfigFile(file, { env });
    assert.ok(config.routes.length > 0);
    for (const route of config.routes) assert.ok(Object.hasOwn(config.upstreams, route.upstream));
    for (const [index, tls] of needs.tls.entries()) {
      const listener = config.listeners.filter((item) => item.tls)[index]!;
      assert.equal(
        listener.tls!.cert,
        join(dirname(file), tls.cert),
        "TLS paths resolve against the config file",
      );
    }
  });
}
