/**
 * Rate-limit keys. A rule keys requests by one or more parts: the client address (after the
 * trusted-proxy rules, so a spoofed X-Forwarded-For never changes it), the authenticated
 * subject, or a request header. IPv6 clients are grouped by prefix (/64 by default), because one
 * host usually holds a whole /64 and could otherwise rotate addresses to evade a limit.
 */
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

export type KeyPart =
  | { readonly kind: "ip" }
  | { readonly kind: "subject" }
  | { readonly kind: "header"; readonly name: string };

/** "ip", "subject" or "header:NAME" as config writes them. */
export function parseKeyPart(text: string): KeyPart {
  if (text === "ip" || text === "subject") return { kind: text };
  return { kind: "header", name: text.slice("header:".length).toLowerCase() };
}

/** The IPv4 address itself; an IPv6 address cut to its first `prefix` bits, as "2001:db8:0:0::/64". */
export function ipKey(ip: string, prefix: number): string {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  const lower = ip.toLowerCase();
  if (lower.startsWith("::ffff:") && isIPv4(lower.slice(7))) return lower.slice(7);
  const groups = expandIpv6(lower);
  const out: string[] = [];
  for (let index = 0; index < 8; index++) {
    const bits = Math.max(0, Math.min(16, prefix - index * 16));
    const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    out.push((groups[index]! & mask).toString(16));
  }
  return `${out.join(":")}/${prefix}`;
}

function expandIpv6(ip: string): number[] {
  const zone = ip.indexOf("%");
  const bare = zone === -1 ? ip : ip.slice(0, zone);
  const [head, tail] = bare.includes("::") ? bare.split("::") : [bare, undefined];
  const parse = (part: string | undefined): number[] => {
    if (!part) return [];
    return part.split(":").flatMap((group) => {
      if (group.includes(".")) {
        const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number];
        return [(a << 8) | b, (c << 8) | d];
      }
      return [Number.parseInt(group, 16)];
    });
  };
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * A key value safe in a Redis key and inside a `{…}` hash tag: short values are URI-encoded
 * (which escapes braces); long ones (a header can be kilobytes) become a SHA-256 digest.
 */
export function keyValue(text: string): string {
  const encoded = encodeURIComponent(text);
  return encoded.length <= 96 ? encoded : `sha256:${createHash("sha256").update(text).digest("base64url")}`;
}
