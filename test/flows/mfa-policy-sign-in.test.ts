// Who must use a second factor (issue 16, point 4), over HTTP: MFA_POLICY
// admins and everyone, a client's require_mfa, a step-up for an account with
// no factor; a person who must and has none sets one up during the sign-in
// (an authenticator app, or a passkey played by the software authenticator,
// a fixture), sees the recovery codes once and continues; the operator's
// reset sends them through enrolment again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { TOTP, Secret } from 'otpauth';
import { SoftwareAuthenticator } from '../support/software-authenticator.ts';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { decodeEntities, UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty, type RP } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'web-client-secret-long-enough-0123456789';
const MFA = 'urn:tollgate:mfa';
const SFA = 'urn:tollgate:sfa';

const decode = decodeEntities;
const codeFor = (secret: string, offset = 0) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + offset * 30_000 });

async function start(env: Record<string, string>) {
  const t = await startTestTollgate({ env });
  await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], scope: 'openid email basic admin', firstParty: true });
  await t.tollgate.clients.register({ id: 'bank', secret: SECRET, redirectUris: [REDIRECT], scope: 'openid email basic', firstParty: true, requireMfa: true });
  return t;
}

/** Signs in with the password; returns what answered (the client's callback, the enrolment page, ...). */
async function passwordSignIn(rp: RP, email: string, params: Record<string, string> = {}, agent = new UserAgent()) {
  const request = await authorizationRequest(rp, { scope: 'openid email', ...params });
  const page = await logInWith(agent, request.url, { email, password: PASSWORD }, false);
  return { agent, request, page };
}

const exchange = (rp: RP, callback: string, request: { verifier: string; state: string; nonce: string }) =>
  oidc.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });

