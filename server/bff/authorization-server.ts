// The BFF as a confidential client of the authorization server, through
// openid-client. Discovery happens on first use, not at start-up, so an app
// may start before its authorization server; a failed discovery is retried
// by the next request.
import * as oidc from 'openid-client';
import { importJWK, type JWK } from 'jose';
type CryptoKey = oidc.CryptoKey;
import type { ResolvedOptions, PrivateKeyInput } from './options.ts';

/** The authorization server cannot be reached, or answered with a server error: 502/503, the cookies kept. */
export class UpstreamUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the authorization server is unavailable', { cause });
    this.name = 'UpstreamUnavailableError';
  }
}

async function privateKeyOf(input: PrivateKeyInput): Promise<oidc.PrivateKey | CryptoKey> {
  if ('key' in input && typeof input.key === 'object') return input as oidc.PrivateKey;
  if ('type' in input && (input as CryptoKey).type === 'private') return input as CryptoKey;
  const jwk = input as JWK;
  if (!jwk.alg) throw new TypeError('tollgate/bff: privateKey (a JWK) must name its alg');
  const key = await importJWK(jwk, jwk.alg);
  if (key instanceof Uint8Array) throw new TypeError('tollgate/bff: privateKey must be an asymmetric private key');
  return jwk.kid ? { key, kid: jwk.kid } : key;
}

export function authorizationServer(options: ResolvedOptions): () => Promise<oidc.Configuration> {
  let pending: Promise<oidc.Configuration> | undefined;
  const discover = async () => {
    const auth = options.privateKey ? oidc.PrivateKeyJwt(await privateKeyOf(options.privateKey)) : oidc.ClientSecretBasic(options.clientSecret!);
    try {
      return await oidc.discovery(options.issuer, options.clientId, undefined, auth, options.insecureIssuer ? { execute: [oidc.allowInsecureRequests] } : undefined);
    } catch (err) {
      throw new UpstreamUnavailableError(err);
    }
  };
  return () => {
    pending ??= discover().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

/**
 * Whether the authorization server refused the grant itself (RFC 6749 §5.2
 * `invalid_grant`: the refresh token is revoked, expired or reused), as
 * opposed to being unreachable or failing.
 */
export function isInvalidGrant(err: unknown): boolean {
  return err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant';
}

/** A failure of the authorization server itself (network, timeout, 5xx), not of what we sent. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof UpstreamUnavailableError) return true;
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500;
  const failed = (e: unknown) => e instanceof Error && ((e instanceof TypeError && e.message === 'fetch failed') || e.name === 'TimeoutError' || e.name === 'AbortError');
  // openid-client passes fetch's failures on, or wraps them (and a non-JSON 5xx answer) with a cause.
  const cause = err instanceof Error ? err.cause : undefined;
  return failed(err) || failed(cause) || (cause instanceof Response && cause.status >= 500);
}
