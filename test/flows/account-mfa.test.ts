// The account page's second factors over HTTP, without a browser (issue 16,
// point 7 on the account side): what bad input gets. Every form needs the
// page's CSRF token; a malformed WebAuthn response, a missing challenge, an
// overlong name, a wrong or expired TOTP code get a clear message and a 4xx;
// another account's passkey is not found. Never a 500. The happy paths run
// in Chromium (test/e2e/account-mfa.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'correct horse battery';

describe('the account page\'s second factors: bad input', () => {
  let t: TestTollgate;
  let adaId: string;
  let bobId: string;
  let agent: UserAgent;
  let page: { url: string; body: string; status: number };

  /** A credential row as the repository stores it (the tests here never verify a signature with it). */
  const storePasskey = (accountId: string, id: string, name: string) => t.tollgate.repositories.webauthnCredentials.insert({
    id, accountId, publicKey: 'cHVibGljLWtleQ', counter: 0, transports: ['internal'], name, deviceType: 'singleDevice', backedUp: false,
    aaguid: '00000000-0000-0000-0000-000000000000',
  });
  const post = (path: string, fields: Record<string, string>) => agent.navigate(`${t.issuer}/account${path}`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(),
  });
  const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)![1]!;
  const passkeyNames = async (accountId: string) => (await t.tollgate.passkeys.list(accountId)).map((p) => p.name);

  before(async () => {
    t = await startTestTollgate();
    adaId = (await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD })).id;
    bobId = (await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD })).id;
    agent = new UserAgent();
    const callback = `${t.issuer}/account?`;
    const login = await agent.navigate(`${t.issuer}/account`, {}, callback);
    const signedIn = (await agent.submit(login, '/login', { login: 'ada@example.test', password: PASSWORD }, callback)).url;
    // Stored once signed in: with a passkey, the password alone leads to the second step (its own tests: test/flows/second-factor.test.ts).
    await storePasskey(adaId, 'YWRhLWtleQ', 'Ada key');
    await storePasskey(bobId, 'Ym9iLWtleQ', 'Bob key');
    page = await agent.navigate(signedIn);
    assert.equal(page.status, 200);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('the section lists the account\'s own passkeys only', () => {
    assert.match(page.body, /Two-step verification/);
    assert.match(page.body, /data-passkey="YWRhLWtleQ"/);
    assert.doesNotMatch(page.body, /Ym9iLWtleQ|Bob key/);
  });

  test('every form post without the page\'s CSRF token, or with a forged one, is 403 and changes nothing', async () => {
    const forms: Array<[string, Record<string, string>]> = [
      ['/mfa/totp', { code: '123456' }],
      ['/mfa/totp/remove', {}],
      ['/mfa/recovery-codes', {}],
      ['/mfa/passkeys', { name: 'x', webauthn_response: '{}' }],
      ['/mfa/passkeys/YWRhLWtleQ/rename', { name: 'Stolen' }],
      ['/mfa/passkeys/YWRhLWtleQ/remove', {}],
    ];
    for (const [path, fields] of forms) {
      for (const csrf of [undefined, 'forged', csrfOf(page.body).slice(0, -2) + 'AA']) {
        const res = await post(path, csrf === undefined ? fields : { ...fields, csrf });
        assert.equal(res.status, 403, `${path} with ${csrf ?? 'no token'}`);
      }
    }
    assert.deepEqual(await passkeyNames(adaId), ['Ada key']);
    assert.equal((await t.tollgate.mfa.factorsOf(adaId)).recoveryCodes, null);
  });

  test('a malformed WebAuthn response is a 400 page saying so, with a fresh form; a missing challenge cookie is a 400 too', async () => {
    const addPage = await agent.navigate(`${t.issuer}/account/mfa/passkeys/new`);
    assert.equal(addPage.status, 200);
    assert.match(addPage.body, /data-webauthn="create"/);
    assert.match(addPage.body, /<script src="\/assets\/webauthn\.js" defer><\/script>/);
    const csrf = csrfOf(addPage.body);
    const bodies = [
      'not json', '{}', JSON.stringify({ id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: '!!', attestationObject: '' } }),
      JSON.stringify({ id: 'eA', rawId: 'eA', type: 'public-key', response: { clientDataJSON: Buffer.from('{"challenge":"short"}').toString('base64url'), attestationObject: 'eA' } }),
      'x'.repeat(60_000),
    ];
    for (const response of bodies) {
      const res = await post('/mfa/passkeys', { csrf, name: 'Laptop', webauthn_response: response });
      assert.equal(res.status, 400, response.slice(0, 60));
      assert.match(res.body, /The passkey&#39;s answer could not be read\.|The passkey's answer could not be read\./, response.slice(0, 60));
      assert.match(res.body, /data-webauthn-options="\{/, 'the form again, with new options');
    }
    // A repeated field is not a string: nothing to read.
    const repeated = await agent.navigate(`${t.issuer}/account/mfa/passkeys`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(csrf)}&webauthn_response=a&webauthn_response=b`,
    });
    assert.equal(repeated.status, 400);
    // Another browser of the same person (the session cookie, not the challenge cookie): no challenge of its own.
    const cookie = agent.cookieEntries().filter(([name]) => !name.startsWith('tollgate.passkey_challenge')).map(([n, v]) => `${n}=${v}`).join('; ');
    const response = JSON.stringify({ id: 'eA', rawId: 'eA', type: 'public-key', response: { clientDataJSON: Buffer.from(JSON.stringify({ challenge: 'A'.repeat(43) })).toString('base64url'), attestationObject: 'eA' } });
    const answer = await fetch(`${t.issuer}/account/mfa/passkeys`, {
      method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, webauthn_response: response }).toString(),
    });
    const res = { status: answer.status, body: await answer.text() };
    assert.equal(res.status, 400);
    assert.match(res.body, /This request expired or was already used\./);
    assert.deepEqual(await passkeyNames(adaId), ['Ada key']);
  });

  test('an overlong or control-character name: 400 with the rule, and nothing renamed or registered', async () => {
    const csrf = csrfOf(page.body);
    for (const name of ['x'.repeat(65), 'x'.repeat(5000), 'Bad\u0007name']) {
      const res = await post('/mfa/passkeys/YWRhLWtleQ/rename', { csrf, name });
      assert.equal(res.status, 400);
      assert.match(res.body, /at most 64 characters, and no control characters/);
      assert.match(res.body, /href="\/account#two-step"/);
    }
    assert.deepEqual(await passkeyNames(adaId), ['Ada key']);
    const addPage = await agent.navigate(`${t.issuer}/account/mfa/passkeys/new`);
    const res = await post('/mfa/passkeys', { csrf: csrfOf(addPage.body), name: 'y'.repeat(65), webauthn_response: '{}' });
    assert.equal(res.status, 400);
    assert.match(res.body, /at most 64 characters/);
  });

  test('another account\'s passkey, or no such passkey, is 404 for rename and remove; it stays as it was', async () => {
    const csrf = csrfOf(page.body);
    for (const id of ['Ym9iLWtleQ', 'bm8tc3VjaA', '%00', 'x'.repeat(3000), '%E2%80%AE']) {
      assert.equal((await post(`/mfa/passkeys/${id}/rename`, { csrf, name: 'Mine now' })).status, 404, id.slice(0, 20));
      assert.equal((await post(`/mfa/passkeys/${id}/remove`, { csrf })).status, 404, id.slice(0, 20));
    }
    assert.deepEqual(await passkeyNames(bobId), ['Bob key']);
    // The same form for the account's own passkey is found (so the 404s above are the ownership check).
    assert.equal((await post('/mfa/passkeys/YWRhLWtleQ/rename', { csrf, name: 'Ada key' })).status, 200);
    // Removing the authenticator app that was never set up: nothing to remove.
    assert.equal((await post('/mfa/totp/remove', { csrf })).status, 404);
  });

  test('a rename answers with the page and a notice, and is audited without the name', async () => {
    const csrf = csrfOf(page.body);
    const renamed = await post('/mfa/passkeys/YWRhLWtleQ/rename', { csrf, name: '  Travel key  ' });
    assert.equal(renamed.status, 200);
    assert.match(renamed.url, /\?mfa=passkey_renamed#two-step$/);
    assert.match(renamed.body, /The passkey is renamed\./);
    assert.deepEqual(await passkeyNames(adaId), ['Travel key']);
    const [event] = (await t.tollgate.audit.page({ accountId: adaId, type: 'passkey.renamed', limit: 5 })).events;
    assert.equal(event?.details?.credential_id, 'YWRhLWtleQ');
    assert.ok(!JSON.stringify(event).includes('Travel'));
  });

  test('TOTP: a wrong or malformed code shows the same secret again with a 400; an expired enrolment says so with a new secret', async () => {
    const setup = await agent.navigate(`${t.issuer}/account/mfa/totp`);
    assert.equal(setup.status, 200);
    const secret = /data-totp-secret><code>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!;
    assert.match(setup.body, /<img class="qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
    const csrf = csrfOf(setup.body);
    for (const code of ['000000', '12', 'abcdef', '9'.repeat(40)]) {
      const res = await post('/mfa/totp', { csrf, code });
      assert.equal(res.status, 400, code);
      assert.match(res.body, /That code is not right\./);
      assert.ok(res.body.includes(secret), 'the same secret, which the app has already');
    }
    // The enrolment outlives its 15 minutes (moved back in the database): the right code no longer enrols.
    await t.tollgate.database.query("UPDATE totp_factor SET pending_since = now() - interval '1 hour' WHERE account_id = $1", [adaId]);
    const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret.replace(/ /g, '')) }).generate();
    const expired = await post('/mfa/totp', { csrf, code });
    assert.equal(expired.status, 400);
    assert.match(expired.body, /That setup expired\. Scan this new QR code/);
    const fresh = /data-totp-secret><code>([A-Z2-7 ]+)<\/code>/.exec(expired.body)![1]!;
    assert.notEqual(fresh, secret);
    assert.equal((await t.tollgate.mfa.factorsOf(adaId)).totp, null);
  });
});
