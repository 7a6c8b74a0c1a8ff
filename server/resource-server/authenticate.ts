// The access token of a request, verified together with the way it was
// presented: a token bound to a key (`cnf`, RFC 9449 §6) is accepted only
// with the DPoP scheme and a valid proof of that key, never as a bearer
// token (§7.2), even with a DPoP header beside it; an unbound token is
// accepted only as a bearer token. One home for this rule: the Koa guard,
// Tollgate's userinfo and its admin API all come through here.
import { DpopError, presentedToken, type PresentedToken, type TokenScheme } from './errors.ts';
import { createDpopVerifier, type DpopOptions, type DpopVerifier } from './dpop.ts';
import type { AccessTokenClaims, AccessTokenVerifier } from './verifier.ts';

/** What the authenticator needs to know of an HTTP request. */
export interface ProtectedRequest {
  method: string;
  /** The URL as the client called it: the API's public origin, path (query and fragment are ignored). */
  url: string | URL;
  /** The Authorization header. */
  authorization?: string;
  /** The DPoP header (RFC 9449 §4.1). */
  dpop?: string;
}

export interface AuthenticatedToken {
  claims: AccessTokenClaims;
  token: string;
  scheme: TokenScheme;
}

export interface RequestAuthenticator {
  /** The proof algorithms accepted (for the `algs` of challenges); undefined when DPoP is not accepted. */
  readonly dpopAlgorithms: readonly string[] | undefined;
  /** Only DPoP-bound tokens are accepted (RFC 9449 §7.1): challenges name the DPoP scheme alone. */
  readonly dpopRequired: boolean;
  /**
   * The request's access token, verified with its binding; undefined when
   * the request presents none. `presented` overrides the Authorization
   * header (a token from a form body is a bearer token). Rejects with
   * BearerError (DpopError for binding failures) or VerifierUnavailableError.
   */
  authenticate(request: ProtectedRequest, presented?: PresentedToken): Promise<AuthenticatedToken | undefined>;
}

/**
 * `dpop`: the proof checks' options (default: on, with the algorithms
 * Tollgate advertises and an in-memory replay cache), an already built
 * DpopVerifier, or false to accept no DPoP scheme (bound tokens are then
 * always refused). `requireBinding`: unbound (bearer) tokens are refused too,
 * as an API that accepts sender-constrained tokens only (RFC 9449 §7.1).
 */
export function createRequestAuthenticator(verifier: AccessTokenVerifier, dpop: DpopOptions | DpopVerifier | false = {}, requireBinding = false): RequestAuthenticator {
  const proofs = dpop === false ? undefined : 'verify' in dpop ? dpop : createDpopVerifier(dpop);
  if (requireBinding && !proofs) throw new TypeError('dpop: a required binding needs the DPoP checks on (not false)');

  return {
    dpopAlgorithms: proofs?.algorithms,
    dpopRequired: requireBinding,
    async authenticate(request, given) {
      const presented = given ?? presentedToken(request.authorization);
      // Without DPoP support, the DPoP scheme is one we do not know: no credentials (RFC 6750 §3.1).
      if (!presented || (presented.scheme === 'DPoP' && !proofs)) return undefined;
      const { scheme, token } = presented;
      const claims = await verifier.verify(token, { allowSenderConstrained: true });

      if (claims.cnf === undefined) {
        // RFC 9449 §7.1: this API takes sender-constrained tokens only; a stolen bearer token is worth nothing here.
        if (requireBinding) throw new DpopError('invalid_token', 'this API accepts DPoP-bound access tokens only: ask for one with a DPoP proof at the token endpoint');
        if (scheme === 'DPoP') throw new DpopError('invalid_token', 'this access token is not bound to a key: send it with the Bearer scheme');
        return { claims, token, scheme };
      }
      if (scheme === 'Bearer') {
        throw new DpopError('invalid_token', 'this access token is bound to a key: send it as "Authorization: DPoP <token>" with a DPoP proof');
      }
      const jkt = claims.cnf.jkt;
      // A binding of another kind (an mTLS certificate, x5t#S256) cannot be checked here: refused, never waved through.
      if (typeof jkt !== 'string') throw new DpopError('invalid_token', 'this access token is bound in a way this API cannot check');
      await proofs!.verify({ method: request.method, url: request.url, proof: request.dpop, accessToken: token, jkt });
      return { claims, token, scheme };
    },
  };
}
