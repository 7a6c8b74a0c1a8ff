// What the BFF keeps in the browser, in sealed cookies (sealed.ts):
//   session: who signed in (sub, name, email), the login session's `sid`
//            (so a deny-list of ended sessions can be checked) and the ID
//            token (the id_token_hint of RP-initiated logout);
//   refresh: the refresh token;
//   access:  the access token and its expiry, cached so that not every
//            call costs a refresh;
//   login:   a sign-in in progress (state, nonce, PKCE verifier).
// Three cookies for one sign-in rather than one, so that each stays well
// under the 4 KB a browser keeps (an ID token and an access token are each
// around 1 KB; sealing adds a third). The three carry one random binding id
// (`bid`), so cookies of two sign-ins cannot be mixed. A sign-in lasts at
// most `sessionLifetime`; its cookies are persistent (Max-Age) only when
// the person asked to be remembered, else they end with the browser.
//
// With `tokenStorage: 'store'` the tokens stay on the server instead: the
// refresh and access cookies are not written, and the session cookie's
// binding id names the store entry that holds them (token-store.ts). Deleting
// the entry ends the sign-in at once; the browser holds no token at all,
// not even sealed.
import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { clearedCookie, MAX_COOKIE_BYTES, parseCookies, serializeCookie, type CookieAttributes } from './cookies.ts';
import type { Sealer } from './sealed.ts';
import type { TokenStore } from './token-store.ts';

export interface Session {
  /** Binds the session, refresh and access cookies of one sign-in together. */
  bid: string;
  sub: string;
  sid?: string;
  name?: string;
  email?: string;
  /** Dropped when it would not fit in the cookie: logout then goes without id_token_hint. */
  idToken?: string;
  /** Persistent cookies (the ID token's `remember_me`). */
  remember: boolean;
  /** When the sign-in ends at the latest, ms since the epoch. */
  expiresAt: number;
  /** When the person signed in, ms since the epoch: a back-channel logout of the whole subject ends the sessions begun before it. */
  signedInAt: number;
}

export interface Tokens {
  refreshToken: string;
  accessToken?: string;
  /** ms since the epoch */
  accessTokenExpiresAt?: number;
  /** A DPoP-bound access token: the thumbprint of the BFF's key it is bound to (`cnf.jkt`). */
  accessTokenJkt?: string;
}

