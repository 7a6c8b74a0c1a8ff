// The hosted pages and the OpenID Connect behaviour around them, exercised
// with openid-client as the relying party and a cookie-keeping HTTP agent as
// the person (test/e2e does the same in Chromium).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt, SignJWT, importJWK, type JWK } from 'jose';
import { startTestTollgate, removeDirs, withTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty, type RP } from '../support/sign-in.ts';
import { ipKey } from '../../server/services/login-throttle.ts';

const PASSWORD = 'correct horse battery';
const LOGOUT_REDIRECT = 'https://app.example.test/signed-out';

describe('hosted login and OpenID Connect behaviour', () => {
  let t: TestTollgate;
  let web: RP;
  let spa: RP;
  let firstParty: RP;
  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'web', name: 'Photo <Prints>', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT], postLogoutRedirectUris: [LOGOUT_REDIRECT], scope: 'openid profile email offline_access basic admin' });
    await t.tollgate.clients.register({ id: 'spa', public: true, redirectUris: [REDIRECT], scope: 'openid email basic' });
    await t.tollgate.clients.register({ id: 'ours', firstParty: true, secret: 'first-party-secret-long-enough-0123456789', redirectUris: [REDIRECT], scope: 'openid profile email offline_access basic', grantTypes: ['authorization_code', 'refresh_token'] });
    for (const email of ['ada@example.test', 'bob@example.test', 'cy@example.test', 'dee@example.test', 'eve@example.test', 'fay@example.test']) {
      await t.tollgate.accounts.create({ email, password: PASSWORD, name: email.split('@')[0] });
    }
    web = await relyingParty(t, 'web', 'web-client-secret-long-enough-0123456789');
    spa = await relyingParty(t, 'spa');
    firstParty = await relyingParty(t, 'ours', 'first-party-secret-long-enough-0123456789');
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  /** Clears the login counters a test left (its accounts', and its addresses', this machine's by default), so later tests start afresh. */
  const forget = (emails: string[], addresses = ['127.0.0.1']) =>
    Promise.all([...emails.map((email) => `account:${email}`), ...addresses.map(ipKey)].map((key) => t.tollgate.repositories.loginThrottle.reset(key)));

  const codeFrom = async (config: RP, callback: string, request: { verifier: string; state: string; nonce: string }, maxAge?: number) =>
    oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, ...(maxAge !== undefined ? { maxAge } : {}) });

  test('code flow: state, nonce and iss (RFC 9207) come back; userinfo accepts the JWT access token', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web, { scope: 'openid profile email basic' });
    const callback = await logInWith(agent, request.url, { email: 'ada@example.test', password: PASSWORD });
    const params = new URL(callback.url).searchParams;
    assert.equal(params.get('iss'), t.issuer);
    assert.equal(params.get('state'), request.state);
    const tokens = await codeFrom(web, callback.url, request);
    assert.equal(tokens.claims()!.nonce, request.nonce);
    const info = await oidc.fetchUserInfo(web, tokens.access_token, tokens.claims()!.sub);
    assert.equal(info.email, 'ada@example.test');
    assert.equal(info.email_verified, false);
    assert.equal(info.name, 'ada');
  });

  test('userinfo takes the token from a POST body too (RFC 6750 §2.2), never from the query', async () => {
    const request = await authorizationRequest(web, { scope: 'openid email basic' });
    const tokens = await codeFrom(web, (await logInWith(new UserAgent(), request.url, { email: 'ada@example.test', password: PASSWORD })).url, request);
    const posted = await fetch(`${t.issuer}/me`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: tokens.access_token }).toString() });
    assert.equal(posted.status, 200);
    assert.equal(((await posted.json()) as { email: string }).email, 'ada@example.test');
    const query = await fetch(`${t.issuer}/me?access_token=${tokens.access_token}`);
    assert.equal(query.status, 401);
  });

  test('userinfo releases only what the token\'s scopes allow', async () => {
    const request = await authorizationRequest(spa, { scope: 'openid basic' });
    const callback = await logInWith(new UserAgent(), request.url, { email: 'bob@example.test', password: PASSWORD });
    const tokens = await codeFrom(spa, callback.url, request);
    const info = await oidc.fetchUserInfo(spa, tokens.access_token, oidc.skipSubjectCheck);
    assert.deepEqual(Object.keys(info), ['sub']);
  });

  test('userinfo answers missing and bad tokens with 401 invalid_token and WWW-Authenticate', async () => {
    const key = await importJWK({ ...(t.tollgate.keys.privateJwks.keys.find((k) => k.alg === 'ES256') as JWK) }, 'ES256');
    const kid = t.tollgate.keys.privateJwks.keys.find((k) => k.alg === 'ES256')!.kid!;
    const now = Math.floor(Date.now() / 1000);
    const base = { iss: t.issuer, aud: t.config.apiAudience, sub: 'x', client_id: 'web', jti: 'j', scope: 'openid' };
    const expired = await new SignJWT({ ...base, iat: now - 7200, exp: now - 3600 }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(key);
    const wrongAud = await new SignJWT({ ...base, aud: 'https://other.example', iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(key);
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
    const none = `${header}.${Buffer.from(JSON.stringify({ ...base, iat: now, exp: now + 60 })).toString('base64url')}.`;
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /an access token is required/],
      ['Bearer abc.def.ghi', /malformed/],
      [`Bearer ${expired}`, /expired/],
      [`Bearer ${wrongAud}`, /aud/],
      [`Bearer ${none}`, /.+/],
      [`Bearer ${expired.slice(0, -4)}AAAA`, /.+/],
    ];
    for (const [authorization, description] of cases) {
      const res = await fetch(`${t.issuer}/me`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      const challenge = res.headers.get('www-authenticate') ?? '';
      // RFC 6750 §3.1: no error code in the challenge when no token was sent.
      if (authorization) assert.match(challenge, /^Bearer realm=".+", error="invalid_token", error_description=".+"/);
      // RFC 9449 §7.1: DPoP is offered beside Bearer.
      else assert.match(challenge, /^Bearer realm="[^"]+", DPoP realm="[^"]+", algs="[^"]+"$/);
      const body = (await res.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_token');
      assert.match(body.error_description, description);
    }
  });

  test('prompt=none: login_required without a session, a code with one', async () => {
    const agent = new UserAgent();
    const none = await authorizationRequest(web, { prompt: 'none' });
    const refused = await agent.navigate(none.url.href, {}, REDIRECT);
    assert.equal(new URL(refused.url).searchParams.get('error'), 'login_required');

    const first = await authorizationRequest(web);
    await logInWith(agent, first.url, { email: 'cy@example.test', password: PASSWORD });
    const silent = await authorizationRequest(web, { prompt: 'none' });
    const callback = await agent.navigate(silent.url.href, {}, REDIRECT);
    assert.ok(new URL(callback.url).searchParams.get('code'), callback.url);
  });

  test('consent is remembered per user and client across sessions; prompt=consent asks again', async () => {
    const first = await authorizationRequest(web);
    const firstPage = await logInWith(new UserAgent(), first.url, { email: 'dee@example.test', password: PASSWORD }, false);
    assert.match(firstPage.body, /\/confirm/, 'asked the first time');
    assert.match(firstPage.body, /Photo &lt;Prints&gt;/, 'the client name, escaped');
    await new UserAgent().navigate('about:blank').catch(() => undefined);

    const agent = new UserAgent();
    const once = await logInWith(agent, first.url, { email: 'dee@example.test', password: PASSWORD });
    assert.ok(once.url.startsWith(REDIRECT));
    const again = await authorizationRequest(web);
    const second = await logInWith(new UserAgent(), again.url, { email: 'dee@example.test', password: PASSWORD }, false);
    assert.ok(second.url.startsWith(REDIRECT), 'a new session, no consent page');

    const forced = await authorizationRequest(web, { prompt: 'consent' });
    const asked = await agent.navigate(forced.url.href, {}, REDIRECT);
    assert.match(asked.body, /\/confirm/);
  });

  test('a first-party client skips consent', async () => {
    const request = await authorizationRequest(firstParty, { scope: 'openid profile basic' });
    const callback = await logInWith(new UserAgent(), request.url, { email: 'eve@example.test', password: PASSWORD }, false);
    assert.ok(callback.url.startsWith(REDIRECT), callback.body.slice(0, 200));
    const tokens = await codeFrom(firstParty, callback.url, request);
    assert.equal(decodeJwt(tokens.access_token).scope, 'openid profile basic');
    // Asking for more later (same session, or a new one after a smaller grant) still skips consent.
    const agent = new UserAgent();
    const small = await authorizationRequest(firstParty, { scope: 'openid' });
    assert.ok((await logInWith(agent, small.url, { email: 'eve@example.test', password: PASSWORD }, false)).url.startsWith(REDIRECT));
    const more = await authorizationRequest(firstParty, { scope: 'openid profile email basic' });
    const sameSession = await agent.navigate(more.url.href, {}, REDIRECT);
    assert.ok(sameSession.url.startsWith(REDIRECT), sameSession.body.slice(0, 200));
    assert.equal(decodeJwt((await codeFrom(firstParty, sameSession.url, more)).access_token).scope, 'openid profile email basic');
    const fresh = await authorizationRequest(firstParty, { scope: 'openid email' });
    assert.ok((await logInWith(new UserAgent(), fresh.url, { email: 'eve@example.test', password: PASSWORD }, false)).url.startsWith(REDIRECT));
  });

  test('a first-party client skips consent under prompt=consent too, and gets its refresh token (offline_access needs prompt=consent)', async () => {
    const request = await authorizationRequest(firstParty, { scope: 'openid offline_access basic', prompt: 'consent' });
    const callback = await logInWith(new UserAgent(), request.url, { email: 'eve@example.test', password: PASSWORD }, false);
    assert.ok(callback.url.startsWith(REDIRECT), `no consent page: ${callback.body.slice(0, 200)}`);
    const tokens = await codeFrom(firstParty, callback.url, request);
    assert.ok(tokens.refresh_token, 'a refresh token');
    assert.equal(decodeJwt(tokens.access_token).scope, 'openid basic');
  });

  test('denying consent returns access_denied to the client', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web, { prompt: 'consent' });
    const consent = await logInWith(agent, request.url, { email: 'fay@example.test', password: PASSWORD }, false);
    const back = await agent.submit(consent, '/abort', {}, REDIRECT);
    const params = new URL(back.url).searchParams;
    assert.equal(params.get('error'), 'access_denied');
    assert.equal(params.get('state'), request.state);
  });

  test('prompt=login asks for the password again; max_age=0 too, and auth_time is in the ID token', async () => {
    const agent = new UserAgent();
    const first = await authorizationRequest(web);
    await logInWith(agent, first.url, { email: 'ada@example.test', password: PASSWORD });
    const extras: Array<Record<string, string>> = [{ prompt: 'login' }, { max_age: '0' }];
    for (const extra of extras) {
      const request = await authorizationRequest(web, extra);
      const page = await agent.navigate(request.url.href, {}, REDIRECT);
      assert.match(page.body, /name="password"/, JSON.stringify(extra));
      const callback = await agent.submit(page, '/login', { login: 'ada@example.test', password: PASSWORD }, REDIRECT);
      const tokens = await codeFrom(web, callback.url, request, extra.max_age ? 0 : undefined);
      assert.ok(typeof tokens.claims()!.auth_time === 'number');
    }
  });

  test('id_token_hint, acr_values, unknown parameters and POST authorization requests are accepted', async () => {
    const agent = new UserAgent();
    const first = await authorizationRequest(web);
    const callback = await logInWith(agent, first.url, { email: 'bob@example.test', password: PASSWORD });
    const tokens = await codeFrom(web, callback.url, first);

    const hinted = await authorizationRequest(web, { prompt: 'none', id_token_hint: tokens.id_token!, acr_values: 'urn:example:loa:1', unknown_param: 'ignored' });
    const silent = await agent.navigate(hinted.url.href, {}, REDIRECT);
    assert.ok(new URL(silent.url).searchParams.get('code'), silent.url);

    const posted = await authorizationRequest(web);
    const form = new URLSearchParams(posted.url.searchParams);
    const viaPost = await agent.navigate(`${t.issuer}/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }, REDIRECT);
    assert.ok(new URL(viaPost.url).searchParams.get('code'), `${viaPost.url} ${viaPost.status} ${viaPost.body.slice(0, 800)}`);

    // The 303 carries the parameters exactly as posted: names with brackets, repeats and order.
    const res = await fetch(`${t.issuer}/auth`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=web&a%5Bb%5D=1&a%5Bc%5D=2&x=1&x=2' });
    assert.equal(res.status, 303);
    assert.deepEqual([...new URL(res.headers.get('location')!, t.issuer).searchParams], [['client_id', 'web'], ['a[b]', '1'], ['a[c]', '2'], ['x', '1'], ['x', '2']]);
  });

  test('response_mode=form_post answers with a self-submitting form under a CSP without unsafe-inline', async () => {
    const agent = new UserAgent();
    const first = await authorizationRequest(web);
    await logInWith(agent, first.url, { email: 'cy@example.test', password: PASSWORD });
    const request = await authorizationRequest(web, { response_mode: 'form_post' });
    const page = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(`<form method="post" action="${REDIRECT}">`));
    assert.match(page.body, /name="code"/);
    assert.match(page.body, new RegExp(`name="state" value="${request.state}"`));
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self' 'sha256-/);
    assert.doesNotMatch(csp, /unsafe-inline/);
  });

  test('PKCE plain and a redirect URI that is not an exact match are refused', async () => {
    const plain = await authorizationRequest(spa, { code_challenge_method: 'plain' });
    const refused = await fetch(plain.url, { redirect: 'manual' });
    assert.equal(new URL(refused.headers.get('location')!).searchParams.get('error'), 'invalid_request');
    for (const redirect of [`${REDIRECT}/`, `${REDIRECT}?x=1`, REDIRECT.toUpperCase(), REDIRECT.replace('https', 'http')]) {
      const request = await authorizationRequest(web, { redirect_uri: redirect });
      const res = await fetch(request.url, { redirect: 'manual' });
      assert.equal(res.status, 400, redirect);
      assert.equal(res.headers.get('location'), null, `never redirected to ${redirect}`);
    }
  });

  test('RP-initiated logout with id_token_hint, post_logout_redirect_uri and state ends the session', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const callback = await logInWith(agent, request.url, { email: 'dee@example.test', password: PASSWORD });
    const tokens = await codeFrom(web, callback.url, request);

    const endSession = oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGOUT_REDIRECT, state: 'bye-123' });
    const confirm = await agent.navigate(endSession.href, {}, LOGOUT_REDIRECT);
    assert.equal(confirm.status, 200);
    assert.match(confirm.body, /Sign out/);
    const done = await agent.submit(confirm, '/session/end/confirm', { logout: 'yes' }, LOGOUT_REDIRECT);
    assert.equal(done.url, `${LOGOUT_REDIRECT}?state=bye-123`);

    const silent = await authorizationRequest(web, { prompt: 'none' });
    const after = await agent.navigate(silent.url.href, {}, REDIRECT);
    assert.equal(new URL(after.url).searchParams.get('error'), 'login_required', 'the session is gone');

    const unregistered = oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/bye' });
    const res = await fetch(unregistered, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
  });

  test('pages speak Korean for ui_locales=ko or Accept-Language: ko, English otherwise', async () => {
    const agent = new UserAgent();
    const ko = await agent.navigate((await authorizationRequest(web, { ui_locales: 'ko' })).url.href, {}, REDIRECT);
    assert.match(ko.body, /<html lang="ko">/);
    assert.match(ko.body, /로그인/);
    const byHeader = await new UserAgent({ 'accept-language': 'ko-KR,ko;q=0.9,en;q=0.5' }).navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    assert.match(byHeader.body, /<html lang="ko">/);
    const fallback = await new UserAgent({ 'accept-language': 'de' }).navigate((await authorizationRequest(web, { ui_locales: 'fr' })).url.href, {}, REDIRECT);
    assert.match(fallback.body, /<html lang="en">/);
    assert.match(fallback.body, /Sign in/);
  });

  test('login_hint pre-fills the e-mail, escaped', async () => {
    const hint = '"><script>x</script>@example.test';
    const page = await new UserAgent().navigate((await authorizationRequest(web, { login_hint: hint })).url.href, {}, REDIRECT);
    assert.match(page.body, /value="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;@example.test"/);
    assert.doesNotMatch(page.body, /<script>/);
  });

  test('security headers and cookies on the pages', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const res = await fetch(request.url, { redirect: 'manual' });
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.length > 0);
    for (const cookie of cookies) {
      assert.match(cookie, /httponly/i, cookie);
      assert.match(cookie, /samesite=lax/i, cookie);
    }
    const page = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    // No inline script: the only scripts are Tollgate's own files (passkeys, "Keep me signed in"), under script-src 'self'.
    assert.deepEqual([...page.body.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => [m[0].match(/src="([^"]+)"/)?.[1], m[1]]), [['/assets/webauthn.js', ''], ['/assets/remember-me.js', '']]);
  });

  test('every form post needs the interaction\'s CSRF token; a tampered one is a 403 page and logs nobody in', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const action = new URL(login.body.match(/action="([^"]+\/login)"/)![1]!, t.issuer).href;
    for (const csrf of [undefined, 'tampered', '']) {
      const res = await agent.navigate(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams({ login: 'ada@example.test', password: PASSWORD, ...(csrf !== undefined ? { csrf } : {}) }).toString(),
      }, REDIRECT);
      assert.equal(res.status, 403);
      assert.match(res.body, /Something went wrong/);
    }
    assert.ok(!agent.cookieEntries().some(([name]) => name === '_session'), 'no session was created');
  });

  test('bad input gets a friendly 4xx page, never a 500', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const csrf = login.body.match(/name="csrf" value="([^"]+)"/)![1]!;
    const action = new URL(login.body.match(/action="([^"]+\/login)"/)![1]!, t.issuer).href;
    const post = (body: string) => agent.navigate(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body }, REDIRECT);

    const huge = await post(new URLSearchParams({ csrf, login: 'ada@example.test', password: 'x'.repeat(1024 * 1024) }).toString());
    assert.equal(huge.status, 413);
    assert.match(huge.body, /Something went wrong/);
    for (const fields of [
      { login: 'ada@example.test\u0000\u0007', password: 'pw\u0000' },
      { login: "' OR 1=1 --", password: "'; DROP TABLE account; --" },
      { login: 'ada@example.test' },
      {},
      { login: ['a', 'b'] as unknown as string, password: 'x' },
    ]) {
      const res = await post(`${new URLSearchParams({ csrf, ...fields } as Record<string, string>).toString()}&login=dup`);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(fields)} → ${res.status}`);
      assert.match(res.body, /<html/);
    }
    // A NUL byte anywhere: a 4xx, never the database's error as a 500.
    const nul = await post(new URLSearchParams({ csrf, login: 'ada\u0000@example.test', password: 'x\u0000' }).toString());
    assert.equal(nul.status, 401);
    const gzipped = await agent.navigate(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip', accept: 'text/html' }, body: 'login=a&password=b' }, REDIRECT);
    assert.equal(gzipped.status, 400);
    const unknownEncoding = await agent.navigate(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'foo', accept: 'text/html' }, body: 'login=a&password=b' }, REDIRECT);
    assert.equal(unknownEncoding.status, 415);
    assert.equal((await t.tollgate.accounts.list()).length, 6, 'no account created or lost');

    const unknown = await agent.navigate(`${t.issuer}/interaction/does-not-exist`, { headers: { accept: 'text/html' } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /expired|already used/);
  });

  test('NUL bytes in protocol parameters are OAuth errors, never 500', async () => {
    const auth = await fetch(`${t.issuer}/auth?client_id=we%00b&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}`, { redirect: 'manual' });
    assert.equal(auth.status, 400);
    const state = await authorizationRequest(web, { state: 'a\u0000b' });
    const res = await fetch(state.url, { redirect: 'manual' });
    assert.ok(res.status === 400 || (res.status === 303 && new URL(res.headers.get('location')!).searchParams.get('error') === 'invalid_request'), `${res.status}`);
    const basic = `Basic ${Buffer.from('web:web-client-secret-long-enough-0123456789').toString('base64')}`;
    for (const body of ['grant_type=authorization_code&code=ab%00c&redirect_uri=x&code_verifier=y', 'grant_type=refresh_token&refresh_token=a%00b', 'grant_type=client_credentials&client_id=a%00b']) {
      const token = await fetch(`${t.issuer}/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body });
      assert.ok(token.status >= 400 && token.status < 500, `${body} → ${token.status}`);
    }
    for (const endpoint of ['token/introspection', 'token/revocation']) {
      const r = await fetch(`${t.issuer}/${endpoint}`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=a%00b' });
      assert.ok(r.status < 500, `${endpoint} → ${r.status}`);
    }
  });

  test('redirect_uri is required even when only one is registered (OpenID Connect Core §3.1.2.1)', async () => {
    const res = await fetch(`${t.issuer}/auth?client_id=web&response_type=code&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
  });

  test('PKCE is required of confidential clients too', async () => {
    const url = new URL(`${t.issuer}/auth`);
    url.search = new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 's' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.match(location.searchParams.get('error_description')!, /PKCE/);
  });

  test('every form post is answered 303 See Other (RFC 9700 §4.12: never 307)', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web, { prompt: 'consent' });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const form = (page: string, action: string) => new URLSearchParams({ csrf: page.match(/name="csrf" value="([^"]+)"/)![1]!, ...(action.endsWith('/login') ? { login: 'bob@example.test', password: PASSWORD } : {}) }).toString();
    const loginAction = new URL(login.body.match(/action="([^"]+\/login)"/)![1]!, t.issuer).href;
    const posted = await agent.once(loginAction, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(login.body, loginAction) });
    assert.equal(posted.status, 303);
    const consent = await agent.navigate(new URL(posted.headers.get('location')!, t.issuer).href, {}, REDIRECT);
    const confirmAction = new URL(consent.body.match(/action="([^"]+\/confirm)"/)![1]!, t.issuer).href;
    const confirmed = await agent.once(confirmAction, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(consent.body, confirmAction) });
    assert.equal(confirmed.status, 303);
  });

  test('an expired login page is a friendly 400 at Tollgate', async () => {
    const agent = new UserAgent();
    const login = await agent.navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    // The interaction expires: saved again with its end in the past rather than waited for.
    const uid = login.url.split('/interaction/')[1]!;
    const { oidcModels } = t.tollgate.repositories;
    await oidcModels.upsert('Interaction', uid, (await oidcModels.find('Interaction', uid))!, -1);
    const late = await agent.submit(login, '/login', { login: 'eve@example.test', password: PASSWORD }, REDIRECT);
    assert.equal(late.status, 400);
    assert.match(late.body, /expired or was already used/);
  });

  test('an id_token_hint for another user than the session\'s is login_required with prompt=none', async () => {
    const agent = new UserAgent();
    const first = await authorizationRequest(web);
    const tokens = await codeFrom(web, (await logInWith(agent, first.url, { email: 'ada@example.test', password: PASSWORD })).url, first);
    const other = new UserAgent();
    const second = await authorizationRequest(web);
    await logInWith(other, second.url, { email: 'bob@example.test', password: PASSWORD });
    const hinted = await authorizationRequest(web, { prompt: 'none', id_token_hint: tokens.id_token! });
    const res = await other.navigate(hinted.url.href, {}, REDIRECT);
    assert.equal(new URL(res.url).searchParams.get('error'), 'login_required');
  });

  test('a finished interaction cannot be replayed', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const done = await agent.submit(login, '/login', { login: 'eve@example.test', password: PASSWORD }, REDIRECT);
    assert.ok(done.status === 0 || done.status === 200);
    const replay = await agent.submit(login, '/login', { login: 'eve@example.test', password: PASSWORD }, REDIRECT);
    assert.equal(replay.status, 400);
  });

  test('after 10 failures for one account within the window, sign-in answers 429 until it passes; success resets', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const attempt = (password: string, email = 'fay@example.test') => agent.submit(login, '/login', { login: email, password }, REDIRECT);

    for (let i = 0; i < 9; i += 1) assert.equal((await attempt('wrong')).status, 401);
    const success = await attempt(PASSWORD);
    assert.notEqual(success.status, 401);
    assert.notEqual(success.status, 429);
    // The success reset the count: nine more failures are still answered 401.
    const again = new UserAgent();
    const page = await again.navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    const retry = (password: string) => again.submit(page, '/login', { login: 'fay@example.test', password }, REDIRECT);
    for (let i = 0; i < 10; i += 1) assert.equal((await retry('wrong')).status, 401, `attempt ${i + 1}`);
    const locked = await retry(PASSWORD);
    assert.equal(locked.status, 429, 'even the right password is refused while locked');
    assert.match(locked.body, /Too many failed attempts/);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    const korean = new UserAgent({ 'accept-language': 'ko' });
    const koPage = await korean.navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    const koLocked = await korean.submit(koPage, '/login', { login: 'fay@example.test', password: PASSWORD }, REDIRECT);
    assert.equal(koLocked.status, 429);
    assert.match(koLocked.body, /로그인 시도가 너무 많습니다/);

    // The window passes (moved back in the store rather than waited for; no repository writes the past).
    await t.tollgate.database.execute("UPDATE login_throttle SET window_started_at = now() - interval '16 minutes' WHERE key = $1", ['account:fay@example.test']);
    const open = await retry(PASSWORD);
    assert.ok(open.url.startsWith(REDIRECT) || open.status === 200, `${open.status}`);
  });

  test('one client IP failing across many accounts is throttled too (credential stuffing)', async () => {
    const { createLoginThrottle } = await import('../../server/services/login-throttle.ts');
    const throttle = createLoginThrottle(t.tollgate.repositories.loginThrottle, { windowSeconds: 900, maxAccountFailures: 10, maxIpFailures: 3 });
    for (const email of ['one@x.test', 'two@x.test', 'three@x.test']) assert.equal(await throttle.attempt(email, '203.0.113.9'), 0);
    assert.ok(await throttle.attempt('four@x.test', '203.0.113.9') > 0, 'a fresh account from that IP waits');
    assert.equal(await throttle.attempt('four@x.test', '198.51.100.1'), 0, 'other IPs do not');
    assert.ok(await throttle.attempt('five@x.test', '2001:db8:1:2:aaaa::1') === 0);
    for (let i = 0; i < 3; i += 1) await throttle.attempt(`six${i}@x.test`, `2001:db8:1:2:bbbb::${i + 2}`);
    assert.ok(await throttle.attempt('seven@x.test', '2001:db8:1:2::99') > 0, 'IPv6 addresses of one /64 count together');
    await forget(['one', 'two', 'three', 'four', 'five', 'six0', 'six1', 'six2', 'seven'].map((name) => `${name}@x.test`), ['203.0.113.9', '198.51.100.1', '2001:db8:1:2::1']);
  });

  test('a burst of parallel guesses gets exactly ten checked; the rest are 429', async () => {
    const agent = new UserAgent();
    const page = await agent.navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => agent.submit(page, '/login', { login: 'cy@example.test', password: `guess ${i}` }, REDIRECT)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 10, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 20);
    await forget(['cy@example.test']);
  });

  test('an unknown e-mail and a wrong password cost about the same time', async () => {
    const agent = new UserAgent();
    const page = await agent.navigate((await authorizationRequest(web)).url.href, {}, REDIRECT);
    const time = async (email: string) => {
      const started = performance.now();
      await agent.submit(page, '/login', { login: email, password: 'not the password' }, REDIRECT);
      return performance.now() - started;
    };
    await time('warmup@example.test');
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      unknown.push(await time(`nobody${i}@example.test`));
      wrong.push(await time('bob@example.test'));
    }
    const ratio = median(unknown) / median(wrong);
    assert.ok(ratio > 0.5 && ratio < 2, `unknown ${median(unknown).toFixed(1)} ms vs wrong ${median(wrong).toFixed(1)} ms`);
    await forget(['warmup@example.test', 'bob@example.test', ...unknown.map((_, i) => `nobody${i}@example.test`)]);
  });
});

