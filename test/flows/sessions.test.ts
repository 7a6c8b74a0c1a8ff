// The concurrent-login policy: `allow` lets a user's sessions coexist;
// `single` ends the other sessions (and the refresh tokens bound to them)
// when the user signs in again.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { signIn, authorizationRequest, REDIRECT } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'sessions-test-client-secret-0123456789ab';

async function twoDevices(t: TestTollgate) {
  await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT] });
  await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
  const scope = 'openid offline_access basic';
  const laptop = await signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope });
  const phone = await signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope });
  const stillSignedIn = async (device: typeof laptop) => {
    const silent = await authorizationRequest(device.config, { prompt: 'none', scope: 'openid' });
    const res = await device.agent.navigate(silent.url.href, {}, REDIRECT);
    return new URL(res.url).searchParams.get('code') !== null;
  };
  return { laptop, phone, stillSignedIn };
}

describe('concurrent-login policy', () => {
  test('allow (default): both devices stay signed in', async () => {
    const t = await startTestTollgate();
    try {
      const { laptop, phone, stillSignedIn } = await twoDevices(t);
      assert.ok(await stillSignedIn(laptop));
      assert.ok(await stillSignedIn(phone));
      assert.ok((await oidc.refreshTokenGrant(laptop.config, laptop.tokens.refresh_token!)).access_token);
    } finally {
      await t.close();
      await removeDirs(t.dirs);
    }
  });

  test('single: signing in on the phone ends the laptop\'s session and its refresh tokens', async () => {
    const t = await startTestTollgate({ env: { CONCURRENT_LOGINS: 'single' } });
    try {
      const { laptop, phone, stillSignedIn } = await twoDevices(t);
      assert.equal(await stillSignedIn(laptop), false);
      await assert.rejects(oidc.refreshTokenGrant(laptop.config, laptop.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      assert.ok(await stillSignedIn(phone));
      assert.ok((await oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!)).access_token);
    } finally {
      await t.close();
      await removeDirs(t.dirs);
    }
  });
});
