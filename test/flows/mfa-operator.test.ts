// The operator's side of second factors (issue 16, point 4), through real
// HTTP with real tokens: a client's require_mfa in the admin API, what a
// person has (GET /users/{id}/mfa, never a secret), and the reset (DELETE
// /users/{id}/mfa), which removes every factor and ends every sign-in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';
const SCOPE = 'openid offline_access basic';

describe('admin API: second factors', () => {
  let t: TestTollgate;
  let admin: string;
  let webSecret: string;
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });

  before(async () => {
    t = await startTestTollgate();
    const opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    admin = (await machineToken('ops', opsSecret, 'admin')).body.access_token!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: SCOPE, firstParty: true })).client_secret!;
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('require_mfa: false by default, set at registration, changed by PATCH, read back; a non-boolean is a 400 naming the field', async () => {
    const plain = await api('POST', '/clients', { token: admin, json: { client_id: 'plain', redirect_uris: [REDIRECT] } });
    assert.equal(plain.status, 201, plain.text);
    assert.equal(plain.body.client.require_mfa, false);
    const strict = await api('POST', '/clients', { token: admin, json: { client_id: 'strict', redirect_uris: [REDIRECT], require_mfa: true } });
    assert.equal(strict.status, 201, strict.text);
    assert.equal(strict.body.client.require_mfa, true);
    assert.equal((await api('GET', '/clients/strict', { token: admin })).body.require_mfa, true);
    // What oidc-provider loads: the sign-in reads it from the client (extraClientMetadata).
    assert.equal((await t.tollgate.provider.Client.find('strict') as unknown as { require_mfa?: boolean }).require_mfa, true);

    const patched = await api('PATCH', '/clients/plain', { token: admin, json: { require_mfa: true } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.require_mfa, true);
    const relaxed = await api('PATCH', '/clients/strict', { token: admin, json: { require_mfa: false } });
    assert.equal(relaxed.body.require_mfa, false);
    const listed = (await api('GET', '/clients', { token: admin })).body.items as Array<{ client_id: string; require_mfa: boolean }>;
    assert.deepEqual(listed.filter((c) => ['plain', 'strict'].includes(c.client_id)).map((c) => [c.client_id, c.require_mfa]), [['plain', true], ['strict', false]]);

    for (const [method, path, json] of [
      ['POST', '/clients', { client_id: 'bad', redirect_uris: [REDIRECT], require_mfa: 'yes' }],
      ['PATCH', '/clients/plain', { require_mfa: 1 }],
      ['PATCH', '/clients/plain', { require_mfa: null }],
    ] as const) {
      const bad = await api(method, path, { token: admin, json });
      assert.equal(bad.status, 400, `${method} ${path} ${JSON.stringify(json)}: ${bad.text}`);
      assert.equal(bad.body.error, 'invalid_request');
      assert.ok(Object.keys(bad.body.fields ?? {}).includes('require_mfa'), bad.text);
    }
    assert.equal((await api('GET', '/clients/plain', { token: admin })).body.require_mfa, true, 'a refused change changes nothing');
    assert.equal((await api('GET', '/clients/bad', { token: admin })).status, 404);
  });

  /** An account with a confirmed TOTP factor, ten recovery codes (one used) and a passkey; its secrets, to look for where they must not be. */
  /** `beforeFactors` runs once the account exists, before it has any factor (a sign-in with the password alone, say). */
  async function enrolled(email: string, beforeFactors?: () => Promise<void>) {
    const account = await t.tollgate.accounts.create({ email, password: PASSWORD });
    await beforeFactors?.();
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: account.id, email });
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), algorithm: 'SHA1', digits: 6, period: 30 });
    assert.equal(await t.tollgate.mfa.confirmTotp(account.id, totp.generate()), 'ok');
    const codes = await t.tollgate.mfa.regenerateRecoveryCodes(account.id);
    assert.equal((await t.tollgate.mfa.useRecoveryCode(account.id, codes[0])).ok, true);
    // A passkey as a registration stores it (the ceremony itself is test/e2e/passkeys-core.test.ts's).
    const publicKey = Buffer.from(`cose-public-key-of-${email}`).toString('base64url');
    await t.tollgate.repositories.webauthnCredentials.insert({
      id: Buffer.from(randomUUID()).toString('base64url'), accountId: account.id, publicKey, counter: 3, transports: ['internal'],
      name: 'Work laptop', deviceType: 'singleDevice', backedUp: false, aaguid: '00000000-0000-0000-0000-000000000000',
    });
    return { id: account.id, secrets: [enrolment.secret, enrolment.groupedSecret, publicKey, ...codes], totp, codes };
  }

  test('GET /users/{id}/mfa: TOTP yes or no, recovery codes left, passkeys by name and time; no secret, code or key', async () => {
    const { id, secrets } = await enrolled('grace@example.test');
    const res = await api('GET', `/users/${id}/mfa`, { token: admin });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.totp, true);
    assert.ok(Date.parse(res.body.totp_confirmed_at) <= Date.now());
    assert.equal(res.body.recovery_codes_remaining, 9);
    assert.equal(res.body.passkey_count, 1);
    assert.equal(res.body.passkeys[0].name, 'Work laptop');
    assert.ok(Date.parse(res.body.passkeys[0].created_at) <= Date.now());
    assert.equal(res.body.passkeys[0].last_used_at, null);
    for (const secret of secrets) assert.ok(!res.text.includes(secret), 'no secret, code or key in the answer');
    assert.doesNotMatch(res.text, /public_?key|secret|digest/i);

    const none = await t.tollgate.accounts.create({ email: 'nofactors@example.test', password: PASSWORD });
    assert.deepEqual((await api('GET', `/users/${none.id}/mfa`, { token: admin })).body, {
      totp: false, totp_confirmed_at: null, totp_last_used_at: null, recovery_codes_remaining: 0, passkey_count: 0, passkeys: [],
    });
  });

  test('DELETE /users/{id}/mfa: every factor goes, the refresh token is refused, the session needs a new sign-in; audited with the operator as actor', async () => {
    // Signed in before the factors were added (with them, the password alone leads to the second step).
    let signedIn: Awaited<ReturnType<typeof signIn>> | undefined;
    const { id, secrets, totp, codes } = await enrolled('hal@example.test', async () => {
      signedIn = await signIn(t, { clientId: 'web', secret: webSecret, email: 'hal@example.test', password: PASSWORD, scope: SCOPE });
    });
    const { tokens, agent, config } = signedIn!;
    /** Where a silent authorization request (prompt=none) in the person's browser lands: a code while their session lives. */
    const silently = async () => {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: oidc.randomState(),
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      return new URL((await agent.navigate(url.href, {}, REDIRECT)).url).searchParams;
    };
    assert.ok((await silently()).has('code'), 'signed in before the reset');

    const reset = await api('DELETE', `/users/${id}/mfa`, { token: admin });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.body.totp, true);
    assert.equal(reset.body.recovery_codes, true);
    assert.equal(reset.body.passkeys, 1);
    assert.equal(reset.body.ended.sessions, 1);
    assert.ok(reset.body.ended.refresh_tokens >= 1);
    for (const secret of secrets) assert.ok(!reset.text.includes(secret));

    const refresh = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: basicAuth('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    assert.equal(refresh.status, 400);
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await silently()).get('error'), 'login_required', 'the session ended: a new sign-in is needed');

    assert.deepEqual((await api('GET', `/users/${id}/mfa`, { token: admin })).body, {
      totp: false, totp_confirmed_at: null, totp_last_used_at: null, recovery_codes_remaining: 0, passkey_count: 0, passkeys: [],
    });
    assert.equal(await t.tollgate.mfa.verifyTotp(id, totp.generate({ timestamp: Date.now() + 30_000 })), 'invalid', 'the old app no longer works');
    assert.equal((await t.tollgate.mfa.useRecoveryCode(id, codes[1])).ok, false, 'nor do the old recovery codes');

    const [event] = (await t.tollgate.audit.page({ type: 'mfa.factors_reset', accountId: id, limit: 5 })).events;
    assert.equal(event?.actor, 'ops', 'the admin token\'s sub');
    assert.deepEqual(event?.details, { totp: true, recovery_codes: true, passkeys: 1, by: 'admin api' });
    const [logout] = (await t.tollgate.audit.page({ type: 'user.forced_logout', accountId: id, limit: 5 })).events;
    assert.equal(logout?.actor, 'ops');
    assert.equal(logout?.details?.reason, 'mfa reset');
    const [removed] = (await t.tollgate.audit.page({ type: 'passkey.removed', accountId: id, limit: 5 })).events;
    assert.equal(removed?.actor, 'ops');

    const again = await api('DELETE', `/users/${id}/mfa`, { token: admin });
    assert.equal(again.status, 200, 'a second reset is harmless');
    assert.deepEqual([again.body.totp, again.body.recovery_codes, again.body.passkeys], [false, false, 0]);
  });

  test('an unknown user is 404, for the view and the reset', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      for (const method of ['GET', 'DELETE']) {
        const res = await api(method, `/users/${id}/mfa`, { token: admin });
        assert.equal(res.status, 404, `${method} ${id}: ${res.text}`);
        assert.equal(res.body.error, 'not_found');
        assert.match(res.body.error_description, /^no account with id/, 'the account is unknown, not the route');
      }
    }
  });
});
