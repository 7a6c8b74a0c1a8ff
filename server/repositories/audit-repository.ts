// The audit trail: append-only security events. SQL straight to the driver
// (see Database.query), like every repository here.
import type { Database } from './database.ts';

export interface AuditEventInput {
  type: string;
  accountId?: string;
  clientId?: string;
  ip?: string;
  userAgent?: string;
  /** Who made an admin change (the admin token's `sub`). */
  actor?: string;
  details?: Record<string, unknown>;
}

export interface AuditFilter {
  type?: string;
  accountId?: string;
  clientId?: string;
  /** Events at or after this time. */
  since?: Date;
  /** Events before this time. */
  until?: Date;
  /** Events older than this id (the next page after the last one seen). */
  before?: string;
  limit?: number;
}

export interface AuditEvent extends AuditEventInput {
  id: string;
  at: Date;
}

export interface AuditRepository {
  append(event: AuditEventInput): Promise<void>;
  /** Deletes up to `limit` events older than `days`; returns how many went. */
  purgeOlderThan(days: number, limit: number): Promise<number>;
  /** Newest first. */
  list(filter?: AuditFilter): Promise<AuditEvent[]>;
  /**
   * Removes the fields named `keys`, at any depth of `details`, from the
   * account's events (an account's deletion: admin changes recorded its
   * e-mail and name in before/after). Returns how many events changed.
   */
  redactDetails(accountId: string, keys: readonly string[]): Promise<number>;
  /**
   * Forgets where the person's own events came from (the IP address and user
   * agent of the events they made themselves, `actor` null); an operator's
   * events about them keep the operator's. For account deletion.
   */
  forgetOrigins(accountId: string): Promise<number>;
}

/** `details` without the fields named `keys`, at any depth. */
function without(value: unknown, keys: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => without(v, keys));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.has(k)).map(([k, v]) => [k, without(v, keys)]));
}

// What people and clients send us ends up here: NUL cannot be stored, and length is bounded.
const text = (value: string | undefined, max: number) => (value === undefined ? null : value.replaceAll('\u0000', '\uFFFD').slice(0, max));

interface Row {
  id: string; at: Date; type: string; account_id: string | null; client_id: string | null; ip: string | null; user_agent: string | null; actor: string | null; details: Record<string, unknown>;
}

const toEvent = (r: Row): AuditEvent => ({
  id: r.id, at: new Date(r.at), type: r.type, accountId: r.account_id ?? undefined, clientId: r.client_id ?? undefined,
  ip: r.ip ?? undefined, userAgent: r.user_agent ?? undefined, actor: r.actor ?? undefined, details: r.details,
});

export function createAuditRepository(db: Pick<Database, 'query' | 'execute'>): AuditRepository {
  return {
    async append(event) {
      await db.execute(
        'INSERT INTO audit_event (type, account_id, client_id, ip, user_agent, actor, details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)',
        [
          event.type, text(event.accountId, 128), text(event.clientId, 128), text(event.ip, 64), text(event.userAgent, 512), text(event.actor, 128),
          JSON.stringify(event.details ?? {}).replaceAll('\\u0000', '\\ufffd'),
        ],
      );
    },
    async purgeOlderThan(days, limit) {
      return db.execute("DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event WHERE at < now() - $1::int * interval '1 day' LIMIT $2)", [days, limit]);
    },
    async list(filter = {}) {
      const rows = await db.query<Row>(
        `SELECT id::text AS id, at, type, account_id, client_id, ip, user_agent, actor, details FROM audit_event
          WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR account_id = $2) AND ($3::text IS NULL OR client_id = $3)
            AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5) AND ($6::bigint IS NULL OR id < $6)
          ORDER BY audit_event.id DESC LIMIT $7`,
        [filter.type ?? null, filter.accountId ?? null, filter.clientId ?? null, filter.since ?? null, filter.until ?? null, filter.before ?? null, filter.limit ?? 100],
      );
      return rows.map(toEvent);
    },
    async redactDetails(accountId, keys) {
      // Only the events whose details name one of the keys are read and rewritten.
      const rows = await db.query<{ id: string; details: Record<string, unknown> }>(
        `SELECT id::text AS id, details FROM audit_event WHERE account_id = $1 AND jsonb_path_exists(details, $2::jsonpath)`,
        [accountId.slice(0, 128), `$.** ? (${keys.map((k) => `exists(@."${k.replace(/["\\]/g, '')}")`).join(' || ')})`],
      );
      const drop = new Set(keys);
      for (const row of rows) {
        await db.execute('UPDATE audit_event SET details = $2::jsonb WHERE id = $1::bigint', [row.id, JSON.stringify(without(row.details, drop))]);
      }
      return rows.length;
    },
    forgetOrigins(accountId) {
      return db.execute('UPDATE audit_event SET ip = NULL, user_agent = NULL WHERE account_id = $1 AND actor IS NULL AND (ip IS NOT NULL OR user_agent IS NOT NULL)', [accountId.slice(0, 128)]);
    },
  };
}
