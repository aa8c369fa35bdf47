import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contentSmells, fileNameSmells } from "../../../src/check/scanners/config-smells.js";

const ids = (text: string, path: string) => contentSmells(text, path).map((item) => item.id);

describe("config smells", () => {
  it("committed env and key files, but not templates", () => {
    assert.deepEqual(
      fileNameSmells(".env").map((item) => item.id),
      ["config-env-file-committed"],
    );
    assert.deepEqual(
      fileNameSmells("app/.env.production").map((item) => item.id),
      ["config-env-file-committed"],
    );
    assert.deepEqual(fileNameSmells(".env.example"), []);
    for (const name of ["certs/server.key", "keys/id_rsa", "store.p12", "release.jks"])
      assert.deepEqual(
        fileNameSmells(name).map((item) => item.id),
        ["config-key-file-committed"],
        name,
      );
    assert.deepEqual(fileNameSmells("keys/id_rsa.pub"), []);
  });

  it("TLS disabled, with connection-string passwords masked in evidence", () => {
    const found = contentSmells(
      "DATABASE_URL=postgres://app:s3cretpassw0rd@db/app?sslmode=disable\n",
      ".env",
    );
    assert.deepEqual(
      found.map((item) => item.id),
      ["config-tls-disabled"],
    );
    assert.ok(!found[0]!.evidence.includes("s3cretpassw0rd"));
    assert.deepEqual(ids("const agent = new Agent({ rejectUnauthorized: false });", "src/db.ts"), [
      "config-tls-disabled",
    ]);
    assert.deepEqual(ids("requests.get(url, verify=False)", "client.py"), ["config-tls-disabled"]);
    assert.deepEqual(ids("sslmode=verify-full", "db.ini"), []);
  });

  it("CORS wildcards in code and debug modes", () => {
    assert.deepEqual(ids("app.use(cors());", "server.js"), ["config-cors-wildcard"]);
    assert.deepEqual(ids("res.setHeader('Access-Control-Allow-Origin', '*')", "server.ts"), [
      "config-cors-wildcard",
    ]);
    assert.deepEqual(ids("app.add_middleware(CORSMiddleware, allow_origins=['*'])", "main.py"), [
      "config-cors-wildcard",
    ]);
    assert.deepEqual(ids("app.use(cors({ origin: 'https://app.example.com' }));", "server.js"), []);
    assert.deepEqual(ids("DEBUG = True\n", "proj/settings.py"), ["config-debug-enabled"]);
    assert.deepEqual(ids("DEBUG = True\n", "proj/other.py"), []);
    assert.deepEqual(ids("app.run(host='0.0.0.0', debug=True)", "app.py"), ["config-debug-enabled"]);
    assert.deepEqual(ids("APP_DEBUG=true\n", ".env"), ["config-debug-enabled"]);
    assert.deepEqual(ids("    environment:\n      NODE_ENV: development\n", "docker-compose.yml"), [
      "config-debug-enabled",
    ]);
    assert.deepEqual(ids("sslmode=disable # bulwark:ignore local only", "db.ini"), []);
    assert.deepEqual(ids("sslmode=disable", "README.md"), [], "prose is not configuration");
  });
});
