// Encrypts upstream providers' client secrets for the database, and decrypts
// them for the sign-in flow. Each ciphertext is a compact JWE (RFC 7516) with
// `dir` + `A256GCM` (RFC 7518 §4.5, §5.3), made by jose (already ours for
// every token): a standard, self-describing format whose protected header
// carries the key id (`kid`) and the provider id (`pid`), both authenticated
// by GCM, so a secret copied onto another provider's row does not decrypt.
// Nonces and tags are jose's, not hand-written.
//
// Secrets of our own (an account's TOTP key, issue 16) use the same key file
// through encryptBound/decryptBound: their header carries a purpose (`pur`)
// and a subject (`sub`, the account id) instead of `pid`, so a ciphertext
// copied onto another account's row, or a provider's secret, does not decrypt
// as one of them, and neither decrypts as the other.
//
// The key file (keys/upstream-secret-keys.ts) is read again on every
// encryption and whenever a ciphertext names a key not yet seen: a key added
// by `tollgate keys rotate-secrets` on another host is used without a restart.
import { compactDecrypt, CompactEncrypt, decodeProtectedHeader, EncryptJWT, jwtDecrypt } from 'jose';
import { loadOrCreateSecretKeys, readSecretKeys, secretKeysFile, UpstreamSecretKeyError, type SecretKey } from '../keys/upstream-secret-keys.ts';

export interface SecretBox {
  /** The secret as a JWE under the current key, bound to the provider id. Creates the key file on first use. */
  encrypt(providerId: string, secret: string): Promise<string>;
  /** The secret; UpstreamSecretKeyError when its key is missing or the ciphertext does not verify. */
  decrypt(providerId: string, ciphertext: string): Promise<string>;
  /**
   * A secret of ours (not a provider's) as a JWE under the current key, bound
   * to `purpose` (what it is, e.g. `mfa.totp`) and `subject` (whose, e.g. an
   * account id). Creates the key file on first use.
   */
  encryptBound(purpose: string, subject: string, secret: string): Promise<string>;
  /** The secret encryptBound sealed for this purpose and subject; UpstreamSecretKeyError when its key is missing, it does not verify, or it is bound to another purpose or subject. */
  decryptBound(purpose: string, subject: string, ciphertext: string): Promise<string>;
  /** The key id a ciphertext names (undefined when it is not a JWE). */
  keyIdOf(ciphertext: string): string | undefined;
  /** The key that encrypts now (undefined when there is no key file yet). */
  currentKeyId(): Promise<string | undefined>;
  /**
   * A value for the browser to carry and give back (the social sign-in's
   * round-trip checks and pending identity): JSON as a JWE under the same
   * key, bound to `purpose`, expiring after `ttlSeconds`. Encrypted, not only
   * signed: the PKCE verifier and nonce must stay unreadable to anyone who
   * sees the cookie.
   */
  seal(purpose: string, value: object, ttlSeconds: number): Promise<string>;
  /** The sealed value; undefined when it is not one of ours for `purpose`, tampered with, or expired. */
  open<T>(purpose: string, sealed: string): Promise<T | undefined>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (key: SecretKey) => Buffer.from(key.k, 'base64url');

export function createSecretBox(keysDir: string): SecretBox {
  let known: SecretKey[] = [];
  const keyFor = async (kid: string): Promise<SecretKey | undefined> => {
    let key = known.find((k) => k.kid === kid);
    if (!key) {
      known = (await readSecretKeys(keysDir)) ?? [];
      key = known.find((k) => k.kid === kid);
    }
    return key;
  };
  const keyIdOf = (ciphertext: string) => {
    try {
      const { kid } = decodeProtectedHeader(ciphertext);
      return typeof kid === 'string' ? kid : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    async encrypt(providerId, secret) {
      known = await loadOrCreateSecretKeys(keysDir);
      const key = known[0]!;
      return new CompactEncrypt(encoder.encode(secret))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid, pid: providerId })
        .encrypt(bytes(key));
    },
    async decrypt(providerId, ciphertext) {
      const kid = keyIdOf(ciphertext);
      if (!kid) throw new UpstreamSecretKeyError(`the stored secret of provider "${providerId}" is not an encrypted secret`);
      const key = await keyFor(kid);
      if (!key) {
        throw new UpstreamSecretKeyError(`the secret of provider "${providerId}" is encrypted with key "${kid}", which ${secretKeysFile(keysDir)} does not hold: restore that file from your backup, or set the provider's secret again`);
      }
      try {
        const { plaintext, protectedHeader } = await compactDecrypt(ciphertext, bytes(key), { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
        if (protectedHeader.pid !== providerId) throw new Error('bound to another provider');
        return decoder.decode(plaintext);
      } catch {
        throw new UpstreamSecretKeyError(`the secret of provider "${providerId}" does not decrypt with key "${kid}" of ${secretKeysFile(keysDir)}: the file is not the one it was encrypted with (restore it from your backup, or set the provider's secret again)`);
      }
    },
    async encryptBound(purpose, subject, secret) {
      known = await loadOrCreateSecretKeys(keysDir);
      const key = known[0]!;
      return new CompactEncrypt(encoder.encode(secret))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid, pur: purpose, sub: subject })
        .encrypt(bytes(key));
    },
    async decryptBound(purpose, subject, ciphertext) {
      // Messages name the purpose and key id only: the subject may be personal, the secret never leaves.
      const kid = keyIdOf(ciphertext);
      if (!kid) throw new UpstreamSecretKeyError(`a stored ${purpose} secret is not an encrypted secret`);
      const key = await keyFor(kid);
      if (!key) {
        throw new UpstreamSecretKeyError(`a stored ${purpose} secret is encrypted with key "${kid}", which ${secretKeysFile(keysDir)} does not hold: restore that file from your backup`);
      }
      try {
        const { plaintext, protectedHeader } = await compactDecrypt(ciphertext, bytes(key), { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
        if (protectedHeader.pur !== purpose || protectedHeader.sub !== subject) throw new Error('bound to another purpose or subject');
        return decoder.decode(plaintext);
      } catch {
        throw new UpstreamSecretKeyError(`a stored ${purpose} secret does not decrypt with key "${kid}" of ${secretKeysFile(keysDir)} for its row: the file is not the one it was encrypted with, or the value was copied from another row`);
      }
    },
    keyIdOf,
    async currentKeyId() {
      return (await readSecretKeys(keysDir))?.[0]?.kid;
    },
    // A JWT (RFC 7519) encrypted as above: jose checks its `exp` and the purpose (as `aud`) on the way back.
    async seal(purpose, value, ttlSeconds) {
      if (!known.length) known = await loadOrCreateSecretKeys(keysDir);
      const key = known[0]!;
      return new EncryptJWT({ v: value })
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid })
        .setAudience(purpose)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .encrypt(bytes(key));
    },
    async open<T>(purpose: string, sealed: string): Promise<T | undefined> {
      const kid = keyIdOf(sealed);
      const key = kid === undefined ? undefined : await keyFor(kid);
      if (!key) return undefined;
      try {
        const { payload } = await jwtDecrypt(sealed, bytes(key), { audience: purpose, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
        return payload.v as T;
      } catch {
        return undefined; // not ours, tampered with, for another purpose, or expired
      }
    },
  };
}
