// Our signing keys as oidc-provider ExternalSigningKeys (its documented
// extension point for keys it does not hold itself, `features.
// externalSigningSupport`, lib/helpers/keystore.js upstream), signing with
// Node's own crypto instead of WebCrypto.
//
// Why: every token the library signs goes through jose's WebCrypto path,
// which for ES256 costs ~2.5× the CPU of node:crypto's sign() (126 µs vs
// 48 µs measured here) and makes a round trip through libuv's thread pool.
// On the token endpoint that difference is most of the request. ES256 signs
// synchronously (tens of microseconds); RS256, ~20× dearer, signs on the
// thread pool so a second core can take it.
//
// The library still builds the JOSE header and payload and encodes the
// token; only the signature comes from here (lib/helpers/jwt.js, sign()).
import { createPrivateKey, createPublicKey, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import type { JWK } from 'jose';

/** The digest and signature shape of each JWS algorithm we sign with (RFC 7518 §3.1). */
const ALGORITHMS: Record<string, { hash: string; sync: boolean; dsaEncoding?: 'ieee-p1363' }> = {
  // ECDSA signatures in JWS are R || S (RFC 7518 §3.4), not DER.
  ES256: { hash: 'sha256', sync: true, dsaEncoding: 'ieee-p1363' },
  RS256: { hash: 'sha256', sync: false },
};

export class NativeSigningKey extends ExternalSigningKey {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #algorithm: { hash: string; sync: boolean; dsaEncoding?: 'ieee-p1363' };
  readonly #kid: string;
  readonly #alg: string;

  constructor(jwk: JWK & { kid: string; alg: string }) {
    super();
    const algorithm = ALGORITHMS[jwk.alg];
    if (!algorithm) throw new Error(`no native signer for ${jwk.alg}`);
    this.#algorithm = algorithm;
    this.#kid = jwk.kid;
    this.#alg = jwk.alg;
    this.#privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    this.#publicKey = createPublicKey(this.#privateKey);
  }

  override get kid(): string {
    return this.#kid;
  }

  override get alg(): string {
    return this.#alg;
  }

  /** The public half: what the library publishes and verifies its own tokens (id_token_hint) with. */
  override keyObject(): KeyObject {
    return this.#publicKey;
  }

  override sign(data: Uint8Array): Promise<Buffer> {
    const { hash, sync, dsaEncoding } = this.#algorithm;
    const key = dsaEncoding ? { key: this.#privateKey, dsaEncoding } : this.#privateKey;
    if (sync) return Promise.resolve(sign(hash, data, key));
    return new Promise((resolve, reject) => {
      sign(hash, data, key, (err, signature) => (err ? reject(err) : resolve(signature)));
    });
  }
}

/** The key set oidc-provider is configured with: our algorithms signed natively, anything else left to the library. */
export function providerSigningKeys(privateJwks: { keys: JWK[] }): { keys: Array<JWK | NativeSigningKey> } {
  return {
    keys: privateJwks.keys.map((jwk) => (
      typeof jwk.kid === 'string' && typeof jwk.alg === 'string' && jwk.alg in ALGORITHMS
        ? new NativeSigningKey(jwk as JWK & { kid: string; alg: string })
        : structuredClone(jwk)
    )),
  };
}
