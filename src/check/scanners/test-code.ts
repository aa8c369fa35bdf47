/**
 * Test code and fixtures get a different policy: they are full of made-up passwords and
 * connection strings (reported as low), and they switch TLS verification off against their own
 * self-signed servers (config smells are not reported). Provider-format secrets keep their
 * severity everywhere: a real token in a test is still a leak.
 */
import type { Finding } from "../findings.js";

export function isTestPath(path: string): boolean {
  return /(^|\/)(test|tests|__tests__|spec|specs|fixtures?|testdata)\/|\.(test|spec)\.[a-z]+$/i.test(path);
}

export function secretSeverityForPath(item: Finding, path: string): Finding {
  const madeUp = item.id === "secret-generic" || item.id === "secret-connection-string";
  return madeUp && isTestPath(path) ? { ...item, severity: "low" } : item;
}