describe('sign-up', () => {
  let t: TestTollgate;
  let web: RP;
  before(async () => {
    t = await startTestTollgate({ env: { SIGNUP_ENABLED: 'true' } });
    await t.tollgate.clients.register({ id: 'web', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT] });
    web = await relyingParty(t, 'web', 'web-client-secret-long-enough-0123456789');
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('a person creates an account on the login page and is signed in', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const signupHref = login.body.match(/href="([^"]+\/signup)"/)![1]!;
    const form = await agent.navigate(new URL(signupHref, t.issuer).href, {}, REDIRECT);
    const weak = await agent.submit(form, '/signup', { name: 'New', login: 'new@example.test', password: 'short' }, REDIRECT);
    assert.equal(weak.status, 400);
    let page = await agent.submit(form, '/signup', { name: 'New Person', login: 'New@Example.test', password: 'a long enough password' }, REDIRECT);
    if (page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(page.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    assert.equal(tokens.claims()!.email, 'new@example.test');
    const taken = await agent.submit(form, '/signup', { login: 'new@example.test', password: 'a long enough password' }, REDIRECT);
    assert.ok(taken.status >= 400 && taken.status < 500);
  });

  test('without SIGNUP_ENABLED there is no sign-up', async () => {
    const other = await startTestTollgate();
    try {
      await other.tollgate.clients.register({ id: 'web', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT] });
      const rp = await relyingParty(other, 'web', 'web-client-secret-long-enough-0123456789');
      const agent = new UserAgent();
      const login = await agent.navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
      assert.doesNotMatch(login.body, /signup/);
      const uid = login.url.split('/interaction/')[1]!;
      const res = await agent.navigate(`${other.issuer}/interaction/${uid}/signup`, { headers: { accept: 'text/html' } });
      assert.equal(res.status, 404);
    } finally {
      await other.close();
      await removeDirs(other.dirs);
    }
  });
});

