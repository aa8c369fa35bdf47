import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EMPTY_ALLOW, scanSecrets } from "../../../src/check/scanners/secrets.js";
import { fakeSecrets } from "../../fixtures/check/fake-secrets.js";

const ids = (text: string, path = "app.js") =>
  scanSecrets(text, path, EMPTY_ALLOW).map((hit) => hit.finding.id);

describe("secret rules", () => {
  const s = fakeSecrets();
  const cases: [string, string, string][] = [
    ["secret-aws-access-key", `const id = "${s.awsAccessKey}";`, s.awsAccessKey],
    ["secret-aws-secret-key", `aws_secret_access_key = ${s.awsSecretKey}`, s.awsSecretKey],
    ["secret-github-token", `token: ${s.githubToken}`, s.githubToken],
    ["secret-gitlab-token", `GITLAB=${s.gitlabToken}`, s.gitlabToken],
    ["secret-slack-token", `slack("${s.slackToken}")`, s.slackToken],
    ["secret-slack-webhook", `url = "${s.slackWebhook}"`, s.slackWebhook],
    ["secret-stripe-key", `stripe(${JSON.stringify(s.stripeKey)})`, s.stripeKey],
    ["secret-jwt", `Authorization: Bearer ${s.jwt}`, s.jwt],
    [
      "secret-connection-string",
      `DATABASE_URL=postgres://app:${s.dbPassword}@db.internal:5432/app`,
      s.dbPassword,
    ],
    ["secret-generic", `const apiKey = "${s.genericSecret}";`, s.genericSecret],
  ];
  for (const [id, text, secret] of cases) {
    it(`${id}: found, and its evidence is masked`, () => {
      const hits = scanSecrets(`// config\n${text}\n`, "src/app.js", EMPTY_ALLOW);
      const hit = hits.find((candidate) => candidate.finding.id === id);
      assert.ok(hit, `expected ${id} in ${JSON.stringify(hits.map((h) => h.finding.id))}`);
      assert.equal(hit.finding.location, "src/app.js:2");
      assert.ok(!hit.finding.evidence.includes(secret), `secret leaked in evidence: ${hit.finding.evidence}`);
      assert.match(hit.finding.evidence, /\*{4,}/);
    });
  }

  it("private keys and GCP service-account keys, without printing the key", () => {
    const hits = scanSecrets(s.gcpKeyJson, "sa.json", EMPTY_ALLOW);
    const found = hits.map((hit) => hit.finding.id).sort();
    assert.deepEqual(found, ["secret-gcp-service-account", "secret-private-key"]);
    const body = s.privateKeyPem.split("\n")[1]!;
    for (const hit of hits) assert.ok(!hit.finding.evidence.includes(body.slice(0, 20)));
    assert.deepEqual(ids(s.privateKeyPem, "key.pem"), ["secret-private-key"]);
  });

  it("ignores placeholders, templates, env references and documented example keys", () => {
    const text = [
      'password = "changeme"',
      "DATABASE_URL=postgres://user:${DB_PASSWORD}@db:5432/app",
      "url: postgres://app:password@localhost/app",
      `api_key = process.env.API_KEY_FOR_SERVICE_1234`,
      'const id = "AKIAIOSFODNN7EXAMPLE";',
      "-----BEGIN PRIVATE KEY-----", // a header alone, as in a parser
      'token: "your-api-token-goes-here"',
      "const passwordFieldName = 'passwordConfirmation';",
    ].join("\n");
    assert.deepEqual(ids(text), []);
  });

  it("honours inline ignore comments and the value allow-list", () => {
    assert.deepEqual(ids(`const k = "${s.githubToken}"; // bulwark:ignore test token\n`), []);
    assert.deepEqual(ids(`const k = "${s.githubToken}"; // gitleaks:allow\n`), []);
    const allowed = scanSecrets(`k = "${s.githubToken}"`, "a.js", {
      values: [new RegExp(s.githubToken.slice(-8))],
    });
    assert.deepEqual(allowed, []);
  });

  it("reports each occurrence with its own line", () => {
    const hits = scanSecrets(`a\n"${s.stripeKey}"\nb\n"${s.stripeKey}"\n`, "x.txt", EMPTY_ALLOW);
    assert.deepEqual(
      hits.map((hit) => hit.finding.location),
      ["x.txt:2", "x.txt:4"],
    );
  });
});
