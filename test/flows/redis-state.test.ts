// With REDIS_URL, a real sign-in keeps its short-lived state in Redis and its
// durable state in PostgreSQL, and the rest of Tollgate (the account's
// session list, the janitor) works as it does without Redis.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';

describe('state in Redis', { skip: requirePostgres() || requireRedis() }, () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let t: TestTollgate;

  before(async () => {
    postgres = await startPostgres();
    redis = await startRedis();
    t = await startTestTollgate({ databaseUrl: await createDatabase(postgres, 'redis_state'), env: { REDIS_URL: redis.url } });
  });
  after(async () => {
    await t?.close();
    await removeDirs(t.dirs);
    await redis?.stop();
    postgres?.stop();
  });

  test('sessions, interactions and codes in Redis with TTLs; grants and refresh tokens in PostgreSQL; devices survive the janitor', async () => {
    const secret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: 'openid offline_access basic', firstParty: true })).client_secret!;
    const account = await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    await signIn(t, { clientId: 'web', secret, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });

    const inDatabase = async (model: string) => Number((await t.tollgate.database.query<{ n: number }>('SELECT count(*)::int AS n FROM oidc_model WHERE model = $1', [model]))[0]!.n);
    for (const model of ['Session', 'Interaction', 'AuthorizationCode']) assert.equal(await inDatabase(model), 0, `${model} in the database`);
    assert.equal(await inDatabase('Grant'), 1);
    assert.equal(await inDatabase('RefreshToken'), 1);

    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const sessionKeys = await client.keys('tollgate:m:Session:*');
      assert.equal(sessionKeys.length, 1);
      const ttl = await client.ttl(sessionKeys[0]!);
      assert.ok(ttl > 0 && ttl <= t.config.ttl.sessionIdle, `session TTL ${ttl}`);
      // The per-account index expires too: nothing in Redis lives forever.
      for (const key of await client.keys('tollgate:*')) assert.ok((await client.ttl(key)) > 0, `${key} has no TTL`);
    } finally {
      await client.close();
    }

    await t.tollgate.janitor!.sweep();
    const { sessions } = await t.tollgate.sessions.overview(account.id);
    assert.equal(sessions.length, 1);
    assert.ok(sessions[0]!.userAgent, 'the device record survived the janitor');
  });
});
