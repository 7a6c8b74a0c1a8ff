// The round trip to an upstream provider (issue 15, point 2), through
// openid-client (panva's relying-party library, the same author as
// oidc-provider): discovery, the authorization URL, the code exchange and the
// ID token's validation (signature from the upstream's JWKS, `iss`, `aud`,
// `nonce`, `exp`, `iat`) are the library's, none of it hand-written here.
//   begin     the authorization URL, with what the callback must check:
//             authorization code + PKCE (S256) + state, and a nonce where the
//             upstream speaks OpenID Connect
//   complete  the callback's URL → the person as the upstream states them
//             (`sub`, e-mail and whether it vouches for it, name, when
//             they authenticated there)
// A client's demand for a fresh sign-in (prompt=login, max_age) is passed on
// to an OpenID Connect upstream (prompt=login, max_age, and `auth_time`
// checked against it): otherwise the upstream's own session would answer
// silently and Tollgate would stamp a new auth_time on an old sign-in.
// An ID token from the token endpoint has its signature checked too
// (`enableNonRepudiationChecks`): openid-client otherwise relies on TLS for it
// (OpenID Connect Core §3.1.3.7), which would let a token signed by a key that
// is not in the upstream's JWKS through.
// GitHub and Naver speak OAuth 2.0 without ID tokens: the person is their
// user API's answer, and for GitHub the verified primary address from its
// e-mails API (the profile's `email` is only the public one, and unverified).
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { TollgateError } from '../errors.ts';
import type { ResolvedProvider } from './providers.ts';
import { createUpstreamFetch, UPSTREAM_TIMEOUT_MS } from './upstream-fetch.ts';

/** What the callback must check, kept by the browser (sealed) between begin and complete. */
export interface RoundTripChecks {
  state: string;
  codeVerifier: string;
  /** OpenID Connect upstreams only. */
  nonce?: string;
  /** The client's max_age, passed on: the ID token's auth_time must be within it. */
  maxAge?: number;
}

/** What the client asked of the sign-in, passed on to the upstream where it speaks OpenID Connect. */
export interface ReauthenticationRequest {
  /** prompt=login, or a max_age the session did not meet: the person must authenticate at the upstream again. */
  reauthenticate?: boolean;
  maxAge?: number;
}

/** The person as the upstream states them. */
export interface UpstreamIdentity {
  sub: string;
  /** Lower-cased; null when the upstream shares none. */
  email: string | null;
  /** Only what the upstream itself says: `email_verified: true`, GitHub's `verified`. */
  emailVerified: boolean;
  name: string | null;
  /** When the person authenticated at the upstream (its ID token's `auth_time`, seconds), if it says. */
  authTime?: number;
}

/** Why a round trip failed; each has its own page (views/locales: federation.failed.<reason>). */
export type UpstreamFailure =
  | 'denied' // the person (or the upstream) said no: error=access_denied
  | 'upstream_error' // any other error the upstream sent back to the callback
  | 'state_mismatch' // the callback is not the answer to our request
  | 'unreachable' // network error or no answer within the timeout
  | 'invalid_response' // an ID token that fails validation, a token or user API answer that is not what the protocol says
  | 'no_subject'; // the user API named no one

export class UpstreamSignInError extends TollgateError {
  constructor(readonly reason: UpstreamFailure, message: string) {
    super('upstream_sign_in_failed', message, 502, false);
  }
}

export interface UpstreamSignIn {
  begin(provider: ResolvedProvider, request?: ReauthenticationRequest): Promise<{ url: URL; checks: RoundTripChecks }>;
  complete(provider: ResolvedProvider, callbackUrl: URL, checks: RoundTripChecks): Promise<UpstreamIdentity>;
}

export interface UpstreamSignInOptions {
  allowPrivateNetworkFetch: boolean;
  timeoutMs?: number;
  /** How long a discovery document is reused before it is fetched again. */
  discoveryTtlMs?: number;
}

