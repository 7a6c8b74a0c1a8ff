// Accounts' TOTP authenticators (issue 16; server/mfa/ computes and checks
// the codes, this file only stores). One row per account holds the confirmed
// secret and, during a (re-)enrolment, the pending one, both as ciphertexts
// (the secret box's JWEs: this table alone opens nothing).
//
// The rules that must hold under concurrency live in single statements, so
// they hold alike on PostgreSQL (row locks: a second UPDATE of the row waits,
// then re-checks its WHERE against the committed row) and on the embedded
// database (one connection, one statement at a time):
// - a code is accepted once: `accept` moves `last_step` forward only when the
//   new step is later (RFC 6238 §5.2 leaves replay to the verifier), so of two
//   submissions of one code exactly one gets the row back;
// - a pending secret becomes the factor only through `confirm`, which checks
//   that the pending ciphertext is still the one whose code was checked (a
//   newer enrolment started meanwhile is not confirmed by the old code).
import type { Database } from './database.ts';
import { isUuid } from './text.ts';

export interface TotpFactorRecord {
  readonly accountId: string;
  /** The confirmed secret's ciphertext; null while only an enrolment is pending. */
  readonly secretEncrypted: string | null;
  readonly confirmedAt: Date | null;
  /** The RFC 6238 time step of the last accepted code (-1: none yet). */
  readonly lastStep: number;
  readonly lastUsedAt: Date | null;
  readonly pendingSecretEncrypted: string | null;
  readonly pendingSince: Date | null;
}

export interface TotpFactorRepository {
  find(accountId: string): Promise<TotpFactorRecord | undefined>;
  /** Stores a pending secret (replacing any pending one); a confirmed secret stays in use. False when there is no such account. */
  startPending(accountId: string, pendingSecretEncrypted: string): Promise<boolean>;
  /**
   * The pending secret becomes the factor, its code's step the last accepted
   * one, if it is still `pendingSecretEncrypted` and was stored less than
   * `maxAgeSeconds` ago; whether it did.
   */
  confirm(accountId: string, pendingSecretEncrypted: string, step: number, maxAgeSeconds: number): Promise<boolean>;
  /**
   * Records a code of `step` as used, if the confirmed secret is still
   * `secretEncrypted` and no code of this or a later step was accepted;
   * whether it was (false: a replay, or the factor changed meanwhile).
   */
  accept(accountId: string, secretEncrypted: string, step: number): Promise<boolean>;
  /** Removes the factor and any pending enrolment; whether there was a row. */
  remove(accountId: string): Promise<boolean>;
}

interface Row {
  account_id: string; secret_encrypted: string | null; confirmed_at: Date | null; last_step: number; last_used_at: Date | null;
  pending_secret_encrypted: string | null; pending_since: Date | null;
}

const COLUMNS = 'account_id, secret_encrypted, confirmed_at, last_step, last_used_at, pending_secret_encrypted, pending_since';
const date = (d: Date | null) => (d === null ? null : new Date(d));

const toRecord = (r: Row): TotpFactorRecord => ({
  accountId: r.account_id, secretEncrypted: r.secret_encrypted, confirmedAt: date(r.confirmed_at), lastStep: r.last_step,
  lastUsedAt: date(r.last_used_at), pendingSecretEncrypted: r.pending_secret_encrypted, pendingSince: date(r.pending_since),
});

export function createTotpFactorRepository(db: Pick<Database, 'query' | 'execute'>): TotpFactorRepository {
  return {
    async find(accountId) {
      if (!isUuid(accountId)) return undefined;
      const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM totp_factor WHERE account_id = $1`, [accountId]);
      return row && toRecord(row);
    },
    async startPending(accountId, pendingSecretEncrypted) {
      if (!isUuid(accountId)) return false;
      return (await db.execute(
        `INSERT INTO totp_factor (account_id, pending_secret_encrypted, pending_since) SELECT id, $2, now() FROM account WHERE id = $1
         ON CONFLICT (account_id) DO UPDATE SET pending_secret_encrypted = EXCLUDED.pending_secret_encrypted, pending_since = EXCLUDED.pending_since`,
        [accountId, pendingSecretEncrypted],
      )) === 1;
    },
    async confirm(accountId, pendingSecretEncrypted, step, maxAgeSeconds) {
      if (!isUuid(accountId)) return false;
      return (await db.execute(
        `UPDATE totp_factor
            SET secret_encrypted = pending_secret_encrypted, confirmed_at = now(), last_step = $3, last_used_at = now(),
                pending_secret_encrypted = NULL, pending_since = NULL
          WHERE account_id = $1 AND pending_secret_encrypted = $2 AND pending_since > now() - make_interval(secs => $4)`,
        [accountId, pendingSecretEncrypted, step, maxAgeSeconds],
      )) === 1;
    },
    async accept(accountId, secretEncrypted, step) {
      if (!isUuid(accountId)) return false;
      const rows = await db.query(
        `UPDATE totp_factor SET last_step = $3, last_used_at = now()
          WHERE account_id = $1 AND secret_encrypted = $2 AND last_step < $3
          RETURNING last_step`,
        [accountId, secretEncrypted, step],
      );
      return rows.length === 1;
    },
    async remove(accountId) {
      if (!isUuid(accountId)) return false;
      return (await db.execute('DELETE FROM totp_factor WHERE account_id = $1', [accountId])) > 0;
    },
  };
}
