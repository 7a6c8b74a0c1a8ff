// Pushed Authorization Requests (RFC 9126): a client POSTs its
// authorization parameters to the PAR endpoint and sends the browser with
// the request_uri alone. Clients are openid-client (buildAuthorizationUrlWithPAR)
// and oauth4webapi, libraries we did not write; the person signs in through
// the hosted pages, which must read the pushed parameters. REQUIRE_PAR
// (every client) and `require_pushed_authorization_requests` (one client,
// RFC 9126 §6) refuse plain authorization requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { insecure } from '../support/dpop.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'par-web-client-secret-0123456789abcdefgh';
const ada = { email: 'ada@example.test', password: PASSWORD };

/** Pushes the request with openid-client; the URL the browser is sent to, and what the callback check needs. */
async function pushedRequest(rp: oidc.Configuration, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
    redirect_uri: REDIRECT, scope: 'openid email', state, nonce: 'n-0S6_WzA2Mj',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  return { url, verifier, state };
}

/** The error code a plain authorization request is answered with: on Tollgate's error page, or at the client's redirect URI. */
function refusal(page: { url: string; status: number; body: string }): string | undefined {
  if (page.url.startsWith(REDIRECT)) return new URL(page.url).searchParams.get('error') ?? undefined;
  return /\b(invalid_request_uri|invalid_request|unauthorized_client)\b/.exec(page.body)?.[1];
}

describe('PAR (RFC 9126), optional by default', () => {
  let t: TestTollgate;

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.accounts.create({ email: ada.email, password: PASSWORD });
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], firstParty: true, scope: 'openid email offline_access basic' });
    await t.tollgate.clients.register({ id: 'spa', public: true, redirectUris: [REDIRECT], firstParty: true, scope: 'openid email basic' });
    await t.tollgate.clients.register({ id: 'strict', secret: SECRET, redirectUris: [REDIRECT], firstParty: true, scope: 'openid email', requirePar: true });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('discovery advertises the PAR endpoint, and does not require it', async () => {
    const discovery = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    assert.equal(discovery.pushed_authorization_request_endpoint, `${t.issuer}/request`);
    assert.equal(discovery.require_pushed_authorization_requests, undefined);
  });

  test('openid-client pushes the request; the hosted pages sign in with the pushed parameters', async () => {
    const rp = await relyingParty(t, 'web', SECRET);
    const { url, verifier, state } = await pushedRequest(rp, { scope: 'openid email basic' });
    // The browser carries only the client_id and the request_uri (RFC 9126 §4).
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.match(url.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
    const page = await logInWith(new UserAgent(), url, ada);
    assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: 'n-0S6_WzA2Mj' });
    assert.equal(tokens.claims()?.email, ada.email);
    // The pushed scope, not a default, reached the token.
    assert.deepEqual(String(decodeJwt(tokens.access_token).scope).split(' ').sort(), ['basic', 'email', 'openid']);
  });

  test('a request_uri is short-lived and good for one authorization response: used again, it is refused', async () => {
    const rp = await relyingParty(t, 'web', SECRET);
    const par = await fetch(`${t.issuer}/request`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`web:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }),
    });
    assert.equal(par.status, 201, await par.clone().text());
    // oidc-provider's lifetime for a pushed request: 60 seconds (RFC 9126 §2.2 "short-lived").
    assert.equal(((await par.json()) as { expires_in: number }).expires_in, 60);

    const { url } = await pushedRequest(rp);
    const agent = new UserAgent();
    const first = await logInWith(agent, url, ada);
    assert.ok(first.url.startsWith(REDIRECT) && new URL(first.url).searchParams.has('code'), first.url);
    // The same request_uri again, even in the browser that is still signed in: refused.
    const again = await agent.navigate(url.href, {}, REDIRECT);
    assert.equal(refusal(again), 'invalid_request_uri', `${again.status} ${again.url} ${again.body.slice(0, 300)}`);
    // An unknown one too.
    const forged = new URL(url);
    forged.searchParams.set('request_uri', 'urn:ietf:params:oauth:request_uri:not-issued');
    assert.equal(refusal(await new UserAgent().navigate(forged.href, {}, REDIRECT)), 'invalid_request_uri');
  });

  test('oauth4webapi: a public client pushes its request and completes the flow', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(t.issuer), await oauth.discoveryRequest(new URL(t.issuer), { ...insecure, algorithm: 'oidc' }));
    const client: oauth.Client = { client_id: 'spa' };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const pushed = await oauth.pushedAuthorizationRequest(as, client, oauth.None(), {
      redirect_uri: REDIRECT, response_type: 'code', scope: 'openid email', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, insecure);
    const { request_uri } = await oauth.processPushedAuthorizationResponse(as, client, pushed);
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: 'spa', request_uri }).toString();
    const page = await logInWith(new UserAgent(), url, ada);
    assert.ok(page.url.startsWith(REDIRECT), page.url);
    const params = oauth.validateAuthResponse(as, client, new URL(page.url), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: oauth.expectNoNonce, requireIdToken: true });
    assert.equal(tokens.token_type, 'bearer');
  });

  test('a client registered with require_pushed_authorization_requests: a plain request is refused, a pushed one works', async () => {
    const rp = await relyingParty(t, 'strict', SECRET);
    const plain = await new UserAgent().navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
    assert.equal(refusal(plain), 'invalid_request', `${plain.status} ${plain.url} ${plain.body.slice(0, 300)}`);
    const { url } = await pushedRequest(rp);
    assert.ok((await logInWith(new UserAgent(), url, ada)).url.startsWith(REDIRECT));
    // Other clients are not affected.
    const other = await new UserAgent().navigate((await authorizationRequest(await relyingParty(t, 'web', SECRET))).url.href, {}, REDIRECT);
    assert.equal(other.status, 200);
  });

  test('the admin API sets and clears the requirement; the client view always states it', async () => {
    assert.equal((await t.tollgate.clients.get('web')).require_pushed_authorization_requests, false);
    assert.equal((await t.tollgate.clients.get('strict')).require_pushed_authorization_requests, true);
    const rp = await relyingParty(t, 'strict', SECRET);
    await t.tollgate.clients.update('strict', { require_pushed_authorization_requests: false });
    const plain = await new UserAgent().navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
    assert.equal(plain.status, 200, 'the login page');
    await t.tollgate.clients.update('strict', { require_pushed_authorization_requests: true });
    assert.equal(refusal(await new UserAgent().navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT)), 'invalid_request');
  });
});

describe('REQUIRE_PAR=true', () => {
  let t: TestTollgate;

  before(async () => {
    t = await startTestTollgate({ env: { REQUIRE_PAR: 'true' } });
    await t.tollgate.accounts.create({ email: ada.email, password: PASSWORD });
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], firstParty: true, scope: 'openid email' });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('discovery says PAR is required (RFC 9126 §5)', async () => {
    const discovery = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    assert.equal(discovery.require_pushed_authorization_requests, true);
    assert.equal(discovery.pushed_authorization_request_endpoint, `${t.issuer}/request`);
  });

  test('a plain authorization request is refused with invalid_request; a pushed one signs in', async () => {
    const rp = await relyingParty(t, 'web', SECRET);
    const plain = await new UserAgent().navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
    assert.equal(refusal(plain), 'invalid_request', `${plain.status} ${plain.url} ${plain.body.slice(0, 300)}`);
    const { url, verifier, state } = await pushedRequest(rp);
    const page = await logInWith(new UserAgent(), url, ada);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: 'n-0S6_WzA2Mj' });
    assert.equal(tokens.claims()?.email, ada.email);
  });
});
