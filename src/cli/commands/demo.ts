/**
 * `bulwark demo`: a sample app with the gateway in front of it, default hardened profile, and
 * a guide to what to try. Uses 127.0.0.1:8080 and :9901 when free, other free ports otherwise.
 */
import { createServer } from "node:net";
import { validateConfig } from "../../config/load.js";
import { quickModeConfig } from "../../config/quick-mode.js";
import { startSampleApp } from "../../demo/sample-app.js";
import { BulwarkError } from "../../errors.js";
import { GatewayInstance } from "../../gateway/instance.js";
import { type Command, parseFlags, say } from "../command.js";
import { runUntilSignalled } from "./serve.js";

const HELP = `usage: bulwark demo [--port PORT] [--admin-port PORT]

Starts a small sample app on a free loopback port and the Bulwark gateway in front of it with
the default hardened profile (strict), then prints URLs and commands to try. Ctrl-C stops both.

options:
  --port PORT        gateway port (default 8080, or a free one if 8080 is taken)
  --admin-port PORT  admin port (default 9901, or a free one if 9901 is taken)`;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

async function choosePort(preferred: number): Promise<number> {
  if (await portIsFree(preferred)) return preferred;
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : preferred));
    });
  });
}

function portFlag(flag: string, text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) {
    throw new BulwarkError(
      "usage",
      `${flag} expects a port number from 0 to 65535, got ${JSON.stringify(text)}`,
    );
  }
  return port;
}

export const demoCommand: Command = {
  name: "demo",
  help: HELP,
  async run(argv) {
    const { values } = parseFlags("demo", argv, {
      port: { type: "string" },
      "admin-port": { type: "string" },
    });
    const app = await startSampleApp();
    const appAddress = app.address();
    const appPort = typeof appAddress === "object" && appAddress ? appAddress.port : 0;
    const port = values.port !== undefined ? portFlag("--port", values.port) : await choosePort(8080);
    const adminPort =
      values["admin-port"] !== undefined
        ? portFlag("--admin-port", values["admin-port"])
        : await choosePort(9901);
    const config = validateConfig(
      quickModeConfig({
        upstream: [`http://127.0.0.1:${appPort}`],
        listen: `127.0.0.1:${port}`,
        admin: `127.0.0.1:${adminPort}`,
      }),
      { source: "bulwark demo", baseDir: process.cwd() },
    );
    const instance = new GatewayInstance({ config });
    try {
      await instance.start();
    } catch (error) {
      app.close();
      throw error;
    }
    const gw = `http://127.0.0.1:${instance.gateway.addresses()[0]!.port}`;
    const admin = `http://127.0.0.1:${instance.adminPort}`;
    const direct = `http://127.0.0.1:${appPort}`;
    const tryLine = (command: string, why: string) => say(`  ${command.padEnd(46)} # ${why}`);
    say("");
    say("Bulwark demo is running (strict profile). Access logs are JSON lines on stdout.");
    say("");
    say(`  gateway   ${gw}/`);
    say(`  app       ${direct}/   (the unprotected sample app, for comparison)`);
    say(`  metrics   ${admin}/metrics`);
    say(`  probes    ${admin}/live  ${admin}/ready  ${admin}/health`);
    say("");
    say("Try:");
    tryLine(`curl -sI ${gw}/`, "security headers added; Server and X-Powered-By removed");
    tryLine(`curl -sI ${direct}/`, "the same page straight from the app");
    tryLine(`curl -s ${gw}/api/echo`, "X-Forwarded-*, X-Request-Id and traceparent the app received");
    tryLine(`curl -si -X TRACE ${gw}/`, "refused with a problem+json answer (405)");
    tryLine(`curl -si --path-as-is ${gw}/a/../../etc`, "a path escaping the root is refused (400)");
    tryLine(`curl -s ${admin}/ready`, "readiness, with each upstream target's health");
    say("");
    say("Ctrl-C stops the demo.");
    const code = await runUntilSignalled(instance);
    await new Promise((resolve) => app.close(resolve));
    return code;
  },
};
