// Faults: the real Redis and the real PostgreSQL are stopped and started
// again under a running Tollgate. Requests that need what is down answer 503
// temporarily_unavailable within ~2 s (no crash, no hang, nothing
// half-written); the rest keeps working; when the server is back, Tollgate
// recovers without a restart. Recovery times are printed for the notes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';

describe('faults: Redis or PostgreSQL down', { skip: requirePostgres() || requireRedis() }, () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let t: TestTollgate;
  let secret: string;
  let webSecret: string;

  before(async () => {
    postgres = await startPostgres();
    redis = await startRedis();
    t = await startTestTollgate({ databaseUrl: await createDatabase(postgres, 'faults'), env: { REDIS_URL: redis.url } });
    secret = (await t.tollgate.clients.register({ id: 'svc', grantTypes: ['client_credentials'], scope: 'basic admin' })).client_secret!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: 'openid offline_access basic', firstParty: true })).client_secret!;
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
  });
  after(async () => {
    await t?.close();
    await removeDirs(t.dirs);
    await redis?.stop();
    postgres?.stop();
  });

  const timed = async <T>(work: () => Promise<T>) => {
    const started = performance.now();
    const result = await work();
    return { result, ms: performance.now() - started };
  };
  const clientCredentials = () => fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=basic',
  });
  const refresh = (refreshToken: string) => fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`web:${webSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  const authorize = async () => {
    const params = new URLSearchParams({
      client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    return fetch(`${t.issuer}/auth?${params}`, { redirect: 'manual', headers: { accept: 'text/html' } });
  };
  /** Polls until `ok` holds; returns how long it took. */
  const recovery = async (ok: () => Promise<boolean>, limitMs = 15_000) => {
    const started = performance.now();
    while (performance.now() - started < limitMs) {
      if (await ok().catch(() => false)) return Math.round(performance.now() - started);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('did not recover');
  };

  test('Redis down: sign-in answers 503 temporarily_unavailable fast; tokens that need only PostgreSQL still work; it recovers', async () => {
    assert.equal((await authorize()).status, 303);
    await redis.stop();
    try {
      // The authorization request must store its interaction in Redis: the person sees our error page, 503, with the OAuth code.
      const { result: res, ms } = await timed(authorize);
      assert.ok(ms < 2_000, `answered after ${ms} ms`);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '2');
      const page = await res.text();
      assert.match(page, /temporarily_unavailable/);
      assert.doesNotMatch(page, /at .*\.ts:\d+|client is offline/, 'no stack or driver message on the page');
      const ready = await fetch(`${t.issuer}/readyz`);
      assert.equal(ready.status, 503);
      // Machine tokens need no Redis.
      assert.equal((await clientCredentials()).status, 200);
    } finally {
      await redis.start();
    }
    const ms = await recovery(async () => (await authorize()).status === 303 && (await authorize()).headers.get('location')!.includes('/interaction/'));
    process.stdout.write(`# recovery after Redis restart: ${ms} ms\n`);
    assert.equal((await fetch(`${t.issuer}/readyz`)).status, 200);
  });

  test('PostgreSQL down: token requests answer 503 temporarily_unavailable fast; nothing is half-written; it recovers', async () => {
    const { tokens } = await signIn(t, { clientId: 'web', secret: webSecret, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    const adminRes = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: `${t.issuer}/admin/v1` }),
    });
    const admin = ((await adminRes.json()) as { access_token: string }).access_token;
    assert.equal((await fetch(`${t.issuer}/admin/v1/users`, { headers: { authorization: `Bearer ${admin}` } })).status, 200);
    postgres.down();
    try {
      // Past the client cache (1 s), the token endpoint needs the database.
      await new Promise((r) => setTimeout(r, 1_100));
      for (const call of [clientCredentials, () => refresh(tokens.refresh_token!)]) {
        const { result: res, ms } = await timed(call);
        assert.ok(ms < 2_500, `answered after ${ms} ms`);
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '2');
        assert.deepEqual(Object.keys((await res.json()) as object).sort(), ['error', 'error_description']);
      }
      const body = (await (await clientCredentials()).json()) as { error: string };
      assert.equal(body.error, 'temporarily_unavailable');
      // Our own routes too: the admin API (a valid token, but its checks need the database) and readiness.
      const adminCall = await fetch(`${t.issuer}/admin/v1/users`, { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(adminCall.status, 503);
      assert.equal(((await adminCall.json()) as { error: string }).error, 'temporarily_unavailable');
      const ready = await fetch(`${t.issuer}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(ready.headers.get('retry-after'), '2', 'readiness says when to look again, as every other 503');
      // Public documents are precomputed: still served.
      assert.equal((await fetch(`${t.issuer}/jwks`)).status, 200);
    } finally {
      postgres.up();
    }
    const ms = await recovery(async () => (await clientCredentials()).status === 200);
    process.stdout.write(`# recovery after PostgreSQL restart: ${ms} ms\n`);
    // The refresh attempted during the outage consumed nothing: the token still works once.
    const after = await refresh(tokens.refresh_token!);
    assert.equal(after.status, 200, await after.clone().text());
  });
});
