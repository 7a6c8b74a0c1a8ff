// Signs a person in through the hosted pages with a cookie-keeping HTTP
// agent, as openid-client's third-party app: authorization request with
// PKCE, login form, consent, callback, code exchange.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { TestTollgate } from './tollgate.ts';
import { UserAgent } from './user-agent.ts';

export const REDIRECT = 'https://app.example.test/callback';

export async function signIn(t: TestTollgate, options: { clientId: string; secret?: string; email: string; password: string; scope: string }) {
  const config = await oidc.discovery(new URL(t.issuer), options.clientId, options.secret, options.secret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: options.scope, state,
    // OpenID Connect Core §11: offline_access counts only with prompt=consent.
    ...(options.scope.includes('offline_access') ? { prompt: 'consent' } : {}),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const agent = new UserAgent();
  const login = await agent.navigate(url.href, {}, REDIRECT);
  assert.equal(login.status, 200, login.body.slice(0, 300));
  let page = await agent.submit(login, '/login', { login: options.email, password: options.password }, REDIRECT);
  if (page.status === 200 && page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
  assert.ok(page.url.startsWith(REDIRECT), `expected a redirect to the client, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state });
  return { config, tokens, agent };
}

