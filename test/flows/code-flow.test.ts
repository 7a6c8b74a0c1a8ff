// The authorization code flow with PKCE through the hosted pages, driven by
// openid-client as the third-party app and a cookie-keeping HTTP agent as the
// person: roles and the `admin` scope are decided where tokens are issued.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { signIn } from '../support/sign-in.ts';

const REDIRECT = 'https://app.example.test/callback';

describe('authorization code flow', () => {
  let t: TestTollgate;
  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'webapp', secret: 'a-web-app-secret-that-is-long-enough-1234', redirectUris: [REDIRECT], scope: 'openid profile email offline_access basic admin' });
    await t.tollgate.clients.register({ id: 'spa', public: true, redirectUris: [REDIRECT], scope: 'openid email basic' });
    await t.tollgate.accounts.create({ email: 'admin@example.test', password: 'correct horse battery', name: 'Ada Admin', roles: ['admin'], organisation: 'acme' });
    await t.tollgate.accounts.create({ email: 'user@example.test', password: 'correct horse battery', name: 'Uma User' });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('an admin account gets admin; the token response states the granted scope', async () => {
    const { tokens, config } = await signIn(t, { clientId: 'webapp', secret: 'a-web-app-secret-that-is-long-enough-1234', email: 'admin@example.test', password: 'correct horse battery', scope: 'openid profile email offline_access basic admin' });
    // RFC 6749 §5.1: `scope` is the access token's: the API's scopes and the userinfo ones.
    assert.deepEqual(tokens.scope?.split(' ').sort(), ['admin', 'basic', 'email', 'openid', 'profile']);
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: t.issuer, audience: t.config.apiAudience, typ: 'at+jwt' });
    assert.deepEqual(String(payload.scope).split(' ').sort(), ['admin', 'basic', 'email', 'openid', 'profile']);
    assert.deepEqual(payload.roles, ['admin']);
    assert.equal(payload.org, 'acme', 'the organisation travels in the access token');
    assert.ok(tokens.refresh_token, 'offline_access yields a refresh token');
    assert.equal(decodeProtectedHeader(tokens.id_token!).alg, 'RS256');
    const claims = tokens.claims()!;
    assert.equal(claims.email, 'admin@example.test');
    assert.equal(claims.name, 'Ada Admin');
  });

  test('an account without the role never gets admin, even when the client asks for it', async () => {
    const { tokens } = await signIn(t, { clientId: 'webapp', secret: 'a-web-app-secret-that-is-long-enough-1234', email: 'user@example.test', password: 'correct horse battery', scope: 'openid basic admin' });
    assert.equal(tokens.scope, 'openid basic');
    assert.equal(decodeJwt(tokens.access_token).scope, 'openid basic');
    assert.deepEqual(decodeJwt(tokens.access_token).roles, []);
    assert.equal(decodeJwt(tokens.access_token).org, undefined, 'no organisation, no claim');
  });

  test('admin is withheld at issuance once the role is gone, even though the grant and refresh token hold it', async () => {
    const email = 'demoted@example.test';
    const account = await t.tollgate.accounts.create({ email, password: 'correct horse battery', roles: ['admin'] });
    const { tokens, config } = await signIn(t, { clientId: 'webapp', secret: 'a-web-app-secret-that-is-long-enough-1234', email, password: 'correct horse battery', scope: 'openid offline_access basic admin' });
    assert.equal(decodeJwt(tokens.access_token).scope, 'openid basic admin');

    await t.tollgate.repositories.accounts.update(account.id, { roles: [] });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    assert.equal(decodeJwt(refreshed.access_token).scope, 'openid basic');
    assert.deepEqual(decodeJwt(refreshed.access_token).roles, []);
    assert.equal(refreshed.scope, 'openid basic');
  });

  test('a public client signs in with PKCE and is refused without it', async () => {
    const { tokens } = await signIn(t, { clientId: 'spa', email: 'user@example.test', password: 'correct horse battery', scope: 'openid email basic' });
    assert.ok(tokens.access_token);
    const res = await fetch(`${t.issuer}/auth?${new URLSearchParams({ client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT })}`, { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.match(location.searchParams.get('error_description')!, /PKCE/);
  });

  test('implicit and hybrid response types are refused', async () => {
    for (const responseType of ['token', 'id_token', 'code id_token']) {
      const res = await fetch(`${t.issuer}/auth?${new URLSearchParams({ client_id: 'webapp', response_type: responseType, scope: 'openid', redirect_uri: REDIRECT, nonce: 'n' })}`, { redirect: 'manual' });
      const location = res.headers.get('location');
      const error = location ? new URL(location.replace('#', '?')).searchParams.get('error') : (await res.text()).match(/unsupported_response_type/)?.[0];
      assert.equal(error, 'unsupported_response_type', responseType);
    }
  });

  test('a wrong password re-renders the form with one message and 401', async () => {
    const config = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const agent = new UserAgent();
    const login = await agent.navigate(url.href, {}, REDIRECT);
    const wrong = await agent.submit(login, '/login', { login: 'user@example.test', password: 'wrong password' }, REDIRECT);
    const unknown = await agent.submit(login, '/login', { login: 'nobody@example.test', password: 'wrong password' }, REDIRECT);
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    const message = (body: string) => body.match(/role="alert">([^<]*)</)?.[1];
    assert.equal(message(wrong.body), message(unknown.body));
    assert.match(wrong.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  });

  test('an unknown client or unregistered redirect URI is shown at Tollgate, escaped, never redirected', async () => {
    for (const params of [
      { client_id: '<script>alert(1)</script>', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT },
      { client_id: 'webapp', response_type: 'code', scope: 'openid', redirect_uri: 'https://evil.example/cb' },
    ]) {
      const res = await fetch(`${t.issuer}/auth?${new URLSearchParams(params)}`, { redirect: 'manual' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      const html = await res.text();
      assert.match(html, /Something went wrong/);
      assert.doesNotMatch(html, /<script>/);
    }
  });
});
