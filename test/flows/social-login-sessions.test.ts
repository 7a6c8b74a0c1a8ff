// Social login as operators and clients see it afterwards (issue 15, point 5
// and the operator-facing checks), without a browser: a cookie-keeping agent
// drives Tollgate's login page (its provider buttons are plain POST forms)
// and follows the redirects through a real upstream OpenID provider in its
// own process (test/support/upstream-op.ts), registered through the admin API.
// - Tokens after a social sign-in carry the claims a password sign-in's do,
//   plus amr ["fed"] and idp; a refresh keeps both; a later password sign-in
//   in the same browser says amr ["pwd"] and no idp.
// - The session is listed (admin API, account page) like a password one, and
//   forced logout ends it and its refresh token.
// - Operators read and unlink a person's identities through the admin API.
// - The upstream's client secret is never in the logs, the admin API's
//   answers or the audit trail, failures included.
// - Failed callbacks from one address are throttled like failed logins: 429
//   with Retry-After and a page (last: it locks this address for the window).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { startUpstreamOp, type UpstreamOp } from '../support/upstream-op.ts';
import { authorizationRequest, relyingParty, REDIRECT, type RP } from '../support/sign-in.ts';
import { hostScopedFetch, UserAgent } from '../support/user-agent.ts';
import { adminCalls } from '../support/admin.ts';
import { THROTTLE_POLICY } from '../../server/services/login-throttle.ts';

const APP_SECRET = 'social-sessions-app-secret-0123456789abcdef';
const UPSTREAM_SECRET = 'upstream-secret-for-tollgate-Zq8Wm3Kd7Rt2';
const WRONG_UPSTREAM_SECRET = 'wrong-upstream-secret-Xy4Pn9Lc6Hv1';
const BOB_PASSWORD = 'bob password 12345';
const ADA_PASSWORD = 'ada chose a password 987';
const LIN_PASSWORD = 'lin chose a password 246';
const ADA = { sub: 'corp-ada', email: 'ada@corp.example', email_verified: true, name: 'Ada Lovelace' };
const LIN = { sub: 'corp-lin', email: 'lin@corp.example', email_verified: true, name: 'Lin Wei' };
const SCOPE = 'openid email profile offline_access';
const CALLBACK_PATH = '/interaction/federated/corp/callback';

/** A browser of its own: cookies per host, as Tollgate and the upstream (both oidc-provider) use the same names. */
const browser = (userAgent: string) => new UserAgent({ 'user-agent': userAgent }, hostScopedFetch());

