// An issuer with a path (ISSUER=https://example.com/id): every endpoint, page
// and API of Tollgate lives below it, and nothing of ours answers outside it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { freePort } from '../support/ports.ts';
import { UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty, type RP } from '../support/sign-in.ts';
import { adminCalls } from '../support/admin.ts';

const PASSWORD = 'correct horse battery';

describe('an issuer with a path', () => {
  let t: TestTollgate;
  let origin: string;
  let web: RP;
  before(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = await startTestTollgate({ port, env: { ISSUER: `${origin}/id` } });
    await t.tollgate.clients.register({ id: 'web', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT], scope: 'openid email basic' });
    await t.tollgate.clients.register({ id: 'ops', secret: 'ops-client-secret-long-enough-0123456789', grantTypes: ['client_credentials'], scope: 'admin' });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, roles: ['admin'] });
    web = await relyingParty(t, 'web', 'web-client-secret-long-enough-0123456789');
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('discovery, the hosted login, the code exchange and userinfo are all below the path', async () => {
    assert.equal(t.issuer, `${origin}/id`);
    const metadata = web.serverMetadata();
    for (const endpoint of [metadata.authorization_endpoint, metadata.token_endpoint, metadata.userinfo_endpoint, metadata.jwks_uri]) {
      assert.ok(endpoint?.startsWith(`${t.issuer}/`), endpoint);
    }
    const agent = new UserAgent();
    const request = await authorizationRequest(web, { scope: 'openid email basic' });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.equal(login.status, 200);
    assert.ok(login.url.startsWith(`${t.issuer}/interaction/`), login.url);
    assert.match(login.body, new RegExp(`action="/id/interaction/[^"]+/login"`));
    assert.match(login.body, /href="\/id\/assets\/tollgate\.css"/);
    const callback = await logInWith(agent, request.url, { email: 'ada@example.test', password: PASSWORD });
    const tokens = await oidc.authorizationCodeGrant(web, new URL(callback.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    const info = await oidc.fetchUserInfo(web, tokens.access_token, tokens.claims()!.sub);
    assert.equal(info.email, 'ada@example.test');
    const posted = await fetch(`${t.issuer}/me`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: tokens.access_token }) });
    assert.equal(posted.status, 200);
  });

  test('an authorization request by POST is answered 303 to the same request by GET, below the path', async () => {
    const request = await authorizationRequest(web);
    const res = await fetch(`${t.issuer}/auth`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: request.url.searchParams.toString(),
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `/id/auth?${request.url.searchParams.toString()}`);
  });

  test('health, the stylesheet, the account page and the admin API are below the path; the root has none of them', async () => {
    assert.equal((await fetch(`${t.issuer}/healthz`)).status, 200);
    assert.equal((await fetch(`${t.issuer}/readyz`)).status, 200);
    const css = await fetch(`${t.issuer}/assets/tollgate.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    const account = await fetch(`${t.issuer}/account`, { redirect: 'manual' });
    assert.equal(account.status, 303);
    assert.ok(account.headers.get('location')?.startsWith('/id/auth?'), account.headers.get('location') ?? '');
    assert.equal((await fetch(`${t.issuer}/admin/v1/openapi.json`)).status, 200);
    const { machineToken, api } = adminCalls(t);
    assert.equal((await api('GET', '/clients')).status, 401);
    const token = (await machineToken('ops', 'ops-client-secret-long-enough-0123456789', 'admin')).body.access_token;
    const clients = await api('GET', '/clients', { token });
    assert.equal(clients.status, 200, clients.text);
    for (const path of ['/healthz', '/assets/tollgate.css', '/account', '/admin/v1/openapi.json', '/me', '/.well-known/openid-configuration']) {
      assert.equal((await fetch(`${origin}${path}`, { redirect: 'manual' })).status, 404, path);
    }
  });
});
