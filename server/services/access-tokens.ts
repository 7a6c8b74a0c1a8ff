// Verification of our own JWT access tokens inside Tollgate (userinfo, the
// admin API, introspection and revocation of JWTs): the same verifier the
// resource-server toolkit gives every API, with our keys in hand instead of
// fetched, and two online checks no offline verifier can make: was this
// token revoked (RFC 7009), and does the grant it came from still exist.
import type { JSONWebKeySet } from 'jose';
import { createAccessTokenVerifier as createVerifier, type AccessTokenVerifier } from '../resource-server/index.ts';

export { BearerError, bearerChallenge, bearerToken, type AccessTokenClaims, type AccessTokenVerifier } from '../resource-server/index.ts';

export function createAccessTokenVerifier(options: {
  issuer: string;
  /** One audience, or several of which the token must name one. */
  audience: string | string[];
  jwks: JSONWebKeySet;
  algorithms: string[];
  /** Revoked before expiry (RFC 7009)? Consulted after the signature checks out. */
  isRevoked: (jti: string) => Promise<boolean>;
  /** Does the grant (token family) a user's token came from still exist? */
  grantExists: (grantId: string) => Promise<boolean>;
}): AccessTokenVerifier {
  return createVerifier({
    issuer: options.issuer,
    audience: options.audience,
    jwks: options.jwks,
    algorithms: options.algorithms,
    // oidc-provider's default clock tolerance.
    clockToleranceSeconds: 15,
    async revoked(claims) {
      if (await options.isRevoked(claims.jti)) return 'access token was revoked';
      if (typeof claims.gid === 'string' && !(await options.grantExists(claims.gid))) return 'access token was revoked with its grant';
      return undefined;
    },
  });
}
