// Verifies JWT access tokens (RFC 9068) the way RFC 8725 asks: keys from the
// issuer's published JWKS (found through its discovery document), the issuer
// and audience checked, `typ: at+jwt` required so an ID token is never taken
// for an access token, an algorithm allow-list, and a bounded clock skew.
// jose does the cryptography and the key cache: keys are fetched once, kept
// for `cacheMaxAgeMs`, and a token with an unknown `kid` (the issuer rotated
// its keys) refetches them at most once per `cooldownMs`, however many such
// tokens arrive, so forged kids cannot make us hammer the issuer.
//
// An API registered for encrypted access tokens (issue 17) receives them as
// nested JWTs (RFC 7519 §5.2, §11.2: signed by the issuer, then encrypted to
// the API's public key, so only the API reads the claims): given its private
// keys (`decryptionKeys`), the verifier decrypts with an allow-list of
// algorithms (RFC 8725 §3.1, §3.3: no RSA1_5), then verifies the inner token
// as above; and it refuses a token that was not encrypted, since an API that
// holds decryption keys has asked for every one of its tokens to be.
import {
  compactDecrypt,
  createLocalJWKSet,
  decodeProtectedHeader,
  importJWK,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type KeyObject,
} from 'jose';
import { BearerError, DpopError, VerifierUnavailableError } from './errors.ts';

/** The claims of a verified access token (RFC 9068 §2.2, plus Tollgate's `roles`, `org` and `gid`). */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  /** Space-separated (RFC 8693 §4.2). */
  scope?: string;
  roles?: string[];
  /** The organisation (tenant) of the user. */
  org?: string;
  /** The grant (token family) a user's token was issued from. */
  gid?: string;
  /**
   * How strongly the person signed in (RFC 9068 §2.2.1, OpenID Connect Core
   * §2): ACR_MFA or ACR_SFA (acr.ts). Absent from client_credentials tokens.
   */
  acr?: string;
  /** How the person signed in (RFC 8176 §2): `pwd`, `otp`, `hwk`, `swk`, `user`, `mfa`, … */
  amr?: string[];
  /** When the person last signed in actively, seconds since the epoch (RFC 9068 §2.2.1). */
  auth_time?: number;
  /** The key the token is bound to (RFC 9449 §6.1: `jkt`, the thumbprint of the client's DPoP key). */
  cnf?: { jkt?: string; [member: string]: unknown };
}

export interface VerifierOptions {
  /** The authorization server's issuer identifier, exactly as in its tokens. */
  issuer: string;
  /** This API's identifier: the token's `aud` must contain it (or one of them, given several). */
  audience: string | string[];
  /** Accepted JWS algorithms (RFC 8725 §3.1). Default: ES256 and RS256. Never `none` or HS*. */
  algorithms?: string[];
  /** Allowed clock skew, in seconds, for exp/iat/nbf. Default 15, at most 300. */
  clockToleranceSeconds?: number;
  /** Keys to use instead of fetching them (the issuer itself, or tests). */
  jwks?: JSONWebKeySet;
  /** Where the keys are, when the issuer publishes no discovery document. */
  jwksUri?: string;
  /** How long after a fetch an unknown `kid` may trigger the next one. Default 30 s. */
  cooldownMs?: number;
  /** How long fetched keys are used before they are fetched again. Default 10 min. */
  cacheMaxAgeMs?: number;
  /** Timeout of each discovery or JWKS request. Default 5 s. */
  timeoutMs?: number;
  /**
   * An online check after the signature and claims pass (a revocation list,
   * RFC 7662 introspection): return why the token is no longer accepted, or
   * undefined when it is.
   */
  revoked?: (claims: AccessTokenClaims) => Promise<string | undefined> | string | undefined;
  /** The fetch to use (instrumentation, a proxy). Default: global fetch. */
  fetch?: typeof fetch;
  /**
   * This API's private keys for encrypted access tokens (JWKs with `d`, or
   * imported keys): the current one and, during a rotation, the previous.
   * A token's `kid` picks the key; without one each key is tried.
   */
  decryptionKeys?: Array<JWK | CryptoKey | KeyObject>;
  /** Refuse tokens that are not encrypted. Default: true when decryptionKeys are given. */
  requireEncryption?: boolean;
  /** Accepted JWE key management algorithms. Default: RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A256KW. */
  keyManagementAlgorithms?: string[];
  /** Accepted JWE content encryption algorithms. Default: A128GCM, A256GCM. */
  contentEncryptionAlgorithms?: string[];
}

