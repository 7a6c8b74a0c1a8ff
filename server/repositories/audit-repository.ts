// The audit trail: append-only security events.
import type { Database } from './database.ts';

export interface AuditEventInput {
  type: string;
  accountId?: string;
  clientId?: string;
  ip?: string;
  userAgent?: string;
  details?: Record<string, unknown>;
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
  list(filter?: { type?: string; accountId?: string; limit?: number }): Promise<AuditEvent[]>;
}

// What people and clients send us ends up here: NUL cannot be stored, and length is bounded.
const text = (value: string | undefined, max: number) => (value === undefined ? null : value.replaceAll('\u0000', '\uFFFD').slice(0, max));

interface Row { id: string; at: Date; type: string; account_id: string | null; client_id: string | null; ip: string | null; user_agent: string | null; details: Record<string, unknown> }

export function createAuditRepository(db: Pick<Database, 'query' | 'execute'>): AuditRepository {
  return {
    async append(event) {
      await db.execute(
        'INSERT INTO audit_event (type, account_id, client_id, ip, user_agent, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)',
        [event.type, text(event.accountId, 128), text(event.clientId, 128), text(event.ip, 64), text(event.userAgent, 512), JSON.stringify(event.details ?? {}).replaceAll('\\u0000', '\\ufffd')],
      );
    },
    async purgeOlderThan(days, limit) {
      return db.execute("DELETE FROM audit_event WHERE id IN (SELECT id FROM audit_event WHERE at < now() - $1::int * interval '1 day' LIMIT $2)", [days, limit]);
    },
    async list(filter = {}) {
      const rows = await db.query<Row>(
        `SELECT id::text AS id, at, type, account_id, client_id, ip, user_agent, details FROM audit_event
          WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR account_id = $2)
          ORDER BY id DESC LIMIT $3`,
        [filter.type ?? null, filter.accountId ?? null, filter.limit ?? 100],
      );
      return rows.map((r) => ({
        id: r.id, at: new Date(r.at), type: r.type, accountId: r.account_id ?? undefined, clientId: r.client_id ?? undefined,
        ip: r.ip ?? undefined, userAgent: r.user_agent ?? undefined, details: r.details,
      }));
    },
  };
}