export function createUpstreamSignIn(options: UpstreamSignInOptions): UpstreamSignIn {
  const fetch = createUpstreamFetch(options);
  const timeoutSeconds = Math.max(1, Math.ceil((options.timeoutMs ?? UPSTREAM_TIMEOUT_MS) / 1000));
  const discoveryTtlMs = options.discoveryTtlMs ?? 10 * 60_000;
  /** Discovery documents by issuer: a sign-in should not cost one more request each time. */
  const discovered = new Map<string, { at: number; metadata: oidc.ServerMetadata }>();

  /** Plain http is allowed for loopback outside production only (federation/upstream-urls.ts checked it when the provider was added). */
  const insecure = (provider: ResolvedProvider) => [provider.issuer, provider.authorizationEndpoint, provider.tokenEndpoint, provider.userinfoEndpoint, provider.jwksUri]
    .some((url) => url?.startsWith('http:'));

  const clientAuthentication = (provider: ResolvedProvider, metadata: oidc.ServerMetadata) => {
    // client_secret_post where the upstream lists it (Kakao asks for it; GitHub and Naver take only it), else Basic (RFC 6749 §2.3.1's MUST).
    const methods = metadata.token_endpoint_auth_methods_supported;
    return provider.protocol === 'oauth2' || methods?.includes('client_secret_post')
      ? oidc.ClientSecretPost(provider.clientSecret)
      : oidc.ClientSecretBasic(provider.clientSecret);
  };

  async function serverMetadata(provider: ResolvedProvider): Promise<oidc.ServerMetadata> {
    const overrides = {
      ...(provider.authorizationEndpoint ? { authorization_endpoint: provider.authorizationEndpoint } : {}),
      ...(provider.tokenEndpoint ? { token_endpoint: provider.tokenEndpoint } : {}),
      ...(provider.userinfoEndpoint ? { userinfo_endpoint: provider.userinfoEndpoint } : {}),
      ...(provider.jwksUri ? { jwks_uri: provider.jwksUri } : {}),
    };
    if (provider.protocol === 'oauth2') {
      // No discovery and no ID token: the issuer only names the server (RFC 9207's `iss`, which these do not send).
      return { issuer: new URL(provider.authorizationEndpoint!).origin, ...overrides };
    }
    const issuer = provider.issuer!;
    const cached = discovered.get(issuer);
    if (cached && Date.now() - cached.at < discoveryTtlMs) return { ...cached.metadata, ...overrides };
    const execute = insecure(provider) ? [oidc.allowInsecureRequests] : [];
    const config = await oidc.discovery(new URL(issuer), provider.clientId, undefined, undefined, { execute, timeout: timeoutSeconds, [oidc.customFetch]: fetch });
    // serverMetadata() adds a helper method; keep the document only.
    const { supportsPKCE: _helper, ...metadata } = config.serverMetadata();
    discovered.set(issuer, { at: Date.now(), metadata });
    return { ...metadata, ...overrides };
  }

  /**
   * One openid-client Configuration per provider while the provider is
   * unchanged and its discovery fresh: the library keeps the upstream's JWKS
   * on it, so a sign-in does not fetch the keys again (a key it has not seen,
   * after a rotation upstream, makes the library fetch them anew).
   */
  const configurations = new Map<string, { fingerprint: string; at: number; config: oidc.Configuration }>();

  async function configuration(provider: ResolvedProvider): Promise<oidc.Configuration> {
    // The secret is part of what must match, and stays in this process's memory only as it already does.
    const fingerprint = createHash('sha256').update(JSON.stringify(provider)).digest('base64url');
    const cached = configurations.get(provider.id);
    if (cached && cached.fingerprint === fingerprint && Date.now() - cached.at < discoveryTtlMs) return cached.config;
    const config = await newConfiguration(provider);
    configurations.set(provider.id, { fingerprint, at: Date.now(), config });
    return config;
  }

  async function newConfiguration(provider: ResolvedProvider): Promise<oidc.Configuration> {
    let metadata: oidc.ServerMetadata;
    try {
      metadata = await serverMetadata(provider);
    } catch (err) {
      throw failure(err);
    }
    const config = new oidc.Configuration(metadata, provider.clientId, undefined, clientAuthentication(provider, metadata));
    config[oidc.customFetch] = fetch;
    config.timeout = timeoutSeconds;
    if (insecure(provider)) oidc.allowInsecureRequests(config);
    if (provider.protocol === 'oidc') oidc.enableNonRepudiationChecks(config);
    return config;
  }

  return {
    async begin(provider, request = {}) {
      const config = await configuration(provider);
      const openId = provider.protocol === 'oidc';
      const checks: RoundTripChecks = {
        state: oidc.randomState(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
        ...(openId ? { nonce: oidc.randomNonce() } : {}),
        ...(openId && request.maxAge !== undefined ? { maxAge: request.maxAge } : {}),
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: provider.redirectUri,
        ...(provider.scope ? { scope: provider.scope } : {}),
        state: checks.state,
        ...(checks.nonce ? { nonce: checks.nonce } : {}),
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
        // OpenID Connect Core §3.1.2.1. GitHub and Naver have no such parameter.
        ...(openId && request.reauthenticate ? { prompt: 'login' } : {}),
        ...(checks.maxAge !== undefined ? { max_age: String(checks.maxAge) } : {}),
      });
      return { url, checks };
    },

    async complete(provider, callbackUrl, checks) {
      const config = await configuration(provider);
      try {
        const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          ...(provider.protocol === 'oidc' ? { expectedNonce: checks.nonce, idTokenExpected: true, ...(checks.maxAge !== undefined ? { maxAge: checks.maxAge } : {}) } : {}),
        }, tokenRequestExtras(provider, checks));
        return provider.protocol === 'oidc'
          ? await openIdIdentity(config, tokens)
          : await oauth2Identity(config, provider, tokens.access_token);
      } catch (err) {
        throw failure(err);
      }
    },
  };
}

