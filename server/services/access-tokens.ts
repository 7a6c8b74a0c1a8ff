// Verification of our own JWT access tokens (RFC 9068) inside Tollgate: the
// published public keys, our issuer and API audience, `typ: at+jwt`, and the
// algorithm allow-list (RFC 8725 §3.1: never `none`, never HS*).
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { TollgateError } from '../errors.ts';

/** RFC 6750 §3.1 errors: `invalid_token` (401) and `insufficient_scope` (403). */
export class BearerError extends TollgateError {
  constructor(code: 'invalid_token' | 'insufficient_scope' | 'invalid_request', description: string, readonly scope?: string) {
    super(code, description, code === 'insufficient_scope' ? 403 : code === 'invalid_request' ? 400 : 401);
  }
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  scope?: string;
  roles?: string[];
  /** The grant (token family) of a user's token. */
  gid?: string;
}

export interface AccessTokenVerifier {
  verify(token: string): Promise<AccessTokenClaims>;
}

export function createAccessTokenVerifier(options: {
  issuer: string;
  audience: string;
  jwks: JSONWebKeySet;
  algorithms: string[];
  /** Revoked before expiry (RFC 7009)? Consulted after the signature checks out. */
  isRevoked: (jti: string) => Promise<boolean>;
  /** Does the grant (token family) a user's token came from still exist? */
  grantExists: (grantId: string) => Promise<boolean>;
}): AccessTokenVerifier {
  const keys = createLocalJWKSet(options.jwks);
  return {
    async verify(token) {
      let claims: AccessTokenClaims;
      try {
        const { payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          typ: 'at+jwt',
          algorithms: options.algorithms,
          requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
          // oidc-provider's default clock tolerance.
          clockTolerance: 15,
        });
        claims = payload as AccessTokenClaims;
      } catch (err) {
        throw new BearerError('invalid_token', describe(err));
      }
      if (await options.isRevoked(String(claims.jti))) throw new BearerError('invalid_token', 'access token was revoked');
      if (typeof claims.gid === 'string' && !(await options.grantExists(claims.gid))) {
        throw new BearerError('invalid_token', 'access token was revoked with its grant');
      }
      return claims;
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'access token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `access token ${err.claim} is not accepted here`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'access token signing algorithm is not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'access token signature is invalid';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'access token was not signed by a key of this issuer';
  return 'access token is malformed';
}

/** The token from `Authorization: Bearer …` (RFC 6750 §2.1), or undefined when absent. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match) throw new BearerError('invalid_request', 'the Authorization header is not a Bearer token');
  return match[1];
}

/** The WWW-Authenticate challenge for an error (RFC 6750 §3), quoted values escaped. */
export function bearerChallenge(realm: string, err?: BearerError): string {
  const quote = (v: string) => `"${v.replace(/[\\"]/g, '\\$&')}"`;
  const parts = [`realm=${quote(realm)}`];
  if (err) {
    parts.push(`error=${quote(err.code)}`, `error_description=${quote(err.message)}`);
    if (err.scope) parts.push(`scope=${quote(err.scope)}`);
  }
  return `Bearer ${parts.join(', ')}`;
}
