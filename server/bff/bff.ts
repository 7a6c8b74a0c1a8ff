// The backend-for-frontend (OAuth 2.0 for Browser-Based Applications §6.1):
// a confidential client on the app's own origin that signs people in with
// the authorization code flow and PKCE, keeps the refresh token in a sealed
// HttpOnly cookie that no script can read, and gives same-origin
// JavaScript short-lived access tokens (or calls the API for it).
//
//   GET  <prefix>/login?return_to=/path   → the authorization server
//   GET  <prefix>/callback                → back to return_to, signed in
//   GET  <prefix>/session                 → { signedIn, sub, name, email }
//   POST <prefix>/token                   → { access_token, expires_in }
//   POST <prefix>/logout                  → { logoutUrl }
//   POST <prefix>/backchannel-logout      ← the authorization server: a session ended there
//   *    <prefix>/api/*                   → the API, token attached
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import { resolveOptions, type BffOptions, type ResolvedOptions } from './options.ts';
import { createSealer } from './sealed.ts';
import { newBindingId, sessionCookies, type Session, type SignInState, type Tokens } from './session-cookies.ts';
import { authorizationServer, isInvalidGrant, isUnavailable } from './authorization-server.ts';
import { crossSiteRefusal } from './same-origin.ts';
import { redirect, sendError, sendJson } from './respond.ts';
import { forward, targetUrl, type Credentials } from './api-proxy.ts';
import { dpopKeyring, resourceProof } from './dpop.ts';
import { createTokenStore } from './token-store.ts';
import { endedSessionKey, endedSubjectKey, type BffStore } from './store.ts';
import { backchannelLogoutReceiver } from './backchannel-logout.ts';

export interface Bff {
  /** Answers a request under the BFF's prefix and resolves true; resolves false for any other path (the app's). Never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  readonly prefix: string;
}

/** Why there is no usable sign-in: the request is answered with 401 login_required (cookies cleared when `clear`). */
class LoginRequired extends Error {
  constructor(readonly description: string, readonly clear: boolean) {
    super(description);
  }
}

/** Answered with the status given (502, 503), the cookies kept: the authorization server or the store is down, or refused us. */
class UpstreamFailure extends Error {
  constructor(readonly status: number, readonly description: string) {
    super(description);
  }
}

/**
 * A return_to is a path on the app's origin: `/…`, never `//host` or
 * `/\host` (which browsers read as another origin), and printable ASCII
 * only (a Location header carries nothing else; percent-encode the rest).
 */
const SAFE_RETURN_TO = /^\/(?![/\\])[\x21-\x5b\x5d-\x7e]*$/;

/** The store, its failures answered 503 (the cookies kept) and reported to onError. */
function unavailableAs503(store: BffStore, onError?: (err: unknown) => void): BffStore {
  const guard = <T>(call: () => Promise<T>): Promise<T> => call().catch((err: unknown) => {
    onError?.(err);
    throw new UpstreamFailure(503, 'the session store is unavailable');
  });
  return {
    get: (key) => guard(() => store.get(key)),
    set: (key, value, ttl) => guard(() => store.set(key, value, ttl)),
    add: (key, value, ttl) => guard(() => store.add(key, value, ttl)),
    delete: (key) => guard(() => store.delete(key)),
  };
}

export function createBff(options: BffOptions): Bff {
  const o = resolveOptions(options);
  const now = Date.now;
  const cookies = sessionCookies(createSealer(o.secrets), { prefix: o.prefix, secure: o.secure, now, tokenStore: o.tokenStorage === 'store' ? createTokenStore(unavailableAs503(o.store!, o.onError), now) : undefined });
  const server = authorizationServer(o);
  // Two tabs asking at the same moment present the same refresh token:
  // one refresh, shared, rather than a second one that would look like reuse.
  const refreshing = new Map<string, Promise<oidc.TokenEndpointResponse>>();
  // DPoP: the keys, and openid-client's handle for the first (it keeps the server's DPoP nonces), made once per discovered configuration.
  const dpopKeys = o.dpop ? dpopKeyring(o.secrets) : undefined;
  let dpopHandle: { config: oidc.Configuration; handle: oidc.DPoPHandle } | undefined;
  async function dpopOptions(config: oidc.Configuration): Promise<oidc.DPoPOptions> {
    if (!dpopKeys) return {};
    if (dpopHandle?.config !== config) dpopHandle = { config, handle: oidc.getDPoPHandle(config, (await dpopKeys())[0]!.keyPair) };
    return { DPoP: dpopHandle.handle };
  }
  /** The key a token is bound to, among the secrets' keys; undefined when none of them. */
  const dpopKeyFor = async (jkt: string) => (await dpopKeys?.())?.find((k) => k.jkt === jkt);
  const backchannelLogout = backchannelLogoutReceiver({ clientId: o.clientId, store: o.store, sessionLifetime: o.sessionLifetime, server, now, onError: o.onError });

  async function route(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '/api' || path.startsWith('/api/')) {
      if (!o.apiTarget) return sendError(res, 404, 'not_found', 'no API is configured behind this BFF');
      return proxy(req, res, path.slice('/api'.length), url.search);
    }
    const routes: Record<string, [string, () => Promise<void>]> = {
      '/login': ['GET', () => login(res, url)],
      '/callback': ['GET', () => callback(req, res, url)],
      '/session': ['GET', () => session(req, res)],
      '/token': ['POST', () => token(req, res)],
      '/logout': ['POST', () => logout(req, res)],
      '/backchannel-logout': ['POST', () => backchannelLogout(req, res)],
    };
    const found = routes[path];
    if (!found) return sendError(res, 404, 'not_found', 'no such BFF endpoint');
    if (method !== found[0]) return sendJson(res, 405, { error: 'method_not_allowed', error_description: `use ${found[0]}` }, [], { allow: found[0] });
    // The back-channel logout comes from the authorization server, not a
    // browser: no cookie is read, the signed logout token is its proof.
    if (method === 'POST' && path !== '/backchannel-logout') {
      const refusal = crossSiteRefusal(req, o.appOrigin);
      if (refusal) return sendError(res, 403, 'forbidden', refusal);
    }
    return found[1]();
  }

