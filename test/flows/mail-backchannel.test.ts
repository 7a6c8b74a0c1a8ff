// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) from the
// self-service flows of issue 14: a password reset through the e-mailed link
// and an account's deletion (account page, admin API) end every session,
// and each client that registered a back-channel URI gets a signed logout
// token naming the session; a password change on the account page ends the
// person's OTHER sessions only, so the current one hears nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { startLogoutReceiver, type LogoutReceiver } from '../support/logout-receiver.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';
import { adminCalls } from '../support/admin.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'backchannel-client-secret-0123456789abcd';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

describe('back-channel logout from password reset, password change and account deletion', () => {
  let smtp: TestSmtp;
  let t: TestTollgate;
  let receiver: LogoutReceiver;
  let admin: string;
  /** Every logout token the client's back-channel URI received, in order. */
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });

  before(async () => {
    smtp = await startSmtp();
    // The receiver is on loopback, which the SSRF guard refuses unless allowed.
    t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100] }, env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    receiver = await startLogoutReceiver();
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri });
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
  });
  after(async () => {
    receiver?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  const webSignIn = (email: string) => signIn(t, { clientId: 'web', secret: SECRET, email, password: PASSWORD, scope: 'openid' });
  /** The session's sid and the subject, as the client saw them in the ID token. */
  const idOf = (session: Awaited<ReturnType<typeof webSignIn>>) => {
    const claims = session.tokens.claims()!;
    assert.ok(claims.sid, 'the ID token carries a sid (backchannel_logout_session_required)');
    return { sid: String(claims.sid), sub: claims.sub };
  };
  /** The tokens received since `from`, each checked as the client must (signature by the JWKS, iss, aud, typ, events, no nonce). */
  const received = async (from: number): Promise<JWTPayload[]> => {
    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
    return Promise.all(receiver.tokens.slice(from).map(async (token) => {
      const { payload } = await jwtVerify(token, jwks, { issuer: t.issuer, audience: 'web', typ: 'logout+jwt' });
      assert.deepEqual(payload.events, { [LOGOUT_EVENT]: {} });
      assert.equal(payload.nonce, undefined, 'a logout token never carries a nonce');
      return payload;
    }));
  };
  /** The newest audit event of `type` for the account: its details. */
  const audited = async (type: Parameters<TestTollgate['tollgate']['audit']['page']>[0]['type'], accountId: string) => {
    const [event] = (await t.tollgate.audit.page({ type, accountId, limit: 1 })).events;
    assert.ok(event, `no ${type} event`);
    return event.details as { sessions: number; backchannel_notified: number; backchannel_failed: number };
  };
  /** The account page in `agent`, which already holds a session (signed in through the client). */
  const accountPage = async (agent: UserAgent) => {
    const page = await agent.navigate(`${t.issuer}/account`);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assert.ok(page.url.startsWith(`${t.issuer}/account`), page.url);
    return page;
  };

  test('a password reset through the e-mailed link: a logout token for the session, audited as one session ended', async () => {
    const ada = await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    const session = idOf(await webSignIn('ada@example.test'));
    const from = receiver.tokens.length;

    const browser = new UserAgent();
    const form = await browser.navigate(`${t.issuer}/account/forgot-password`);
    assert.equal((await browser.submit(form, '/forgot-password', { email: 'ada@example.test' })).status, 200);
    const message = await smtp.waitFor((m) => JSON.stringify(m.to).includes('ada@example.test'));
    const link = smtp.linkIn(message, `${t.issuer}/account/reset-password`);
    const done = await browser.submit(await browser.navigate(link), '/reset-password', { password: 'a brand new passphrase' });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.match(done.body, /Your password has been changed/);

    const tokens = await received(from);
    assert.equal(tokens.length, 1, 'one logout token: one session with the client');
    assert.equal(tokens[0]!.sid, session.sid);
    assert.equal(tokens[0]!.sub, session.sub);
    assert.equal(tokens[0]!.sub, ada.id);
    const details = await audited('password.reset', ada.id);
    assert.ok(details.sessions >= 1, JSON.stringify(details));
    assert.equal(details.backchannel_notified, 1);
    assert.equal(details.backchannel_failed, 0);
  });

  test('deleting the account from the account page: a logout token for the session, audited', async () => {
    const bob = await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
    const signedIn = await webSignIn('bob@example.test');
    const session = idOf(signedIn);
    const from = receiver.tokens.length;

    const confirm = await signedIn.agent.navigate(`${t.issuer}/account/delete`);
    assert.equal(confirm.status, 200, confirm.body.slice(0, 300));
    const gone = await signedIn.agent.submit(confirm, '/account/delete', { password: PASSWORD });
    assert.equal(gone.status, 200, gone.body.slice(0, 300));

    const tokens = await received(from);
    assert.equal(tokens.length, 1);
    assert.equal(tokens[0]!.sid, session.sid);
    assert.equal(tokens[0]!.sub, bob.id);
    const details = await audited('user.deleted', bob.id);
    assert.ok(details.sessions >= 1, JSON.stringify(details));
    assert.equal(details.backchannel_notified, 1);
  });

  test('DELETE /admin/v1/users/{id}: a logout token for each of the person\'s sessions', async () => {
    const carol = await t.tollgate.accounts.create({ email: 'carol@example.test', password: PASSWORD });
    const laptop = idOf(await webSignIn('carol@example.test'));
    const phone = idOf(await webSignIn('carol@example.test'));
    const from = receiver.tokens.length;

    const res = await api('DELETE', `/users/${carol.id}`, { token: admin });
    assert.equal(res.status, 204, res.text);

    const tokens = await received(from);
    assert.deepEqual(tokens.map((p) => p.sid).sort(), [laptop.sid, phone.sid].sort());
    assert.ok(tokens.every((p) => p.sub === carol.id));
    const details = await audited('user.deleted', carol.id);
    assert.equal(details.sessions, 2);
    assert.equal(details.backchannel_notified, 2);
  });

  test('a password change on the account page: a logout token for the other session only, never for the current one', async () => {
    const dora = await t.tollgate.accounts.create({ email: 'dora@example.test', password: PASSWORD });
    const here = await webSignIn('dora@example.test');
    const current = idOf(here);
    const other = idOf(await webSignIn('dora@example.test'));
    assert.notEqual(current.sid, other.sid);
    const from = receiver.tokens.length;

    const page = await accountPage(here.agent);
    const changed = await here.agent.submit(page, '/profile/password', { current_password: PASSWORD, new_password: 'dora chose another passphrase' });

    const tokens = await received(from);
    assert.deepEqual(tokens.map((p) => p.sid), [other.sid], 'the other session only');
    assert.equal(tokens[0]!.sub, dora.id);
    assert.equal(changed.status, 200, changed.body.slice(0, 300));
    assert.match(changed.url, /profile=password_changed/);
    const details = await audited('password.changed', dora.id);
    assert.equal(details.sessions, 1);
    assert.equal(details.backchannel_notified, 1);
    // The current session goes on: the account page still shows, no sign-in asked.
    await accountPage(here.agent);
  });
});
