// Encrypted access tokens for an API registered with `--encrypt` (issue 17,
// point 2; docs/apis.md): oidc-provider signs the token as usual, then
// encrypts it to the key this module hands it in the resource server info
// (`jwt.encrypt`, lib/models/formats/jwt.js upstream): a nested JWT (RFC 7519
// §5.2, §11.2) that only the API can read.
//
// The key is the API's first public encryption key (RSA or EC, `use` enc or
// absent), from its stored JWKS or fetched from its jwks_uri. A jwks_uri is
// fetched as every remote document of Tollgate's is (federation/
// upstream-fetch.ts: a time budget, oidc-provider's SSRF guard unless
// ALLOW_PRIVATE_NETWORK_FETCH, no redirects) and kept for KEYS_CACHE_MS.
// No key, no token: a failure answers invalid_target, never an unencrypted
// token (the API asked that its claims be unreadable on the way).
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { errors, type EncryptionAlgValues, type EncryptionEncValues } from 'oidc-provider';
import type { ApiResourceRecord } from '../repositories/api-resource-repository.ts';
import { createUpstreamFetch } from '../federation/upstream-fetch.ts';

/** RFC 7518 §4.3 for RSA keys, §4.6 for EC keys (ECDH-ES with AES key wrap, so one `enc` key per token). */
const ALG_FOR: Record<string, EncryptionAlgValues> = { RSA: 'RSA-OAEP-256', EC: 'ECDH-ES+A256KW' };
/** An EC or RSA key may name its own algorithm; only these (never RSA1_5: RFC 8725 §3.2). */
const ALLOWED_ALGS = new Set<string>(['RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW']);
/** Content encryption: AES-256-GCM (RFC 7518 §5.3). */
const ENC: EncryptionEncValues = 'A256GCM';
/** How long a fetched JWKS is used before it is fetched again. */
const KEYS_CACHE_MS = 10 * 60_000;
/** A JWKS document larger than this is not an API's few keys. */
const MAX_JWKS_BYTES = 64 * 1024;

export interface AccessTokenEncryption {
  alg: EncryptionAlgValues;
  enc: EncryptionEncValues;
  key: KeyObject;
  kid?: string;
}

type Jwks = { keys: Array<Record<string, unknown>> };

export interface ApiEncryptionOptions {
  allowPrivateNetworkFetch: boolean;
  timeoutMs?: number;
}

/** `encryptionFor(api)`: what oidc-provider encrypts this API's tokens with; undefined when the API did not ask. */
export function apiTokenEncryption(options: ApiEncryptionOptions) {
  const fetchRemote = createUpstreamFetch({ allowPrivateNetworkFetch: options.allowPrivateNetworkFetch, timeoutMs: options.timeoutMs });
  const remote = new Map<string, { until: number; jwks: Promise<Jwks> }>();

  const fetchJwks = (uri: string): Promise<Jwks> => {
    const cached = remote.get(uri);
    if (cached && cached.until > Date.now()) return cached.jwks;
    const jwks = (async () => {
      const response = await fetchRemote(uri, { method: 'GET', headers: { accept: 'application/jwk-set+json, application/json' }, redirect: 'manual', body: undefined });
      if (response.status !== 200) throw new Error(`the API's jwks_uri answered ${response.status}`);
      const text = await response.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error("the API's jwks_uri document is too large");
      const body = JSON.parse(text) as unknown;
      if (!body || typeof body !== 'object' || !Array.isArray((body as Jwks).keys)) throw new Error("the API's jwks_uri document is not a JWK Set");
      return body as Jwks;
    })();
    remote.set(uri, { until: Date.now() + KEYS_CACHE_MS, jwks });
    // A failure is not kept: the next token request asks again.
    jwks.catch(() => { if (remote.get(uri)?.jwks === jwks) remote.delete(uri); });
    return jwks;
  };

  return async function encryptionFor(api: ApiResourceRecord): Promise<AccessTokenEncryption | undefined> {
    if (!api.encrypt) return undefined;
    try {
      const jwks = api.jwks ?? (api.jwksUri ? await fetchJwks(api.jwksUri) : undefined);
      const chosen = jwks && encryptionKeyOf(jwks);
      if (chosen) return chosen;
    } catch {
      // Falls through to the refusal: the reason is the API's (its URI, its document), not the client's.
    }
    throw new errors.InvalidTarget('the requested resource\'s encryption key is unavailable; no token can be issued for it now');
  };
}

/** The first usable public encryption key of a JWK Set, with the algorithm its kind implies. */
export function encryptionKeyOf(jwks: Jwks): AccessTokenEncryption | undefined {
  for (const jwk of jwks.keys) {
    const kty = typeof jwk.kty === 'string' ? jwk.kty : '';
    if (!(kty in ALG_FOR) || (jwk.use !== undefined && jwk.use !== 'enc') || 'd' in jwk) continue;
    const alg = (typeof jwk.alg === 'string' ? jwk.alg : ALG_FOR[kty]!) as EncryptionAlgValues;
    if (!ALLOWED_ALGS.has(alg) || (kty === 'RSA') !== alg.startsWith('RSA')) continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      continue;
    }
    return { alg, enc: ENC, key, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) };
  }
  return undefined;
}