  async function login(res: ServerResponse, url: URL) {
    const returnTo = url.searchParams.get('return_to') ?? '/';
    if (!SAFE_RETURN_TO.test(returnTo)) return sendError(res, 400, 'invalid_request', 'return_to must be a path on this site');
    const config = await server();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const parameters: Record<string, string> = {
      redirect_uri: o.redirectUri.href, scope: o.scope, state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      // OpenID Connect Core §11: offline_access (a refresh token) is granted with prompt=consent only;
      // an authorization server skips the page for a first-party client.
      ...(o.scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
    };
    // PAR (RFC 9126): the request's parameters go to the server directly,
    // authenticated as this client; the browser carries a reference only.
    const par = o.par ?? Boolean(config.serverMetadata().pushed_authorization_request_endpoint);
    const bind = await dpopOptions(config);
    // DPoP: the code is bound to the BFF's key (RFC 9449 §10), by the pushed request's proof or by dpop_jkt.
    if (dpopKeys && !par) parameters.dpop_jkt = (await dpopKeys())[0]!.jkt;
    let location: URL;
    try {
      location = par ? await oidc.buildAuthorizationUrlWithPAR(config, parameters, bind) : oidc.buildAuthorizationUrl(config, parameters);
    } catch (err) {
      if (isUnavailable(err)) throw new UpstreamFailure(503, 'the authorization server is unavailable');
      o.onError(err);
      throw new UpstreamFailure(502, 'the authorization server refused the sign-in request');
    }
    redirect(res, location.href, [await cookies.writeLogin({ state, nonce, verifier, returnTo })]);
  }

  async function callback(req: IncomingMessage, res: ServerResponse, url: URL) {
    const transaction = await cookies.readLogin(req.headers.cookie);
    // The sign-in in progress is good for one callback: cleared whatever happens.
    const cleared = [cookies.clearLogin()];
    if (!transaction) {
      return sendError(res, 400, 'invalid_request', 'no sign-in is in progress in this browser (a replayed, foreign or expired callback)', cleared);
    }
    const config = await server();
    // The URL as registered (not as the Host header says) with the parameters received.
    const current = new URL(o.redirectUri);
    current.search = url.search;
    let response: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      // idTokenExpected: openid-client refuses a response without an ID token (the session is the ID token's).
      response = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: transaction.verifier, expectedState: transaction.state, expectedNonce: transaction.nonce, idTokenExpected: true }, undefined, await dpopOptions(config));
    } catch (err) {
      if (isUnavailable(err)) return sendError(res, 503, 'temporarily_unavailable', 'the authorization server is unavailable', cleared);
      const known = err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError;
      // An error in the redirect (access_denied, login_required) is the person's to see; a refused code exchange
      // (the client's registration: DPoP required, a wrong secret) or anything else (an ID token that does not
      // validate, a clock skew) is the operator's too. A replayed callback never gets here (no sign-in cookie).
      if (!(err instanceof oidc.AuthorizationResponseError)) o.onError(err);
      const error = known ? err.error : 'invalid_request';
      return sendError(res, 400, error, 'the sign-in could not be completed', cleared);
    }
    if (!response.refresh_token) {
      o.onError(new Error('tollgate/bff: the authorization server issued no refresh token: the client needs the refresh_token grant and the offline_access scope'));
      return sendError(res, 502, 'server_error', 'the sign-in gave no refresh token', cleared);
    }
    const claims = response.claims()!; // idTokenExpected above
    const profile = await profileOf(config, response, claims);
    const session: Session = {
      bid: newBindingId(),
      sub: claims.sub,
      sid: typeof claims.sid === 'string' ? claims.sid : undefined,
      ...profile,
      idToken: response.id_token,
      // "Remember me": persistent cookies unless the ID token says false.
      // An ID token without the claim (servers that do not send it) counts
      // as remembered, as every sign-in was before the claim existed.
      remember: claims.remember_me !== false,
      expiresAt: now() + o.sessionLifetime * 1000,
      signedInAt: now(),
    };
    const tokens = await tokensOf(response);
    redirect(res, transaction.returnTo, [...cleared, ...await cookies.write(session, tokens)]);
  }

  /**
   * The name and e-mail shown by /session: from the ID token when it has
   * them, else from userinfo, once, at sign-in (a code-flow ID token carries
   * no profile claims at servers that follow OpenID Connect Core §5.4 to the
   * letter, as oidc-provider does by default). Without them if userinfo fails.
   */
  async function profileOf(config: oidc.Configuration, response: oidc.TokenEndpointResponse, claims: oidc.IDToken): Promise<{ name?: string; email?: string }> {
    const pick = (source: Record<string, unknown>) => ({
      ...(typeof source.name === 'string' ? { name: source.name } : {}),
      ...(typeof source.email === 'string' ? { email: source.email } : {}),
    });
    const fromIdToken = pick(claims);
    const scopes = o.scope.split(' ');
    const wanted = (scopes.includes('profile') && !fromIdToken.name) || (scopes.includes('email') && !fromIdToken.email);
    if (!wanted || !config.serverMetadata().userinfo_endpoint) return fromIdToken;
    try {
      // The DPoP scheme for a DPoP-bound token only (RFC 9449 §7.1): a server that answered `Bearer` gets a bearer token.
      const bound = response.token_type.toLowerCase() === 'dpop' ? await dpopOptions(config) : {};
      return { ...pick(await oidc.fetchUserInfo(config, response.access_token, claims.sub, bound)), ...fromIdToken };
    } catch {
      return fromIdToken;
    }
  }

  async function tokensOf(response: oidc.TokenEndpointResponse, previous?: Tokens): Promise<Tokens> {
    // token_type DPoP: bound to the key openid-client's handle proved, the first secret's.
    const bound = dpopKeys && response.token_type.toLowerCase() === 'dpop' ? (await dpopKeys())[0]!.jkt : undefined;
    return {
      // A server that does not rotate (FAPI 2.0 clients) sends none: the old one stays good.
      refreshToken: response.refresh_token ?? previous!.refreshToken,
      accessToken: response.access_token,
      accessTokenExpiresAt: now() + (response.expires_in ?? 60) * 1000,
      ...(bound ? { accessTokenJkt: bound } : {}),
    };
  }

  /** The signed-in state, or LoginRequired. */
  async function signedIn(req: IncomingMessage, read?: SignInState) {
    const state = read ?? await cookies.read(req.headers.cookie);
    if (state.kind === 'none') throw new LoginRequired('nobody is signed in', false);
    if (state.kind === 'bad') throw new LoginRequired('the session cookies are not valid here', true);
    if (o.store) {
      // Ended from the server (back-channel logout): this login session, or every session of the person begun before then.
      const { sid, sub, signedInAt } = state.session;
      let ended: [string | undefined, string | undefined];
      try {
        ended = await Promise.all([sid ? o.store.get(endedSessionKey(sid)) : undefined, o.store.get(endedSubjectKey(sub))]);
      } catch (err) {
        o.onError(err);
        throw new UpstreamFailure(503, 'the session store is unavailable');
      }
      const [sessionEnded, subjectEndedAt] = ended;
      if (sessionEnded || (subjectEndedAt !== undefined && signedInAt <= Number(subjectEndedAt))) throw new LoginRequired('the session has ended', true);
    }
    return state;
  }

  /** A fresh access token for the sign-in, refreshing (and rotating the refresh cookie) when the cached one is near expiry. */
  async function accessToken(session: Session, tokens: Tokens): Promise<{ token: string; expiresAt: number; jkt?: string; cookies: string[] }> {
    // A cached token bound to a key no longer held (its cookie secret dropped) is of no use: refreshed as an expiring one.
    const keyHeld = !tokens.accessTokenJkt || Boolean(await dpopKeyFor(tokens.accessTokenJkt));
    if (tokens.accessToken && tokens.accessTokenExpiresAt && tokens.accessTokenExpiresAt - now() > o.refreshWithin * 1000 && keyHeld) {
      return { token: tokens.accessToken, expiresAt: tokens.accessTokenExpiresAt, jkt: tokens.accessTokenJkt, cookies: [] };
    }
    const config = await server();
    const bind = await dpopOptions(config);
    // No await between looking for a refresh in flight and starting one: two requests would both start one (reuse).
    let pending = refreshing.get(tokens.refreshToken);
    if (!pending) {
      pending = oidc.refreshTokenGrant(config, tokens.refreshToken, undefined, bind);
      refreshing.set(tokens.refreshToken, pending);
      const forget = () => refreshing.delete(tokens.refreshToken);
      pending.then(forget, forget);
    }
    let response: oidc.TokenEndpointResponse;
    try {
      response = await pending;
    } catch (err) {
      // invalid_grant: revoked (logout, forced logout), expired, or reused
      // (a stolen copy of the cookie was used, and the family is revoked).
      if (isInvalidGrant(err)) throw new LoginRequired('the sign-in has ended', true);
      if (isUnavailable(err)) throw new UpstreamFailure(503, 'the authorization server is unavailable');
      o.onError(err);
      throw new UpstreamFailure(502, 'the authorization server refused the refresh');
    }
    const fresh = await tokensOf(response, tokens);
    const newIdToken = response.id_token && response.id_token !== session.idToken;
    const write = () => (newIdToken ? cookies.write({ ...session, idToken: response.id_token }, fresh) : cookies.writeTokens(session, fresh));
    let written: string[];
    try {
      // Store mode: a logout while the refresh was under way deleted the entry; writing it back would undo the logout.
      if (!await cookies.held(session)) throw new LoginRequired('the sign-in ended while it was being refreshed', true);
      written = await write().catch(write);
    } catch (err) {
      // The rotated refresh token could not be kept (the store failed twice, or the sign-in ended):
      // the previous one is spent, so this sign-in cannot go on. The new one is revoked rather than left live.
      if (response.refresh_token) await oidc.tokenRevocation(config, response.refresh_token, { token_type_hint: 'refresh_token' }).catch(() => {});
      if (err instanceof LoginRequired || !response.refresh_token) throw err;
      throw new LoginRequired('the session store failed to keep the refreshed tokens: sign in again', true);
    }
    return { token: fresh.accessToken!, expiresAt: fresh.accessTokenExpiresAt!, jkt: fresh.accessTokenJkt, cookies: written };
  }

  async function token(req: IncomingMessage, res: ServerResponse) {
    // A DPoP-bound token is of no use to the page, which does not hold the key.
    if (o.dpop) return sendError(res, 400, 'invalid_request', `access tokens are bound to this BFF's DPoP key: call the API through ${o.prefix}/api/*`);
    const { session, tokens } = await signedIn(req);
    const fresh = await accessToken(session, tokens);
    sendJson(res, 200, { access_token: fresh.token, expires_in: Math.max(0, Math.floor((fresh.expiresAt - now()) / 1000)) }, fresh.cookies);
  }

  async function session(req: IncomingMessage, res: ServerResponse) {
    const state = await cookies.read(req.headers.cookie);
    if (state.kind === 'none') return sendJson(res, 200, { signedIn: false });
    const { session: s } = await signedIn(req, state);
    sendJson(res, 200, { signedIn: true, sub: s.sub, ...(s.name ? { name: s.name } : {}), ...(s.email ? { email: s.email } : {}) });
  }

  async function logout(req: IncomingMessage, res: ServerResponse) {
    // The cookies are cleared whatever happens: logging out here never fails, even with the store down.
    const state = await cookies.read(req.headers.cookie).catch(() => ({ kind: 'none' as const }));
    const signed = state.kind === 'signed-in' ? state : undefined;
    if (signed) await cookies.forget(signed.session).catch(() => {});
    let config: oidc.Configuration | undefined;
    let revoked = false;
    try {
      config = await server();
      if (signed) {
        // RFC 7009: the refresh token (and with it, at Tollgate, its family)
        // and the cached access token are revoked at the server, not only forgotten here.
        await oidc.tokenRevocation(config, signed.tokens.refreshToken, { token_type_hint: 'refresh_token' });
        revoked = true;
        if (signed.tokens.accessToken) await oidc.tokenRevocation(config, signed.tokens.accessToken, { token_type_hint: 'access_token' }).catch(() => {});
      }
    } catch (err) {
      // The cookies are cleared all the same: logging out here never fails.
      o.onError(err);
    }
    sendJson(res, 200, { logoutUrl: logoutUrl(config, signed?.session), revoked }, cookies.clear());
  }

  /** OpenID Connect RP-Initiated Logout 1.0 §2: the end-session URL, or the post-logout page when the server has none. */
  function logoutUrl(config: oidc.Configuration | undefined, s: Session | undefined): string {
    const fallback = (o.postLogoutRedirectUri ?? new URL('/', o.appOrigin)).href;
    if (!config?.serverMetadata().end_session_endpoint) return fallback;
    return oidc.buildEndSessionUrl(config, {
      client_id: o.clientId,
      ...(s?.idToken ? { id_token_hint: s.idToken } : {}),
      ...(o.postLogoutRedirectUri ? { post_logout_redirect_uri: o.postLogoutRedirectUri.href } : {}),
    }).href;
  }

  /** The Authorization (and DPoP) headers for a call to the API: a bound token goes with a proof of its key (RFC 9449 §7.1). */
  async function credentialsFor(method: string, url: URL, token: { token: string; jkt?: string }): Promise<Credentials> {
    if (!token.jkt) return { authorization: `Bearer ${token.token}` };
    const key = await dpopKeyFor(token.jkt);
    // accessToken() refreshes a token whose key is gone: never sent as a bearer token (RFC 9449 §7.1).
    if (!key) throw new Error('tollgate/bff: no key for a DPoP-bound access token');
    return { authorization: `DPoP ${token.token}`, dpop: await resourceProof(key, method, url, token.token) };
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, rest: string, search: string) {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      const refusal = crossSiteRefusal(req, o.appOrigin);
      if (refusal) return sendError(res, 403, 'forbidden', refusal);
    }
    const { session: s, tokens } = await signedIn(req);
    const fresh = await accessToken(s, tokens);
    const url = targetUrl(o.apiTarget!, rest, search);
    // Never the token to another host or outside the API's path (`/api//other.example/…`).
    if (!url) return sendError(res, 400, 'invalid_request', 'the path does not name a resource of the API', fresh.cookies);
    await forward(req, res, url, await credentialsFor(req.method ?? 'GET', url, fresh), fresh.cookies);
  }

  return {
    prefix: o.prefix,
    async handle(req, res) {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://bff.invalid');
      } catch {
        return false;
      }
      if (url.pathname !== o.prefix && !url.pathname.startsWith(`${o.prefix}/`)) return false;
      try {
        await route(req, res, url.pathname.slice(o.prefix.length), url);
      } catch (err) {
        if (res.headersSent) {
          res.destroy();
        } else if (err instanceof LoginRequired) {
          const isSession = url.pathname === `${o.prefix}/session`;
          sendError(res, 401, 'login_required', err.description, err.clear ? cookies.clear() : [], isSession ? { signedIn: false } : {});
        } else if (err instanceof UpstreamFailure) {
          sendError(res, err.status, err.status === 503 ? 'temporarily_unavailable' : 'bad_gateway', err.description);
        } else {
          if (isUnavailable(err)) {
            sendError(res, 503, 'temporarily_unavailable', 'the authorization server is unavailable');
          } else {
            o.onError(err);
            sendError(res, 500, 'server_error', 'the BFF failed');
          }
        }
      }
      return true;
    },
  };
}
