// Storage of oidc-provider's model instances (sessions, grants, codes,
// refresh tokens, interactions, ...) in the `oidc_model` table. The one place
// that knows how they are stored, and where the refresh-token rules live
// (reuse grace, one-write rotation: prisma/migrations/*_refresh_token_rotation);
// oidc/adapter.ts only translates the library's adapter calls into these.
// Every request of the protocol passes here, so the SQL goes straight to the
// driver as prepared statements (see Database.query), never through Prisma's client.
import type { Database } from './database.ts';
import { storable } from './text.ts';
import { UnstorableValueError } from '../errors.ts';
import { accountFromRow, type AccountRow, type StoredAccount } from './account-repository.ts';

/** The payload oidc-provider hands to its adapter: a plain JSON object. */
export type ModelPayload = Record<string, unknown>;

/** Models a token request redeems: read with what redeeming them needs. */
export type GrantSourceModel = 'RefreshToken' | 'AuthorizationCode';

/** A refresh token or code with the grant, account and session its redemption checks, read together. */
export interface GrantSourceRead {
  /** `consumed` is set only when presenting it again betrays reuse: a refresh token within its client's grace leaves it out. */
  token: ModelPayload;
  /** Whether `grant` and `account` were read (false where the token lives apart from them, in Redis). */
  related: boolean;
  /** The token's grant (its family), when it is still live. */
  grant?: ModelPayload;
  /** The token's account, when it still exists (disabled or not). */
  account?: StoredAccount;
  /** Whether `session` was read (false where sessions live in Redis). */
  sessionRead: boolean;
  /** The live session the token was issued in (`sessionUid`), if any. */
  session?: ModelPayload;
}

export interface OidcModelRepository {
  /** Throws UnstorableValueError when the payload holds a NUL character, which PostgreSQL cannot store. */
  upsert(model: string, id: string, payload: ModelPayload, expiresInSeconds?: number): Promise<void>;
  /**
   * Stores the instance only if no live one has this id, in one statement:
   * of any number of concurrent callers (at any instance) exactly one gets
   * `true`. What a replay check needs (ReplayDetection: a client assertion's
   * or a DPoP proof's `jti` seen once), where a read then a write would let
   * two simultaneous uses of one proof through.
   */
  insertIfAbsent(model: string, id: string, payload: ModelPayload, expiresInSeconds: number): Promise<boolean>;
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
   * A refresh token or authorization code with its grant, account and
   * session in one statement. A consumed refresh token still within its
   * client's reuse grace (consumed less than
   * `refresh_token_reuse_grace_seconds` ago, and the newest consumed one of
   * its family) reads as unconsumed.
   */
  findGrantSource(model: GrantSourceModel, id: string): Promise<GrantSourceRead | undefined>;
  /**
   * Consumes refresh token `spentId` and stores its successor in one
   * transaction; false (and nothing written) when `spentId` is missing,
   * expired or spent. Of concurrent rotations of one token exactly one
   * succeeds. A token within its reuse grace is rotated again and its
   * earlier successor deleted, so a family never has two live tokens.
   */
  rotateRefreshToken(spentId: string, successorId: string, payload: ModelPayload, expiresInSeconds?: number): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every instance of `model` issued from one grant (a token family). */
  revokeByGrantId(model: string, grantId: string): Promise<void>;
  /** A user's instances of one model (their sessions, grants, refresh tokens), newest first. */
  listByAccount(model: string, accountId: string): Promise<Array<{ id: string; payload: ModelPayload }>>;
  /** How many live, unconsumed instances of `model` one grant has (refresh tokens that would still work). */
  countByGrant(model: string, grantId: string): Promise<number>;
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

interface GrantSourceRow extends Row {
  within_grace: boolean; grant_payload: ModelPayload | null; account: AccountRow | null; session_payload: ModelPayload | null;
}

const LIVE = '(expires_at IS NULL OR expires_at > now())';

/** Epoch seconds of a consumed_at column, as oidc-provider's `consumed`. */
const consumedEpoch = (at: Date | string) => Math.floor(new Date(at).getTime() / 1000);

/** The payload as the library reads it, with `consumed` once consumed. */
const present = (row: Row | undefined): ModelPayload | undefined => {
  if (!row) return undefined;
  return row.consumed_at ? { ...row.payload, consumed: consumedEpoch(row.consumed_at) } : row.payload;
};