/** From the enrolment page: the authenticator app's set-up, a wrong code first, then the right one; the codes page, then Continue. */
async function enrolTotp(agent: UserAgent, enrolPage: { url: string; body: string }) {
  const href = decode(enrolPage.body.match(/href="([^"]+)" data-enrol="totp"/)![1]!);
  const setup = await agent.navigate(new URL(href, enrolPage.url).href, {}, REDIRECT);
  assert.equal(setup.status, 200);
  assert.match(setup.body, /<img class="qr" src="data:image\/svg\+xml;base64,/);
  const secret = setup.body.match(/data-totp-secret><code>([A-Z2-7 ]+)<\/code>/)![1]!.replace(/ /g, '');
  const wrong = await agent.submit(setup, '/enrol/totp', { code: codeFor(secret) === '000000' ? '111111' : '000000' }, REDIRECT);
  assert.equal(wrong.status, 400);
  assert.ok(wrong.body.includes(setup.body.match(/data-totp-secret><code>([A-Z2-7 ]+)<\/code>/)![1]!), 'the same secret again after a wrong code');
  const codes = await agent.submit(wrong, '/enrol/totp', { code: codeFor(secret) }, REDIRECT);
  assert.equal(codes.status, 200, codes.body.slice(0, 400));
  const shown = [...codes.body.matchAll(/<li><code>([A-Z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  assert.equal(shown.length, 10);
  const callback = await agent.submit(codes, '/enrol/done', {}, REDIRECT);
  return { secret, recoveryCodes: shown, callback, codesPage: codes };
}

describe('MFA_POLICY=admins and a client\'s require_mfa', () => {
  let t: TestTollgate;
  let web: RP;
  let bank: RP;
  before(async () => {
    t = await start({ MFA_POLICY: 'admins' });
    web = await relyingParty(t, 'web', SECRET);
    bank = await relyingParty(t, 'bank', SECRET);
    await t.tollgate.accounts.create({ email: 'root@example.test', password: PASSWORD, roles: ['admin'] });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
    await t.tollgate.accounts.create({ email: 'cy@example.test', password: PASSWORD });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('an account without the admin role signs in with its password alone', async () => {
    const { request, page } = await passwordSignIn(web, 'ada@example.test');
    assert.ok(page.url.startsWith(REDIRECT), page.url);
    assert.equal((await exchange(web, page.url, request)).claims()!.acr, SFA);
  });

  test('an administrator with no factor sets up an authenticator app during the sign-in, then continues at the MFA level', async () => {
    const { agent, request, page } = await passwordSignIn(web, 'root@example.test');
    assert.match(page.url, /\/enrol$/);
    assert.match(page.body, /Set up two-step verification/);
    const { callback, codesPage } = await enrolTotp(agent, page);
    assert.ok(callback.url.startsWith(REDIRECT), `${callback.status} ${callback.body.slice(0, 300)}`);
    const tokens = await exchange(web, callback.url, request);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(tokens.claims()!.acr, MFA);
    // The codes page's Continue works once: the interaction is over.
    const again = await agent.submit(codesPage, '/enrol/done', {}, REDIRECT);
    assert.equal(again.status, 400);
    // Next time: the second step, not enrolment.
    const next = await passwordSignIn(web, 'root@example.test');
    assert.match(next.page.url, /\/second-factor$/);
  });

  test('a client with require_mfa: its sign-ins need the second factor (here a passkey, set up during the sign-in); other clients\' do not', async () => {
    const { agent, request, page } = await passwordSignIn(bank, 'bob@example.test');
    assert.match(page.url, /\/enrol$/);
    const form = page.body.match(/<form[^>]*data-enrol="passkey"[^>]*>/)![0];
    const options = JSON.parse(decode(form.match(/data-webauthn-options="([^"]*)"/)![1]!));
    const key = new SoftwareAuthenticator({ origin: t.issuer });
    const answer = JSON.stringify(await key.create(options));
    // A name over the limit: the passkey page's refusal (400), not a generic error page; nothing registered.
    const tooLong = await agent.submit(page, '/enrol/passkey', { webauthn_response: answer, name: 'x'.repeat(65) }, REDIRECT);
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body, /Passkey not accepted/);
    const codes = await agent.submit(page, '/enrol/passkey', { webauthn_response: answer, name: 'Phone' }, REDIRECT);
    assert.equal(codes.status, 200, codes.body.slice(0, 300));
    assert.match(codes.body, /data-recovery-codes/);
    const callback = await agent.submit(codes, '/enrol/done', {}, REDIRECT);
    const tokens = await exchange(bank, callback.url, request);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal(tokens.claims()!.acr, MFA);
    assert.deepEqual((await t.tollgate.passkeys.list(tokens.claims()!.sub)).map((p) => p.name), ['Phone']);
    // Another client, another browser: the passkey is asked for (the account has a factor now), not enrolment.
    const other = await passwordSignIn(web, 'bob@example.test');
    assert.match(other.page.url, /\/second-factor$/);
  });

  test('the same session, then a require_mfa client: a step-up, with enrolment when there is no factor', async () => {
    const agent = new UserAgent();
    const first = await passwordSignIn(web, 'cy@example.test', {}, agent);
    assert.ok(first.page.url.startsWith(REDIRECT));
    const request = await authorizationRequest(bank, { scope: 'openid email' });
    const page = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.match(page.url, /\/enrol$/, 'no password again: the session is the first factor');
    const { callback } = await enrolTotp(agent, page);
    assert.ok(callback.url.startsWith(REDIRECT), `${callback.status} ${callback.body.slice(0, 300)}`);
    const tokens = await exchange(bank, callback.url, request);
    assert.equal(tokens.claims()!.acr, MFA);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
  });

  test('an operator\'s reset (admin API): the factors are gone, and the administrator enrols again at the next sign-in', async () => {
    const id = (await t.tollgate.accounts.idForEmail('root@example.test'))!;
    assert.ok((await t.tollgate.mfa.factorsOf(id)).totp);
    const ops = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' })).client_secret!;
    const token = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`ops:${ops}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: `${t.issuer}/admin/v1` }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const reset = await fetch(`${t.issuer}/admin/v1/users/${id}/mfa`, { method: 'DELETE', headers: { authorization: `Bearer ${token.access_token}` } });
    assert.equal(reset.status, 200);
    const summary = await reset.json() as { totp: boolean; recovery_codes: boolean; ended: { sessions: number } };
    assert.equal(summary.totp, true);
    assert.equal(summary.recovery_codes, true);
    assert.ok(summary.ended.sessions >= 1, 'their sessions ended');
    assert.equal((await t.tollgate.mfa.factorsOf(id)).totp, null);
    const { page } = await passwordSignIn(web, 'root@example.test');
    assert.match(page.url, /\/enrol$/);
  });
});

describe('MFA_POLICY=everyone', () => {
  let t: TestTollgate;
  let web: RP;
  before(async () => {
    t = await start({ MFA_POLICY: 'everyone' });
    web = await relyingParty(t, 'web', SECRET);
    await t.tollgate.accounts.create({ email: 'dee@example.test', password: PASSWORD });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('every account enrols before its first sign-in completes; silent sign-in of a one-factor session is refused', async () => {
    const { agent, page } = await passwordSignIn(web, 'dee@example.test');
    assert.match(page.url, /\/enrol$/);
    // Nothing to the client yet: a silent request finds no session.
    const silent = await authorizationRequest(web, { scope: 'openid email', prompt: 'none' });
    const answer = await agent.navigate(silent.url.href, {}, REDIRECT);
    assert.equal(new URL(answer.url).searchParams.get('error'), 'login_required');
    // Cancelling the enrolment: the client hears access_denied, no code.
    const fresh = await passwordSignIn(web, 'dee@example.test');
    const cancelled = await fresh.agent.submit(fresh.page, '/abort', {}, REDIRECT);
    assert.equal(new URL(cancelled.url).searchParams.get('error'), 'access_denied');
    assert.equal(new URL(cancelled.url).searchParams.get('code'), null);
  });
});
