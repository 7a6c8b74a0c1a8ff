// The BFF's configuration, checked once when it is created: a mistake here
// (a short cookie secret, a callback outside the BFF's path, cookies that
// would travel over plain HTTP) throws a TypeError at start-up rather than
// failing a person's sign-in later.
import type { JWK } from 'jose';
import type { CryptoKey } from 'openid-client';
import type { BffStore } from './store.ts';
import { reportable } from './report.ts';

/** How the BFF proves itself at the token endpoint: a secret, or its private key (private_key_jwt, RFC 7523). */
export type PrivateKeyInput = CryptoKey | JWK | { key: CryptoKey; kid?: string };

export interface BffOptions {
  /** The authorization server (Tollgate), found through its discovery document. */
  issuer: string | URL;
  /** The BFF's confidential client. */
  clientId: string;
  /** client_secret_basic; or give `privateKey`. */
  clientSecret?: string;
  /** private_key_jwt: a private JWK (with `alg` and `kid`) or a CryptoKey. */
  privateKey?: PrivateKeyInput;
  /** The app's callback, `<app origin><prefix>/callback`; its origin is the app's, the only one whose scripts may use the BFF. */
  redirectUri: string | URL;
  /** Where the authorization server sends the browser after logout (registered as a post_logout_redirect_uri). */
  postLogoutRedirectUri?: string | URL;
  /** Default `openid profile email offline_access` (offline_access: a refresh token). */
  scope?: string;
  /** At least 32 bytes; several for rotation: the first seals new cookies, all open them. */
  cookieSecret: string | readonly string[];
  /** The path the BFF answers under, default `/bff`; its cookies are scoped to it. */
  prefix?: string;
  /** Token-handler mode: `<prefix>/api/*` is proxied to `target` with the access token attached. */
  api?: { target: string | URL };
  /** Server-side state (a deny-list of ended sessions; the tokens with tokenStorage 'store'); stateless without. */
  store?: BffStore;
  /**
   * Where the refresh and access tokens are kept: 'cookie' (default,
   * stateless: sealed HttpOnly cookies) or 'store' (in `store`, the browser
   * holding the session cookie only).
   */
  tokenStorage?: 'cookie' | 'store';
  /** Seconds a sign-in lasts at most (the persistent cookies' Max-Age): default 30 days, as Tollgate's REFRESH_TOKEN_TTL. */
  sessionLifetime?: number;
  /** Refresh the access token when it expires within this many seconds: default 30. */
  refreshWithin?: number;
  /** Push authorization requests first (PAR, RFC 9126): default, whenever the server offers it. */
  par?: boolean;
  /**
   * DPoP (RFC 9449): access tokens bound to the BFF's key (derived from
   * cookieSecret), for a client registered with --require-dpop. The page
   * then calls the API through `<prefix>/api/*` only: `<prefix>/token`
   * answers 400, since a bound token is of no use without the key.
   */
  dpop?: boolean;
  /** Called with unexpected errors (answered 500 / 502 / 503), for the app's log: copies without their `cause`, so never a token or secret. */
  onError?: (error: unknown) => void;
}

export interface ResolvedOptions {
  issuer: URL;
  clientId: string;
  clientSecret: string | undefined;
  privateKey: PrivateKeyInput | undefined;
  redirectUri: URL;
  postLogoutRedirectUri: URL | undefined;
  scope: string;
  secrets: readonly string[];
  prefix: string;
  apiTarget: URL | undefined;
  store: BffStore | undefined;
  tokenStorage: 'cookie' | 'store';
  sessionLifetime: number;
  refreshWithin: number;
  par: boolean | undefined;
  dpop: boolean;
  onError: (error: unknown) => void;
  /** The app's origin: Origin must equal it on every state-changing request. */
  appOrigin: string;
  /** Secure cookies: everywhere but on http://localhost. */
  secure: boolean;
  /** Plain HTTP to the issuer: allowed for a loopback issuer only. */
  insecureIssuer: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const isLoopbackHttp = (url: URL) => url.protocol === 'http:' && LOOPBACK.has(url.hostname);

function url(value: string | URL, name: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new TypeError(`tollgate/bff: ${name} must be an absolute URL`);
  }
}

export function resolveOptions(options: BffOptions): ResolvedOptions {
  const fail = (message: string): never => { throw new TypeError(`tollgate/bff: ${message}`); };
  if (!options.clientId) fail('clientId is required');
  if (Boolean(options.clientSecret) === Boolean(options.privateKey)) fail('give either clientSecret or privateKey (the BFF is a confidential client)');

  const issuer = url(options.issuer, 'issuer');
  if (issuer.protocol !== 'https:' && !isLoopbackHttp(issuer)) fail('issuer must be https (http only on localhost)');

  const prefix = (options.prefix ?? '/bff').replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(prefix) || prefix === '' ) fail('prefix must be a path such as /bff');

  const redirectUri = url(options.redirectUri, 'redirectUri');
  if (redirectUri.protocol !== 'https:' && !isLoopbackHttp(redirectUri)) fail('redirectUri must be https (http only on localhost): the cookies hold tokens');
  if (redirectUri.pathname !== `${prefix}/callback` || redirectUri.search || redirectUri.hash) fail(`redirectUri must be <app origin>${prefix}/callback`);

  const postLogoutRedirectUri = options.postLogoutRedirectUri === undefined ? undefined : url(options.postLogoutRedirectUri, 'postLogoutRedirectUri');
  const apiTarget = options.api ? url(options.api.target, 'api.target') : undefined;
  if (apiTarget && !/^https?:$/.test(apiTarget.protocol)) fail('api.target must be an http(s) URL');

  const scope = options.scope ?? 'openid profile email offline_access';
  if (!scope.split(' ').includes('openid')) fail('scope must include openid (the BFF signs people in with an ID token)');
  const tokenStorage = options.tokenStorage ?? 'cookie';
  if (tokenStorage !== 'cookie' && tokenStorage !== 'store') fail("tokenStorage must be 'cookie' or 'store'");
  if (tokenStorage === 'store' && !options.store) fail("tokenStorage 'store' needs a store (createRedisStore for several instances)");
  const secrets = typeof options.cookieSecret === 'string' ? [options.cookieSecret] : [...options.cookieSecret];
  const sessionLifetime = options.sessionLifetime ?? 30 * 86_400;
  const refreshWithin = options.refreshWithin ?? 30;
  if (!Number.isInteger(sessionLifetime) || sessionLifetime < 60) fail('sessionLifetime must be a whole number of seconds, at least 60');
  if (!Number.isFinite(refreshWithin) || refreshWithin < 0) fail('refreshWithin must be a number of seconds, 0 or more');

  return {
    issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    privateKey: options.privateKey,
    redirectUri,
    postLogoutRedirectUri,
    scope,
    secrets,
    prefix,
    apiTarget,
    store: options.store,
    tokenStorage,
    sessionLifetime,
    refreshWithin,
    par: options.par,
    dpop: options.dpop === true,
    onError: options.onError ? ((report) => (err: unknown) => report(reportable(err)))(options.onError) : () => {},
    appOrigin: redirectUri.origin,
    secure: !isLoopbackHttp(redirectUri),
    insecureIssuer: issuer.protocol === 'http:',
  };
}