export interface VerifyOptions {
  /**
   * Also resolve for a token bound to a key (`cnf`). Only for a caller that
   * then checks the proof of that key (createRequestAuthenticator does), or
   * that does not accept the token as a credential (introspection). Without
   * it such a token is refused: it must never pass as a bearer token.
   */
  allowSenderConstrained?: boolean;
}

export interface AccessTokenVerifier {
  /** Resolves with the claims, or rejects with BearerError (401) or VerifierUnavailableError (503). */
  verify(token: string, options?: VerifyOptions): Promise<AccessTokenClaims>;
}

const DEFAULT_ALGORITHMS = ['ES256', 'RS256'];
const FORBIDDEN_ALGORITHM = /^(none|HS\d+)$/i;
const DEFAULT_KEY_MANAGEMENT = ['RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW'];
const DEFAULT_CONTENT_ENCRYPTION = ['A128GCM', 'A256GCM'];
/** RFC 8725 §3.2: RSA1_5 (PKCS #1 v1.5) invites padding-oracle attacks; `dir` and symmetric key wrap would mean a shared secret. */
const FORBIDDEN_KEY_MANAGEMENT = /^(RSA1_5|dir|A\d+KW|A\d+GCMKW|PBES2.*)$/i;
/** Compact JWS: three base64url parts. Compact JWE: five, the second (encrypted key) empty for ECDH-ES. */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;
const COMPACT_JWE = /^[\w-]+\.[\w-]*\.[\w-]+\.[\w-]+\.[\w-]+$/;
const MAX_CLOCK_TOLERANCE = 300;
/** The content types of an encrypted access token that holds a signed one (upper-cased). */
const NESTED_JWT_CTY = new Set(['JWT', 'AT+JWT', 'APPLICATION/AT+JWT']);
/** After a failed discovery, how long requests are answered 503 from memory before the issuer is asked again. */
const DISCOVERY_RETRY_MS = 2_000;

export function createAccessTokenVerifier(options: VerifierOptions): AccessTokenVerifier {
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  if (!algorithms.length || algorithms.some((alg) => FORBIDDEN_ALGORITHM.test(alg))) {
    throw new TypeError('algorithms must be a non-empty list of asymmetric JWS algorithms (no "none", no HS*)');
  }
  const clockTolerance = options.clockToleranceSeconds ?? 15;
  if (!(clockTolerance >= 0 && clockTolerance <= MAX_CLOCK_TOLERANCE)) {
    throw new TypeError(`clockToleranceSeconds must be between 0 and ${MAX_CLOCK_TOLERANCE}`);
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const decryption = decryptionOf(options);

  let keys: JWTVerifyGetKey | Promise<JWTVerifyGetKey> | undefined = options.jwks
    ? createLocalJWKSet(options.jwks)
    : options.jwksUri ? remoteKeys(options.jwksUri) : undefined;

  function remoteKeys(uri: string): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(uri), {
      cooldownDuration: options.cooldownMs ?? 30_000,
      cacheMaxAge: options.cacheMaxAgeMs ?? 600_000,
      timeoutDuration: timeoutMs,
      [customFetch]: fetchImpl,
    });
  }

  /** The keys, discovering the JWKS URI first when needed; a failed discovery is retried by the next request. */
  function resolveKeys(): JWTVerifyGetKey | Promise<JWTVerifyGetKey> {
    if (!keys) {
      const discovering = discoverJwksUri(options.issuer, fetchImpl, timeoutMs).then(remoteKeys);
      keys = discovering;
      // A failure is answered from memory for a moment (every request would
      // otherwise ask the failing issuer again), then discovery is retried.
      discovering.catch(() => setTimeout(() => { if (keys === discovering) keys = undefined; }, DISCOVERY_RETRY_MS).unref());
    }
    return keys;
  }

  return {
    async verify(token, verifyOptions) {
      if (typeof token !== 'string') throw new BearerError('invalid_token', 'access token is malformed');
      let signed = token;
      if (COMPACT_JWE.test(token)) {
        if (!decryption) throw new BearerError('invalid_token', 'access token is encrypted, and this API has no key to decrypt it');
        signed = await decryption.decrypt(token);
      } else if (decryption?.required && COMPACT_JWS.test(token)) {
        throw new BearerError('invalid_token', 'access token is not encrypted, and this API accepts encrypted tokens only');
      }
      // Three base64url parts and nothing else; anything else is not a JWS in compact form.
      if (!COMPACT_JWS.test(signed)) {
        throw new BearerError('invalid_token', 'access token is malformed');
      }
      let claims: AccessTokenClaims;
      try {
        const { payload } = await jwtVerify(signed, await resolveKeys(), {
          issuer: options.issuer,
          audience: options.audience,
          typ: 'at+jwt',
          algorithms,
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
          clockTolerance,
        });
        claims = payload as AccessTokenClaims;
      } catch (err) {
        throw classify(err);
      }
      // Signed by the issuer, but a claim of the wrong type must not reach code that trusts the declared types.
      const wrong = claimOfWrongType(claims);
      if (wrong) throw new BearerError('invalid_token', `access token ${wrong} claim has the wrong type`);
      if (claims.cnf !== undefined && !verifyOptions?.allowSenderConstrained) {
        throw new DpopError('invalid_token', 'this access token is bound to a key: send it as "Authorization: DPoP <token>" with a DPoP proof');
      }
      const reason = await options.revoked?.(claims);
      if (reason) throw new BearerError('invalid_token', reason);
      return claims;
    },
  };
}

