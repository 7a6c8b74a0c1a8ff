// DPoP (RFC 9449) for the BFF (`dpop: true`): its access tokens are bound
// to a key that only the BFF holds, so a token that escapes (an API's log,
// a proxy in between) is worth nothing without the key, and a client
// registered with --require-dpop (dpop_bound_access_tokens) can use the BFF.
//
// The key is derived from each cookie secret (HKDF-SHA-256, then a P-256
// scalar), not generated: every instance of the app holds the same key
// without new configuration, a restart changes nothing, and it rotates with
// the secrets: new tokens are bound to the first secret's key, and a token
// bound to an older one is still used with that key while its secret is
// given, as the cookies are opened with every secret.
import { createECDH, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, SignJWT, type JWK } from 'jose';
import type { CryptoKey } from 'openid-client';

export interface DpopKey {
  /** The JWK SHA-256 thumbprint (RFC 7638): the access token's `cnf.jkt`. */
  jkt: string;
  keyPair: { privateKey: CryptoKey; publicKey: CryptoKey };
  publicJwk: JWK;
}

/** The P-256 key of one cookie secret (ES256, the algorithm every DPoP server supports). */
export async function deriveDpopKey(secret: string): Promise<DpopKey> {
  // A 32-byte string is a valid P-256 scalar unless it is 0 or at least the
  // group order (a chance of about 2^-32): then the next counter's.
  for (let counter = 0; ; counter += 1) {
    const d = Buffer.from(hkdfSync('sha256', secret, 'tollgate/bff', `dpop ES256 ${counter}`, 32));
    const ecdh = createECDH('prime256v1');
    try {
      ecdh.setPrivateKey(d);
    } catch {
      continue;
    }
    const point = ecdh.getPublicKey();
    const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
    const [privateKey, publicKey] = await Promise.all([
      importJWK({ ...publicJwk, d: d.toString('base64url') }, 'ES256', { extractable: false }),
      // openid-client puts the public key in each proof's header: extractable.
      importJWK(publicJwk, 'ES256', { extractable: true }),
    ]);
    return { jkt: await calculateJwkThumbprint(publicJwk), keyPair: { privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey }, publicJwk };
  }
}

/**
 * A DPoP proof for a call to a resource server (RFC 9449 §4.2, §7): the
 * method, the URL without query and fragment, and `ath`, the access token's
 * SHA-256, so that the proof goes with this token only.
 */
export function resourceProof(key: DpopKey, method: string, url: URL, accessToken: string): Promise<string> {
  return new SignJWT({
    jti: randomBytes(16).toString('base64url'),
    htm: method,
    htu: `${url.origin}${url.pathname}`,
    ath: createHash('sha256').update(accessToken).digest('base64url'),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })
    .setIssuedAt()
    .sign(key.keyPair.privateKey);
}

/** The keys of the cookie secrets, derived once on first use: the first binds new tokens, each signs for the tokens bound to it. */
export function dpopKeyring(secrets: readonly string[]): () => Promise<DpopKey[]> {
  let keys: Promise<DpopKey[]> | undefined;
  return () => (keys ??= Promise.all(secrets.map(deriveDpopKey)));
}
