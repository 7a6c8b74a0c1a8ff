// Storage of oidc-provider's model instances (sessions, grants, codes,
// refresh tokens, interactions, ...) in the `oidc_model` table. The one place
// that knows how they are stored; oidc/adapter.ts only translates the
// library's adapter calls into these. Every request of the protocol passes
// here, so the SQL goes straight to the driver (see Database.query).
import type { Database } from './database.ts';
import { storable } from './text.ts';
import { UnstorableValueError } from '../errors.ts';

/** The payload oidc-provider hands to its adapter: a plain JSON object. */
export type ModelPayload = Record<string, unknown>;

export interface OidcModelRepository {
  /** Throws UnstorableValueError when the payload holds a NUL character, which PostgreSQL cannot store. */
  upsert(model: string, id: string, payload: ModelPayload, expiresInSeconds?: number): Promise<void>;
  /** The payload, or undefined when absent or expired; `consumed` (epoch seconds) is set once consumed. */
  find(model: string, id: string): Promise<ModelPayload | undefined>;
  findByUid(model: string, uid: string): Promise<ModelPayload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<ModelPayload | undefined>;
  /**
   * Marks the instance consumed if nobody has yet, as one conditional UPDATE:
   * of any number of concurrent callers exactly one gets `true`.
   */
  consume(model: string, id: string): Promise<boolean>;
  /**
   * Whether a consumed instance may be presented once more: it was consumed
   * less than `graceSeconds` ago and is the newest consumed one of its grant
   * (the token right before the current one, not an older one).
   */
  withinReuseGrace(model: string, id: string, graceSeconds: number): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every instance of `model` issued from one grant (a token family). */
  revokeByGrantId(model: string, grantId: string): Promise<void>;
  /** A user's instances of one model (their sessions, grants, refresh tokens), newest first. */
  listByAccount(model: string, accountId: string): Promise<Array<{ id: string; payload: ModelPayload }>>;
  /** How many live, unconsumed instances of `model` one grant has (refresh tokens that would still work). */
  countByGrant(model: string, grantId: string): Promise<number>;
  /** Deletes the unconsumed instances of `model` in one grant; returns how many went. */
  deleteUnconsumedByGrant(model: string, grantId: string): Promise<number>;
  /** Deletes every instance of these models that belongs to one account; returns how many of each went. */
  deleteByAccount(models: readonly string[], accountId: string): Promise<Record<string, number>>;
  /** Deletes every instance of these models issued to one client (the client is being deleted); returns how many went. */
  deleteByClient(models: readonly string[], clientId: string): Promise<number>;
  /** Deletes up to `limit` expired instances; returns how many went. Bounded, so one pass never holds locks for long. */
  purgeExpired(limit: number): Promise<number>;
  /** The newest live instance of `model` one account holds for one client (a remembered consent). */
  findLatestForClient(model: string, accountId: string, clientId: string): Promise<{ id: string; payload: ModelPayload } | undefined>;
}

interface Row { payload: ModelPayload; consumed_at: Date | null }

const LIVE = '(expires_at IS NULL OR expires_at > now())';

