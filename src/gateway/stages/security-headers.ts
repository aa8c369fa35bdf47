/**
 * Response security headers (the profiles live in ../header-profiles.ts). Per header: the profile's
 * value replaces the upstream's, except "default" headers (sent only when the upstream sent none) and
 * names the route lists in keepUpstream (the upstream's value wins when it sent one); headers.set is
 * applied last, a null value removing the header. Everything is planned when the route is built, so a
 * response costs one short loop.
 */
import { validateHeaderValue } from "node:http";
import { BulwarkError } from "../../errors.js";
import { BANNER_HEADERS, planHeaders } from "../header-profiles.js";
import type { StageFactory } from "../stage.js";

export const securityHeadersStage: StageFactory = (route) => {
  for (const [name, value] of Object.entries(route.headers.set)) {
    if (value === null) continue;
    try {
      validateHeaderValue(name, value);
    } catch {
      // The schema checks names; a value with CR, LF or NUL would make every response on the route fail.
      throw new BulwarkError(
        "config_invalid",
        `route ${route.name}: headers.set.${name} is not a valid header value`,
      );
    }
  }
  const { onSecure, onPlaintext, removals } = planHeaders(route.headers);
  const stripBanners = route.headers.stripBanners;
  if (onSecure.length === 0 && removals.length === 0 && !stripBanners) return null;

  return {
    name: "security-headers",
    onResponse: function applySecurityHeaders(ctx, head) {
      const headers = head.headers;
      // Gateway-made answers carry no upstream banners. The proxy already leaves them out when it
      // copies the upstream's head (upstream/proxy.ts), so this finds none there and deletes nothing.
      if (stripBanners && !head.fromGateway) {
        for (const name in headers) if (BANNER_HEADERS.has(name)) delete headers[name];
      }
      const plan = ctx.secure ? onSecure : onPlaintext;
      for (const header of plan) {
        if (header.overwrite || headers[header.name] === undefined) headers[header.name] = header.value;
      }
      for (const name of removals) delete headers[name];
    },
  };
};
