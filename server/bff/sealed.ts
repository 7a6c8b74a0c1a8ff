// The BFF's cookies are sealed: encrypted and authenticated with AES-256-GCM
// (JWE, RFC 7516, `alg: dir`, `enc: A256GCM`), so the browser holds them but
// can neither read nor alter them. The key is derived from the application's
// cookie secret with HKDF (RFC 5869), one key per secret: the first secret
// seals, every one given opens (rotation: add the new secret first, drop the
// old one once its cookies have expired). Each sealed value names what it is
// for (`aud`) and when it expires (`exp`), so a cookie cannot be moved into
// another's place or outlive its lifetime even if the browser keeps it.
import { createHash, hkdfSync } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

/** A secret shorter than this is refused: AES-256 needs 256 bits of input keying material at least. */
export const MIN_SECRET_BYTES = 32;

interface CookieKey { kid: string; key: Uint8Array }

export interface Sealer {
  seal(purpose: string, claims: JWTPayload, expiresAt: number): Promise<string>;
  /** The claims, or undefined when the value is not ours, altered, for another purpose, expired or sealed with a key no longer given. */
  open(purpose: string, value: string): Promise<JWTPayload | undefined>;
}

export function createSealer(secrets: readonly string[]): Sealer {
  if (secrets.length === 0) throw new TypeError('tollgate/bff: cookieSecret is required');
  const keys: CookieKey[] = secrets.map((secret) => {
    if (typeof secret !== 'string' || Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
      throw new TypeError(`tollgate/bff: every cookieSecret must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    const key = new Uint8Array(hkdfSync('sha256', secret, 'tollgate/bff', 'cookie encryption A256GCM', 32));
    // The key id is a digest of the derived key: it lets `open` pick the key
    // at once and says nothing of the secret.
    return { kid: createHash('sha256').update(key).digest('base64url').slice(0, 12), key };
  });
  const sealing = keys[0]!;
  return {
    async seal(purpose, claims, expiresAt) {
      return new EncryptJWT(claims)
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: sealing.kid })
        .setAudience(purpose)
        .setExpirationTime(Math.floor(expiresAt / 1000))
        .encrypt(sealing.key);
    },
    async open(purpose, value) {
      try {
        const { payload } = await jwtDecrypt(value, (header) => {
          const found = keys.find((k) => k.kid === header.kid);
          if (!found) throw new Error('unknown key');
          return found.key;
        }, { audience: purpose, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'], clockTolerance: 0 });
        return payload;
      } catch {
        // Any failure is the same to the caller: not a cookie we can trust.
        return undefined;
      }
    },
  };
}
