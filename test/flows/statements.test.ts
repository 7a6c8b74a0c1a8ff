// Round trips to the database on the hot paths, counted by PostgreSQL itself
// (its statement log), for PostgreSQL alone and with Redis holding the
// short-lived models. A refresh is two statements: the token read with its
// grant, account and session, and the rotation (consume + successor in one
// transaction). A sign-in (authorization request, login form, code
// exchange) stays within the budget named below.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { signIn } from '../support/sign-in.ts';
import { createDatabase, logStatements, requirePostgres, startPostgres, statementsDuring, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'statements-test-client-secret-0123456789';

let pg: PostgresServer | undefined;
let redis: RedisServer | undefined;
after(async () => {
  pg?.stop();
  await redis?.stop();
});

// The budgets leave out reads of the client: clients are cached for a second,
// and a sign-in (argon2id included) takes longer than that on a loaded
// machine, so whether it reads the client once or twice says nothing about the code.
const setups: Array<[string, { signIn: number }, string | false, () => Promise<Record<string, string>>]> = [
  ['PostgreSQL', { signIn: 19 }, requirePostgres(), async () => ({})],
  ['PostgreSQL + Redis', { signIn: 8 }, requirePostgres() || requireRedis(), async () => {
    redis ??= await startRedis();
    return { REDIS_URL: redis.url };
  }],
];

for (const [name, budget, skip, env] of setups) {
  describe(`database statements (${name})`, { skip }, () => {
    let t: TestTollgate;
    before(async () => {
      pg ??= await startPostgres();
      const database = `statements_${name.length}_${Date.now()}`;
      const url = await createDatabase(pg, database);
      await logStatements(pg, database);
      t = await startTestTollgate({ databaseUrl: url, env: await env() });
      await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: ['https://app.example.test/callback'], firstParty: true, scope: 'openid email offline_access basic' });
      await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    });
    after(async () => {
      await t.close();
      await removeDirs(t.dirs);
    });

    const signInOnce = () => signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid email basic' });

    test(`a sign-in (authorize, login, code exchange) makes at most ${budget.signIn} statements`, async () => {
      await signInOnce(); // warm: the client cache, prepared statements
      const all = await statementsDuring(pg!, async () => { await signInOnce(); });
      const statements = all.filter((sql) => !/FROM client WHERE id = \$1/.test(sql));
      assert.ok(statements.length <= budget.signIn, `${statements.length} statements besides the client's reads:\n${statements.join('\n')}`);
    });

    test('a refresh makes two statements: one read, one write', async () => {
      const { config, tokens } = await signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
      const first = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      let second: oidc.TokenEndpointResponse | undefined;
      const all = await statementsDuring(pg!, async () => { second = await oidc.refreshTokenGrant(config, first.refresh_token!); });
      assert.ok(second?.refresh_token);
      // The client's read depends on timing (clients are cached for a second, which
      // a loaded machine may outlive between the two refreshes): the path's own count is the rest.
      const statements = all.filter((sql) => !/FROM client WHERE id = \$1/.test(sql));
      assert.ok(all.length - statements.length <= 1, all.join('\n'));
      assert.equal(statements.length, 2, all.join('\n'));
      assert.match(statements[1]!, /tollgate_rotate_refresh_token/);
    });
  });
}
