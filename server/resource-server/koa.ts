// Koa middleware for an API that accepts Tollgate's access tokens:
//   app.use(requireAccessToken({ verifier, public: ['GET /health', 'POST /signup'] }))
// guards every route but the public ones; requireScope('admin') and
// requireRole('admin') then narrow single routes. Failures are answered as
// RFC 6750 §3 says: 401 invalid_token or 403 insufficient_scope, with a
// WWW-Authenticate challenge and a JSON body; 503 when the issuer's keys
// cannot be fetched. Tokens bound to a key (DPoP, RFC 9449) are accepted
// with the DPoP scheme and a valid proof only (authenticate.ts).
import type { Context, Middleware } from 'koa';
import {
  BearerError, InsufficientUserAuthenticationError, MissingTokenError, VerifierUnavailableError, challengesFor, presentedToken, type TokenScheme,
} from './errors.ts';
import { createAccessTokenVerifier, scopesOf, type AccessTokenClaims, type AccessTokenVerifier, type VerifierOptions } from './verifier.ts';
import { createRequestAuthenticator } from './authenticate.ts';
import type { DpopOptions } from './dpop.ts';
import { ACR_MFA } from './acr.ts';

/** What the guard leaves in `ctx.state.auth` for the routes after it. */
export interface Auth {
  claims: AccessTokenClaims;
  scopes: Set<string>;
  /** The raw token, for calling another API on the user's behalf. */
  token: string;
  /** How it was presented: Bearer, or DPoP with a checked proof. */
  scheme: TokenScheme;
}

export interface AuthState {
  /** Undefined on a public route called without a token. */
  auth?: Auth;
}

/**
 * A public route: "/health" (any method), "POST /signup" (one method), a
 * RegExp over the path, or a predicate.
 */
export type PublicRoute = string | RegExp | ((ctx: Context) => boolean);

export interface GuardOptions {
  /** A verifier, or the options to build one. */
  verifier: AccessTokenVerifier | VerifierOptions;
  /** Routes that need no token. A token sent to one is still verified, and rejected when bad. */
  public?: PublicRoute[];
  /** The challenge's realm (RFC 6750 §3). Default: the API's audience, else "api". */
  realm?: string;
  /**
   * DPoP-bound tokens (RFC 9449): accepted with a valid proof (default,
   * `'allowed'`: bearer tokens too), `'required'` (RFC 9449 §7.1: only
   * bound tokens, with a valid proof; a bearer token is refused with the
   * DPoP challenge), or `false` to refuse them all. As an object: the proof
   * checks' options, with `required: true` for the second. `origin` is this API's public origin
   * (`https://api.example`), against which a proof's `htu` is checked;
   * default: the scheme and host the request was made to as Koa sees them
   * (its Host header, or X-Forwarded-Host with `app.proxy`): set it when the
   * API is reached under one name. (Not `ctx.origin`: in Koa 3 that is the
   * request's `Origin` header, which a caller chooses.)
   */
  dpop?: 'required' | 'allowed' | (DpopOptions & { origin?: string; required?: boolean }) | false;
}

export function requireAccessToken(options: GuardOptions): Middleware<AuthState> {
  const verifier = 'verify' in options.verifier ? options.verifier : createAccessTokenVerifier(options.verifier);
  const realm = options.realm ?? ('audience' in options.verifier ? [options.verifier.audience].flat()[0]! : 'api');
  const isPublic = publicMatcher(options.public ?? []);
  const dpop = options.dpop === 'required' ? { required: true } : options.dpop === 'allowed' ? {} : options.dpop ?? {};
  const { required, origin: givenOrigin, ...proofOptions } = dpop === false ? { required: false, origin: undefined } : dpop;
  const authenticator = createRequestAuthenticator(verifier, dpop === false ? false : proofOptions, required === true);
  const origin = givenOrigin?.replace(/\/$/, '');

  return async (ctx, next) => {
    let presentedScheme: TokenScheme | undefined;
    try {
      const presented = presentedToken(ctx.get('authorization') || undefined);
      presentedScheme = presented?.scheme;
      // originalUrl: the path as the client sent it, also under koa-mount.
      const url = `${origin ?? `${ctx.protocol}://${ctx.host}`}${ctx.originalUrl}`;
      const found = presented && await authenticator.authenticate({ method: ctx.method, url, dpop: ctx.get('dpop') || undefined }, presented);
      if (found) {
        ctx.state.auth = { claims: found.claims, scopes: scopesOf(found.claims), token: found.token, scheme: found.scheme };
      } else if (!isPublic(ctx)) {
        throw new MissingTokenError();
      }
      await next();
    } catch (err) {
      if (!(err instanceof BearerError || err instanceof VerifierUnavailableError)) throw err;
      respond(ctx, err, realm, { dpopAlgorithms: authenticator.dpopAlgorithms, presentedScheme, dpopOnly: authenticator.dpopRequired });
    }
  };
}