export function createOidcModelRepository(db: Pick<Database, 'query' | 'execute'>): OidcModelRepository {
  const present = (rows: Row[]): ModelPayload | undefined => {
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : row.payload;
  };
  const findBy = async (column: 'id' | 'uid' | 'user_code', model: string, value: string) => {
    if (!storable(value)) return undefined;
    return present(await db.query<Row>(`SELECT payload, consumed_at FROM oidc_model WHERE model = $1 AND ${column} = $2 AND ${LIVE} LIMIT 1`, [model, value]));
  };

  return {
    async upsert(model, id, payload, expiresInSeconds) {
      const json = JSON.stringify(payload);
      if (!storable(id) || json.includes('\\u0000')) throw new UnstorableValueError();
      const expiresAt = expiresInSeconds ? new Date(Date.now() + expiresInSeconds * 1000) : null;
      // consumed_at is left alone on conflict: saving a consumed token again must not revive it.
      await db.execute(
        `INSERT INTO oidc_model (model, id, payload, uid, user_code, grant_id, account_id, expires_at)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
         ON CONFLICT (model, id) DO UPDATE SET
           payload = EXCLUDED.payload, uid = EXCLUDED.uid, user_code = EXCLUDED.user_code,
           grant_id = EXCLUDED.grant_id, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
        [model, id, json, stringOrNull(payload.uid), stringOrNull(payload.userCode), stringOrNull(payload.grantId), stringOrNull(payload.accountId), expiresAt],
      );
    },

    find: (model, id) => findBy('id', model, id),
    findByUid: (model, uid) => findBy('uid', model, uid),
    findByUserCode: (model, userCode) => findBy('user_code', model, userCode),

    async consume(model, id) {
      if (!storable(id)) return false;
      const count = await db.execute('UPDATE oidc_model SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL', [model, id]);
      return count === 1;
    },

    async withinReuseGrace(model, id, graceSeconds) {
      if (!storable(id) || graceSeconds <= 0) return false;
      const rows = await db.query(
        `SELECT 1 FROM oidc_model m
          WHERE m.model = $1 AND m.id = $2 AND m.consumed_at > now() - $3::int * interval '1 second'
            AND NOT EXISTS (SELECT 1 FROM oidc_model n WHERE n.model = m.model AND n.grant_id = m.grant_id AND n.consumed_at > m.consumed_at)`,
        [model, id, graceSeconds],
      );
      return rows.length > 0;
    },

    async destroy(model, id) {
      if (!storable(id)) return;
      await db.execute('DELETE FROM oidc_model WHERE model = $1 AND id = $2', [model, id]);
    },

    async revokeByGrantId(model, grantId) {
      if (!storable(grantId)) return;
      await db.execute('DELETE FROM oidc_model WHERE model = $1 AND grant_id = $2', [model, grantId]);
    },

    async listByAccount(model, accountId) {
      if (!storable(accountId)) return [];
      return db.query<{ id: string; payload: ModelPayload }>(
        `SELECT id, payload FROM oidc_model WHERE model = $1 AND account_id = $2 AND ${LIVE} ORDER BY created_at DESC`,
        [model, accountId],
      );
    },

    async countByGrant(model, grantId) {
      if (!storable(grantId)) return 0;
      const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM oidc_model WHERE model = $1 AND grant_id = $2 AND consumed_at IS NULL AND ${LIVE}`, [model, grantId]);
      return Number(row?.n ?? 0);
    },

    async deleteUnconsumedByGrant(model, grantId) {
      if (!storable(grantId)) return 0;
      return db.execute('DELETE FROM oidc_model WHERE model = $1 AND grant_id = $2 AND consumed_at IS NULL', [model, grantId]);
    },

    async deleteByAccount(models, accountId) {
      const counts: Record<string, number> = Object.fromEntries(models.map((m) => [m, 0]));
      if (!storable(accountId)) return counts;
      const rows = await db.query<{ model: string }>('DELETE FROM oidc_model WHERE account_id = $1 AND model = ANY($2::text[]) RETURNING model', [accountId, [...models]]);
      for (const { model } of rows) counts[model] = (counts[model] ?? 0) + 1;
      return counts;
    },

    async deleteByClient(models, clientId) {
      if (!storable(clientId)) return 0;
      // No index on the payload: this runs once per deleted client, not per request.
      return db.execute("DELETE FROM oidc_model WHERE model = ANY($1::text[]) AND payload->>'clientId' = $2", [[...models], clientId]);
    },

    async purgeExpired(limit) {
      return db.execute(
        'DELETE FROM oidc_model WHERE (model, id) IN (SELECT model, id FROM oidc_model WHERE expires_at < now() LIMIT $1)',
        [limit],
      );
    },

    async findLatestForClient(model, accountId, clientId) {
      if (!storable(accountId) || !storable(clientId)) return undefined;
      const rows = await db.query<{ id: string; payload: ModelPayload }>(
        `SELECT id, payload FROM oidc_model
          WHERE model = $1 AND account_id = $2 AND payload->>'clientId' = $3 AND ${LIVE}
          ORDER BY created_at DESC LIMIT 1`,
        [model, accountId, clientId],
      );
      return rows[0];
    },
  };
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}