describe('social login: tokens, sessions, forced logout, throttle, secrets, admin API', () => {
  let t: TestTollgate;
  let op: UpstreamOp;
  let rp: RP;
  let api: ReturnType<typeof adminCalls>['api'];
  let admin: string;
  /** Every admin API answer that mentions the provider, for the secrets check. */
  const providerAnswers: string[] = [];
  const ops = async (method: string, path: string, json?: unknown) => api(method, path, { token: admin, ...(json === undefined ? {} : { json }) });
  const idOf = async (email: string) => (await t.tollgate.accounts.list({ email }))[0]!.id;

  before(async () => {
    t = await startTestTollgate({ env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    op = await startUpstreamOp({
      clients: [
        { clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, redirectUris: [`${t.issuer}${CALLBACK_PATH}`] },
        // A second provider at the same upstream (the stale-refresh test).
        { clientId: 'tollgate-eu', clientSecret: UPSTREAM_SECRET, redirectUris: [`${t.issuer}/interaction/federated/corp-eu/callback`] },
      ],
      users: [ADA, LIN],
    });
    const calls = adminCalls(t);
    api = calls.api;
    const opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' })).client_secret!;
    const token = await calls.machineToken('ops', opsSecret, 'admin');
    assert.equal(token.status, 200, JSON.stringify(token.body));
    admin = token.body.access_token!;
    // As an operator would, through the admin API.
    const added = await ops('POST', '/providers', { id: 'corp', type: 'oidc', issuer: op.issuer, client_id: 'tollgate', client_secret: UPSTREAM_SECRET, name: 'Corp' });
    assert.equal(added.status, 201, added.text);
    providerAnswers.push(added.text);
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: APP_SECRET, redirectUris: [REDIRECT], scope: `${SCOPE} basic`, firstParty: true });
    const bob = await t.tollgate.accounts.create({ email: 'bob@example.test', password: BOB_PASSWORD, name: 'Bob Byte' });
    await t.tollgate.accounts.update(bob.id, { email_verified: true });
    rp = await relyingParty(t, 'photo-prints', APP_SECRET);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await op?.close();
  });

  /** Consent if asked, then the page or the client's callback. */
  async function consentIfAsked(agent: UserAgent, page: { url: string; status: number; body: string }) {
    return page.status === 200 && page.body.includes('/confirm') ? agent.submit(page, '/confirm', {}, REDIRECT) : page;
  }

  /** From the application to its callback through the upstream (the login page's "Continue with Corp"), or the page where it stopped. */
  async function throughUpstream(agent: UserAgent, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { scope: SCOPE, prompt: 'consent', ...params });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.equal(login.status, 200, login.body.slice(0, 300));
    const page = await consentIfAsked(agent, await agent.submit(login, '/federated/corp', {}, REDIRECT));
    return { request, page };
  }

  async function federatedTokens(agent: UserAgent, params: Record<string, string> = {}) {
    const { request, page } = await throughUpstream(agent, params);
    assert.ok(page.url.startsWith(REDIRECT), `expected the client's callback, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    return oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
  }

  async function passwordTokens(agent: UserAgent, email: string, password: string, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { scope: SCOPE, prompt: 'consent', ...params });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.ok(login.body.includes('name="password"'), 'the login form');
    const page = await consentIfAsked(agent, await agent.submit(login, '/login', { login: email, password }, REDIRECT));
    assert.ok(page.url.startsWith(REDIRECT), `expected the client's callback, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    return oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
  }

  /** Through `provider`'s button to the "link your account" page, then the account's password: linked and signed in. */
  async function linkedTokens(agent: UserAgent, provider: string, password: string, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { scope: SCOPE, prompt: 'consent', ...params });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const linkPage = await agent.submit(login, `/federated/${provider}`, {}, REDIRECT);
    assert.ok(linkPage.body.includes('/federated/link'), `the link page, got ${linkPage.status} ${linkPage.url} ${linkPage.body.slice(0, 300)}`);
    const page = await consentIfAsked(agent, await agent.submit(linkPage, '/federated/link', { password }, REDIRECT));
    assert.ok(page.url.startsWith(REDIRECT), `expected the client's callback, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    return oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
  }

  const keys = (o: object) => Object.keys(o).sort();

  test('a social sign-in\'s tokens: a password sign-in\'s claims, plus amr ["fed"] and idp; a refresh keeps them; a later password sign-in does not', async () => {
    const byPassword = await passwordTokens(browser('BobBrowser/1.0'), 'bob@example.test', BOB_PASSWORD);
    const pwdId = byPassword.claims()!;
    assert.deepEqual(pwdId.amr, ['pwd']);
    assert.equal(pwdId.idp, undefined);

    await op.setBehaviour({ signInAs: ADA.sub });
    const agent = browser('AdaBrowser/1.0');
    const federated = await federatedTokens(agent);
    const fedId = federated.claims()!;
    const adaId = await idOf(ADA.email);
    assert.equal(fedId.sub, adaId);
    assert.deepEqual([fedId.email, fedId.email_verified, fedId.name], [ADA.email, true, ADA.name]);
    assert.deepEqual(fedId.amr, ['fed']);
    assert.equal(fedId.idp, 'corp');
    assert.deepEqual(keys(fedId), keys({ ...pwdId, idp: 'corp' }), 'the same ID token claims, plus idp');
    // Access tokens: the same claims (roles, gid) whichever way the person signed in.
    const pwdAccess = decodeJwt(byPassword.access_token);
    const fedAccess = decodeJwt(federated.access_token);
    assert.deepEqual(keys(fedAccess), keys(pwdAccess));
    assert.deepEqual(fedAccess.roles, []);
    assert.equal(typeof fedAccess.gid, 'string');
    assert.equal(fedAccess.sub, adaId);
    assert.ok(federated.refresh_token, 'offline_access gave a refresh token');
    // Userinfo, the same claims.
    const userinfo = await oidc.fetchUserInfo(rp, federated.access_token, adaId);
    assert.deepEqual([userinfo.email, userinfo.email_verified, userinfo.name], [ADA.email, true, ADA.name]);

    // The audit trail says how.
    const success = (await t.tollgate.audit.page({ accountId: adaId, type: 'login.success', limit: 10 })).events[0]!;
    assert.deepEqual(success.details, { method: 'federated', provider: 'corp', created: true });

    // A refresh: the new ID token still says how the session signed in.
    const refreshed = await oidc.refreshTokenGrant(rp, federated.refresh_token!);
    const refreshedId = refreshed.claims()!;
    assert.deepEqual(refreshedId.amr, ['fed']);
    assert.equal(refreshedId.idp, 'corp');
    assert.equal(refreshedId.sid, fedId.sid);

    // The operator gives Ada a password; she signs in with it in the same browser (prompt=login).
    assert.equal((await ops('POST', `/users/${adaId}/password`, { password: ADA_PASSWORD })).status, 204);
    const again = await passwordTokens(agent, ADA.email, ADA_PASSWORD, { prompt: 'login consent' });
    const againId = again.claims()!;
    assert.equal(againId.sub, adaId);
    assert.deepEqual(againId.amr, ['pwd']);
    assert.equal(againId.idp, undefined, 'no idp after a password sign-in');
    const againRefreshed = (await oidc.refreshTokenGrant(rp, again.refresh_token!)).claims()!;
    assert.deepEqual([againRefreshed.amr, againRefreshed.idp], [['pwd'], undefined]);
  });

  test('a refresh token from an earlier sign-in of the session never gets a later sign-in\'s idp', async () => {
    const added = await ops('POST', '/providers', { id: 'corp-eu', type: 'oidc', issuer: op.issuer, client_id: 'tollgate-eu', client_secret: UPSTREAM_SECRET, name: 'Corp EU' });
    assert.equal(added.status, 201, added.text);
    providerAnswers.push(added.text);
    await t.tollgate.accounts.create({ email: 'kim@example.test', password: 'kim password 13579' });
    const kim = { sub: 'corp-kim', email: 'kim@example.test', email_verified: true, name: 'Kim' };
    await op.setUsers([...op.users, kim]);
    await op.setBehaviour({ signInAs: kim.sub });
    const agent = browser('KimBrowser/1.0');
    // Kim links corp with her password, then corp-eu the same way, in one browser session (prompt=login).
    const first = await linkedTokens(agent, 'corp', 'kim password 13579');
    assert.deepEqual([first.claims()!.amr, first.claims()!.idp], [['pwd', 'fed'], 'corp']);
    // Sign-ins are stamped to the second (auth_time): let the next be a later one.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = await linkedTokens(agent, 'corp-eu', 'kim password 13579', { prompt: 'login consent' });
    assert.deepEqual([second.claims()!.amr, second.claims()!.idp], [['pwd', 'fed'], 'corp-eu']);
    assert.equal(second.claims()!.sid, first.claims()!.sid, 'one session');
    // The first sign-in's refresh token: its own amr, and no idp rather than corp-eu's.
    const stale = (await oidc.refreshTokenGrant(rp, first.refresh_token!)).claims()!;
    assert.deepEqual(stale.amr, ['pwd', 'fed']);
    assert.equal(stale.idp, undefined);
    const current = (await oidc.refreshTokenGrant(rp, second.refresh_token!)).claims()!;
    assert.equal(current.idp, 'corp-eu');
  });

  test('sessions of a social sign-in are listed like a password one\'s, and forced logout ends them and their refresh tokens', async () => {
    await op.setBehaviour({ signInAs: LIN.sub });
    const laptop = browser('LinLaptop/2.0 (X11; Linux x86_64) Firefox/140.0');
    const laptopTokens = await federatedTokens(laptop);
    const linId = await idOf(LIN.email);
    const phone = browser('LinPhone/3.0 (Android 15) Chrome/140.0');
    await federatedTokens(phone);

    // The admin API's listing: both sessions, each with its device, address, time and client.
    const listed = await ops('GET', `/users/${linId}/sessions`);
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.sessions.length, 2, listed.text);
    for (const s of listed.body.sessions) {
      assert.equal(s.ip, '127.0.0.1');
      assert.match(s.user_agent, /^Lin(Laptop|Phone)/);
      assert.ok(s.signed_in_at && s.last_seen_at, listed.text);
      assert.deepEqual(s.client_ids, ['photo-prints']);
    }
    // The same shape as a password session's.
    await passwordTokens(browser('BobBrowser/1.0'), 'bob@example.test', BOB_PASSWORD);
    const bobs = await ops('GET', `/users/${await idOf('bob@example.test')}/sessions`);
    assert.deepEqual(keys(listed.body.sessions[0]), keys(bobs.body.sessions[0]));

    // The account page on the phone lists the laptop's session.
    const accountPage = await phone.navigate(`${t.issuer}/account`);
    assert.equal(accountPage.status, 200, accountPage.body.slice(0, 300));
    const laptopUid = listed.body.sessions.find((s: { user_agent: string }) => s.user_agent.startsWith('LinLaptop')).uid as string;
    const item = new RegExp(`data-session="${laptopUid}">([\\s\\S]*?)</li>`).exec(accountPage.body)?.[1];
    assert.ok(item, accountPage.body);
    assert.match(item, /127\.0\.0\.1/);
    assert.match(item, /Photo Prints/);
    assert.match(accountPage.body, /data-current="true"/);

    // Forced logout by the operator.
    const forced = await ops('POST', `/users/${linId}/logout`);
    assert.equal(forced.status, 200, forced.text);
    assert.ok(forced.body.sessions >= 2, forced.text);
    assert.ok(forced.body.refresh_tokens >= 2, forced.text);
    await assert.rejects(oidc.refreshTokenGrant(rp, laptopTokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    assert.deepEqual((await ops('GET', `/users/${linId}/sessions`)).body.sessions, []);
    // The laptop is signed out: the application's next request shows the login page.
    const next = await laptop.navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
    assert.equal(next.status, 200);
    assert.match(next.body, /data-provider="corp"/);
  });

  test('operators read a person\'s identities and unlink one, never the only way in', async () => {
    const linId = await idOf(LIN.email);
    const listed = await ops('GET', `/users/${linId}/identities`);
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.items.length, 1);
    const [identity] = listed.body.items;
    assert.deepEqual({ ...identity, linked_at: undefined, last_used_at: undefined }, {
      provider: 'corp', upstream_sub: LIN.sub, email: LIN.email, email_verified: true, linked_at: undefined, last_used_at: undefined,
    });
    assert.ok(!Number.isNaN(Date.parse(identity.linked_at)) && !Number.isNaN(Date.parse(identity.last_used_at)), listed.text);

    // Lin has no password: the identity is the only way in.
    const refused = await ops('DELETE', `/users/${linId}/identities/corp`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error, 'last_sign_in_method');
    assert.equal((await ops('GET', `/users/${linId}/identities`)).body.items.length, 1);
    assert.equal((await ops('DELETE', `/users/${linId}/identities/elsewhere`)).status, 404);
    assert.equal((await ops('DELETE', '/users/00000000-0000-0000-0000-000000000000/identities/corp')).status, 404);
    assert.equal((await ops('GET', '/users/00000000-0000-0000-0000-000000000000/identities')).status, 404);

    // With a password, it can go: audited with the operator as actor.
    assert.equal((await ops('POST', `/users/${linId}/password`, { password: LIN_PASSWORD })).status, 204);
    const unlinked = await ops('DELETE', `/users/${linId}/identities/corp`);
    assert.equal(unlinked.status, 204, unlinked.text);
    assert.deepEqual((await ops('GET', `/users/${linId}/identities`)).body.items, []);
    const event = (await ops('GET', `/audit-events?type=identity.unlinked&account_id=${linId}`)).body.items[0];
    assert.equal(event?.actor, 'ops', JSON.stringify(event));
    assert.equal(event.details.provider, 'corp');
    assert.equal((await ops('DELETE', `/users/${linId}/identities/corp`)).status, 404, 'not linked any more');

    // Unlinked: the upstream account no longer signs Lin in; its e-mail is Lin's, so it must be linked again after the password.
    await op.setBehaviour({ signInAs: LIN.sub });
    const { page } = await throughUpstream(browser('LinLaptop/2.0'));
    assert.equal(page.status, 200);
    assert.match(page.body, /data-form="link"/);

    // In the OpenAPI document.
    const document = await (await fetch(`${t.issuer}/admin/v1/openapi.json`)).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; components: { schemas: Record<string, unknown> } };
    assert.ok(document.paths['/users/{id}/identities']?.get, Object.keys(document.paths).join(' '));
    assert.ok(document.paths['/users/{id}/identities/{provider}']?.delete?.responses['409']);
    assert.ok(document.components.schemas.LinkedIdentity);
  });

  test('an account with a second factor: a social sign-in leads to the second step; the tokens say fed + otp, mfa, and keep idp', async () => {
    await op.setBehaviour({ signInAs: ADA.sub });
    const adaId = await idOf(ADA.email);
    // A session signed in through the upstream before the factor existed: one factor.
    const earlier = browser('AdaEarlier/1.0');
    assert.equal((await federatedTokens(earlier)).claims()!.acr, 'urn:tollgate:sfa');
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: adaId, email: ADA.email });
    const { TOTP, Secret } = await import('otpauth');
    const totp = new TOTP({ secret: Secret.fromBase32(enrolment.secret) });
    assert.equal(await t.tollgate.mfa.confirmTotp(adaId, totp.generate()), 'ok');
    try {
      const agent = browser('AdaBrowser/1.0');
      const request = await authorizationRequest(rp, { scope: SCOPE, prompt: 'consent' });
      const login = await agent.navigate(request.url.href, {}, REDIRECT);
      const second = await agent.submit(login, '/federated/corp', {}, REDIRECT);
      assert.match(second.url, /\/second-factor$/, `${second.status} ${second.body.slice(0, 300)}`);
      const page = await consentIfAsked(agent, await agent.submit(second, '/second-factor', { code: totp.generate({ timestamp: Date.now() + 30_000 }) }, REDIRECT));
      assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.body.slice(0, 300)}`);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
      const id = tokens.claims()!;
      assert.deepEqual(id.amr, ['fed', 'otp', 'mfa']);
      assert.equal(id.acr, 'urn:tollgate:mfa');
      assert.equal(id.idp, 'corp');
      assert.equal((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).claims()!.idp, 'corp');
      // The earlier session, asked for the MFA level: the second step only, and the ID token still names the provider.
      const stepUp = await authorizationRequest(rp, { scope: 'openid email', acr_values: 'urn:tollgate:mfa' });
      const asked = await earlier.navigate(stepUp.url.href, {}, REDIRECT);
      assert.match(asked.url, /\/second-factor$/);
      // A recovery code: the app's next code was spent above, and the one after is outside the ±1 step window.
      const [recovery] = await t.tollgate.mfa.regenerateRecoveryCodes(adaId);
      const notice = await earlier.submit(asked, '/second-factor', { code: recovery! }, REDIRECT);
      assert.match(notice.body, /Recovery code used/);
      const onwards = notice.body.match(/<a href="([^"]+)"[^>]*>Continue<\/a>/)![1]!.replace(/&amp;/g, '&');
      const done = await consentIfAsked(earlier, await earlier.navigate(new URL(onwards, notice.url).href, {}, REDIRECT));
      assert.ok(done.url.startsWith(REDIRECT), `${done.status} ${done.body.slice(0, 300)}`);
      const stepped = (await oidc.authorizationCodeGrant(rp, new URL(done.url), { pkceCodeVerifier: stepUp.verifier, expectedState: stepUp.state, expectedNonce: stepUp.nonce })).claims()!;
      assert.deepEqual(stepped.amr, ['fed', 'otp', 'mfa']);
      assert.equal(stepped.idp, 'corp');
    } finally {
      await t.tollgate.mfa.removeTotp(adaId);
    }
  });

  test('the upstream\'s client secret is never in the logs, the admin API\'s answers or the audit trail, failures included', async () => {
    await op.setBehaviour({ signInAs: ADA.sub });
    // Failures: the upstream refuses, or its ID token is not for us, or our secret is wrong there.
    const failures: Array<[string, () => Promise<void>]> = [
      ['denied', () => op.setBehaviour({ signInAs: ADA.sub, authorization: 'deny' })],
      ['wrong nonce', () => op.setBehaviour({ signInAs: ADA.sub, idToken: 'wrong-nonce' })],
      ['wrong audience', () => op.setBehaviour({ signInAs: ADA.sub, idToken: 'wrong-audience' })],
      ['wrong client secret', async () => {
        await op.setBehaviour({ signInAs: ADA.sub });
        const changed = await ops('PATCH', '/providers/corp', { client_secret: WRONG_UPSTREAM_SECRET });
        assert.equal(changed.status, 200, changed.text);
        providerAnswers.push(changed.text);
      }],
    ];
    const logged = t.logs.length;
    for (const [label, arrange] of failures) {
      await arrange();
      const { page } = await throughUpstream(browser('AdaBrowser/1.0'));
      assert.ok(page.status >= 400 && page.status < 500 || page.status === 502, `${label}: ${page.status} ${page.url}`);
      assert.ok(page.url.startsWith(t.issuer), `${label}: a page at Tollgate`);
    }
    const failedLines = t.logs.slice(logged).filter((l) => l.includes('social sign-in failed'));
    assert.equal(failedLines.length, failures.length, 'each failure is logged');
    assert.ok(failedLines.some((l) => /invalid_client|401/.test(l)), failedLines.join('\n'));

    // The right secret again (rotation back), and a sign-in that works.
    const restored = await ops('PATCH', '/providers/corp', { client_secret: UPSTREAM_SECRET });
    assert.equal(restored.status, 200, restored.text);
    providerAnswers.push(restored.text);
    await op.setBehaviour({ signInAs: ADA.sub });
    await federatedTokens(browser('AdaBrowser/1.0'));

    const listed = await ops('GET', '/providers');
    const one = await ops('GET', '/providers/corp');
    providerAnswers.push(listed.text, one.text);
    assert.equal(listed.body.items[0].id, 'corp');
    const trail = await ops('GET', '/audit-events?limit=1000');
    assert.ok(trail.body.items.some((e: { type: string }) => e.type === 'admin.provider.updated'));
    for (const secret of [UPSTREAM_SECRET, WRONG_UPSTREAM_SECRET]) {
      assert.ok(!t.logs.join('\n').includes(secret), 'not in the logs');
      for (const answer of providerAnswers) assert.ok(!answer.includes(secret), `not in an admin API answer: ${answer.slice(0, 200)}`);
      assert.ok(!trail.text.includes(secret), 'not in the audit trail');
    }
    for (const answer of providerAnswers) assert.ok(!/client_secret"\s*:/.test(answer), `no client_secret field: ${answer.slice(0, 200)}`);
  });

  test('failed callbacks from one address are throttled as failed logins are: 429, Retry-After and a page', async () => {
    await op.setBehaviour({ signInAs: ADA.sub, authorization: 'deny' });
    const agent = browser('Guesser/1.0');
    const login = await agent.navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
    assert.equal(login.status, 200);
    /** One round trip whose callback fails (the upstream said access_denied), without the upstream's hops. */
    const failedCallback = async () => {
      const toUpstream = await agent.submit(login, '/federated/corp', {}, op.issuer);
      const state = new URL(toUpstream.url).searchParams.get('state')!;
      return agent.navigate(`${t.issuer}${CALLBACK_PATH}?${new URLSearchParams({ error: 'access_denied', state, iss: op.issuer })}`);
    };
    // The login form's per-account limit, here per address: maxAccountFailures failures are pages, the next is 429.
    for (let i = 1; i <= THROTTLE_POLICY.maxAccountFailures; i += 1) {
      const page = await failedCallback();
      assert.equal(page.status, 403, `failure ${i}: ${page.body.slice(0, 200)}`);
    }
    const throttled = await failedCallback();
    assert.equal(throttled.status, 429);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= THROTTLE_POLICY.windowSeconds, `Retry-After ${retryAfter}`);
    assert.match(throttled.headers.get('content-type') ?? '', /text\/html/);
    assert.match(throttled.body, /Too many sign-in attempts from here\. Try again in 15 minutes\./);
    // A sign-in that would succeed is held back too, until the window passes.
    await op.setBehaviour({ signInAs: ADA.sub });
    const { page } = await throughUpstream(browser('AdaBrowser/1.0'));
    assert.equal(page.status, 429);
    // Password sign-ins from here are not locked by it (their own counters).
    const bob = await passwordTokens(browser('BobBrowser/1.0'), 'bob@example.test', BOB_PASSWORD);
    assert.deepEqual(bob.claims()!.amr, ['pwd']);
  });
});
