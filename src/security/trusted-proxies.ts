/**
 * Which peers may speak for the client in X-Forwarded-For / Forwarded. A client-sent forwarding
 * header is only believed when the TCP peer is a configured trusted proxy; otherwise the peer
 * address is the client, so a spoofed header cannot change identity (rate limits, logs, audit).
 */
import { BlockList, isIP } from "node:net";

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

/** Parses "10.0.0.0/8", "::1/128" or a single address; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText, extra] = text.trim().split("/");
  if (!address || extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  ) {
    return undefined;
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`invalid CIDR ${JSON.stringify(text)}`);
      this.list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    }
    this.empty = cidrs.length === 0;
  }

  trusts(peer: string | undefined): boolean {
    if (this.empty || !peer) return false;
    const bare = peer.startsWith("::ffff:") && isIP(peer.slice(7)) === 4 ? peer.slice(7) : peer;
    const version = isIP(bare);
    if (version === 0) return false;
    return this.list.check(bare, version === 4 ? "ipv4" : "ipv6");
  }

  /**
   * The client address: walk X-Forwarded-For from the right, skipping trusted proxies, and stop
   * at the first untrusted hop (the rightmost address no trusted proxy vouches for).
   */
  clientAddress(peer: string, forwardedFor: string | undefined): string {
    const normalizedPeer = normalizeAddress(peer);
    if (!forwardedFor || !this.trusts(normalizedPeer)) return normalizedPeer;
    const hops = forwardedFor.split(",").map((hop) => normalizeAddress(hop.trim()));
    for (let index = hops.length - 1; index >= 0; index--) {
      const hop = hops[index]!;
      if (isIP(hop) === 0) return normalizedPeer;
      if (!this.trusts(hop)) return hop;
    }
    return hops[0] && isIP(hops[0]) ? hops[0] : normalizedPeer;
  }
}

export function normalizeAddress(address: string): string {
  if (address.startsWith("::ffff:") && isIP(address.slice(7)) === 4) return address.slice(7);
  return address;
}