/**
 * Parameters a preset's token endpoint wants beyond RFC 6749 §4.1.3: Naver's
 * token request carries the authorization request's `state`
 * (https://developers.naver.com/docs/login/api/api.md, "접근 토큰 발급 요청":
 * state is required) and is refused without it.
 */
function tokenRequestExtras(provider: ResolvedProvider, checks: RoundTripChecks): Record<string, string> | undefined {
  return provider.type === 'naver' ? { state: checks.state } : undefined;
}

/** The person from a validated ID token, with userinfo's e-mail when the ID token has none (Google, Kakao put it in the ID token). */
async function openIdIdentity(config: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<UpstreamIdentity> {
  const claims = tokens.claims()!;
  checkSubject(claims.sub);
  let stated: Record<string, unknown> = claims;
  if (typeof claims.email !== 'string' && config.serverMetadata().userinfo_endpoint) {
    // The library checks userinfo's `sub` against the ID token's (OpenID Connect Core §5.3.2).
    stated = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)), sub: claims.sub };
  }
  return {
    sub: claims.sub,
    email: typeof stated.email === 'string' ? stated.email.trim().toLowerCase() : null,
    emailVerified: stated.email_verified === true,
    name: typeof stated.name === 'string' ? stated.name : typeof stated.nickname === 'string' ? stated.nickname : null,
    ...(typeof claims.auth_time === 'number' ? { authTime: claims.auth_time } : {}),
  };
}