describe('behind a trusted proxy (TRUST_PROXY=true)', () => {
  test('the throttle keys on the address the proxy appended, not on what the client wrote', () => withTestTollgate({ env: { TRUST_PROXY: 'true' } }, async (t) => {
      await t.tollgate.clients.register({ id: 'web', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT] });
      const rp = await relyingParty(t, 'web', 'web-client-secret-long-enough-0123456789');
      const agent = new UserAgent({ 'x-forwarded-for': '203.0.113.99, 198.51.100.7' });
      const login = await agent.navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
      assert.equal((await agent.submit(login, '/login', { login: 'x@example.test', password: 'wrong password' }, REDIRECT)).status, 401);
      const failures = async (key: string) => (await t.tollgate.repositories.loginThrottle.get(key, 900))?.failures;
      assert.equal(await failures('account:x@example.test'), 1);
      assert.equal(await failures('ip:198.51.100.7'), 1, 'the address the proxy appended');
      assert.equal(await failures('ip:203.0.113.99'), undefined, 'not the one the client wrote');
      assert.equal(await failures(ipKey('127.0.0.1')), undefined, 'nor the proxy\'s own');
  }));
});

describe('an https issuer behind a TLS-terminating proxy', () => {
  test('cookies are Secure even when the last hop is plain http, and HSTS is sent', () => withTestTollgate({ env: { ISSUER: 'https://id.example.test' } }, async (t) => {
      await t.tollgate.clients.register({ id: 'web', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT] });
      const url = new URL('/auth', `http://127.0.0.1:${t.config.port}`);
      url.search = new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' }).toString();
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 303);
      const cookies = res.headers.getSetCookie();
      assert.ok(cookies.length > 0);
      for (const cookie of cookies) assert.match(cookie, /;\s*secure/i, cookie);
      assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
  }));
});
