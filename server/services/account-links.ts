// The tokens in the links we e-mail (issue 14): single use, expiring, bound
// to a purpose and an account, stored only as digests.
//
// A token is 32 random bytes (256 bits), base64url: guessing one is out of
// reach, so a plain SHA-256 digest is enough to store it (no salt, no slow
// hash: those defend low-entropy passwords), and the digest is the lookup
// key. Whoever reads the table (a backup, a replica) learns digests and
// cannot turn them back into a working link. The link itself lives only in
// the message and the person's mailbox.
import { createHash, randomBytes } from 'node:crypto';
import type { AccountTokenRepository } from '../repositories/account-token-repository.ts';

export type LinkPurpose = 'verify_email' | 'reset_password' | 'change_email';

export interface LinkTarget {
  accountId: string;
  data: Record<string, unknown> | null;
}

export interface AccountLinks {
  /** A fresh token (32 random bytes, base64url); only its digest is stored. Earlier unused tokens of the same purpose and account are revoked (only the newest link works). */
  issue(purpose: LinkPurpose, accountId: string, options: { ttlSeconds: number; data?: Record<string, unknown> }): Promise<string>;
  /** Valid (right purpose, not used, not expired) → its account and data, without using it (to show a form on GET). */
  inspect(purpose: LinkPurpose, token: string): Promise<LinkTarget | undefined>;
  /** Uses it, atomically: of two concurrent redemptions one succeeds. */
  redeem(purpose: LinkPurpose, token: string): Promise<LinkTarget | undefined>;
  /** Revokes every unused token of the account (e.g. after a password change), optionally of one purpose. */
  revokeAll(accountId: string, purpose?: LinkPurpose): Promise<number>;
}

const TOKEN_BYTES = 32;
/** What a token looks like: 32 bytes in base64url, 43 characters, nothing else. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The stored form of a token. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

export function createAccountLinks(tokens: AccountTokenRepository): AccountLinks {
  // Anything that is not a token's shape (cut short, padded, pasted with
  // junk) is refused before the database: a miss, never an error.
  const digestOf = (token: unknown) => (typeof token === 'string' && TOKEN_SHAPE.test(token) ? tokenDigest(token) : undefined);

  return {
    async issue(purpose, accountId, { ttlSeconds, data }) {
      if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError('ttlSeconds must be positive');
      const token = randomBytes(TOKEN_BYTES).toString('base64url');
      await tokens.replace(tokenDigest(token), purpose, accountId, new Date(Date.now() + ttlSeconds * 1000), data ?? null);
      return token;
    },
    async inspect(purpose, token) {
      const digest = digestOf(token);
      return digest === undefined ? undefined : tokens.findLive(digest, purpose);
    },
    async redeem(purpose, token) {
      const digest = digestOf(token);
      return digest === undefined ? undefined : tokens.use(digest, purpose);
    },
    revokeAll: (accountId, purpose) => tokens.revokeUnused(accountId, purpose),
  };
}