interface Decryption {
  readonly required: boolean;
  /** The inner (signed) token; BearerError when it does not decrypt with our keys and allowed algorithms, or is not a nested JWT. */
  decrypt(token: string): Promise<string>;
}

function decryptionOf(options: VerifierOptions): Decryption | undefined {
  const given = options.decryptionKeys ?? [];
  if (!given.length) {
    if (options.requireEncryption) throw new TypeError('requireEncryption needs decryptionKeys');
    return undefined;
  }
  const keyManagementAlgorithms = options.keyManagementAlgorithms ?? DEFAULT_KEY_MANAGEMENT;
  const contentEncryptionAlgorithms = options.contentEncryptionAlgorithms ?? DEFAULT_CONTENT_ENCRYPTION;
  if (!keyManagementAlgorithms.length || keyManagementAlgorithms.some((alg) => FORBIDDEN_KEY_MANAGEMENT.test(alg))) {
    throw new TypeError('keyManagementAlgorithms must be a non-empty list of asymmetric JWE algorithms (no RSA1_5, dir, AES key wrap or PBES2)');
  }
  for (const key of given) {
    if (isJwk(key) && typeof key.d !== 'string') throw new TypeError('decryptionKeys must be private keys (a JWK with "d")');
  }
  // JWKs are imported once, on first use, for the algorithm their kind implies.
  let imported: Promise<Array<{ kid?: string; key: CryptoKey | KeyObject | Uint8Array }>> | undefined;
  const keys = () => imported ??= Promise.all(given.map(async (key) => (isJwk(key)
    ? { kid: key.kid, key: await importJWK(key, key.alg ?? (key.kty === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES')) }
    : { key })));
  return {
    required: options.requireEncryption ?? true,
    async decrypt(token) {
      let kid: unknown;
      let cty: unknown;
      try {
        ({ kid, cty } = decodeProtectedHeader(token));
      } catch {
        throw new BearerError('invalid_token', 'access token is malformed');
      }
      // RFC 7519 §5.2: a nested JWT says so, with cty "JWT"; oidc-provider (Tollgate's issuer) names the
      // inner token's own type instead, "at+jwt" (RFC 9068 §2.1; lib/models/formats/jwt.js upstream).
      // Anything else inside is not a token of ours; the inner token's typ is checked after decryption.
      if (typeof cty !== 'string' || !NESTED_JWT_CTY.has(cty.toUpperCase())) throw new BearerError('invalid_token', 'access token is encrypted but holds no signed token (cty JWT or at+jwt)');
      const all = await keys();
      const candidates = typeof kid === 'string' && all.some((k) => k.kid === kid) ? all.filter((k) => k.kid === kid) : all.filter((k) => k.kid === undefined || kid === undefined);
      for (const { key } of candidates) {
        try {
          const { plaintext } = await compactDecrypt(token, key, { keyManagementAlgorithms, contentEncryptionAlgorithms });
          return new TextDecoder().decode(plaintext);
        } catch (err) {
          if (err instanceof joseErrors.JOSEAlgNotAllowed) throw new BearerError('invalid_token', 'access token encryption algorithm is not allowed');
        }
      }
      throw new BearerError('invalid_token', 'access token could not be decrypted with this API\'s keys');
    },
  };
}

function isJwk(key: unknown): key is JWK {
  return typeof key === 'object' && key !== null && typeof (key as JWK).kty === 'string';
}

function claimOfWrongType(claims: AccessTokenClaims): string | undefined {
  const isString = (v: unknown) => typeof v === 'string';
  for (const name of ['sub', 'client_id', 'jti'] as const) if (!isString(claims[name])) return name;
  for (const name of ['scope', 'org', 'gid', 'acr'] as const) if (claims[name] !== undefined && !isString(claims[name])) return name;
  for (const name of ['roles', 'amr'] as const) if (claims[name] !== undefined && !(Array.isArray(claims[name]) && claims[name].every(isString))) return name;
  if (claims.auth_time !== undefined && !Number.isFinite(claims.auth_time)) return 'auth_time';
  if (claims.cnf !== undefined && (typeof claims.cnf !== 'object' || claims.cnf === null || Array.isArray(claims.cnf)
    || (claims.cnf.jkt !== undefined && !isString(claims.cnf.jkt)))) return 'cnf';
  return undefined;
}

/**
 * The JWKS URI from the issuer's metadata: OpenID Connect Discovery, then
 * RFC 8414 (its well-known name goes between host and path). The document
 * must name the same issuer (RFC 8414 §3.3), or its keys are not the issuer's.
 */
async function discoverJwksUri(issuer: string, fetchImpl: typeof fetch, timeoutMs: number): Promise<string> {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  const candidates = [
    new URL(`${url.origin}${path}/.well-known/openid-configuration`),
    new URL(`${url.origin}/.well-known/oauth-authorization-server${path}`),
  ];
  try {
    for (const candidate of candidates) {
      const response = await fetchImpl(candidate, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
      if (response.status === 404) continue;
      if (!response.ok) throw new Error(`${candidate.href} answered ${response.status}`);
      const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (metadata.issuer !== issuer) throw new Error(`${candidate.href} names the issuer ${JSON.stringify(metadata.issuer)}, not ${issuer}`);
      if (typeof metadata.jwks_uri !== 'string') throw new Error(`${candidate.href} has no jwks_uri`);
      return metadata.jwks_uri;
    }
    throw new Error(`${issuer} publishes no discovery document`);
  } catch (err) {
    throw new VerifierUnavailableError(`the issuer's keys could not be found: ${(err as Error).message}`, { cause: err });
  }
}

/** What a failed verification means for the client: a bad token (401) or our trouble fetching keys (503). */
function classify(err: unknown): Error {
  if (err instanceof VerifierUnavailableError) return err;
  if (err instanceof joseErrors.JWTExpired) return new BearerError('invalid_token', 'access token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new BearerError('invalid_token', `access token ${err.claim} claim is not accepted here`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new BearerError('invalid_token', 'access token signing algorithm is not allowed');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new BearerError('invalid_token', 'access token signature is invalid');
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new BearerError('invalid_token', 'access token was not signed by a key of this issuer');
  }
  // Fetching the keys failed: a timeout, a network error (fetch's TypeError),
  // a non-200 answer or unparsable body (jose's generic JOSEError), or not a JWKS.
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid
    || !(err instanceof joseErrors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') {
    return new VerifierUnavailableError("the issuer's keys could not be fetched", { cause: err });
  }
  return new BearerError('invalid_token', 'access token is malformed');
}

/**
 * One verifier per issuer, audience and option set, so that calls of
 * verifyAccessToken share the fetched keys instead of fetching per request.
 */
const shared = new Map<string, AccessTokenVerifier>();
const MAX_SHARED_VERIFIERS = 100;

/**
 * Verifies one token; verifiers (and their key caches) are reused across
 * calls with the same options. A token bound to a key (DPoP) is refused:
 * its proof needs the request, so use requireAccessToken or
 * createRequestAuthenticator for those.
 */
export function verifyAccessToken(token: string, options: Omit<VerifierOptions, 'revoked' | 'fetch' | 'jwks' | 'decryptionKeys' | 'requireEncryption' | 'keyManagementAlgorithms' | 'contentEncryptionAlgorithms'>): Promise<AccessTokenClaims> {
  const key = JSON.stringify([options.issuer, options.audience, options.algorithms, options.clockToleranceSeconds, options.jwksUri, options.cooldownMs, options.cacheMaxAgeMs, options.timeoutMs]);
  let verifier = shared.get(key);
  if (!verifier) {
    verifier = createAccessTokenVerifier(options);
    // An API has a handful of option sets; the bound only keeps a mistake (options built per request) from growing memory.
    if (shared.size >= MAX_SHARED_VERIFIERS) shared.delete(shared.keys().next().value!);
    shared.set(key, verifier);
  }
  return verifier.verify(token);
}

/** The scopes a token carries. */
export function scopesOf(claims: Pick<AccessTokenClaims, 'scope'>): Set<string> {
  return new Set((claims.scope ?? '').split(' ').filter(Boolean));
}