/** GitHub (/user, /user/emails) and Naver (/v1/nid/me): their documented answers. */
async function oauth2Identity(config: oidc.Configuration, provider: ResolvedProvider, accessToken: string): Promise<UpstreamIdentity> {
  const get = async (url: string, options: { notFound?: unknown } = {}): Promise<unknown> => {
    const response = await oidc.fetchProtectedResource(config, accessToken, new URL(url), 'GET', undefined, new Headers({ accept: 'application/json' }));
    if (response.status === 404 && 'notFound' in options) return options.notFound;
    if (!response.ok) throw new UpstreamSignInError('invalid_response', `${provider.id}: its user API answered ${response.status}`);
    return response.json();
  };
  if (provider.type === 'github') {
    // https://docs.github.com/en/rest/users/users#get-the-authenticated-user: `id` is a number, the stable identifier (`login` can change).
    const user = await get(provider.userinfoEndpoint!) as { id?: unknown; name?: unknown; login?: unknown };
    if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new UpstreamSignInError('no_subject', `${provider.id}: its user API named no user id`);
    checkSubject(String(user.id));
    // https://docs.github.com/en/rest/users/emails: the primary address, vouched for only when `verified`.
    // A token without the user:email scope (an operator's --scope without it) is answered 404 there, as
    // GitHub answers where a token may not look: no address shared, which the person is told, not a failure.
    const emails = provider.emailsEndpoint ? await get(provider.emailsEndpoint, { notFound: [] }) : [];
    const primary = Array.isArray(emails) ? emails.find((e: { primary?: unknown }) => e?.primary === true) as { email?: unknown; verified?: unknown } | undefined : undefined;
    return {
      sub: String(user.id),
      email: typeof primary?.email === 'string' ? primary.email.trim().toLowerCase() : null,
      emailVerified: primary?.verified === true,
      name: typeof user.name === 'string' ? user.name : typeof user.login === 'string' ? user.login : null,
    };
  }
  // Naver: https://developers.naver.com/docs/login/profile/profile.md. It states no verification of the address.
  const answer = await get(provider.userinfoEndpoint!) as { resultcode?: unknown; response?: { id?: unknown; email?: unknown; name?: unknown; nickname?: unknown } };
  const person = answer.response;
  if (answer.resultcode !== '00' || typeof person?.id !== 'string' || !person.id) throw new UpstreamSignInError('no_subject', `${provider.id}: its user API named no member id`);
  checkSubject(person.id);
  return {
    sub: person.id,
    email: typeof person.email === 'string' ? person.email.trim().toLowerCase() : null,
    emailVerified: false,
    name: typeof person.name === 'string' ? person.name : typeof person.nickname === 'string' ? person.nickname : null,
  };
}

/**
 * An identifier we can store and compare: OpenID Connect Core §2 caps `sub`
 * at 255 ASCII characters; anything else (a NUL, which PostgreSQL refuses,
 * a megabyte) is the upstream's error, answered with its page, not a 500.
 */
function checkSubject(sub: string): void {
  if (!sub || sub.length > 255 || !/^[\x20-\x7e]+$/.test(sub)) throw new UpstreamSignInError('no_subject', 'the upstream named a subject that is not 1 to 255 printable ASCII characters');
}

/** openid-client's and fetch's errors as the reason a person is shown. Never the upstream's text verbatim on the page. */
function failure(err: unknown): UpstreamSignInError {
  if (err instanceof UpstreamSignInError) return err;
  const e = err as { name?: string; code?: string; error?: string; message?: string; cause?: unknown };
  if (err instanceof oidc.AuthorizationResponseError) {
    return new UpstreamSignInError(e.error === 'access_denied' ? 'denied' : 'upstream_error', `the upstream answered the authorization with ${e.error}`);
  }
  // openid-client wraps oauth4webapi's error ('unexpected "state" response parameter value') as "invalid response encountered": the reason is in the cause.
  if (e.code === 'OAUTH_INVALID_RESPONSE' && /"state"/.test(causeOf(err))) return new UpstreamSignInError('state_mismatch', causeOf(err));
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || (e.name === 'TypeError' && e.message === 'fetch failed') || e.code === 'OAUTH_TIMEOUT') {
    return new UpstreamSignInError('unreachable', `the upstream did not answer: ${causeOf(err)}`);
  }
  // The upstream refused the code exchange (an expired code, a wrong client secret): its error, not a failed check of ours.
  if (err instanceof oidc.ResponseBodyError) return new UpstreamSignInError('upstream_error', `the upstream refused the code exchange: ${e.error}`);
  return new UpstreamSignInError('invalid_response', `${e.code ?? e.name ?? 'error'}: ${e.message ?? String(err)}`);
}

function causeOf(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i += 1) if (e.message) parts.push(e.message);
  return parts.join(': ');
}
