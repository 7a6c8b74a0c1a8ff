// Passkeys (issue 16, point 3): accounts' WebAuthn credentials and the
// challenges handed out for them.
//
// Credentials: several per account, named, removable; gone with their
// account (ON DELETE CASCADE). The credential ID is the primary key, so one
// authenticator's credential belongs to one account only (WebAuthn Level 3
// §7.1 step 26: "verify that the credentialId is not yet registered for any
// user"). The sign counter moves only forwards, checked in the UPDATE that
// stores it (§7.2 step 22), so two assertions racing with the same counter
// cannot both pass.
//
// Challenges: a row per challenge handed out; `take` deletes it and returns
// what it was bound to, so a challenge answers one verification at most
// (§13.4.3), whichever instance of Tollgate receives it.
import { ConflictError } from '../errors.ts';
import type { Database } from './database.ts';
import { isUuid, storable } from './text.ts';
import { isUniqueViolation } from './unique-violation.ts';

export interface WebauthnCredential {
  /** The credential ID, base64url. */
  readonly id: string;
  readonly accountId: string;
  /** The COSE public key, base64url. */
  readonly publicKey: string;
  readonly counter: number;
  readonly transports: readonly string[];
  readonly name: string;
  readonly deviceType: 'singleDevice' | 'multiDevice';
  readonly backedUp: boolean;
  readonly aaguid: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

export type NewWebauthnCredential = Omit<WebauthnCredential, 'createdAt' | 'lastUsedAt'>;

export interface WebauthnChallenge {
  readonly challenge: string;
  readonly purpose: string;
  readonly accountId: string | null;
  readonly expiresAt: Date;
}

export interface WebauthnCredentialRepository {
  /** Throws ConflictError when the credential ID is registered already (to any account). */
  insert(credential: NewWebauthnCredential): Promise<WebauthnCredential>;
  find(id: string): Promise<WebauthnCredential | undefined>;
  /** The account's credentials, oldest first. */
  listByAccount(accountId: string): Promise<WebauthnCredential[]>;
  /**
   * A verified use: stores the new counter, the backup state and last-used
   * time in one statement, only when the counter grew (or both the stored
   * and the new one are 0: authenticators that keep no counter). Undefined
   * when it did not (a regression or a replay), or the credential is not
   * the account's (any more).
   */
  recordUse(id: string, accountId: string, use: { counter: number; backedUp: boolean }): Promise<WebauthnCredential | undefined>;
  /** Undefined when the account has no such credential. */
  rename(accountId: string, id: string, name: string): Promise<WebauthnCredential | undefined>;
  /** Whether the account had it. */
  remove(accountId: string, id: string): Promise<boolean>;
  /** How many the account had. */
  removeAll(accountId: string): Promise<number>;

  /** Stores a challenge handed out. */
  saveChallenge(challenge: WebauthnChallenge): Promise<void>;
  /** Deletes the challenge and returns it (expired or not: the caller checks), or undefined when it was never handed out or is spent. */
  takeChallenge(challenge: string): Promise<WebauthnChallenge | undefined>;
  /** Deletes up to `limit` expired challenges (never answered); how many. The janitor's. */
  purgeExpiredChallenges(limit: number): Promise<number>;
}

interface CredentialRow {
  id: string; account_id: string; public_key: string; counter: string | number; transports: string[] | null; name: string;
  device_type: string; backed_up: boolean; aaguid: string; created_at: Date; last_used_at: Date | null;
}

const COLUMNS = 'id, account_id, public_key, counter, transports, name, device_type, backed_up, aaguid, created_at, last_used_at';

const toCredential = (r: CredentialRow): WebauthnCredential => ({
  id: r.id, accountId: r.account_id, publicKey: r.public_key, counter: Number(r.counter), transports: r.transports ?? [], name: r.name,
  deviceType: r.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice', backedUp: r.backed_up, aaguid: r.aaguid,
  createdAt: new Date(r.created_at), lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
});

export function createWebauthnCredentialRepository(db: Pick<Database, 'query' | 'execute'>): WebauthnCredentialRepository {
  return {
    async insert(c) {
      try {
        const [row] = await db.query<CredentialRow>(
          `INSERT INTO webauthn_credential (id, account_id, public_key, counter, transports, name, device_type, backed_up, aaguid)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
          [c.id, c.accountId, c.publicKey, c.counter, [...c.transports], c.name, c.deviceType, c.backedUp, c.aaguid],
        );
        return toCredential(row!);
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError('this passkey is registered already');
        throw err;
      }
    },
    async find(id) {
      if (!storable(id)) return undefined;
      const [row] = await db.query<CredentialRow>(`SELECT ${COLUMNS} FROM webauthn_credential WHERE id = $1`, [id]);
      return row && toCredential(row);
    },
    async listByAccount(accountId) {
      if (!isUuid(accountId)) return [];
      return (await db.query<CredentialRow>(`SELECT ${COLUMNS} FROM webauthn_credential WHERE account_id = $1 ORDER BY created_at, id`, [accountId])).map(toCredential);
    },
    async recordUse(id, accountId, use) {
      if (!storable(id) || !isUuid(accountId)) return undefined;
      const [row] = await db.query<CredentialRow>(
        `UPDATE webauthn_credential SET counter = $3, backed_up = $4, last_used_at = now()
          WHERE id = $1 AND account_id = $2 AND (counter < $3 OR (counter = 0 AND $3 = 0))
          RETURNING ${COLUMNS}`,
        [id, accountId, use.counter, use.backedUp],
      );
      return row && toCredential(row);
    },
    async rename(accountId, id, name) {
      if (!storable(id) || !isUuid(accountId)) return undefined;
      const [row] = await db.query<CredentialRow>(`UPDATE webauthn_credential SET name = $3 WHERE id = $1 AND account_id = $2 RETURNING ${COLUMNS}`, [id, accountId, name]);
      return row && toCredential(row);
    },
    async remove(accountId, id) {
      if (!storable(id) || !isUuid(accountId)) return false;
      return (await db.execute('DELETE FROM webauthn_credential WHERE id = $1 AND account_id = $2', [id, accountId])) > 0;
    },
    async removeAll(accountId) {
      if (!isUuid(accountId)) return 0;
      return db.execute('DELETE FROM webauthn_credential WHERE account_id = $1', [accountId]);
    },
    async saveChallenge(c) {
      await db.execute('INSERT INTO webauthn_challenge (challenge, purpose, account_id, expires_at) VALUES ($1, $2, $3, $4)', [c.challenge, c.purpose, c.accountId, c.expiresAt]);
    },
    async takeChallenge(challenge) {
      if (!storable(challenge)) return undefined;
      const [row] = await db.query<{ challenge: string; purpose: string; account_id: string | null; expires_at: Date }>(
        'DELETE FROM webauthn_challenge WHERE challenge = $1 RETURNING challenge, purpose, account_id, expires_at', [challenge],
      );
      return row && { challenge: row.challenge, purpose: row.purpose, accountId: row.account_id, expiresAt: new Date(row.expires_at) };
    },
    async purgeExpiredChallenges(limit) {
      return db.execute('DELETE FROM webauthn_challenge WHERE challenge IN (SELECT challenge FROM webauthn_challenge WHERE expires_at < now() LIMIT $1)', [limit]);
    },
  };
}
