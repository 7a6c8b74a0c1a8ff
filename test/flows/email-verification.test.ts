// E-mail verification without mail (no SMTP_URL), and an operator vouching
// for an address: the account page says verification is not available
// instead of offering a button that cannot work, the admin API answers 503
// mail_unavailable, and PATCH /users/{id} { email_verified: true } makes the
// claims say so at the next sign-in (ID token and userinfo).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';
import { adminCalls } from '../support/admin.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'correct horse battery';

describe('e-mail verification with mail off', () => {
  let t: TestTollgate;
  let admin: string;
  let webSecret: string;
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });
  before(async () => {
    t = await startTestTollgate({ env: { SIGNUP_ENABLED: 'true' } });
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: 'openid email', firstParty: true })).client_secret!;
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('the account page says verification by e-mail is not available, and offers no button', async () => {
    const agent = new UserAgent();
    const login = await agent.navigate(`${t.issuer}/account`);
    const page = await agent.submit(login, '/login', { login: 'ada@example.test', password: PASSWORD });
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assert.match(page.body, /Your e-mail address is not verified yet/);
    assert.match(page.body, /Verification by e-mail is not available on this server/);
    assert.doesNotMatch(page.body, /verify-email\/send/);
    // Posted anyway (a page rendered before mail was turned off): a clear 503 page.
    const posted = await agent.submit({ url: page.url, body: page.body.replace('action="/account/logout-everywhere"', 'action="/account/verify-email/send"') }, '/verify-email/send', {});
    assert.equal(posted.status, 503);
    assert.match(posted.body, /E-mail is not available/);
  });

  test('the admin API answers 503 mail_unavailable to "send a verification e-mail"', async () => {
    const id = (await t.tollgate.accounts.list({ email: 'ada@example.test' }))[0]!.id;
    const res = await api('POST', `/users/${id}/verification-email`, { token: admin });
    assert.equal(res.status, 503);
    assert.equal(res.body.error, 'mail_unavailable');
    assert.match(res.body.error_description, /SMTP_URL/);
  });

  test('a sign-up completes as before, and nothing is sent', async () => {
    const agent = new UserAgent();
    const config = await oidc.discovery(new URL(t.issuer), 'web', webSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const login = await agent.navigate(url.href, {}, REDIRECT);
    const signup = await agent.navigate(new URL(login.body.match(/href="([^"]*\/signup)"/)![1]!, login.url).href);
    const done = await agent.submit(signup, '/signup', { login: 'new@example.test', password: PASSWORD }, REDIRECT);
    assert.ok(done.url.startsWith(REDIRECT), `${done.status} ${done.body.slice(0, 300)}`);
    assert.equal((await t.tollgate.audit.page({ limit: 10, type: 'email.verification_sent' })).events.length, 0);
  });

  test('PATCH email_verified: the operator vouches for the address; the next ID token and userinfo say so', async () => {
    const id = (await t.tollgate.accounts.list({ email: 'ada@example.test' }))[0]!.id;
    const before = await signIn(t, { clientId: 'web', secret: webSecret, email: 'ada@example.test', password: PASSWORD, scope: 'openid email' });
    assert.equal(before.tokens.claims()!.email_verified, false);

    const res = await api('PATCH', `/users/${id}`, { token: admin, json: { email_verified: true } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.email_verified, true);
    const [event] = (await t.tollgate.audit.page({ limit: 1, type: 'admin.user.updated', accountId: id })).events;
    assert.equal((event?.details?.before as { email_verified: boolean }).email_verified, false);
    assert.equal((event?.details?.after as { email_verified: boolean }).email_verified, true);

    // The access token issued before the change reads the account as it is now.
    const info = await oidc.fetchUserInfo(before.config, before.tokens.access_token, before.tokens.claims()!.sub);
    assert.equal(info.email_verified, true);
    const after = await signIn(t, { clientId: 'web', secret: webSecret, email: 'ada@example.test', password: PASSWORD, scope: 'openid email' });
    assert.equal(after.tokens.claims()!.email_verified, true);

    // Not a boolean: a 400 naming the field.
    const bad = await api('PATCH', `/users/${id}`, { token: admin, json: { email_verified: 'yes' } });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.fields.email_verified);
  });
});

describe('REQUIRE_VERIFIED_EMAIL beyond the login form', () => {
  let t: TestTollgate;
  let admin: string;
  let webSecret: string;
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });
  before(async () => {
    t = await startTestTollgate({ env: { REQUIRE_VERIFIED_EMAIL: 'true' } });
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: 'openid email offline_access', firstParty: true })).client_secret!;
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('an address un-verified after sign-in: the refresh token, silent sign-in and userinfo stop; a password sign-in is held again', async () => {
    const { id } = await t.tollgate.accounts.create({ email: 'grace@example.test', password: PASSWORD });
    await t.tollgate.accounts.update(id, { email_verified: true });
    const session = await signIn(t, { clientId: 'web', secret: webSecret, email: 'grace@example.test', password: PASSWORD, scope: 'openid email offline_access' });
    const refreshed = await oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!);
    assert.equal(refreshed.claims()?.email_verified, true);

    assert.equal((await api('PATCH', `/users/${id}`, { token: admin, json: { email_verified: false } })).status, 200);
    await assert.rejects(oidc.refreshTokenGrant(session.config, refreshed.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    await assert.rejects(oidc.fetchUserInfo(session.config, refreshed.access_token, oidc.skipSubjectCheck), (err: oidc.WWWAuthenticateChallengeError) => err.status === 401);

    // The browser's session is still there, but it signs in to nothing without a form.
    const silent = oidc.buildAuthorizationUrl(session.config, {
      redirect_uri: REDIRECT, scope: 'openid email', prompt: 'none', state: 'silent',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const answer = await session.agent.navigate(silent.href, {}, REDIRECT);
    assert.ok(answer.url.startsWith(REDIRECT), `${answer.status} ${t.logs.filter((l) => l.includes('"level":50')).join('\n').slice(0, 2000)}`);
    const callback = new URL(answer.url);
    assert.equal(callback.searchParams.get('error'), 'login_required', answer.url);
    assert.equal(callback.searchParams.get('code'), null);
  });
});
