/**
 * docker-compose hardening rules (CIS Docker Benchmark §5), per service. Locations point at the
 * offending key's line, or the service's own line when a setting is missing.
 */
import { isMap, isScalar, LineCounter, parseDocument, type YAMLMap } from "yaml";
import { type Finding, finding } from "../findings.js";
import { hasIgnoreComment } from "./text-lines.js";

export function isComposeFile(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return /^(docker-)?compose([.-][\w.-]+)?\.ya?ml$/i.test(name);
}

export function scanCompose(text: string, path: string): { findings: Finding[]; warnings: string[] } {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: false, strict: false });
  if (document.errors.length > 0) {
    const error = document.errors[0]!;
    return {
      findings: [],
      warnings: [`${path}: not valid YAML (${error.message.split("\n")[0]}); compose rules skipped`],
    };
  }
  const lines = text.split(/\r?\n/);
  const findings: Finding[] = [];
  const services = document.get("services", true);
  if (!isMap(services)) return { findings, warnings: [] };
  const lineOf = (node: unknown): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : 1;
  };
  for (const pair of (services as YAMLMap).items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : "?";
    const service = pair.value;
    if (!isMap(service)) continue;
    const serviceLine = lineOf(pair.key);
    if (hasIgnoreComment(lines[serviceLine - 1] ?? "")) continue;
    const value = (service.toJSON() ?? {}) as Record<string, unknown>;
    const keyLine = (key: string) => {
      const found = (service as YAMLMap).items.find((item) => isScalar(item.key) && item.key.value === key);
      return found ? lineOf(found.key) : serviceLine;
    };
    const add = (id: string, evidence: string, line: number) => {
      if (hasIgnoreComment(lines[line - 1] ?? "")) return;
      findings.push(finding(id, { evidence: `service ${name}: ${evidence}`, location: `${path}:${line}` }));
    };
    if (value.privileged === true || value.privileged === "true")
      add("compose-privileged", "privileged: true", keyLine("privileged"));
    if (value.network_mode === "host")
      add("compose-host-network", "network_mode: host", keyLine("network_mode"));
    const volumes = Array.isArray(value.volumes) ? value.volumes : [];
    for (const volume of volumes) {
      const source =
        typeof volume === "string"
          ? volume.split(":")[0]
          : String((volume as { source?: unknown })?.source ?? "");
      if (/docker\.sock$/.test(source ?? "")) {
        add(
          "compose-docker-socket",
          `volume ${typeof volume === "string" ? volume : source}`,
          keyLine("volumes"),
        );
      }
    }
    const limits = (
      (value.deploy as Record<string, unknown> | undefined)?.resources as Record<string, unknown> | undefined
    )?.limits as Record<string, unknown> | undefined;
    const memory = value.mem_limit ?? limits?.memory;
    const cpu = value.cpus ?? value.cpu_quota ?? limits?.cpus;
    const missing = [...(memory === undefined ? ["memory"] : []), ...(cpu === undefined ? ["cpu"] : [])];
    if (missing.length > 0)
      add("compose-no-resource-limits", `no ${missing.join(" or ")} limit`, serviceLine);
    if (value.read_only !== true && value.read_only !== "true")
      add(
        "compose-writable-rootfs",
        "read_only is not true",
        value.read_only === undefined ? serviceLine : keyLine("read_only"),
      );
    const dropped = Array.isArray(value.cap_drop)
      ? value.cap_drop.map((cap) => String(cap).toUpperCase())
      : [];
    if (!dropped.includes("ALL"))
      add("compose-caps-not-dropped", "cap_drop does not include ALL", serviceLine);
  }
  return { findings, warnings: [] };
}
