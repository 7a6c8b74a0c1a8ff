// Signs a person in through the hosted pages with a cookie-keeping HTTP
// agent, as openid-client's third-party app: authorization request with
// PKCE, login form, consent, callback, code exchange.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { TestTollgate } from './tollgate.ts';
import { UserAgent } from './user-agent.ts';

export const REDIRECT = 'https://app.example.test/callback';

/** The resource indicator of Tollgate's admin API, whose tokens are good there only. */
export const adminResource = (t: { issuer: string }) => `${t.issuer}/admin/v1`;

/** `resource` (RFC 8707) asks for a token for that resource, e.g. the admin API (adminResource). */
export async function signIn(t: TestTollgate, options: { clientId: string; secret?: string; email: string; password: string; scope: string; resource?: string }) {
  const config = await oidc.discovery(new URL(t.issuer), options.clientId, options.secret, options.secret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: options.scope, state,
    // OpenID Connect Core §11: offline_access counts only with prompt=consent.
    ...(options.scope.includes('offline_access') ? { prompt: 'consent' } : {}),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...(options.resource ? { resource: options.resource } : {}),
  });
  const agent = new UserAgent();
  const login = await agent.navigate(url.href, {}, REDIRECT);
  assert.equal(login.status, 200, login.body.slice(0, 300));
  let page = await agent.submit(login, '/login', { login: options.email, password: options.password }, REDIRECT);
  if (page.status === 200 && page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
  assert.ok(page.url.startsWith(REDIRECT), `expected a redirect to the client, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state }, options.resource ? { resource: options.resource } : undefined);
  return { config, tokens, agent };
}


export type RP = oidc.Configuration;

/** openid-client configured as a client of this Tollgate. */
export function relyingParty(t: TestTollgate, clientId: string, secret?: string): Promise<RP> {
  return oidc.discovery(new URL(t.issuer), clientId, secret, secret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] });
}

/** An authorization request URL with PKCE, state and nonce, plus what the callback check needs. */
export async function authorizationRequest(config: RP, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid email', state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** Runs the login form (and consent, if asked) in `agent`; returns the final page or the client callback. */
export async function logInWith(agent: UserAgent, url: URL, credentials: { email: string; password: string }, consent = true) {
  let page = await agent.navigate(url.href, {}, REDIRECT);
  if (page.status === 200 && page.body.includes('name="password"')) {
    page = await agent.submit(page, '/login', { login: credentials.email, password: credentials.password }, REDIRECT);
  }
  if (consent && page.status === 200 && page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
  return page;
}
