/**
 * Account names in sign-in bodies: JSON Pointer (RFC 6901, its §5 examples), form fields
 * (repeated ones included), the config keys and their errors, and a bounded fuzz of the
 * extraction: it never throws and never returns more than two names.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, validateConfig } from "../../../src/config/load.js";
import { accountsInForm, accountsInJson } from "../../../src/security/brute-force/body-account.js";
import { compileJsonPointer, resolveJsonPointer } from "../../../src/security/brute-force/json-pointer.js";

test("JSON Pointer: the examples of RFC 6901 §5", () => {
  const document = {
    foo: ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
  };
  const cases: [string, unknown][] = [
    ["", document],
    ["/foo", ["bar", "baz"]],
    ["/foo/0", "bar"],
    ["/", 0],
    ["/a~1b", 1],
    ["/c%d", 2],
    ["/e^f", 3],
    ["/g|h", 4],
    ["/i\\j", 5],
    ['/k"l', 6],
    ["/ ", 7],
    ["/m~0n", 8],
  ];
  for (const [pointer, expected] of cases) {
    assert.deepEqual(resolveJsonPointer(document, compileJsonPointer(pointer)), expected, pointer);
  }
});

test("JSON Pointer: ~01 is ~1, array indices are strict, prototypes are never followed", () => {
  assert.deepEqual(compileJsonPointer("/~01"), ["~1"]);
  const document = JSON.parse('{"list": ["a", "b"], "__proto__": {"polluted": "x"}}') as unknown;
  const at = (pointer: string) => resolveJsonPointer(document, compileJsonPointer(pointer));
  assert.equal(at("/list/1"), "b");
  for (const pointer of ["/list/01", "/list/-", "/list/2", "/list/1e0", "/list/length", "/missing/x"]) {
    assert.equal(at(pointer), undefined, pointer);
  }
  assert.equal(at("/__proto__/polluted"), "x", "an own __proto__ key (JSON.parse makes one) is data");
  assert.equal(resolveJsonPointer({}, compileJsonPointer("/constructor")), undefined);
  assert.equal(resolveJsonPointer({}, compileJsonPointer("/toString")), undefined);
  assert.equal(resolveJsonPointer("text", compileJsonPointer("/length")), undefined);
});

test("accounts in JSON: strings and finite numbers only", () => {
  const pointer = compileJsonPointer("/user/email");
  assert.deepEqual(accountsInJson('{"user":{"email":"a@example.test"}}', pointer), ["a@example.test"]);
  assert.deepEqual(accountsInJson('{"user":{"email":12345}}', pointer), ["12345"]);
  for (const text of [
    '{"user":{"email":""}}',
    '{"user":{"email":"   "}}',
    '{"user":{"email":null}}',
    '{"user":{"email":["a"]}}',
    '{"user":{"email":{"$ne":1}}}',
    '{"user":{"email":1e400}}',
    '{"user":"a@example.test"}',
    "not json",
    "",
  ]) {
    assert.deepEqual(accountsInJson(text, pointer), [], text);
  }
  // A repeated name: the last wins, as in JSON.parse and most servers' parsers.
  assert.deepEqual(accountsInJson('{"user":{"email":"a","email":"b"}}', pointer), ["b"]);
});

test("accounts in forms: decoded, first and last of a repeated field, blanks ignored", () => {
  assert.deepEqual(accountsInForm("username=alice&password=x", "username"), ["alice"]);
  assert.deepEqual(accountsInForm("username=J%C3%BCrgen+M", "username"), ["Jürgen M"]);
  assert.deepEqual(accountsInForm("user%6Eame=alice", "username"), ["alice"]);
  assert.deepEqual(accountsInForm("username=a&username=b&username=c", "username"), ["a", "c"]);
  assert.deepEqual(accountsInForm("username=a&username=a", "username"), ["a"]);
  assert.deepEqual(accountsInForm("username=&username=+&username=b", "username"), ["b"]);
  assert.deepEqual(accountsInForm("user=alice", "username"), []);
  assert.deepEqual(accountsInForm("", "username"), []);
});

function loginRoute(loginEndpoint: unknown) {
  return {
    upstreams: { app: { targets: ["http://127.0.0.1:3000"] } },
    routes: [{ upstream: "app", loginEndpoint }],
  };
}

function problems(raw: object): { path: string; message: string }[] {
  try {
    validateConfig(raw, { source: "test", baseDir: "/", env: {} });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((problem) => ({ path: problem.path, message: problem.message }));
  }
  return [];
}

test("config: form and JSON accounts and the read limit are accepted; bad values are refused clearly", () => {
  for (const account of [
    { form: "username" },
    { json: "/user/email" },
    { form: "u", json: "" },
    { json: "/a~1b/~0" },
  ]) {
    assert.deepEqual(problems(loginRoute({ account, bodyReadLimit: "8kb" })), [], JSON.stringify(account));
  }
  const pointer = problems(loginRoute({ account: { json: "user/email" } }));
  assert.ok(
    pointer.some((p) => /JSON Pointer \(RFC 6901\)/.test(p.message)),
    JSON.stringify(pointer),
  );
  assert.ok(problems(loginRoute({ account: { json: "/a~2" } })).length > 0);
  for (const account of [{}, { header: "X-User", form: "u" }, { query: "u", json: "/u" }]) {
    assert.deepEqual(
      problems(loginRoute({ account })).map((p) => p.message),
      ['name one source: "header", "query", or the body ("form", "json" or both)'],
      JSON.stringify(account),
    );
  }
  assert.deepEqual(problems(loginRoute({ account: { form: 1 } })), [
    {
      path: "routes[0].loginEndpoint.account.form",
      message: "invalid input: expected string, received number",
    },
  ]);
  assert.ok(problems(loginRoute({ account: { form: "" } })).length > 0);
  const limit = problems(loginRoute({ account: { form: "u" }, bodyReadLimit: "2mb" }));
  assert.ok(
    limit.some((p) => p.path.endsWith("bodyReadLimit") && /1b to 1mb/.test(p.message)),
    JSON.stringify(limit),
  );
});

test("fuzz: extraction never throws and names at most two accounts (3 s)", () => {
  const alphabet = [
    "username",
    "user",
    "email",
    "=",
    "&",
    "%",
    "%C3%A9",
    "%ZZ",
    "+",
    "{",
    "}",
    "[",
    "]",
    '"',
    ":",
    ",",
    "\\",
    "~",
    "/",
    "0",
    "-",
    "null",
    "true",
    "é",
    "😀",
    "\u0000",
  ];
  const pointers = ["", "/username", "/user/email", "/0", "/user/0/email", "/~0~1", "/__proto__"].map(
    compileJsonPointer,
  );
  const pick = () => alphabet[Math.floor(Math.random() * alphabet.length)]!;
  // Random JSON values, so that pointers do land on strings, numbers, arrays and objects.
  const value = (depth: number): unknown => {
    const kind = Math.floor(Math.random() * (depth > 3 ? 4 : 6));
    if (kind === 0) return pick();
    if (kind === 1) return Math.random() < 0.5 ? Math.floor(Math.random() * 1e6) : -0.5;
    if (kind === 2) return null;
    if (kind === 3) return Math.random() < 0.5;
    if (kind === 4) return Array.from({ length: Math.floor(Math.random() * 3) }, () => value(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(Math.random() * 3) }, () => [pick(), value(depth + 1)]),
    );
  };
  const deadline = Date.now() + 3000;
  let runs = 0;
  let named = 0;
  while (Date.now() < deadline) {
    const text =
      runs % 2 === 0
        ? JSON.stringify(value(0))
        : Array.from({ length: Math.floor(Math.random() * 60) }, () =>
            Math.random() < 0.15 ? String.fromCharCode(Math.floor(Math.random() * 0xffff)) : pick(),
          ).join("");
    const form = accountsInForm(text, "username");
    assert.ok(form.length <= 2 && form.every((name) => typeof name === "string" && name.trim() !== ""));
    for (const pointer of pointers) {
      const json = accountsInJson(text, pointer);
      assert.ok(json.length <= 1 && json.every((name) => typeof name === "string" && name.trim() !== ""));
      named += json.length;
    }
    runs++;
  }
  assert.ok(runs > 1000, `only ${runs} runs`);
  assert.ok(named > 0, "some generated documents named an account");
});
