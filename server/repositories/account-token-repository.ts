// The tokens of e-mailed links, by digest (services/account-links.ts makes
// and checks the tokens; only their SHA-256 digests reach this table). The
// rules that must hold under concurrency live in the statements: a token is
// used by one UPDATE that requires it unused and unexpired, so of two
// redemptions at once exactly one gets the row back.
import type { Database } from './database.ts';
import { isUuid, storable } from './text.ts';

export interface AccountTokenRecord {
  readonly accountId: string;
  readonly data: Record<string, unknown> | null;
}

export interface AccountTokenRepository {
  /** Stores a digest; in the same statement removes the account's unused digests of that purpose (only the newest link works). */
  replace(digest: string, purpose: string, accountId: string, expiresAt: Date, data: Record<string, unknown> | null): Promise<void>;
  /** The live (unused, unexpired) record of this digest and purpose. */
  findLive(digest: string, purpose: string): Promise<AccountTokenRecord | undefined>;
  /** Marks it used, if it is live; its record then, else undefined. */
  use(digest: string, purpose: string): Promise<AccountTokenRecord | undefined>;
  /** Removes the account's unused digests (of one purpose, or all); returns how many. */
  revokeUnused(accountId: string, purpose?: string): Promise<number>;
  /** Deletes up to `limit` records used or expired more than `graceSeconds` ago. */
  purgeSpent(graceSeconds: number, limit: number): Promise<number>;
}

interface Row { account_id: string; data: Record<string, unknown> | null }

const record = (row: Row | undefined): AccountTokenRecord | undefined => row && { accountId: row.account_id, data: row.data };

export function createAccountTokenRepository(db: Pick<Database, 'query' | 'execute'>): AccountTokenRepository {
  return {
    async replace(digest, purpose, accountId, expiresAt, data) {
      // One statement, so one transaction: a crash between the two parts can
      // neither leave two live links nor none. (Two issues for one account in
      // the same instant may both stay live: both links went to its address.)
      await db.query(
        `WITH revoked AS (DELETE FROM account_token WHERE account_id = $3 AND purpose = $2 AND used_at IS NULL)
         INSERT INTO account_token (digest, purpose, account_id, expires_at, data) VALUES ($1, $2, $3, $4, $5::jsonb)`,
        // jsonb cannot hold U+0000, which JSON.stringify writes as an escape: as the audit trail does, it becomes U+FFFD.
        [digest, purpose, accountId, expiresAt, data === null ? null : JSON.stringify(data).replaceAll('\\u0000', '\\ufffd')],
      );
    },
    async findLive(digest, purpose) {
      if (!storable(digest) || !storable(purpose)) return undefined;
      const rows = await db.query<Row>(
        'SELECT account_id, data FROM account_token WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()',
        [digest, purpose],
      );
      return record(rows[0]);
    },
    async use(digest, purpose) {
      if (!storable(digest) || !storable(purpose)) return undefined;
      const rows = await db.query<Row>(
        `UPDATE account_token SET used_at = now()
          WHERE digest = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
          RETURNING account_id, data`,
        [digest, purpose],
      );
      return record(rows[0]);
    },
    async revokeUnused(accountId, purpose) {
      if (!isUuid(accountId)) return 0;
      return purpose === undefined
        ? db.execute('DELETE FROM account_token WHERE account_id = $1 AND used_at IS NULL', [accountId])
        : db.execute('DELETE FROM account_token WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL', [accountId, purpose]);
    },
    async purgeSpent(graceSeconds, limit) {
      return db.execute(
        `DELETE FROM account_token WHERE digest IN (
           SELECT digest FROM account_token
            WHERE expires_at < now() - make_interval(secs => $1) OR used_at < now() - make_interval(secs => $1)
            LIMIT $2)`,
        [graceSeconds, limit],
      );
    },
  };
}
