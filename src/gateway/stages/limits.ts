/**
 * Per-route body limit, first line: a declared Content-Length over the limit is refused before a
 * byte of the body is read. Bodies without a declared length (chunked) are counted while they
 * stream, in upstream/body-guard.ts.
 */

import { formatSize } from "../../config/units.js";
import type { StageFactory } from "../stage.js";

export const limitsStage: StageFactory = (route) => {
  const max = route.limits.maxBodySize;
  const detail = `the body limit on this route is ${formatSize(max)}`;
  return {
    name: "limits",
    onRequest: function checkDeclaredLength(ctx) {
      const declared = ctx.req.headers["content-length"];
      if (declared !== undefined && Number(declared) > max) {
        return { status: 413, problem: { code: "body_too_large", detail } };
      }
      return undefined;
    },
  };
};
