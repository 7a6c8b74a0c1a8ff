// Client secrets. Tollgate stores only their SHA-256 digest: a secret it
// generates carries 256 bits of entropy, so a fast hash is as good as a slow
// one against guessing and keeps client authentication at ~1 µs instead of
// the ~50 ms a password hash would add to every token request (Hydra's cost).
// The consequence: client_secret_jwt and HS* algorithms, which need the
// plain secret as a key, are not offered (see oidc/configuration.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes: 256 bits, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function digestClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function clientSecretMatches(digestHex: string, presented: string): boolean {
  const expected = Buffer.from(digestHex, 'hex');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * A secret an operator chooses is stored with the same fast digest, so it
 * must be as unguessable as a generated one in practice: long, and not a
 * word or a repeated character (32 × "a" passes a length check).
 */
export const CLIENT_SECRET_MIN_LENGTH = 32;

export function looksRandom(secret: string): boolean {
  return new Set(secret).size >= 16 && !/\p{Cc}/u.test(secret);
}
