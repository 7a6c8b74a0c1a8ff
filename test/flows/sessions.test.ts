// The concurrent-login policy: `allow` lets a user's sessions coexist;
// `single` ends the other sessions (and the refresh tokens bound to them)
// when the user signs in again.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, withTestTollgate, type TestTollgate } from '../support/tollgate.ts';
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
      // Its access token too, wherever Tollgate is asked.
      const me = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${laptop.tokens.access_token}` } });
      assert.equal(me.status, 401);
      assert.ok(await stillSignedIn(phone));
      assert.ok((await oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!)).access_token);
    } finally {
      await t.close();
      await removeDirs(t.dirs);
    }
  });
});

/** One signed-in device on a Tollgate started with `env`; `silent()` asks with prompt=none: 'code' while the session lives. */
function oneDevice(env: Record<string, string>, check: (silent: () => Promise<string>) => Promise<void>) {
  return withTestTollgate({ env }, async (t) => {
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT] });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    const device = await signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid' });
    await check(async () => {
      const request = await authorizationRequest(device.config, { prompt: 'none', scope: 'openid' });
      const res = await device.agent.navigate(request.url.href, {}, REDIRECT);
      return new URL(res.url).searchParams.get('error') ?? 'code';
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('login session lifetimes', () => {
  // Lifetimes are whole seconds, so each period leaves a wide margin around each wait.
  test('sliding: each use extends the idle period; unused past SESSION_IDLE_TTL, the session is over', () =>
    oneDevice({ SESSION_IDLE_TTL: '4', SESSION_TTL: '3600' }, async (silent) => {
      for (let i = 0; i < 3; i += 1) {
        await sleep(1500);
        assert.equal(await silent(), 'code', `use ${i + 1}: 4.5 s in all, but never 4 s idle`);
      }
      await sleep(5200);
      assert.equal(await silent(), 'login_required');
    }));

  test('absolute: SESSION_TTL after the sign-in, however active', () =>
    oneDevice({ SESSION_IDLE_TTL: '3600', SESSION_TTL: '3' }, async (silent) => {
      await sleep(1200);
      assert.equal(await silent(), 'code');
      await sleep(2500);
      assert.equal(await silent(), 'login_required');
    }));
});