/** Requires every one of `scopes` (403 insufficient_scope naming them otherwise). Use after requireAccessToken. */
export function requireScope(...scopes: string[]): Middleware<AuthState> {
  return (ctx, next) => {
    const auth = authOf(ctx);
    const missing = scopes.filter((s) => !auth.scopes.has(s));
    if (missing.length) throw new BearerError('insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, scopes.join(' '));
    return next();
  };
}

/**
 * Requires at least one of `roles` in the token's `roles` claim. RFC 6750
 * §3.1's insufficient_scope is "higher privileges than provided by the
 * access token", which a missing role is; no `scope` is named, since no
 * scope the client could ask for would help.
 */
export function requireRole(...roles: string[]): Middleware<AuthState> {
  return (ctx, next) => {
    const held = authOf(ctx).claims.roles ?? [];
    if (!roles.some((r) => held.includes(r))) throw new BearerError('insufficient_scope', `this requires the role ${roles.join(' or ')}`);
    return next();
  };
}

/** What requireAcr demands: acceptable `acr` values (in order of preference), and/or a sign-in at most `maxAge` seconds old. */
export interface AcrRequirement {
  acrValues?: readonly string[];
  maxAge?: number;
}

/**
 * Requires a strong enough, or recent enough, sign-in behind the token
 * (RFC 9470, OAuth 2.0 Step Up Authentication Challenge Protocol):
 *   requireAcr(ACR_MFA)                                 the token's `acr` is one of these
 *   requireAcr({ acrValues: [ACR_MFA], maxAge: 300 })   … and `auth_time` at most 300 s ago
 * Otherwise 401 `insufficient_user_authentication` (§3) whose challenge names
 * the `acr_values` and `max_age` to ask for: the client sends the person
 * back to the authorization server with them (a step-up) and retries with
 * the new token. Tokens without a person (client_credentials) have no `acr`
 * and are refused too. Use after requireAccessToken.
 */
export function requireAcr(...acceptable: [AcrRequirement] | string[]): Middleware<AuthState> {
  const requirement: AcrRequirement = typeof acceptable[0] === 'object' ? acceptable[0] : { acrValues: acceptable as string[] };
  const acrValues = requirement.acrValues ? [...requirement.acrValues] : undefined;
  const { maxAge } = requirement;
  if (acrValues !== undefined && (!acrValues.length || acrValues.some((v) => typeof v !== 'string' || !v))) {
    throw new TypeError('requireAcr: acceptable acr values must be non-empty strings, at least one');
  }
  if (maxAge !== undefined && !(Number.isInteger(maxAge) && maxAge >= 0)) throw new TypeError('requireAcr: maxAge must be a whole number of seconds');
  if (acrValues === undefined && maxAge === undefined) throw new TypeError('requireAcr: give acceptable acr values, a maxAge, or both');

  return (ctx, next) => {
    const { claims, scheme } = authOf(ctx);
    // The challenge repeats the whole requirement, so that one new authorization request meets all of it.
    const refuse = (description: string) => new InsufficientUserAuthenticationError(description, acrValues, maxAge, scheme);
    if (acrValues && (claims.acr === undefined || !acrValues.includes(claims.acr))) {
      throw refuse(acrValues.length === 1 && acrValues[0] === ACR_MFA
        ? 'this requires a sign-in with a second factor'
        : `this requires a sign-in of class ${acrValues.join(' or ')}`);
    }
    if (maxAge !== undefined && (claims.auth_time === undefined || Date.now() / 1000 - claims.auth_time > maxAge)) {
      throw refuse(`this requires a sign-in within the last ${maxAge} seconds`);
    }
    return next();
  };
}

/** The verified token of this request; a route behind the guard always has one unless it is public. */
export function authOf(ctx: { state: AuthState }): Auth {
  if (!ctx.state.auth) throw new MissingTokenError();
  return ctx.state.auth;
}

function respond(ctx: Context, err: BearerError | VerifierUnavailableError, realm: string, challenge: Parameters<typeof challengesFor>[2]): void {
  ctx.status = err.status;
  ctx.set('Cache-Control', 'no-store');
  if (err instanceof BearerError) ctx.set('WWW-Authenticate', challengesFor(realm, err, challenge));
  else ctx.set('Retry-After', '5');
  ctx.body = { error: err.code, error_description: err.message };
}

function publicMatcher(routes: PublicRoute[]): (ctx: Context) => boolean {
  const tests = routes.map((route): ((ctx: Context) => boolean) => {
    if (typeof route === 'function') return route;
    if (route instanceof RegExp) return (ctx) => route.test(ctx.path);
    const [method, path] = route.includes(' ') ? route.split(/ +/, 2) as [string, string] : [undefined, route];
    return (ctx) => ctx.path === path && (!method || ctx.method === method.toUpperCase() || (method.toUpperCase() === 'GET' && ctx.method === 'HEAD'));
  });
  return (ctx) => tests.some((t) => t(ctx));
}