/** The payload serialised for storage; throws UnstorableValueError for what PostgreSQL cannot store (NUL). */
const storableJson = (id: string, payload: ModelPayload): string => {
  const json = JSON.stringify(payload);
  if (!storable(id) || json.includes('\\u0000')) throw new UnstorableValueError();
  return json;
};

const expiryOf = (expiresInSeconds?: number) => (expiresInSeconds ? new Date(Date.now() + expiresInSeconds * 1000) : null);

// One query for a refresh or a code exchange: the token (with the grace
// decision), its grant, its account and the session it is bound to (which
// the library checks for tokens that expire with their session).
// account.id is a uuid; an account_id that is not one (tests store any
// text) must be a miss, not a failed cast (22P02): hence the guard, the
// same pattern as isUuid (text.ts).
const FIND_GRANT_SOURCE = `
SELECT t.payload, t.consumed_at, tollgate_within_reuse_grace(t) AS within_grace,
       g.payload AS grant_payload, to_jsonb(a) AS account, s.payload AS session_payload
  FROM oidc_model t
  LEFT JOIN oidc_model g ON g.model = 'Grant' AND g.id = t.grant_id AND (g.expires_at IS NULL OR g.expires_at > now())
  LEFT JOIN account a ON a.id = CASE WHEN t.account_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN t.account_id::uuid END
  LEFT JOIN oidc_model s ON s.model = 'Session' AND s.uid = t.payload->>'sessionUid' AND (s.expires_at IS NULL OR s.expires_at > now())
 WHERE t.model = $1 AND t.id = $2 AND (t.expires_at IS NULL OR t.expires_at > now())`;

export function createOidcModelRepository(db: Pick<Database, 'query' | 'execute'>): OidcModelRepository {
  const findBy = async (column: 'id' | 'uid' | 'user_code', model: string, value: string) => {
    if (!storable(value)) return undefined;
    const [row] = await db.query<Row>(`SELECT payload, consumed_at FROM oidc_model WHERE model = $1 AND ${column} = $2 AND ${LIVE} LIMIT 1`, [model, value]);
    return present(row);
  };

  return {
    async upsert(model, id, payload, expiresInSeconds) {
      const json = storableJson(id, payload);
      const expiresAt = expiryOf(expiresInSeconds);
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

    async insertIfAbsent(model, id, payload, expiresInSeconds) {
      const json = storableJson(id, payload);
      // An expired row that the janitor has not purged yet counts as absent, as find says.
      const count = await db.execute(
        `INSERT INTO oidc_model (model, id, payload, expires_at) VALUES ($1, $2, $3::jsonb, $4)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at, consumed_at = NULL
         WHERE oidc_model.expires_at IS NOT NULL AND oidc_model.expires_at <= now()`,
        [model, id, json, expiryOf(expiresInSeconds)],
      );
      return count === 1;
    },

    find: (model, id) => findBy('id', model, id),
    findByUid: (model, uid) => findBy('uid', model, uid),
    findByUserCode: (model, userCode) => findBy('user_code', model, userCode),

    async consume(model, id) {
      if (!storable(id)) return false;
      const count = await db.execute('UPDATE oidc_model SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL', [model, id]);
      return count === 1;
    },

    async findGrantSource(model, id) {
      if (!storable(id)) return undefined;
      const [row] = await db.query<GrantSourceRow>(FIND_GRANT_SOURCE, [model, id]);
      if (!row) return undefined;
      return {
        token: row.within_grace ? row.payload : present(row)!,
        related: true,
        ...(row.grant_payload ? { grant: row.grant_payload } : {}),
        ...(row.account ? { account: accountFromRow(row.account) } : {}),
        sessionRead: true,
        ...(row.session_payload ? { session: row.session_payload } : {}),
      };
    },

    async rotateRefreshToken(spentId, successorId, payload, expiresInSeconds) {
      if (!storable(spentId)) return false;
      const json = storableJson(successorId, payload);
      const [row] = await db.query<{ rotated: boolean }>(
        'SELECT tollgate_rotate_refresh_token($1, $2, $3::jsonb, $4, $5, $6) AS rotated',
        [spentId, successorId, json, stringOrNull(payload.grantId), stringOrNull(payload.accountId), expiryOf(expiresInSeconds)],
      );
      return row?.rotated === true;
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
