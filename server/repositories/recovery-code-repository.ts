// Accounts' recovery codes (issue 16), as digests only (server/mfa/
// recovery-codes.ts makes the codes and their digests). One row per account
// holds the digests of the unused codes, so each rule is one row update:
// - a regeneration replaces the whole set (an upsert): of two at once, one
//   set stays, never a mix, and the old codes are void in the same statement;
// - a use removes one digest if it is there: of two uses of one code, the
//   second waits for the first's row lock, then finds the digest gone
//   (PostgreSQL re-checks the WHERE of a waiting UPDATE against the committed
//   row); the count left is that of the row it wrote, exact under concurrency.
// One row per code would need a transaction to regenerate safely, which the
// embedded database's shared connection cannot isolate.
import type { Database } from './database.ts';
import { isUuid, storable } from './text.ts';

export interface RecoveryCodeSetRecord {
  readonly accountId: string;
  /** How many codes are unused. */
  readonly remaining: number;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

export interface RecoveryCodeRepository {
  find(accountId: string): Promise<RecoveryCodeSetRecord | undefined>;
  /** The account's codes are these digests from now on; the previous ones are void. False when there is no such account. */
  replace(accountId: string, digests: readonly string[]): Promise<boolean>;
  /** Removes `digest` from the account's unused codes; how many remain then, or undefined when it was not one of them. */
  use(accountId: string, digest: string): Promise<number | undefined>;
  /** Removes the account's codes; whether it had any set. */
  remove(accountId: string): Promise<boolean>;
}

interface Row { account_id: string; remaining: number; created_at: Date; last_used_at: Date | null }

export function createRecoveryCodeRepository(db: Pick<Database, 'query' | 'execute'>): RecoveryCodeRepository {
  return {
    async find(accountId) {
      if (!isUuid(accountId)) return undefined;
      const [row] = await db.query<Row>(
        'SELECT account_id, cardinality(digests) AS remaining, created_at, last_used_at FROM recovery_code_set WHERE account_id = $1',
        [accountId],
      );
      return row && { accountId: row.account_id, remaining: row.remaining, createdAt: new Date(row.created_at), lastUsedAt: row.last_used_at && new Date(row.last_used_at) };
    },
    async replace(accountId, digests) {
      if (!isUuid(accountId)) return false;
      return (await db.execute(
        `INSERT INTO recovery_code_set (account_id, digests, created_at) SELECT id, $2::text[], now() FROM account WHERE id = $1
         ON CONFLICT (account_id) DO UPDATE SET digests = EXCLUDED.digests, created_at = EXCLUDED.created_at, last_used_at = NULL`,
        [accountId, [...digests]],
      )) === 1;
    },
    async use(accountId, digest) {
      if (!isUuid(accountId) || !storable(digest)) return undefined;
      const [row] = await db.query<{ remaining: number }>(
        `UPDATE recovery_code_set SET digests = array_remove(digests, $2), last_used_at = now()
          WHERE account_id = $1 AND $2 = ANY (digests)
          RETURNING cardinality(digests) AS remaining`,
        [accountId, digest],
      );
      return row?.remaining;
    },
    async remove(accountId) {
      if (!isUuid(accountId)) return false;
      return (await db.execute('DELETE FROM recovery_code_set WHERE account_id = $1', [accountId])) > 0;
    },
  };
}
