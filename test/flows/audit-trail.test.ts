// The audit trail end to end, read back only through the admin API: every
// kind of security event (sign-in, consent, logout, refresh token theft, the
// account page, forced logout, each admin change) is one row with its type,
// account, client, address and browser; social login's links, refused
// links and unlinks; second factors and passkeys (driven through their
// services, a passkey by a software authenticator); admin changes carry their actor and
// before/after and are pino lines too; no password, secret, token or code is
// ever written to the trail or the logs; filters, time bounds and pages are
// exact; and the API offers no way to change or delete an event.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { authorizationRequest, REDIRECT, relyingParty, signIn } from '../support/sign-in.ts';
import { hostScopedFetch, UserAgent } from '../support/user-agent.ts';
import { startUpstreamOp } from '../support/upstream-op.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { SoftwareAuthenticator } from '../support/software-authenticator.ts';
import { AUDIT_TYPES } from '../../server/services/audit.ts';
import { digestClientSecret } from '../../server/services/client-secrets.ts';
import { ACCOUNT_CLIENT_ID } from '../../server/services/reserved-clients.ts';

const PASSWORD = 'Ada-audit-trail-password-7f3a';
const WRONG_PASSWORD = 'not-Adas-password-91c2e';
/** People type passwords into the e-mail field: what was typed must not be stored either. */
const TYPED_INTO_LOGIN = 'pasted-into-login-field-5d8b';
const CAROL_PASSWORD = 'Carol-first-password-24e6';
const CAROL_NEW_PASSWORD = 'Carol-reset-password-b81f';
const SHOP_SECRET = 'shop-client-secret-q7W2x9Kp4Lm8Zr3Tn6Vb1Yc5';
const BYE = 'https://app.example.test/bye';
const LOOPBACK = '127.0.0.1';
const BROWSER_UA = 'AuditTrailBrowser/7.3 (hosted login)';
const RP_UA = 'AuditTrailRP/2.0 (token endpoint)';
const ACCOUNT_UA = 'AuditTrailAccountPage/1.1';
const OPS_UA = 'AuditTrailOps/4.2 (admin script)';
/** Not behind a proxy (TRUST_PROXY unset): the address is the peer's, whatever X-Forwarded-For claims. */
const SPOOFED = { 'x-forwarded-for': '203.0.113.66' };
const WRONG_CLIENT_SECRET = 'wrong-shop-secret-Hn4Rt8Wq2Zx6Pv9Lk3Jd7';
const BOGUS_REFRESH_TOKEN = 'bogus-refresh-token-Qm5Ns1Xe8Ur4Ty7Oi2';
const REFUSED_PASSWORD = 'Refused-user-password-6c0d';
const UPSTREAM_SECRET = 'upstream-client-secret-for-audit-4Rk8Tz1Q';

