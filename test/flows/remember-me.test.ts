// "Keep me signed in" (issue 18, point 1) over HTTP, with openid-client as
// the relying party and a cookie-keeping agent as the browser, as Keycloak
// or Auth0 users know it:
// - unchecked, Tollgate's session cookie is a browser-session cookie (no
//   Expires, no Max-Age); checked, it lasts up to SESSION_TTL;
// - ID tokens say which (`remember_me`), from the code exchange and after
//   every refresh, so a backend-for-frontend can pick its own cookie's lifetime;
// - every way of signing in honours the box: password, password and a second
//   factor, a passkey alone, a social sign-in through a real upstream
//   provider (its own process), sign-up; a later sign-in in the same browser
//   decides anew;
// - REMEMBER_ME_DEFAULT=true starts the box checked;
// - the account page says of each session whether it is remembered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { TOTP, Secret } from 'otpauth';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { decodeEntities, hostScopedFetch, UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, relyingParty, type RP } from '../support/sign-in.ts';
import { SoftwareAuthenticator } from '../support/software-authenticator.ts';
import { adminCalls } from '../support/admin.ts';
import { startUpstreamOp, type UpstreamOp } from '../support/upstream-op.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'remember-me-client-secret-0123456789abcdef';
const UPSTREAM_SECRET = 'upstream-secret-for-remember-me-Hq3Vb8Xw';
const SCOPE = 'openid email offline_access';
const KIM = { sub: 'corp-kim', email: 'kim@corp.example', email_verified: true, name: 'Kim Corp' };

/** The code an authenticator app shows `offset` steps from now (the step of enrolment is spent). */
const codeAt = (secret: string, offset: number) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offset * 30_000 });

/**
 * A browser (cookies per host) whose every Set-Cookie line from Tollgate is
 * kept: the agent itself keeps only names and values, and what matters here
 * is the attributes.
 */
function browser(issuer: string, headers: Record<string, string> = {}) {
  const host = new URL(issuer).host;
  const lines: string[] = [];
  const perHost = hostScopedFetch();
  const send = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await perHost(input, init);
    if (new URL(input instanceof Request ? input.url : input).host === host) lines.push(...res.headers.getSetCookie());
    return res;
  }) as typeof fetch;
  return {
    agent: new UserAgent(headers, send),
    /** The last `_session` cookie Tollgate set (not a deletion). */
    sessionCookie: () => lines.filter((l) => l.startsWith('_session=') && !/expires=Thu, 01 Jan 1970/i.test(l)).at(-1),
  };
}
type Browser = ReturnType<typeof browser>;

/**
 * Whether the cookie outlives the browser; when it does, it must last as the
 * session does: one idle period (SESSION_IDLE_TTL's default, 3 days; a session
 * slides within SESSION_TTL), not some other time.
 */
const SESSION_COOKIE_DAYS = 3;
const persistent = (cookie: string | undefined) => {
  const expires = /;\s*expires=([^;]+)/i.exec(cookie ?? '')?.[1];
  if (!expires && !/;\s*max-age=/i.test(cookie ?? '')) return false;
  if (expires) {
    const days = (Date.parse(expires) - Date.now()) / 86_400_000;
    assert.ok(days > SESSION_COOKIE_DAYS - 0.1 && days <= SESSION_COOKIE_DAYS + 0.01, `the session cookie lasts ${days.toFixed(2)} days: ${cookie}`);
  }
  return true;
};