export interface LoginTransaction {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

/** No sign-in; a sign-in; or cookies that cannot be trusted (tampered, foreign, mixed, sealed with a retired key, expired). */
export type SignInState = { kind: 'none' } | { kind: 'bad' } | { kind: 'signed-in'; session: Session; tokens: Tokens };

/** The sign-in in progress lasts 10 minutes at most. */
const LOGIN_LIFETIME = 600;

export function newBindingId(): string {
  return randomBytes(16).toString('base64url');
}

export interface SessionCookies {
  read(cookieHeader: string | undefined): Promise<SignInState>;
  /** Set-Cookie lines writing a whole sign-in (after the callback, or a refresh that brought a new ID token). */
  write(session: Session, tokens: Tokens): Promise<string[]>;
  /** Set-Cookie lines writing the tokens only (a refresh). */
  writeTokens(session: Session, tokens: Tokens): Promise<string[]>;
  /** Set-Cookie lines deleting every cookie of the BFF. */
  clear(): string[];
  /** Forgets the sign-in's tokens on the server (store mode; nothing in cookie mode). */
  forget(session: Session): Promise<void>;
  /** Whether the server still holds the sign-in's tokens (store mode: not forgotten by a logout meanwhile; always true in cookie mode). */
  held(session: Session): Promise<boolean>;
  readLogin(cookieHeader: string | undefined): Promise<LoginTransaction | undefined>;
  hasLogin(cookieHeader: string | undefined): boolean;
  writeLogin(login: LoginTransaction): Promise<string>;
  clearLogin(): string;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** `tokenStore`: keep the tokens there (store mode) rather than in cookies. */
export function sessionCookies(sealer: Sealer, settings: { prefix: string; secure: boolean; now: () => number; tokenStore?: TokenStore }): SessionCookies {
  const { tokenStore } = settings;
  // `__Secure-` (RFC 6265bis §4.1.3.1): a browser accepts the cookie only
  // with Secure, from a secure origin. (`__Host-` would also forbid a Path
  // other than `/`, and these cookies must reach the BFF's path only.)
  const namePrefix = settings.secure ? '__Secure-' : '';
  const names = { session: `${namePrefix}tollgate-bff-session`, refresh: `${namePrefix}tollgate-bff-refresh`, access: `${namePrefix}tollgate-bff-access`, login: `${namePrefix}tollgate-bff-login` };
  const strict: Omit<CookieAttributes, 'maxAge'> = { path: settings.prefix, secure: settings.secure, sameSite: 'Strict' };
  // The callback is a top-level navigation from the authorization server's
  // site: a Strict cookie would not be sent with it, a Lax one is.
  const lax: Omit<CookieAttributes, 'maxAge'> = { ...strict, sameSite: 'Lax' };

  const maxAgeOf = (session: Session) => (session.remember ? { maxAge: (session.expiresAt - settings.now()) / 1000 } : {});

  async function sealedCookie(name: string, claims: JWTPayload, session: Session): Promise<string> {
    return serializeCookie(name, await sealer.seal(name, claims, session.expiresAt), { ...strict, ...maxAgeOf(session) });
  }

  async function writeTokens(session: Session, tokens: Tokens): Promise<string[]> {
    if (tokenStore) {
      await tokenStore.write(session, tokens);
      return [];
    }
    const lines = [await sealedCookie(names.refresh, { bid: session.bid, rt: tokens.refreshToken }, session)];
    if (tokens.accessToken && tokens.accessTokenExpiresAt) {
      const access = await sealedCookie(names.access, { bid: session.bid, at: tokens.accessToken, ate: tokens.accessTokenExpiresAt, jkt: tokens.accessTokenJkt }, session);
      // Too long to keep: no cache, each token request refreshes instead.
      lines.push(Buffer.byteLength(access) <= MAX_COOKIE_BYTES ? access : clearedCookie(names.access, strict));
    }
    return lines;
  }

  /** The tokens of sign-in `bid` from its refresh and access cookies; undefined when they are missing, not ours or of another sign-in. */
  async function cookieTokens(bid: string, refreshValue: string | undefined, accessValue: string | undefined): Promise<Tokens | undefined> {
    if (refreshValue === undefined) return undefined;
    const [r, a] = await Promise.all([
      sealer.open(names.refresh, refreshValue),
      accessValue === undefined ? undefined : sealer.open(names.access, accessValue),
    ]);
    const rt = str(r?.rt);
    if (!r || !rt || r.bid !== bid || (accessValue !== undefined && (!a || a.bid !== bid))) return undefined;
    const tokens: Tokens = { refreshToken: rt };
    if (a && typeof a.at === 'string' && typeof a.ate === 'number') {
      tokens.accessToken = a.at;
      tokens.accessTokenExpiresAt = a.ate;
      if (typeof a.jkt === 'string') tokens.accessTokenJkt = a.jkt;
    }
    return tokens;
  }

  return {
    async read(header) {
      const cookies = parseCookies(header);
      const [sessionValue, refreshValue, accessValue] = [cookies.get(names.session), cookies.get(names.refresh), cookies.get(names.access)];
      if (sessionValue === undefined && refreshValue === undefined && accessValue === undefined) return { kind: 'none' };
      if (sessionValue === undefined) return { kind: 'bad' };
      const s = await sealer.open(names.session, sessionValue);
      const bid = str(s?.bid);
      const sub = str(s?.sub);
      if (!s || !bid || !sub || typeof s.exp !== 'number') return { kind: 'bad' };
      const tokens = tokenStore ? await tokenStore.read(bid) : await cookieTokens(bid, refreshValue, accessValue);
      if (!tokens) return { kind: 'bad' };
      const session: Session = {
        bid, sub, sid: str(s.sid), name: str(s.name), email: str(s.email), idToken: str(s.idt),
        remember: s.rem === true, expiresAt: s.exp * 1000,
        // Cookies sealed before the claim existed count as the oldest sign-in.
        signedInAt: typeof s.sia === 'number' ? s.sia : 0,
      };
      return { kind: 'signed-in', session, tokens };
    },

    async write(session, tokens) {
      const claims = { bid: session.bid, sub: session.sub, sid: session.sid, name: session.name, email: session.email, rem: session.remember, sia: session.signedInAt };
      let line = await sealedCookie(names.session, { ...claims, idt: session.idToken }, session);
      // An unusually large ID token: keep the session without it.
      if (Buffer.byteLength(line) > MAX_COOKIE_BYTES) line = await sealedCookie(names.session, claims, session);
      return [line, ...await writeTokens(session, tokens)];
    },

    writeTokens,

    clear() {
      return [names.session, names.refresh, names.access].map((name) => clearedCookie(name, strict));
    },

    async forget(session) {
      await tokenStore?.forget(session);
    },

    async held(session) {
      return !tokenStore || tokenStore.held(session);
    },

    async readLogin(header) {
      const value = parseCookies(header).get(names.login);
      const claims = value === undefined ? undefined : await sealer.open(names.login, value);
      if (!claims) return undefined;
      const [state, nonce, verifier, returnTo] = [str(claims.state), str(claims.nonce), str(claims.verifier), str(claims.returnTo)];
      return state && nonce && verifier && returnTo ? { state, nonce, verifier, returnTo } : undefined;
    },

    hasLogin(header) {
      return parseCookies(header).has(names.login);
    },

    async writeLogin(login) {
      const value = await sealer.seal(names.login, { ...login }, settings.now() + LOGIN_LIFETIME * 1000);
      return serializeCookie(names.login, value, { ...lax, maxAge: LOGIN_LIFETIME });
    },

    clearLogin() {
      return clearedCookie(names.login, lax);
    },
  };
}
