// Passkeys in the sign-in (issue 16) over HTTP, the browser's part played by
// the software authenticator (test/support/software-authenticator.ts, a
// fixture) reading the options the pages hand out: a passkey as the second
// factor after a password, and as the only factor ("Sign in with a
// passkey"), with what the tokens say, and the refusals. Chromium with its
// virtual authenticator does the same in test/e2e/second-factor.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { SoftwareAuthenticator } from '../support/software-authenticator.ts';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { decodeEntities, UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty, type RP } from '../support/sign-in.ts';
import { ipKey } from '../../server/services/login-throttle.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'web-client-secret-long-enough-0123456789';
const MFA = 'urn:tollgate:mfa';

const decode = decodeEntities;

/** The WebAuthn options of the page's form marked `marker` (webauthn.js reads the same attribute). */
function optionsOn(body: string, marker: string) {
  const form = body.match(new RegExp(`<form[^>]*${marker}[^>]*>`))?.[0];
  assert.ok(form, `no form ${marker}`);
  return JSON.parse(decode(form.match(/data-webauthn-options="([^"]*)"/)![1]!));
}

describe('passkeys in the sign-in', () => {
  let t: TestTollgate;
  let web: RP;
  let ada: { id: string; email: string; name: string | null };
  let bob: { id: string; email: string; name: string | null };
  let phone: SoftwareAuthenticator;
  let laptop: SoftwareAuthenticator;

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], scope: 'openid email basic', firstParty: true });
    web = await relyingParty(t, 'web', SECRET);
    const a = await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    const b = await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
    ada = { id: a.id, email: a.email, name: null };
    bob = { id: b.id, email: b.email, name: null };
    phone = new SoftwareAuthenticator({ origin: t.issuer });
    laptop = new SoftwareAuthenticator({ origin: t.issuer, backupEligible: true });
    await t.tollgate.passkeys.register(ada.id, await phone.create(await t.tollgate.passkeys.registrationOptions(ada)), 'Phone');
    await t.tollgate.passkeys.register(bob.id, await laptop.create(await t.tollgate.passkeys.registrationOptions(bob)), 'Laptop');
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const exchange = (callback: string, request: { verifier: string; state: string; nonce: string }) =>
    oidc.authorizationCodeGrant(web, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });

  test('as the second factor: the page asks for the account\'s passkey; the tokens say pwd + hwk + user, mfa', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const page = await logInWith(agent, request.url, { email: ada.email, password: PASSWORD }, false);
    assert.match(page.url, /\/second-factor$/);
    assert.ok(!page.body.includes('name="code"'), 'no code field: this account has no authenticator app');
    assert.match(page.body, /<script src="\/assets\/webauthn\.js" defer><\/script>/);
    const options = optionsOn(page.body, 'data-second-factor="passkey"');
    assert.deepEqual(options.allowCredentials.map((c: { id: string }) => c.id), phone.credentialIds());
    const answer = await phone.get(options);
    const callback = await agent.submit(page, '/second-factor', { method: 'passkey', webauthn_response: JSON.stringify(answer) }, REDIRECT);
    assert.ok(callback.url.startsWith(REDIRECT), `${callback.status} ${callback.body.slice(0, 300)}`);
    const tokens = await exchange(callback.url, request);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal(tokens.claims()!.acr, MFA);
    assert.equal(decodeJwt(tokens.access_token).acr, MFA);
  });

  test('as the second factor: another account\'s passkey, a replayed answer and a malformed one are refused (4xx, the page again)', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const page = await logInWith(agent, request.url, { email: ada.email, password: PASSWORD }, false);
    const options = optionsOn(page.body, 'data-second-factor="passkey"');
    // Bob's laptop answers Ada's challenge with Bob's credential.
    const foreign = await laptop.get({ ...options, allowCredentials: [] });
    const refused = await agent.submit(page, '/second-factor', { method: 'passkey', webauthn_response: JSON.stringify(foreign) }, REDIRECT);
    assert.equal(refused.status, 401);
    assert.match(refused.body, /not accepted/);
    // A right answer to a spent challenge (the refusal above spent it).
    const late = await phone.get(options);
    assert.equal((await agent.submit(refused, '/second-factor', { method: 'passkey', webauthn_response: JSON.stringify(late) }, REDIRECT)).status, 401);
    for (const response of ['not json', '{"id":"x"}', JSON.stringify({ ...late, response: { ...late.response, signature: '!!' } })]) {
      const bad = await agent.submit(refused, '/second-factor', { method: 'passkey', webauthn_response: response }, REDIRECT);
      assert.equal(bad.status, 400, response.slice(0, 40));
      assert.match(bad.body, /data-second-factor="passkey"/);
    }
    await Promise.all([`account:${ada.email}`, ipKey('127.0.0.1')].map((k) => t.tollgate.repositories.loginThrottle.reset(k)));
  });

  test('password-less: "Sign in with a passkey" on the login page signs in with the passkey alone, at the MFA level', async () => {
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    assert.match(login.body, /Sign in with a passkey/);
    const options = optionsOn(login.body, 'data-passkey-sign-in');
    assert.equal(options.userVerification, 'required');
    assert.ok(!options.allowCredentials?.length, 'discoverable: no account named before the passkey answers');
    const answer = await laptop.get(options);
    const callback = await agent.submit(login, '/passkey', { webauthn_response: JSON.stringify(answer) }, REDIRECT);
    assert.ok(callback.url.startsWith(REDIRECT), `${callback.status} ${callback.body.slice(0, 300)}`);
    const tokens = await exchange(callback.url, request);
    assert.equal(tokens.claims()!.sub, bob.id);
    // A synced passkey (backup eligible) is a software-held key.
    assert.deepEqual(tokens.claims()!.amr, ['swk', 'user', 'mfa']);
    assert.equal(tokens.claims()!.acr, MFA);
    const events = await t.tollgate.repositories.audit.list({ type: 'login.success', accountId: bob.id, limit: 1 });
    assert.equal((events[0]!.details as { method?: string }).method, 'passkey');
  });

  test('password-less: without user verification, another origin, or a disabled account: refused with a page, no code', async () => {
    const tries: Array<[string, (options: Parameters<SoftwareAuthenticator['get']>[0]) => ReturnType<SoftwareAuthenticator['get']>, number]> = [
      ['no user verification', (o) => phone.get(o, { userVerified: false }), 401],
      ['another origin', (o) => phone.get(o, { origin: 'https://phish.example' }), 401],
      ['malformed', async (o) => ({ ...(await phone.get(o)), type: 'nonsense' } as never), 400],
    ];
    for (const [label, answer, status] of tries) {
      const agent = new UserAgent();
      const request = await authorizationRequest(web);
      const login = await agent.navigate(request.url.href, {}, REDIRECT);
      const page = await agent.submit(login, '/passkey', { webauthn_response: JSON.stringify(await answer(optionsOn(login.body, 'data-passkey-sign-in'))) }, REDIRECT);
      assert.equal(page.status, status, label);
      assert.ok(!page.url.startsWith(REDIRECT), label);
      assert.match(page.body, /Passkey not accepted/, label);
    }
    await t.tollgate.accounts.update(ada.id, { disabled: true });
    const agent = new UserAgent();
    const request = await authorizationRequest(web);
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const page = await agent.submit(login, '/passkey', { webauthn_response: JSON.stringify(await phone.get(optionsOn(login.body, 'data-passkey-sign-in'))) }, REDIRECT);
    assert.equal(page.status, 401);
    assert.ok(!page.url.startsWith(REDIRECT));
    await t.tollgate.accounts.update(ada.id, { disabled: false });
  });
});
