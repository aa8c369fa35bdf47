/**
 * Config schema of authorization (referenced from src/config/schema.ts as the `authorize` policy
 * field). Roles, scopes and groups are read from claim paths whose defaults cover Keycloak
 * (`realm_access.roles`, `resource_access.<client>.roles` when named), standard OAuth `scope`
 * (space-separated) and `scp`, and `groups`.
 */
import { z } from "zod";
import { duration } from "../../config/units.js";

const claimPath = z
  .string()
  .regex(/^[^.\s]+(?:\.[^.\s]+)*$/, { message: 'expected a dotted claim path such as "realm_access.roles"' });

const nameList = z.array(z.string().min(1)).min(1);

// A list requires every value; { anyOf } requires one of them.
const requirement = (what: string) =>
  z
    .union([nameList, z.strictObject({ anyOf: nameList.describe(`one of these ${what} is enough`) })])
    .describe(`${what} the identity must hold: a list needs all of them, { anyOf: [...] } one of them`);

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected an HTTP header name (RFC 9110 token)" });

export const authorizeSchema = z
  .strictObject({
    roles: requirement("roles").optional(),
    scopes: requirement("scopes").optional(),
    groups: requirement("groups").optional(),
    claims: z
      .strictObject({
        roles: z
          .array(claimPath)
          .min(1)
          .default(["realm_access.roles", "roles"])
          .describe(
            'claim paths holding roles, merged (add "resource_access.CLIENT.roles" for Keycloak client roles)',
          ),
        scopes: z
          .array(claimPath)
          .min(1)
          .default(["scope", "scp"])
          .describe("claim paths holding scopes (a space-separated string or a list)"),
        groups: z.array(claimPath).min(1).default(["groups"]).describe("claim paths holding groups"),
      })
      .prefault({})
      .describe("where roles, scopes and groups are read from"),
    tenant: z
      .union([
        z.strictObject({
          claim: claimPath.describe("claim holding the identity's tenant (a string or a list of tenants)"),
          pathSegment: z
            .number()
            .int()
            .min(0)
            .describe('0-based segment of the request path holding the tenant ("/api/acme/x": 1 is "acme")'),
        }),
        z.strictObject({
          claim: claimPath.describe("claim holding the identity's tenant (a string or a list of tenants)"),
          header: headerName.describe("request header holding the tenant"),
        }),
      ])
      .optional()
      .describe("tenant isolation: the request's tenant (path segment or header) must equal the claim"),
    stepUp: z
      .strictObject({
        acr: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe("accepted `acr` values (authentication context class), e.g. a MFA level"),
        amr: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('methods of which `amr` must contain one, e.g. ["mfa", "otp", "hwk"]'),
        maxAge: duration("longest time since the user authenticated (`auth_time`)").optional(),
      })
      .refine((stepUp) => stepUp.acr || stepUp.amr || stepUp.maxAge !== undefined, {
        message: "expected acr, amr or maxAge",
      })
      .optional()
      .describe(
        "step-up: the token must show a strong or recent authentication; otherwise 401 insufficient_user_authentication (RFC 9470)",
      ),
    enforce: z
      .boolean()
      .default(true)
      .describe("refuse what the policy denies; false only logs what would be refused (shadow mode)"),
  })
  .describe("authorization on the route; needs `auth`; false turns the defaults' off");

export type AuthorizeConfig = z.output<typeof authorizeSchema>;
