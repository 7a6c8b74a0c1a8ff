// The second step of the sign-in (issue 16) over HTTP, with openid-client as
// the relying party and a cookie-keeping agent as the person: an account
// with an authenticator app proves it after its password; what the tokens
// then say (amr, acr); wrong, replayed and recovery codes; the throttle;
// step-up with acr_values and an essential acr; and every way around the
// second step an attacker with the password alone might try.
// Codes are computed with `otpauth`, an implementation that is not ours.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { TOTP, Secret } from 'otpauth';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty, type RP } from '../support/sign-in.ts';
import { ipKey } from '../../server/services/login-throttle.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'web-client-secret-long-enough-0123456789';
const MFA = 'urn:tollgate:mfa';
const SFA = 'urn:tollgate:sfa';

/** The code an authenticator app shows `offset` steps from now (the step of enrolment is spent: tests use later ones). */
const codeAt = (secret: string, offset: number) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offset * 30_000 });

describe('the second factor in the sign-in', () => {
  let t: TestTollgate;
  let web: RP;
  const secrets = new Map<string, string>();
  let recoveryCodes: string[] = [];

  /** An account with a confirmed authenticator app; its secret is kept for computing codes. */
  async function withTotp(email: string): Promise<string> {
    const account = await t.tollgate.accounts.create({ email, password: PASSWORD });
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: account.id, email });
    assert.equal(await t.tollgate.mfa.confirmTotp(account.id, codeAt(enrolment.secret, 0)), 'ok');
    secrets.set(email, enrolment.secret);
    return account.id;
  }

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], scope: 'openid profile email offline_access basic', firstParty: true });
    web = await relyingParty(t, 'web', SECRET);
    const ada = await withTotp('ada@example.test');
    recoveryCodes = await t.tollgate.mfa.regenerateRecoveryCodes(ada);
    await withTotp('eve@example.test');
    await withTotp('gus@example.test');
    await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const forget = (emails: string[]) =>
    Promise.all([...emails.map((email) => `account:${email}`), ipKey('127.0.0.1')].map((key) => t.tollgate.repositories.loginThrottle.reset(key)));

  const exchange = (callback: string, request: { verifier: string; state: string; nonce: string }) =>
    oidc.authorizationCodeGrant(web, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });

  /** Submits the second-factor form, then the consent page if it follows; returns the client's callback (or what answered). */
  async function secondStep(agent: UserAgent, page: { url: string; body: string }, fields: Record<string, string>) {
    let next = await agent.submit(page, '/second-factor', fields, REDIRECT);
    if (next.status === 200 && next.body.includes('/confirm')) next = await agent.submit(next, '/confirm', {}, REDIRECT);
    return next;
  }

  /** Password only: returns the second-factor page (or whatever answered). */
  async function passwordStep(email: string, params: Record<string, string> = {}) {
    const agent = new UserAgent();
    const request = await authorizationRequest(web, { scope: 'openid email basic offline_access', prompt: 'consent', ...params });
    const page = await logInWith(agent, request.url, { email, password: PASSWORD }, false);
    return { agent, request, page };
  }

  test('after the password, an account with an authenticator app gets the second step, not the client', async () => {
    const { page } = await passwordStep('ada@example.test');
    assert.equal(page.status, 200);
    assert.match(page.url, /\/interaction\/[^/]+\/second-factor$/);
    assert.match(page.body, /name="code"/);
    assert.match(page.body, /autocomplete="one-time-code"/);
    assert.ok(!page.url.startsWith(REDIRECT));
  });

  test('a right code completes it: the ID token and the access token say pwd + otp, mfa, and the MFA level', async () => {
    const { agent, request, page } = await passwordStep('ada@example.test');
    const callback = await secondStep(agent, page, { code: codeAt(secrets.get('ada@example.test')!, 1) });
    assert.ok(callback.url.startsWith(REDIRECT), `${callback.status} ${callback.body.slice(0, 300)}`);
    const tokens = await exchange(callback.url, request);
    const id = tokens.claims()!;
    assert.deepEqual(id.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(id.acr, MFA);
    const access = decodeJwt(tokens.access_token);
    assert.deepEqual(access.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(access.acr, MFA);
    // A refresh keeps what the sign-in proved.
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    assert.equal(decodeJwt(refreshed.access_token).acr, MFA);
    assert.deepEqual(refreshed.claims()!.amr, ['pwd', 'otp', 'mfa']);
  });

  test('a password-only sign-in says so: amr pwd, the one-factor level, in discovery with the other', async () => {
    const { agent, request, page: first } = await passwordStep('bob@example.test');
    const page = first.body.includes('/confirm') ? await agent.submit(first, '/confirm', {}, REDIRECT) : first;
    assert.ok(page.url.startsWith(REDIRECT), page.body.slice(0, 300));
    const tokens = await exchange(page.url, request);
    assert.deepEqual(tokens.claims()!.amr, ['pwd']);
    assert.equal(tokens.claims()!.acr, SFA);
    assert.equal(decodeJwt(tokens.access_token).acr, SFA);
    assert.deepEqual(web.serverMetadata().acr_values_supported, [SFA, MFA]);
  });

  test('a wrong code is refused with 401 and the page again; a code used once is refused the second time', async () => {
    const secret = secrets.get('eve@example.test')!;
    const first = await passwordStep('eve@example.test');
    const wrong = await first.agent.submit(first.page, '/second-factor', { code: '000000' === codeAt(secret, 0) ? '111111' : '000000' }, REDIRECT);
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /not accepted/);
    const code = codeAt(secret, 1);
    const ok = await secondStep(first.agent, wrong, { code });
    assert.ok(ok.url.startsWith(REDIRECT));
    // The same code in another sign-in (someone who watched it typed): replayed.
    const second = await passwordStep('eve@example.test');
    const replayed = await second.agent.submit(second.page, '/second-factor', { code }, REDIRECT);
    assert.equal(replayed.status, 401);
    assert.match(replayed.body, /used already/);
    const events = await t.tollgate.repositories.audit.list({ type: 'mfa.challenge_failed', limit: 10 });
    assert.ok(events.some((e) => (e.details as { reason?: string }).reason === 'replayed'));
    await forget(['eve@example.test']);
  });

  test('a recovery code works once, and the person is told how many remain', async () => {
    const { agent, request, page } = await passwordStep('ada@example.test');
    const notice = await agent.submit(page, '/second-factor', { code: recoveryCodes[0]!.toLowerCase() }, REDIRECT);
    assert.equal(notice.status, 200);
    assert.match(notice.body, /Recovery code used/);
    assert.match(notice.body, /9 remain/);
    const onwards = notice.body.match(/<a href="([^"]+)"[^>]*>Continue<\/a>/)![1]!.replace(/&amp;/g, "&");
    let next = await agent.navigate(new URL(onwards, notice.url).href, {}, REDIRECT);
    if (next.status === 200 && next.body.includes('/confirm')) next = await agent.submit(next, '/confirm', {}, REDIRECT);
    assert.ok(next.url.startsWith(REDIRECT), `${next.status} ${next.body.slice(0, 300)}`);
    const tokens = await exchange(next.url, request);
    assert.equal(tokens.claims()!.acr, MFA);
    assert.deepEqual(await t.tollgate.mfa.factorsOf(tokens.claims()!.sub).then((f) => f.recoveryCodes?.remaining), 9);
    const again = await passwordStep('ada@example.test');
    const refused = await again.agent.submit(again.page, '/second-factor', { code: recoveryCodes[0]! }, REDIRECT);
    assert.equal(refused.status, 401);
    await forget(['ada@example.test']);
  });

  test('failed codes count toward the login throttle, and a right password does not reset the count', async () => {
    const email = 'gus@example.test';
    let last = { status: 0, body: '', url: '' };
    for (let round = 0; round < 4 && last.status !== 429; round += 1) {
      // Each round types the right password again: that must not start the count afresh.
      const { agent, page } = await passwordStep(email);
      if (page.status === 429) {
        last = page;
        break;
      }
      for (let i = 0; i < 3 && last.status !== 429; i += 1) last = await agent.submit(page, '/second-factor', { code: '12345' + String(i) }, REDIRECT);
    }
    assert.equal(last.status, 429, 'the throttle stopped the guessing');
    await forget([email]);
  });

  test('step-up: a one-factor session asked for the MFA level (acr_values) proves only the second factor', async () => {
    // First a sign-in whose session ends up one-factor: the factor is added after it signed in.
    const agent = new UserAgent();
    await t.tollgate.accounts.create({ email: 'ida@example.test', password: PASSWORD });
    const first = await authorizationRequest(web, { scope: 'openid email' });
    const signedIn = await logInWith(agent, first.url, { email: 'ida@example.test', password: PASSWORD });
    assert.equal((await exchange(signedIn.url, first)).claims()!.acr, SFA);
    const id = (await t.tollgate.accounts.idForEmail('ida@example.test'))!;
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id, email: 'ida@example.test' });
    assert.equal(await t.tollgate.mfa.confirmTotp(id, codeAt(enrolment.secret, 0)), 'ok');
    // A silent request for the same session is still answered as it was.
    const silent = await authorizationRequest(web, { scope: 'openid email' });
    const again = await agent.navigate(silent.url.href, {}, REDIRECT);
    assert.ok(again.url.startsWith(REDIRECT));
    // acr_values=MFA: no password page, the second step straight away.
    const stepUp = await authorizationRequest(web, { scope: 'openid email', acr_values: MFA });
    const page = await agent.navigate(stepUp.url.href, {}, REDIRECT);
    assert.match(page.url, /\/second-factor$/);
    assert.ok(!page.body.includes('name="password"'));
    const callback = await agent.submit(page, '/second-factor', { code: codeAt(enrolment.secret, 1) }, REDIRECT);
    const tokens = await exchange(callback.url, stepUp);
    assert.equal(tokens.claims()!.acr, MFA);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(tokens.claims()!.sub, id);
    // The session is at the MFA level now: the next request for it passes without a prompt.
    const after = await authorizationRequest(web, { scope: 'openid email', acr_values: MFA });
    const direct = await agent.navigate(after.url.href, {}, REDIRECT);
    assert.ok(direct.url.startsWith(REDIRECT));
  });

  test('max_age in an MFA session: the whole sign-in again (password, then the second factor), with a new auth_time', async () => {
    const email = 'max@example.test';
    await withTotp(email);
    const { agent, request, page } = await passwordStep(email);
    const first = await exchange((await secondStep(agent, page, { code: codeAt(secrets.get(email)!, 1) })).url, request);
    assert.equal(first.claims()!.acr, MFA);
    await new Promise((r) => setTimeout(r, 1100));
    const before = Math.floor(Date.now() / 1000);
    const again = await authorizationRequest(web, { scope: 'openid email', max_age: '0' });
    const login = await agent.navigate(again.url.href, {}, REDIRECT);
    assert.match(login.body, /name="password"/, 'max_age=0: the password again');
    const second = await agent.submit(login, '/login', { login: email, password: PASSWORD }, REDIRECT);
    assert.match(second.url, /\/second-factor$/, 'and the second factor');
    // The app's next code was spent above (and the one after is outside the ±1 step window): a recovery code.
    const [recovery] = await t.tollgate.mfa.regenerateRecoveryCodes((await t.tollgate.accounts.idForEmail(email))!);
    const notice = await agent.submit(second, '/second-factor', { code: recovery! }, REDIRECT);
    const onwards = notice.body.match(/<a href="([^"]+)"[^>]*>Continue<\/a>/)![1]!.replace(/&amp;/g, '&');
    const callback = await agent.navigate(new URL(onwards, notice.url).href, {}, REDIRECT);
    assert.ok(callback.url.startsWith(REDIRECT), `${callback.status} ${callback.body.slice(0, 300)}`);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(callback.url), { pkceCodeVerifier: again.verifier, expectedState: again.state, expectedNonce: again.nonce, maxAge: 0 });
    assert.equal(tokens.claims()!.acr, MFA);
    assert.ok(tokens.claims()!.auth_time! >= before, `a new auth_time: ${tokens.claims()!.auth_time}, asked at ${before}`);
  });

  test('an essential acr in the claims parameter is honoured the same way', async () => {
    const agent = new UserAgent();
    await t.tollgate.accounts.create({ email: 'jo@example.test', password: PASSWORD });
    const id = (await t.tollgate.accounts.idForEmail('jo@example.test'))!;
    const first = await authorizationRequest(web, { scope: 'openid email' });
    await logInWith(agent, first.url, { email: 'jo@example.test', password: PASSWORD });
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id, email: 'jo@example.test' });
    assert.equal(await t.tollgate.mfa.confirmTotp(id, codeAt(enrolment.secret, 0)), 'ok');
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: [MFA] } } });
    const request = await authorizationRequest(web, { scope: 'openid email', claims });
    const page = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.match(page.url, /\/second-factor$/);
    const callback = await agent.submit(page, '/second-factor', { code: codeAt(enrolment.secret, 1) }, REDIRECT);
    assert.equal((await exchange(callback.url, request)).claims()!.acr, MFA);
  });

  describe('an attacker with the password but not the factor', () => {
    test('cannot reach a code through the second-factor form without a code, enrolment, the consent form or the resume URL', async () => {
      const { agent, page } = await passwordStep('ada@example.test');
      const uid = page.url.match(/\/interaction\/([^/]+)\/second-factor$/)![1]!;
      const csrf = page.body.match(/name="csrf" value="([^"]+)"/)![1]!;
      // The second-factor form with an empty code, a passkey answer that is not one, a method that is not one: the page again, 4xx.
      for (const [fields, status] of [[{ code: '' }, 401], [{ method: 'passkey', webauthn_response: '{}' }, 400], [{ method: 'nonsense' }, 400]] as Array<[Record<string, string>, number]>) {
        const refused = await agent.submit(page, '/second-factor', fields, REDIRECT);
        assert.equal(refused.status, status, JSON.stringify(fields));
        assert.match(refused.body, /name="code"/, 'the second-factor page again');
      }
      // Enrolment is for accounts without a factor: it cannot add (or replace) one here.
      const enrol = await agent.navigate(`${t.issuer}/interaction/${uid}/enrol/totp`, {}, REDIRECT);
      assert.match(enrol.url, /\/second-factor$/, `${enrol.status} ${enrol.body.slice(0, 600)}`);
      const post = (path: string, fields: Record<string, string>) =>
        agent.navigate(`${t.issuer}/interaction/${uid}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, ...fields }).toString() }, REDIRECT);
      const confirmTotp = await post('/enrol/totp', { code: '123456' });
      assert.match(confirmTotp.url, /\/second-factor$/);
      const done = await post('/enrol/done', {});
      assert.ok(!done.url.startsWith(REDIRECT));
      assert.equal(done.status, 400);
      // The consent form of this interaction: it is at the login prompt.
      const consent = await post('/confirm', {});
      assert.ok(!consent.url.startsWith(REDIRECT));
      assert.equal(consent.status, 400);
      // oidc-provider's resume URL: no login result, so no code; a login page again.
      const resumed = await agent.navigate(`${t.issuer}/auth/${uid}`, {}, REDIRECT);
      assert.ok(!resumed.url.startsWith(REDIRECT), resumed.url);
      assert.match(resumed.body, /name="password"/);
      await forget(['ada@example.test']);
    });

    test('cannot carry the first step\'s cookie into another interaction, or get anything with prompt=none', async () => {
      const first = await passwordStep('ada@example.test');
      // A second authorization in the same browser: its interaction has no first factor of its own.
      const request = await authorizationRequest(web, { scope: 'openid email' });
      const login = await first.agent.navigate(request.url.href, {}, REDIRECT);
      assert.match(login.body, /name="password"/);
      const uid = login.url.match(/\/interaction\/([^/?]+)/)![1]!;
      const jump = await first.agent.navigate(`${t.issuer}/interaction/${uid}/second-factor`, {}, REDIRECT);
      assert.equal(jump.status, 400);
      assert.ok(!jump.body.includes('name="code"'));
      const none = await authorizationRequest(web, { scope: 'openid email', prompt: 'none' });
      const silent = await first.agent.navigate(none.url.href, {}, REDIRECT);
      assert.equal(new URL(silent.url).searchParams.get('error'), 'login_required');
    });

    test('cannot reach the account page', async () => {
      const agent = new UserAgent();
      const start = await agent.navigate(`${t.issuer}/account`, {}, REDIRECT);
      assert.match(start.body, /name="password"/);
      const next = await agent.submit(start, '/login', { login: 'ada@example.test', password: PASSWORD });
      assert.match(next.url, /\/second-factor$/);
      const account = await agent.navigate(`${t.issuer}/account`);
      assert.ok(!account.body.includes('ada@example.test'), 'the account page did not open');
      assert.match(account.body, /name="password"/);
      await forget(['ada@example.test']);
    });

    test('the back button after a completed sign-in: the old forms have expired', async () => {
      await withTotp('kim@example.test');
      const { agent, page } = await passwordStep('kim@example.test');
      const done = await secondStep(agent, page, { code: codeAt(secrets.get('kim@example.test')!, 1) });
      assert.ok(done.url.startsWith(REDIRECT), `${done.status} ${done.body.slice(0, 200)}`);
      const replay = await agent.submit(page, '/second-factor', { code: codeAt(secrets.get('kim@example.test')!, 1) }, REDIRECT);
      assert.equal(replay.status, 400, `${replay.url} ${replay.body.slice(0, 600)}`);
      assert.ok(!replay.url.startsWith(REDIRECT));
      assert.match(replay.body, /expired/i);
    });
  });
});
