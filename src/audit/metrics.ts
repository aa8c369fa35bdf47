/**
 * Prometheus metrics of the audit trail, registered on the gateway's registry: the AuditObserver
 * the gateway passes to createAuditTrail.
 */
import client, { type Registry } from "prom-client";
import type { AuditObserver } from "./trail.js";

export function createAuditMetrics(registry: Registry): AuditObserver {
  const records = new client.Counter({
    name: "bulwark_audit_records_total",
    help: "Audit records written to the store or its spool",
    registers: [registry],
  });
  const dropped = new client.Counter({
    name: "bulwark_audit_dropped_total",
    help: "Audit events not recorded, by reason (queue_full: the in-memory queue was full; invalid: refused by the event check)",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const checkpoints = new client.Counter({
    name: "bulwark_audit_checkpoints_total",
    help: "Signed audit checkpoints written",
    registers: [registry],
  });
  const storeUp = new client.Gauge({
    name: "bulwark_audit_store_up",
    help: "1 while the audit store takes writes, 0 after a failure until it does again",
    registers: [registry],
  });
  const spooled = new client.Counter({
    name: "bulwark_audit_spooled_total",
    help: "Audit records written to the local spool while PostgreSQL was unreachable",
    registers: [registry],
  });
  const shipped = new client.Counter({
    name: "bulwark_audit_shipped_total",
    help: "Spooled audit records shipped to PostgreSQL",
    registers: [registry],
  });
  storeUp.set(1);
  return {
    recorded: (n) => records.inc(n),
    dropped: (n, reason) => dropped.labels(reason).inc(n),
    checkpointed: () => checkpoints.inc(),
    storeStateChanged: (up) => storeUp.set(up ? 1 : 0),
    spooled: (n) => spooled.inc(n),
    shipped: (n) => shipped.inc(n),
  };
}
