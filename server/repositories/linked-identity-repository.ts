// An account's identities at upstream providers (issue 15, point 3): who the
// upstream says the person is (provider, `sub`), the e-mail it stated and
// whether it vouched for it. At most one account per (provider, sub), and one
// identity per provider per account: both are unique constraints, so two
// concurrent links cannot both succeed. Rows go with their account
// (ON DELETE CASCADE); a provider with rows cannot be deleted unless they
// are unlinked first (upstream-provider-repository.ts).
import { ConflictError } from '../errors.ts';
import type { Database } from './database.ts';
import { isUuid, storable } from './text.ts';
import { isUniqueViolation } from './unique-violation.ts';

export interface LinkedIdentity {
  readonly providerId: string;
  readonly upstreamSub: string;
  readonly accountId: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly linkedAt: Date;
  readonly lastUsedAt: Date | null;
}

export type NewLinkedIdentity = Pick<LinkedIdentity, 'providerId' | 'upstreamSub' | 'accountId' | 'email' | 'emailVerified'>;

export interface LinkedIdentityRepository {
  /** Throws ConflictError when the identity is linked already (to any account), or the account has one of this provider. */
  link(identity: NewLinkedIdentity): Promise<LinkedIdentity>;
  find(providerId: string, upstreamSub: string): Promise<LinkedIdentity | undefined>;
  /** The account's identities, oldest link first. */
  listByAccount(accountId: string): Promise<LinkedIdentity[]>;
  /** A sign-in with it: last used now, and the e-mail the upstream states now. Undefined when it is not linked (any more). */
  recordUse(providerId: string, upstreamSub: string, stated: { email: string | null; emailVerified: boolean }): Promise<LinkedIdentity | undefined>;
  /** Removes the account's identity at this provider; whether there was one. */
  unlink(accountId: string, providerId: string): Promise<boolean>;
  /** Removes it and returns what was removed (for `restore`), or undefined when there was none. */
  take(accountId: string, providerId: string): Promise<LinkedIdentity | undefined>;
  /** Puts back an identity `take` removed, as it was (an unlink undone: it would have left no way in). */
  restore(identity: LinkedIdentity): Promise<void>;
  countByProvider(providerId: string): Promise<number>;
}

interface Row {
  provider_id: string; upstream_sub: string; account_id: string; email: string | null; email_verified: boolean; linked_at: Date; last_used_at: Date | null;
}

const COLUMNS = 'provider_id, upstream_sub, account_id, email, email_verified, linked_at, last_used_at';

const toIdentity = (r: Row): LinkedIdentity => ({
  providerId: r.provider_id, upstreamSub: r.upstream_sub, accountId: r.account_id, email: r.email, emailVerified: r.email_verified,
  linkedAt: new Date(r.linked_at), lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
});

export function createLinkedIdentityRepository(db: Pick<Database, 'query' | 'execute'>): LinkedIdentityRepository {
  return {
    async link(identity) {
      try {
        const [row] = await db.query<Row>(
          `INSERT INTO linked_identity (provider_id, upstream_sub, account_id, email, email_verified) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
          [identity.providerId, identity.upstreamSub, identity.accountId, identity.email, identity.emailVerified],
        );
        return toIdentity(row!);
      } catch (err) {
        if (isUniqueViolation(err)) {
          const taken = (err as { constraint?: string }).constraint === 'linked_identity_pkey';
          throw new ConflictError(taken
            ? `this identity at "${identity.providerId}" is already linked to an account`
            : `the account already has an identity at "${identity.providerId}"`);
        }
        throw err;
      }
    },
    async find(providerId, upstreamSub) {
      if (!storable(providerId) || !storable(upstreamSub)) return undefined;
      const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM linked_identity WHERE provider_id = $1 AND upstream_sub = $2`, [providerId, upstreamSub]);
      return row && toIdentity(row);
    },
    async listByAccount(accountId) {
      if (!isUuid(accountId)) return [];
      return (await db.query<Row>(`SELECT ${COLUMNS} FROM linked_identity WHERE account_id = $1 ORDER BY linked_at, provider_id`, [accountId])).map(toIdentity);
    },
    async recordUse(providerId, upstreamSub, stated) {
      if (!storable(providerId) || !storable(upstreamSub)) return undefined;
      const [row] = await db.query<Row>(
        `UPDATE linked_identity SET last_used_at = now(), email = $3, email_verified = $4
          WHERE provider_id = $1 AND upstream_sub = $2 RETURNING ${COLUMNS}`,
        [providerId, upstreamSub, stated.email, stated.emailVerified],
      );
      return row && toIdentity(row);
    },
    async unlink(accountId, providerId) {
      if (!isUuid(accountId) || !storable(providerId)) return false;
      return (await db.execute('DELETE FROM linked_identity WHERE account_id = $1 AND provider_id = $2', [accountId, providerId])) > 0;
    },
    async take(accountId, providerId) {
      if (!isUuid(accountId) || !storable(providerId)) return undefined;
      const [row] = await db.query<Row>(`DELETE FROM linked_identity WHERE account_id = $1 AND provider_id = $2 RETURNING ${COLUMNS}`, [accountId, providerId]);
      return row && toIdentity(row);
    },
    async restore(identity) {
      await db.execute(
        `INSERT INTO linked_identity (provider_id, upstream_sub, account_id, email, email_verified, linked_at, last_used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [identity.providerId, identity.upstreamSub, identity.accountId, identity.email, identity.emailVerified, identity.linkedAt, identity.lastUsedAt],
      );
    },
    async countByProvider(providerId) {
      if (!storable(providerId)) return 0;
      const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM linked_identity WHERE provider_id = $1', [providerId]);
      return row?.n ?? 0;
    },
  };
}