describe('"Keep me signed in"', () => {
  let t: TestTollgate;
  let op: UpstreamOp;
  let web: RP;
  /** Accounts with an authenticator app, by e-mail: their secrets (one sign-in each: a code is good once). */
  const totpSecrets = new Map<string, string>();
  let passkeyHolder: SoftwareAuthenticator;

  before(async () => {
    t = await startTestTollgate({ env: { SIGNUP_ENABLED: 'true', ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    op = await startUpstreamOp({
      clients: [{ clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, redirectUris: [`${t.issuer}/interaction/federated/corp/callback`] }],
      users: [KIM],
    });
    await t.tollgate.providers.add({ id: 'corp', type: 'oidc', issuer: op.issuer, clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, name: 'Corp', autoCreate: true, enabled: true });
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], scope: `${SCOPE} basic`, firstParty: true });
    web = await relyingParty(t, 'web', SECRET);
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    for (const email of ['gus@example.test', 'hal@example.test']) {
      const account = await t.tollgate.accounts.create({ email, password: PASSWORD });
      const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: account.id, email });
      assert.equal(await t.tollgate.mfa.confirmTotp(account.id, codeAt(enrolment.secret, 0)), 'ok');
      totpSecrets.set(email, enrolment.secret);
    }
    const pia = await t.tollgate.accounts.create({ email: 'pia@example.test', password: PASSWORD });
    passkeyHolder = new SoftwareAuthenticator({ origin: t.issuer });
    await t.tollgate.passkeys.register(pia.id, await passkeyHolder.create(await t.tollgate.passkeys.registrationOptions({ id: pia.id, email: pia.email, name: null })), 'Phone');
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await op?.close();
  });

  /** An authorization request, and its login page in `b`. */
  async function loginPage(b: Browser, params: Record<string, string> = {}) {
    const request = await authorizationRequest(web, { scope: SCOPE, prompt: 'consent', ...params });
    const page = await b.agent.navigate(request.url.href, {}, REDIRECT);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return { request, page };
  }

  /** Consent if asked, then the code exchange at the client's callback. */
  async function tokensFrom(b: Browser, request: Awaited<ReturnType<typeof authorizationRequest>>, reached: { url: string; status: number; body: string }) {
    const page = reached.status === 200 && reached.body.includes('/confirm') ? await b.agent.submit(reached, '/confirm', {}, REDIRECT) : reached;
    assert.ok(page.url.startsWith(REDIRECT), `expected the client's callback, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    return oidc.authorizationCodeGrant(web, new URL(page.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
  }

  /** The password form, with the box checked or not (an unchecked checkbox sends nothing). */
  async function withPassword(b: Browser, email: string, remember: boolean, params: Record<string, string> = {}) {
    const { request, page } = await loginPage(b, params);
    const reached = await b.agent.submit(page, '/login', { login: email, password: PASSWORD, ...(remember ? { remember: 'on' } : {}) }, REDIRECT);
    return tokensFrom(b, request, reached);
  }

  /** The cookie and the claim agree with the choice, and a refresh keeps the claim. */
  async function assertRemembered(b: Browser, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, remember: boolean) {
    assert.equal(persistent(b.sessionCookie()), remember, `session cookie: ${b.sessionCookie()}`);
    assert.equal(tokens.claims()!.remember_me, remember, 'the ID token of the code exchange');
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    assert.equal(refreshed.claims()!.remember_me, remember, 'the ID token after a refresh');
    const again = await oidc.refreshTokenGrant(web, refreshed.refresh_token!);
    assert.equal(again.claims()!.remember_me, remember, 'the ID token after a second refresh (the rotated token carries it on)');
  }

  test('the login page: the box, unchecked by default (REMEMBER_ME_DEFAULT=false), in English and Korean; discovery lists the claim', async () => {
    const { page } = await loginPage(browser(t.issuer));
    const box = page.body.match(/<input id="remember"[^>]*>/)?.[0];
    assert.ok(box, 'a checkbox named remember');
    assert.match(box, /type="checkbox"/);
    assert.match(box, /name="remember"/);
    assert.doesNotMatch(box, /checked/);
    assert.match(page.body, /Keep me signed in/);
    // The passkey and social forms carry a copy of the choice (remember-me.js keeps it equal to the box).
    const copies = [...page.body.matchAll(/<input type="hidden" name="remember" value="([^"]*)" data-remember>/g)].map((m) => m[1]);
    assert.deepEqual(copies, ['', ''], 'the passkey form and the one provider button');
    assert.match(page.body, /remember-me\.js/);
    const ko = await loginPage(browser(t.issuer), { ui_locales: 'ko' });
    assert.match(ko.page.body, /로그인 상태 유지/);
    const script = await fetch(`${t.issuer}/assets/remember-me.js`);
    assert.equal(script.status, 200);
    assert.match(await script.text(), /data-remember/);
    const discovery = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as { claims_supported: string[] };
    assert.ok(discovery.claims_supported.includes('remember_me'));
  });

  test('password, unchecked: a browser-session cookie (no Expires, no Max-Age), remember_me false, kept on refresh', async () => {
    const b = browser(t.issuer);
    await assertRemembered(b, await withPassword(b, 'ada@example.test', false), false);
  });

  test('password, checked: a cookie that lasts (Expires), remember_me true, kept on refresh', async () => {
    const b = browser(t.issuer);
    await assertRemembered(b, await withPassword(b, 'ada@example.test', true), true);
  });

  test('a wrong password keeps the box as it was checked', async () => {
    const b = browser(t.issuer);
    const { page } = await loginPage(b);
    const refused = await b.agent.submit(page, '/login', { login: 'ada@example.test', password: 'wrong', remember: 'on' }, REDIRECT);
    assert.equal(refused.status, 401);
    assert.match(refused.body.match(/<input id="remember"[^>]*>/)![0], /checked/);
    assert.deepEqual([...refused.body.matchAll(/name="remember" value="([^"]*)" data-remember/g)].map((m) => m[1]), ['on', 'on']);
  });

  test('a later sign-in in the same browser decides anew: unchecked, then checked with prompt=login', async () => {
    const b = browser(t.issuer);
    await assertRemembered(b, await withPassword(b, 'ada@example.test', false), false);
    await assertRemembered(b, await withPassword(b, 'ada@example.test', true, { prompt: 'login consent' }), true);
  });

  test('password and a second factor: the choice waits in the sealed first-factor state until the code is proven', async () => {
    for (const [remember, email] of [[false, 'gus@example.test'], [true, 'hal@example.test']] as const) {
      const b = browser(t.issuer);
      const { request, page } = await loginPage(b);
      const challenge = await b.agent.submit(page, '/login', { login: email, password: PASSWORD, ...(remember ? { remember: 'on' } : {}) }, REDIRECT);
      assert.ok(challenge.body.includes('/second-factor'), `the second-factor page, got ${challenge.status} ${challenge.body.slice(0, 300)}`);
      assert.equal(b.sessionCookie(), undefined, 'no session before the second factor');
      const reached = await b.agent.submit(challenge, '/second-factor', { method: 'code', code: codeAt(totpSecrets.get(email)!, 1) }, REDIRECT);
      const tokens = await tokensFrom(b, request, reached);
      assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
      await assertRemembered(b, tokens, remember);
    }
  });

  test('a passkey alone ("Sign in with a passkey"): its form\'s copy of the box decides', async () => {
    for (const remember of [false, true]) {
      const b = browser(t.issuer);
      const { request, page } = await loginPage(b);
      const form = page.body.match(/<form[^>]*data-passkey-sign-in[^>]*>/)![0];
      const options = JSON.parse(decodeEntities(form.match(/data-webauthn-options="([^"]*)"/)![1]!));
      const answer = await passkeyHolder.get(options);
      const reached = await b.agent.submit(page, '/passkey', { webauthn_response: JSON.stringify(answer), remember: remember ? 'on' : '' }, REDIRECT);
      await assertRemembered(b, await tokensFrom(b, request, reached), remember);
    }
  });

  test('a social sign-in: the choice goes to the upstream and back in the sealed round trip', async () => {
    for (const remember of [false, true]) {
      const b = browser(t.issuer);
      const { request, page } = await loginPage(b);
      const reached = await b.agent.submit(page, '/federated/corp', { remember: remember ? 'on' : '' }, REDIRECT);
      const tokens = await tokensFrom(b, request, reached);
      assert.deepEqual(tokens.claims()!.amr, ['fed']);
      await assertRemembered(b, tokens, remember);
    }
  });

  test('sign-up: the sign-up form has the box too', async () => {
    for (const remember of [false, true]) {
      const b = browser(t.issuer);
      const { request, page } = await loginPage(b);
      const signup = await b.agent.navigate(new URL(decodeEntities(page.body.match(/href="([^"]*signup)"/)![1]!), page.url).href);
      assert.match(signup.body, /<input id="remember" name="remember" type="checkbox" value="on">/);
      const reached = await b.agent.submit(signup, '/signup', { login: `new-${remember}@example.test`, password: PASSWORD, ...(remember ? { remember: 'on' } : {}) }, REDIRECT);
      await assertRemembered(b, await tokensFrom(b, request, reached), remember);
    }
  });

  test('the account page says of each session whether it is remembered, in English and Korean', async () => {
    // A remembered session elsewhere (an application), then the account page signed in without the box.
    await t.tollgate.accounts.create({ email: 'lou@example.test', password: PASSWORD });
    await withPassword(browser(t.issuer), 'lou@example.test', true);
    const b = browser(t.issuer);
    const callback = `${t.issuer}/account?`;
    const login = await b.agent.navigate(`${t.issuer}/account`, {}, callback);
    const back = await b.agent.submit(login, '/login', { login: 'lou@example.test', password: PASSWORD }, callback);
    assert.ok(back.url.startsWith(callback), `back at the account page, got ${back.status} ${back.url} ${back.body.slice(0, 300)}`);
    assert.equal(persistent(b.sessionCookie()), false);
    const page = await b.agent.navigate(back.url);
    assert.equal(page.status, 200);
    const items = [...page.body.matchAll(/<li class="item" data-session="[^"]*"( data-current="true")?>([\s\S]*?)<\/li>/g)];
    const current = items.find((m) => m[1]);
    const elsewhere = items.filter((m) => !m[1]);
    assert.ok(current && elsewhere.length === 1, `two sessions, one of them this browser's: ${items.length}`);
    assert.match(current[2]!, /data-remembered="false">Ends when the browser closes</);
    assert.match(elsewhere[0]![2]!, /data-remembered="true">Remembered</);
    const ko = await b.agent.navigate(`${t.issuer}/account`, { headers: { 'accept-language': 'ko' } });
    assert.match(ko.body, /브라우저를 닫으면 로그아웃됨/);
    assert.match(ko.body, /로그인 상태 유지 중/);

    // Operators see the same, through the admin API.
    const [lou] = await t.tollgate.accounts.list({ email: 'lou@example.test' });
    const opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    const { machineToken, api } = adminCalls(t);
    const token = (await machineToken('ops', opsSecret, 'admin')).body.access_token!;
    const listed = await api('GET', `/users/${lou!.id}/sessions`, { token });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual((listed.body.sessions as Array<{ remembered: boolean }>).map((x) => x.remembered).sort(), [false, true]);
  });
});

describe('"Keep me signed in" with REMEMBER_ME_DEFAULT=true', () => {
  let t: TestTollgate;
  let web: RP;

  before(async () => {
    t = await startTestTollgate({ env: { REMEMBER_ME_DEFAULT: 'true', SIGNUP_ENABLED: 'true' } });
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], scope: SCOPE, firstParty: true });
    web = await relyingParty(t, 'web', SECRET);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('the box starts checked on the login and sign-up pages, and the passkey form\'s copy says so', async () => {
    const request = await authorizationRequest(web, { scope: SCOPE });
    const agent = new UserAgent();
    const page = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.match(page.body.match(/<input id="remember"[^>]*>/)![0], /checked/);
    assert.deepEqual([...page.body.matchAll(/name="remember" value="([^"]*)" data-remember/g)].map((m) => m[1]), ['on']);
    const signup = await agent.navigate(new URL(decodeEntities(page.body.match(/href="([^"]*signup)"/)![1]!), page.url).href);
    assert.match(signup.body.match(/<input id="remember"[^>]*>/)![0], /checked/);
  });
});