interface Event {
  id: string; at: string; type: string; account_id?: string; client_id?: string; actor?: string; ip?: string; user_agent?: string;
  details: Record<string, any>;
}
interface Page { items: Event[]; next_before: string | null }

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('audit trail through the admin API', () => {
  let t: TestTollgate;
  let api: ReturnType<typeof adminCalls>['api'];
  let admin: string;
  let adaId: string;
  let carolId: string;
  /** Everything that must never be written down: passwords, secrets, tokens, codes. */
  const secrets = new Map<string, string>();
  const keep = (label: string, value: string | undefined) => {
    assert.ok(value, `${label} is missing`);
    secrets.set(label, value);
    return value;
  };
  /** A time between the sign-in events and the admin changes, neither side within 40 ms of it. */
  let boundary: Date;

  /** Admin API calls as the ops script, with its own User-Agent. */
  const ops = async (method: string, path: string, json?: unknown) => {
    const res = await fetch(`${t.issuer}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'user-agent': OPS_UA, ...SPOOFED, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as any };
  };
  const list = async (query = ''): Promise<Page> => {
    const res = await api('GET', `/audit-events${query}`, { token: admin });
    assert.equal(res.status, 200, res.text);
    return res.body as Page;
  };
  const all = async () => {
    const page = await list('?limit=1000');
    assert.equal(page.next_before, null, 'fewer than 1000 events in this suite');
    return page.items;
  };
  /** The newest event of `type` matching `match`; some events are recorded after the response (oidc-provider's events), so poll briefly. */
  const newest = async (type: string, match: (e: Event) => boolean = () => true): Promise<Event> => {
    for (let i = 0; i < 50; i += 1) {
      const found = (await list(`?type=${type}&limit=1000`)).items.find(match);
      if (found) return found;
      await pause(50);
    }
    assert.fail(`no ${type} event`);
  };
  /** Type, who, which client, where from, which browser. */
  const assertSeen = (e: Event, expected: { accountId?: string | null; clientId?: string | null; userAgent: string; actor?: string | null }) => {
    const label = `${e.type} #${e.id}`;
    if (expected.accountId !== undefined) assert.equal(e.account_id ?? null, expected.accountId, `${label}: account_id`);
    if (expected.clientId !== undefined) assert.equal(e.client_id ?? null, expected.clientId, `${label}: client_id`);
    if (expected.actor !== undefined) assert.equal(e.actor ?? null, expected.actor, `${label}: actor`);
    assert.equal(e.ip, LOOPBACK, `${label}: ip`);
    assert.equal(e.user_agent, expected.userAgent, `${label}: user_agent`);
    assert.ok(!Number.isNaN(Date.parse(e.at)), `${label}: at`);
  };
  const tokenRequest = async (clientId: string, secret: string, params: Record<string, string>, userAgent: string) => {
    const res = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(clientId, secret), 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent, ...SPOOFED },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };

  // State carried from one step to the next (the tests run in order).
  let browser: UserAgent;
  let shopTokens: Record<string, string>;
  let smtp: TestSmtp;

  before(async () => {
    smtp = await startSmtp();
    // Loopback: the social login test's upstream provider (the SSRF guard refuses it otherwise).
    t = await startTestTollgate({ smtp, env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    const calls = adminCalls(t);
    api = calls.api;
    const opsSecret = keep('ops secret', (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' })).client_secret);
    // A third-party client (not first_party): its users see the consent page.
    await t.tollgate.clients.register({
      id: 'shop', name: 'Audit Shop', secret: SHOP_SECRET, redirectUris: [REDIRECT], postLogoutRedirectUris: [BYE], scope: 'openid offline_access basic',
    });
    keep('shop secret', SHOP_SECRET);
    adaId = (await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD })).id;
    for (const [label, value] of [['ada password', PASSWORD], ['wrong password', WRONG_PASSWORD], ['typed into login', TYPED_INTO_LOGIN]]) keep(label!, value);
    const token = await calls.machineToken('ops', opsSecret, 'admin');
    assert.equal(token.status, 200, JSON.stringify(token.body));
    admin = keep('admin access token', token.body.access_token);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  test('hosted login: failures then success, and consent to a third-party client', async () => {
    browser = new UserAgent({ 'user-agent': BROWSER_UA, ...SPOOFED });
    const rp = await relyingParty(t, 'shop', SHOP_SECRET);
    const request = await authorizationRequest(rp, { scope: 'openid offline_access basic', prompt: 'consent' });
    let page = await browser.navigate(request.url.href, {}, REDIRECT);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    // A password typed into the e-mail field: a failure for no account.
    page = await browser.submit(page, '/login', { login: TYPED_INTO_LOGIN, password: WRONG_PASSWORD }, REDIRECT);
    assert.equal(page.status, 401);
    page = await browser.submit(page, '/login', { login: 'ada@example.test', password: WRONG_PASSWORD }, REDIRECT);
    assert.equal(page.status, 401);
    page = await browser.submit(page, '/login', { login: 'ada@example.test', password: PASSWORD }, REDIRECT);
    assert.equal(page.status, 200, 'a third-party client gets the consent page');
    assert.ok(page.body.includes('/confirm'), page.body.slice(0, 500));
    page = await browser.submit(page, '/confirm', {}, REDIRECT);
    assert.ok(page.url.startsWith(REDIRECT), page.url);
    const code = keep('shop authorization code', new URL(page.url).searchParams.get('code') ?? undefined);

    const failures = (await list('?type=login.failure')).items;
    assert.equal(failures.length, 2, JSON.stringify(failures));
    const [forAda, forNobody] = failures; // newest first
    assertSeen(forAda!, { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA });
    assertSeen(forNobody!, { accountId: null, clientId: 'shop', userAgent: BROWSER_UA });
    assertSeen(await newest('login.success'), { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
    const consent = await newest('consent.granted');
    assertSeen(consent, { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
    assert.deepEqual([...consent.details.scopes].sort(), ['basic', 'offline_access', 'openid'], JSON.stringify(consent.details));
    assert.equal(typeof consent.details.grant_id, 'string');

    const exchanged = await tokenRequest('shop', SHOP_SECRET, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: request.verifier }, RP_UA);
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    shopTokens = exchanged.body;
    keep('shop access token', shopTokens.access_token);
    keep('shop refresh token', shopTokens.refresh_token);
    keep('shop id token', shopTokens.id_token);
  });

  test('a refresh token presented twice: refresh_token.reuse_detected', async () => {
    const first = await tokenRequest('shop', SHOP_SECRET, { grant_type: 'refresh_token', refresh_token: shopTokens.refresh_token! }, RP_UA);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    keep('rotated access token', first.body.access_token);
    keep('rotated refresh token', first.body.refresh_token);
    const replay = await tokenRequest('shop', SHOP_SECRET, { grant_type: 'refresh_token', refresh_token: shopTokens.refresh_token! }, RP_UA);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    const reuse = await newest('refresh_token.reuse_detected');
    assertSeen(reuse, { accountId: adaId, clientId: 'shop', userAgent: RP_UA, actor: null });
    assert.equal(reuse.details.family_revoked, true);
    assert.equal(typeof reuse.details.grant_id, 'string');
  });

  test('RP-initiated logout with id_token_hint, confirmed: logout', async () => {
    const end = `${t.issuer}/session/end?${new URLSearchParams({ id_token_hint: shopTokens.id_token!, post_logout_redirect_uri: BYE })}`;
    const confirm = await browser.navigate(end, {}, BYE);
    assert.equal(confirm.status, 200, confirm.body.slice(0, 300));
    const done = await browser.submit(confirm, '/session/end/confirm', { logout: 'yes' }, BYE);
    assert.ok(done.url.startsWith(BYE), done.url);
    assertSeen(await newest('logout'), { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
  });

  test('the account page: session.ended, grant.revoked, user.logged_out_everywhere', async () => {
    const phone = await signIn(t, { clientId: 'shop', secret: SHOP_SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    keep('phone access token', phone.tokens.access_token);
    keep('phone refresh token', phone.tokens.refresh_token);

    // The account page signs in through its own client; stop at its callback to keep the code.
    const account = new UserAgent({ 'user-agent': ACCOUNT_UA, ...SPOOFED });
    const callback = `${t.issuer}/account?`;
    const login = await account.navigate(`${t.issuer}/account`, {}, callback);
    assert.equal(login.status, 200, login.body.slice(0, 300));
    const back = await account.submit(login, '/login', { login: 'ada@example.test', password: PASSWORD }, callback);
    assert.ok(back.url.startsWith(callback), back.url);
    keep('account page authorization code', new URL(back.url).searchParams.get('code') ?? undefined);
    let page = await account.navigate(back.url);
    assert.equal(page.status, 200);
    assert.ok(page.body.includes('/logout-everywhere'), page.body.slice(0, 500));
    assertSeen(await newest('login.success', (e) => e.client_id === ACCOUNT_CLIENT_ID), { accountId: adaId, userAgent: ACCOUNT_UA });

    // End the phone's session.
    const other = [...page.body.matchAll(/data-session="([^"]+)"(?! data-current)/g)].map((m) => m[1]!);
    assert.equal(other.length, 1, page.body);
    page = await account.submit(page, `/sessions/${other[0]}/end`, {});
    assert.equal(page.status, 200);
    const ended = await newest('session.ended');
    assertSeen(ended, { accountId: adaId, clientId: null, userAgent: ACCOUNT_UA, actor: null });
    assert.equal(ended.details.session, other[0]);

    // Remove the shop's access.
    const again = await signIn(t, { clientId: 'shop', secret: SHOP_SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    keep('second phone access token', again.tokens.access_token);
    keep('second phone refresh token', again.tokens.refresh_token);
    page = await account.navigate(`${t.issuer}/account`);
    const grant = /data-grant="([^"]+)">\s*<p><strong>Audit Shop</.exec(page.body)?.[1];
    assert.ok(grant, page.body);
    page = await account.submit(page, `/grants/${grant}/revoke`, {});
    assert.equal(page.status, 200);
    const revoked = await newest('grant.revoked');
    assertSeen(revoked, { accountId: adaId, clientId: null, userAgent: ACCOUNT_UA, actor: null });
    assert.equal(revoked.details.grant, grant);

    // Sign out everywhere: this page's own session ends too, so it asks to sign in again.
    page = await account.submit(page, '/logout-everywhere', {}, callback);
    assert.ok(page.body.includes('name="password"'), 'signed out');
    const everywhere = await newest('user.logged_out_everywhere');
    assertSeen(everywhere, { accountId: adaId, clientId: null, userAgent: ACCOUNT_UA, actor: null });
    assert.equal(everywhere.details.by, 'account page');
  });

  test('admin changes: actor, via_client, before/after, address and browser; each also a pino line', async () => {
    await pause(40);
    boundary = new Date();
    await pause(40);

    const created = await ops('POST', '/clients', { client_id: 'partner', client_name: 'Partner', redirect_uris: [REDIRECT], scope: 'openid basic' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    keep('partner secret', created.body.client_secret);
    const updated = await ops('PATCH', '/clients/partner', { scope: 'openid basic offline_access', client_name: 'Partner Ltd' });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    const rotated = await ops('POST', '/clients/partner/secret');
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    keep('partner rotated secret', rotated.body.client_secret);
    assert.equal((await ops('DELETE', '/clients/partner')).status, 204);

    const carol = await ops('POST', '/users', { email: 'carol@example.test', password: CAROL_PASSWORD, name: 'Carol' });
    assert.equal(carol.status, 201, JSON.stringify(carol.body));
    keep('carol password', CAROL_PASSWORD);
    carolId = carol.body.id;
    assert.equal((await ops('PATCH', `/users/${carolId}`, { name: 'Carol Admin', roles: ['admin'] })).status, 200);
    keep('carol new password', CAROL_NEW_PASSWORD);
    assert.equal((await ops('POST', `/users/${carolId}/password`, { password: CAROL_NEW_PASSWORD })).status, 204);

    // An administrator ends one of Carol's sessions and revokes one grant, then logs Ada out everywhere.
    const carolIn = await signIn(t, { clientId: 'shop', secret: SHOP_SECRET, email: 'carol@example.test', password: CAROL_NEW_PASSWORD, scope: 'openid basic' });
    keep('carol access token', carolIn.tokens.access_token);
    const held = await ops('GET', `/users/${carolId}/sessions`);
    assert.equal(held.status, 200);
    const grantId = held.body.grants.find((g: { client_id: string }) => g.client_id === 'shop')?.id as string;
    const sessionUid = held.body.sessions[0]?.uid as string;
    assert.ok(grantId && sessionUid, JSON.stringify(held.body));
    assert.equal((await ops('DELETE', `/users/${carolId}/grants/${encodeURIComponent(grantId)}`)).status, 204);
    assert.equal((await ops('DELETE', `/users/${carolId}/sessions/${encodeURIComponent(sessionUid)}`)).status, 204);
    await signIn(t, { clientId: 'shop', secret: SHOP_SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid basic' });
    const forced = await ops('POST', `/users/${adaId}/logout`);
    assert.equal(forced.status, 200, JSON.stringify(forced.body));

    const expectations: Array<[string, { accountId?: string | null; clientId?: string | null }]> = [
      ['admin.client.created', { clientId: 'partner', accountId: null }],
      ['admin.client.updated', { clientId: 'partner', accountId: null }],
      ['admin.client.secret_rotated', { clientId: 'partner', accountId: null }],
      ['admin.client.deleted', { clientId: 'partner', accountId: null }],
      ['admin.user.created', { accountId: carolId, clientId: null }],
      ['admin.user.updated', { accountId: carolId, clientId: null }],
      ['admin.user.password_reset', { accountId: carolId, clientId: null }],
      ['admin.grant.revoked', { accountId: carolId, clientId: null }],
      ['admin.session.ended', { accountId: carolId, clientId: null }],
      ['user.forced_logout', { accountId: adaId, clientId: null }],
    ];
    const lines = t.logs.map((line) => JSON.parse(line) as Record<string, any>);
    for (const [type, who] of expectations) {
      const event = await newest(type);
      assertSeen(event, { ...who, actor: 'ops', userAgent: OPS_UA });
      assert.equal(event.details.via_client, 'ops', `${type}: via_client`);
      assert.ok(Date.parse(event.at) >= boundary.getTime(), `${type}: after the boundary`);
      // The same event as a pino line.
      const line = lines.find((l) => l.audit === type);
      assert.ok(line, `no pino line with audit=${type}`);
      assert.equal(line.msg, 'audit', type);
      assert.equal(line.actor, 'ops', `${type}: pino actor`);
      assert.equal(line.ip, LOOPBACK, `${type}: pino ip`);
      if (who.accountId) assert.equal(line.account_id, who.accountId, `${type}: pino account_id`);
      if (who.clientId) assert.equal(line.client_id, who.clientId, `${type}: pino client_id`);
      assert.equal(line.details?.via_client, 'ops', `${type}: pino via_client`);
    }

    const clientCreated = await newest('admin.client.created');
    assert.equal(clientCreated.details.after.client_id, 'partner');
    assert.equal(clientCreated.details.after.scope, 'openid basic');
    const clientUpdated = await newest('admin.client.updated');
    assert.deepEqual([clientUpdated.details.before.scope, clientUpdated.details.after.scope], ['openid basic', 'openid basic offline_access']);
    assert.deepEqual([clientUpdated.details.before.client_name, clientUpdated.details.after.client_name], ['Partner', 'Partner Ltd']);
    assert.equal((await newest('admin.client.deleted')).details.before.client_id, 'partner');
    const userCreated = await newest('admin.user.created');
    assert.equal(userCreated.details.after.email, 'carol@example.test');
    const userUpdated = await newest('admin.user.updated');
    assert.deepEqual([userUpdated.details.before.roles, userUpdated.details.after.roles], [[], ['admin']]);
    assert.deepEqual([userUpdated.details.before.name, userUpdated.details.after.name], ['Carol', 'Carol Admin']);
    assert.equal((await newest('admin.grant.revoked')).details.grant_id, grantId);
    assert.equal((await newest('admin.session.ended')).details.session_uid, sessionUid);
    const forcedEvent = await newest('user.forced_logout');
    assert.equal(forcedEvent.details.by, 'admin api');
    assert.equal(forcedEvent.details.sessions, forced.body.sessions);
  });

  test('e-mail verification: email.verification_sent by an operator, email.verified by the link', async () => {
    const veraId = (await t.tollgate.accounts.create({ email: 'vera@example.test', password: CAROL_PASSWORD })).id;
    assert.equal((await ops('POST', `/users/${veraId}/verification-email`)).status, 202);
    assertSeen(await newest('email.verification_sent', (e) => e.account_id === veraId), { accountId: veraId, actor: 'ops', userAgent: OPS_UA });
    const link = smtp.linkIn(await smtp.waitFor((m) => JSON.stringify(m.to).includes('vera@example.test')), t.issuer);
    keep('verification link token', new URL(link).searchParams.get('token') ?? undefined);
    const mailbox = new UserAgent({ 'user-agent': BROWSER_UA, ...SPOOFED });
    const page = await mailbox.submit(await mailbox.navigate(link), '/account/verify-email', {});
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assertSeen(await newest('email.verified', (e) => e.account_id === veraId), { accountId: veraId, userAgent: BROWSER_UA });
  });

  test('forgotten password: password.reset_requested from the form, password.reset by the link', async () => {
    const rubyId = (await t.tollgate.accounts.create({ email: 'ruby@example.test', password: CAROL_PASSWORD })).id;
    const browser = new UserAgent({ 'user-agent': BROWSER_UA, ...SPOOFED });
    const form = await browser.navigate(`${t.issuer}/account/forgot-password`);
    assert.equal((await browser.submit(form, '/forgot-password', { email: 'ruby@example.test' })).status, 200);
    // Recorded after the answer (the same answer whatever the address): polled.
    assertSeen(await newest('password.reset_requested', (e) => e.account_id === rubyId), { accountId: rubyId, userAgent: BROWSER_UA });
    const link = smtp.linkIn(await smtp.waitFor((m) => JSON.stringify(m.to).includes('ruby@example.test')), `${t.issuer}/account/reset-password`);
    keep('reset link token', new URL(link).searchParams.get('token') ?? undefined);
    const newPassword = 'ruby chose a new passphrase';
    keep('the new password', newPassword);
    const done = await browser.submit(await browser.navigate(link), '/reset-password', { password: newPassword });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assertSeen(await newest('password.reset', (e) => e.account_id === rubyId), { accountId: rubyId, userAgent: BROWSER_UA });
  });

  test('refused requests: no admin event, and what they carried is not written down', async () => {
    const count = async () => (await all()).length;
    const before = await count();
    keep('wrong client secret', WRONG_CLIENT_SECRET);
    keep('bogus refresh token', BOGUS_REFRESH_TOKEN);
    keep('refused user password', REFUSED_PASSWORD);
    assert.equal((await tokenRequest('shop', WRONG_CLIENT_SECRET, { grant_type: 'client_credentials' }, RP_UA)).status, 401);
    assert.equal((await tokenRequest('shop', SHOP_SECRET, { grant_type: 'refresh_token', refresh_token: BOGUS_REFRESH_TOKEN }, RP_UA)).status, 400);
    assert.equal((await ops('POST', '/users', { email: 'not an e-mail', password: REFUSED_PASSWORD })).status, 400);
    assert.equal((await ops('POST', '/users', { email: 'ada@example.test', password: REFUSED_PASSWORD })).status, 409);
    assert.equal((await ops('POST', `/users/${carolId}/password`, { password: 'short' })).status, 400);
    assert.equal((await ops('PATCH', '/clients/shop', { scope: '' })).status, 400);
    assert.equal((await ops('PATCH', '/clients/nobody', { scope: 'basic' })).status, 404);
    assert.equal((await ops('DELETE', '/clients/nobody')).status, 404);
    assert.equal((await ops('POST', '/users/00000000-0000-0000-0000-000000000000/logout')).status, 404);
    assert.equal(await count(), before, 'nothing was recorded for refused requests');
  });

  test('profile changes and deletion: audited with the address and user agent they came from, never a value or password', async () => {
    // Not through the API: its admin.user.created would be the newest, which the filters test below counts on being Carol's.
    const { id } = await t.tollgate.accounts.create({ email: 'dora@example.test', password: PASSWORD });
    const account = new UserAgent({ 'user-agent': ACCOUNT_UA, ...SPOOFED });
    const callback = `${t.issuer}/account?`;
    const login = await account.navigate(`${t.issuer}/account`, {}, callback);
    let page = await account.navigate((await account.submit(login, '/login', { login: 'dora@example.test', password: PASSWORD }, callback)).url);
    const seenHere = { accountId: id, clientId: null, userAgent: ACCOUNT_UA, actor: null };

    page = await account.submit(page, '/profile/name', { name: 'Dora Marquez' });
    const renamed = await newest('profile.updated', (e) => e.account_id === id);
    assertSeen(renamed, seenHere);
    assert.ok(!JSON.stringify(renamed).includes('Marquez'));
    page = await account.submit(page, '/profile/password', { current_password: PASSWORD, new_password: keep('profile page new password', 'Dora-new-password-5e1c') });
    assertSeen(await newest('password.changed', (e) => e.account_id === id), seenHere);
    // The link's token as the message would carry it (this Tollgate sends no mail).
    const token = keep('e-mail change link token', await t.tollgate.accountLinks.issue('change_email', id, { ttlSeconds: 60, data: { email: 'dora@example.org' } }));
    const confirmed = await account.submit(await account.navigate(`${t.issuer}/account/confirm-email?token=${token}`), '/confirm-email', {});
    assert.equal(confirmed.status, 200, confirmed.body.slice(0, 300));
    const changed = await newest('email.changed', (e) => e.account_id === id);
    assertSeen(changed, seenHere);
    assert.ok(!JSON.stringify(changed).includes('dora@'));

    assert.equal((await ops('DELETE', `/users/${id}`)).status, 204);
    const deleted = await newest('user.deleted', (e) => e.account_id === id);
    assertSeen(deleted, { accountId: id, clientId: null, userAgent: OPS_UA, actor: 'ops' });
    assert.equal(deleted.details.by, 'admin api');
    // Deleted: the person's own events keep the account id only (no address, no browser); the operator's keep the operator's.
    const after = (await list(`?account_id=${id}&limit=1000`)).items;
    const theirs = after.filter((e) => !e.actor);
    assert.ok(theirs.length >= 3, `the person's own events are kept: ${theirs.map((e) => e.type).join(', ')}`);
    for (const e of theirs) assert.deepEqual([e.type, e.ip ?? null, e.user_agent ?? null], [e.type, null, null]);
    assert.ok(after.some((e) => e.actor === 'ops' && e.user_agent === OPS_UA));
  });

  test('social login: the provider\'s admin changes, a refused link, the link after the password, a federated sign-in, an operator\'s unlink', async () => {
    const op = await startUpstreamOp({
      clients: [{ clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, redirectUris: [`${t.issuer}/interaction/federated/corp/callback`] }],
      users: [{ sub: 'corp-ada', email: 'ada@example.test', email_verified: true, name: 'Ada' }],
    });
    try {
      const added = await ops('POST', '/providers', { id: 'corp', type: 'oidc', issuer: op.issuer, client_id: 'tollgate', client_secret: keep('upstream secret', UPSTREAM_SECRET), name: 'Corp' });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      assert.equal((await ops('PATCH', '/providers/corp', { name: 'Corp Directory' })).status, 200);

      // An upstream identity with Ada's e-mail: refused on its own, linked after her password.
      const rp = await relyingParty(t, 'shop', SHOP_SECRET);
      const signInThroughCorp = async (password?: string) => {
        // A browser of its own each time; cookies per host (the upstream is an oidc-provider too, with the same cookie names).
        const browser = new UserAgent({ 'user-agent': BROWSER_UA, ...SPOOFED }, hostScopedFetch());
        const login = await browser.navigate((await authorizationRequest(rp, { scope: 'openid basic' })).url.href, {}, REDIRECT);
        let page = await browser.submit(login, '/federated/corp', {}, REDIRECT);
        if (password) page = await browser.submit(page, '/federated/link', { password }, REDIRECT);
        if (page.status === 200 && page.body.includes('/confirm')) page = await browser.submit(page, '/confirm', {}, REDIRECT);
        assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.url} ${page.body.slice(0, 300)}`);
      };
      await signInThroughCorp(PASSWORD);
      const refused = await newest('identity.link_refused', (e) => e.account_id === adaId);
      assertSeen(refused, { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
      assert.deepEqual(refused.details, { provider: 'corp', reason: 'email_belongs_to_an_account' });
      const linked = await newest('identity.linked', (e) => e.account_id === adaId);
      assertSeen(linked, { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
      assert.deepEqual([linked.details.provider, linked.details.via], ['corp', 'sign_in']);
      // Another browser, the upstream alone: login.success says how.
      await signInThroughCorp();
      const success = await newest('login.success', (e) => e.account_id === adaId && e.details.method === 'federated');
      assertSeen(success, { accountId: adaId, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
      assert.deepEqual(success.details, { method: 'federated', provider: 'corp' });

      // An operator unlinks it (Ada has a password), then removes the provider.
      assert.equal((await ops('DELETE', `/users/${adaId}/identities/corp`)).status, 204);
      const unlinked = await newest('identity.unlinked', (e) => e.account_id === adaId);
      assertSeen(unlinked, { accountId: adaId, userAgent: OPS_UA, actor: 'ops' });
      assert.deepEqual(unlinked.details, { provider: 'corp' });
      assert.equal((await ops('DELETE', '/providers/corp')).status, 204);
      for (const type of ['admin.provider.created', 'admin.provider.updated', 'admin.provider.deleted']) {
        const event = await newest(type);
        assertSeen(event, { accountId: null, userAgent: OPS_UA, actor: 'ops' });
        assert.equal(event.details.provider_id, 'corp', type);
      }
      // APIs (resource servers) as data: added, changed, removed.
      const apiCreated = await ops('POST', '/apis', { identifier: 'https://audited.example.test/api', name: 'Audited', scopes: ['audited:read'] });
      assert.equal(apiCreated.status, 201);
      const apiId = (apiCreated.body as { id: string }).id;
      assert.equal((await ops('PATCH', `/apis/${apiId}`, { name: 'Renamed' })).status, 200);
      assert.equal((await ops('DELETE', `/apis/${apiId}`)).status, 204);
      for (const type of ['admin.api.created', 'admin.api.updated', 'admin.api.deleted']) {
        const event = await newest(type);
        assertSeen(event, { accountId: null, userAgent: OPS_UA, actor: 'ops' });
        assert.equal(event.details.api_id, apiId, type);
      }
    } finally {
      await op.close();
    }
  });

  test('second factors (the service; its pages come later): enrolment, recovery codes and their use, removal, the operator\'s reset, never a secret or code', async () => {
    const { id } = await t.tollgate.accounts.create({ email: 'mfa-audit@example.test', password: PASSWORD });
    const seen = { ip: LOOPBACK, userAgent: ACCOUNT_UA };
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id, email: 'mfa-audit@example.test' });
    keep('TOTP secret', enrolment.secret);
    keep('TOTP secret as typed', enrolment.groupedSecret);
    const OTPAuth = await import('otpauth');
    // The code itself is not kept for the logs check: any six digits turn up in timestamps (details are compared whole below).
    const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret) }).generate();
    assert.equal(await t.tollgate.mfa.confirmTotp(id, code, seen), 'ok');
    const codes = await t.tollgate.mfa.regenerateRecoveryCodes(id, seen);
    codes.forEach((c, i) => keep(`recovery code ${i}`, c));
    assert.deepEqual(await t.tollgate.mfa.useRecoveryCode(id, codes[0], seen), { ok: true, remaining: 9 });
    assert.equal(await t.tollgate.mfa.removeTotp(id, seen), true);
    await t.tollgate.mfa.resetFactors(id, { actor: 'ops', ip: LOOPBACK, userAgent: OPS_UA });

    const enabled = await newest('mfa.totp_enabled', (e) => e.account_id === id);
    assertSeen(enabled, { accountId: id, userAgent: ACCOUNT_UA, actor: null });
    assert.deepEqual(enabled.details, { replaced: false });
    assert.deepEqual((await newest('mfa.recovery_codes_generated', (e) => e.account_id === id)).details, { count: 10 });
    const used = await newest('mfa.recovery_code_used', (e) => e.account_id === id);
    assertSeen(used, { accountId: id, userAgent: ACCOUNT_UA });
    assert.deepEqual(used.details, { remaining: 9 });
    assertSeen(await newest('mfa.totp_removed', (e) => e.account_id === id), { accountId: id, userAgent: ACCOUNT_UA });
    const reset = await newest('mfa.factors_reset', (e) => e.account_id === id);
    assertSeen(reset, { accountId: id, userAgent: OPS_UA, actor: 'ops' });
    assert.deepEqual(reset.details, { totp: false, recovery_codes: true });
  });

  test('the second step of a sign-in: mfa.challenge_failed with the reason, then mfa.challenge_passed with the method, never the code', async () => {
    const email = 'mfa-sign-in@example.test';
    const { id } = await t.tollgate.accounts.create({ email, password: PASSWORD });
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id, email });
    keep('sign-in TOTP secret', enrolment.secret);
    const OTPAuth = await import('otpauth');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret) });
    assert.equal(await t.tollgate.mfa.confirmTotp(id, totp.generate()), 'ok');
    const person = new UserAgent({ 'user-agent': BROWSER_UA, ...SPOOFED });
    const request = await authorizationRequest(await relyingParty(t, 'shop', SHOP_SECRET), { scope: 'openid basic' });
    let page = await person.navigate(request.url.href, {}, REDIRECT);
    page = await person.submit(page, '/login', { login: email, password: PASSWORD }, REDIRECT);
    assert.match(page.url, /second-factor$/);
    // Six digits are not kept for the logs check: any six digits turn up in timestamps. The details are compared whole instead.
    const wrong = totp.generate() === '000000' ? '111111' : '000000';
    page = await person.submit(page, '/second-factor', { code: wrong }, REDIRECT);
    assert.equal(page.status, 401);
    const right = totp.generate({ timestamp: Date.now() + 30_000 });
    page = await person.submit(page, '/second-factor', { code: right }, REDIRECT);
    assert.ok(page.url.startsWith(REDIRECT) || page.body.includes('/confirm'), page.body.slice(0, 300));
    const failed = await newest('mfa.challenge_failed', (e) => e.account_id === id);
    assertSeen(failed, { accountId: id, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
    assert.deepEqual(failed.details, { method: 'code', reason: 'invalid' });
    const passed = await newest('mfa.challenge_passed', (e) => e.account_id === id);
    assertSeen(passed, { accountId: id, clientId: 'shop', userAgent: BROWSER_UA, actor: null });
    assert.deepEqual(passed.details, { methods: ['otp'] });
  });

  test('passkeys (the service; its pages come later): registration, a counter regression, removal of one and of all, never a key or a response', async () => {
    const passkeys = t.tollgate.passkeys;
    const account = { email: 'passkey-audit@example.test', name: 'Pia' };
    const { id } = await t.tollgate.accounts.create({ email: account.email, password: PASSWORD });
    const authenticator = new SoftwareAuthenticator({ origin: t.issuer });
    /** Everything the authenticator sent: none of it belongs in the trail or the logs. */
    const keepResponse = (label: string, response: { response: object }) => {
      for (const [field, value] of Object.entries(response.response)) {
        if (typeof value === 'string' && value.length > 16) keep(`passkey ${label} ${field}`, value);
      }
    };
    const register = async (name: string) => {
      const response = await authenticator.create(await passkeys.registrationOptions({ id, ...account }));
      keepResponse(`${name} registration`, response);
      const summary = await passkeys.register(id, response, name);
      keep(`passkey ${name} public key`, authenticator.publicKeyOf(summary.id));
      return summary.id;
    };
    const phone = await register('Phone');
    // A second authenticator: the first one holds a credential the server excludes.
    const laptopAuthenticator = new SoftwareAuthenticator({ origin: t.issuer, backupEligible: true });
    const laptopResponse = await laptopAuthenticator.create(await passkeys.registrationOptions({ id, ...account }));
    keepResponse('laptop registration', laptopResponse);
    const laptop = (await passkeys.register(id, laptopResponse, 'Laptop')).id;
    keep('passkey laptop public key', laptopAuthenticator.publicKeyOf(laptop));

    const assertion = async (overrides = {}) => {
      const response = await authenticator.get(await passkeys.authenticationOptions({ accountId: id }), { credentialId: phone, ...overrides });
      keepResponse(`assertion ${response.response.signature.slice(0, 8)}`, response);
      return response;
    };
    await passkeys.authenticate(await assertion(), { accountId: id });
    // A clone that lags behind the original: its counter does not grow.
    authenticator.setCounter(phone, 0);
    await assert.rejects(passkeys.authenticate(await assertion(), { accountId: id }), { reason: 'counter' });
    assert.equal(await passkeys.remove(id, phone), true);
    assert.equal(await passkeys.removeAll(id), 1);

    const registered = (await list(`?type=passkey.registered&account_id=${id}&limit=10`)).items;
    assert.deepEqual(registered.map((e) => e.details).reverse(), [
      { credential_id: phone, device_type: 'singleDevice' }, { credential_id: laptop, device_type: 'multiDevice' },
    ]);
    const regression = await newest('passkey.counter_regression', (e) => e.account_id === id);
    assert.deepEqual(regression.details, { credential_id: phone });
    const removed = (await list(`?type=passkey.removed&account_id=${id}&limit=10`)).items;
    assert.deepEqual(removed.map((e) => e.details).reverse(), [{ credential_id: phone }, { all: true, count: 1 }]);
    for (const e of [...registered, regression, ...removed]) assert.equal(e.account_id, id, `${e.type} #${e.id}`);
    // Only the ones asked for: no event for the successful use, no second regression.
    assert.equal((await list(`?type=passkey.counter_regression&account_id=${id}&limit=10`)).items.length, 1);
  });

  test('a passkey renamed and removed on the account page: passkey.renamed (never the name), passkey.removed', async () => {
    const { id } = await t.tollgate.accounts.create({ email: 'passkey-rename@example.test', password: PASSWORD });
    const account = new UserAgent({ 'user-agent': ACCOUNT_UA, ...SPOOFED });
    const callback = `${t.issuer}/account?`;
    const login = await account.navigate(`${t.issuer}/account`, {}, callback);
    const signedIn = (await account.submit(login, '/login', { login: 'passkey-rename@example.test', password: PASSWORD }, callback)).url;
    // A stored credential, added once signed in (with it, the password alone would lead to the second step): the rename never checks its key.
    await t.tollgate.repositories.webauthnCredentials.insert({
      id: 'YXVkaXQta2V5', accountId: id, publicKey: 'cHVibGljLWtleQ', counter: 0, transports: [], name: 'Desk key', deviceType: 'singleDevice', backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
    });
    let page = await account.navigate(signedIn);
    keep('passkey name', 'Travelling key');
    page = await account.submit(page, '/mfa/passkeys/YXVkaXQta2V5/rename', { name: 'Travelling key' });
    assert.equal(page.status, 200);
    const renamed = await newest('passkey.renamed', (e) => e.account_id === id);
    assertSeen(renamed, { accountId: id, clientId: null, userAgent: ACCOUNT_UA, actor: null });
    assert.deepEqual(renamed.details, { credential_id: 'YXVkaXQta2V5', by: 'account page' });
    assert.equal((await account.submit(page, '/mfa/passkeys/YXVkaXQta2V5/remove', {})).status, 200);
    assert.deepEqual((await newest('passkey.removed', (e) => e.account_id === id)).details, { credential_id: 'YXVkaXQta2V5' });
  });

  test('every audit type has at least one row', async () => {
    const seen = new Set((await all()).map((e) => e.type));
    assert.deepEqual(AUDIT_TYPES.filter((type) => !seen.has(type)), []);
  });

  test('no password, secret, token or code in the trail or in the logs', async () => {
    const trail = JSON.stringify(await all());
    const logs = t.logs.join('\n');
    assert.ok(secrets.size >= 20, `collected ${secrets.size}`);
    for (const [label, value] of secrets) {
      assert.ok(!trail.includes(value), `the audit trail holds the ${label}`);
      assert.ok(!logs.includes(value), `the logs hold the ${label}`);
    }
    // Nor what is stored in their place.
    for (const label of ['ops secret', 'shop secret', 'partner secret', 'partner rotated secret']) {
      const digest = digestClientSecret(secrets.get(label)!);
      assert.ok(!trail.includes(digest) && !logs.includes(digest), `the digest of the ${label}`);
    }
    assert.ok(!/\$argon2|password_hash|passwordHash|secret_digest|secretDigest|client_secret"/i.test(trail), 'no hash or secret field in the trail');
    assert.ok(!/\$argon2|password_hash|passwordHash|secret_digest|secretDigest/i.test(logs), 'no hash field in the logs');
  });

  test('filters: account, type, client, time; pages with neither gap nor overlap; bad filters are 400 with fields', async () => {
    const everything = await all();
    assert.ok(everything.length >= 25, `${everything.length} events`);
    assert.ok(everything.every((e, i) => i === 0 || BigInt(e.id) < BigInt(everything[i - 1]!.id)), 'newest first');
    const ids = (events: Event[]) => events.map((e) => e.id);

    const ada = (await list(`?account_id=${adaId}&limit=1000`)).items;
    assert.deepEqual(ids(ada), ids(everything.filter((e) => e.account_id === adaId)));
    assert.ok(ada.some((e) => e.type === 'login.success') && ada.some((e) => e.type === 'user.forced_logout'));
    const carol = (await list(`?account_id=${carolId}&limit=1000`)).items;
    assert.ok(carol.length && carol.every((e) => e.account_id === carolId));
    assert.ok(!carol.some((e) => ada.some((a) => a.id === e.id)), 'no event of one user in the other\'s listing');

    for (const type of ['login.failure', 'admin.client.updated', 'session.ended']) {
      const only = (await list(`?type=${type}&limit=1000`)).items;
      assert.ok(only.length, type);
      assert.deepEqual(ids(only), ids(everything.filter((e) => e.type === type)), type);
    }
    const partner = (await list('?client_id=partner&limit=1000')).items;
    assert.deepEqual(ids(partner), ids(everything.filter((e) => e.client_id === 'partner')));
    assert.equal(partner.length, 4);
    const combined = (await list(`?account_id=${adaId}&type=login.success&limit=1000`)).items;
    assert.deepEqual(ids(combined), ids(everything.filter((e) => e.account_id === adaId && e.type === 'login.success')));

    // Time: everything before the boundary is the sign-in activity, everything at or after it the admin changes.
    const iso = encodeURIComponent(boundary.toISOString());
    const since = (await list(`?since=${iso}&limit=1000`)).items;
    const until = (await list(`?until=${iso}&limit=1000`)).items;
    assert.deepEqual(ids(since), ids(everything.filter((e) => Date.parse(e.at) >= boundary.getTime())));
    assert.deepEqual(ids(until), ids(everything.filter((e) => Date.parse(e.at) < boundary.getTime())));
    assert.deepEqual([...ids(since), ...ids(until)], ids(everything), 'since and until split the trail at the boundary');
    assert.ok(since.length && until.length);
    assert.equal(since.at(-1)!.type, 'admin.client.created', 'the oldest event after the boundary is the first admin change');
    assert.ok(until.some((e) => e.type === 'user.logged_out_everywhere') && !until.some((e) => e.type.startsWith('admin.')));
    // Offsets other than Z mean the same instant.
    const shifted = new Date(boundary.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    assert.deepEqual(ids((await list(`?since=${encodeURIComponent(shifted)}&limit=1000`)).items), ids(since));
    // A window: since the boundary, until the first user change.
    const userCreated = everything.find((e) => e.type === 'admin.user.created')!;
    const window = (await list(`?since=${iso}&until=${encodeURIComponent(userCreated.at)}&limit=1000`)).items;
    assert.deepEqual(window.map((e) => e.type), ['admin.client.deleted', 'admin.client.secret_rotated', 'admin.client.updated', 'admin.client.created']);

    // Pages of two, following next_before to the end.
    const first = await list('?limit=2');
    assert.equal(first.items.length, 2);
    assert.equal(first.next_before, first.items[1]!.id);
    const paged: Event[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(`?limit=2${cursor ? `&before=${cursor}` : ''}`);
      assert.ok(page.items.length <= 2);
      if (cursor) assert.ok(page.items.every((e) => BigInt(e.id) < BigInt(cursor!)), 'older than the cursor');
      paged.push(...page.items);
      cursor = page.next_before;
      pages += 1;
      assert.ok(pages < 1000, 'pagination ends');
    } while (cursor);
    assert.equal(new Set(ids(paged)).size, paged.length, 'no overlap');
    assert.deepEqual(ids(paged), ids(everything), 'no gap');
    assert.deepEqual(paged, everything, 'same events as the unpaginated listing');
    // Filtered pages too.
    const adaPaged: Event[] = [];
    cursor = null;
    do {
      const page: Page = await list(`?account_id=${adaId}&limit=2${cursor ? `&before=${cursor}` : ''}`);
      adaPaged.push(...page.items);
      cursor = page.next_before;
    } while (cursor);
    assert.deepEqual(ids(adaPaged), ids(ada));

    for (const [query, field] of [
      ['?type=nonsense', 'type'], ['?type=LOGIN.SUCCESS', 'type'], ['?since=yesterday', 'since'], ['?since=2024-13-01T00:00:00Z', 'since'],
      ['?until=not-a-time', 'until'], ['?before=abc', 'before'], ['?limit=0', 'limit'],
    ] as const) {
      const res = await api('GET', `/audit-events${query}`, { token: admin });
      assert.equal(res.status, 400, query);
      assert.ok(res.body.fields && typeof res.body.fields === 'object', `${query}: ${res.text}`);
      assert.ok(field in res.body.fields, `${query}: fields names ${field}: ${res.text}`);
    }
  });

  test('append-only at the API: no method changes or deletes events', async () => {
    const before = await all();
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await api(method, '/audit-events', { token: admin, json: { type: 'login.success' } });
      assert.equal(res.status, 405, `${method}: ${res.text}`);
      assert.match(res.headers.get('allow') ?? '', /GET/, method);
      assert.equal(res.body.error, 'method_not_allowed');
    }
    // Nor one event by its id.
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await api(method, `/audit-events/${before[0]!.id}`, { token: admin, json: {} });
      assert.ok(res.status === 404 || res.status === 405, `${method} one event: ${res.status}`);
    }
    assert.deepEqual(await all(), before, 'the trail is unchanged');
  });
});
