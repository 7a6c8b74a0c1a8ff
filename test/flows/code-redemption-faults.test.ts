// A code exchange that fails on a storage fault spends nothing: the client
// that waited out 503 + Retry-After and sent the same code again gets its
// tokens (RFC 6749 §4.1.2: one use, and that use is the successful one).
// On the embedded database, on PostgreSQL, and with codes in Redis while
// refresh tokens stay in PostgreSQL (two stores, no shared transaction).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { authorizationRequest, logInWith, relyingParty, REDIRECT } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'code-fault-test-client-secret-0123456789';

let pg: PostgresServer | undefined;
let redis: RedisServer | undefined;
after(async () => {
  await pg?.stop();
  await redis?.stop();
});

const onPostgres = async (name: string, env: Record<string, string> = {}) => {
  pg ??= await startPostgres();
  return startTestTollgate({ databaseUrl: await createDatabase(pg, `${name}_${Date.now()}`), env });
};

const backends: Array<[string, () => Promise<TestTollgate>, string | false]> = [
  ['embedded', () => startTestTollgate(), false],
  ['postgresql', () => onPostgres('code_faults'), requirePostgres()],
  ['postgresql + redis', async () => {
    redis ??= await startRedis();
    return onPostgres('code_faults_redis', { REDIS_URL: redis.url });
  }, requirePostgres() || requireRedis()],
];

/** Makes every insert of a refresh token fail as a dropped connection would (SQLSTATE 57P01), for the length of `work`. */
async function whileRefreshTokensCannotBeWritten(t: TestTollgate, work: () => Promise<void>) {
  await t.tollgate.database.query(`CREATE FUNCTION refuse_refresh_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END $$`);
  await t.tollgate.database.query(`CREATE TRIGGER refuse_refresh_tokens BEFORE INSERT ON oidc_model FOR EACH ROW
    WHEN (NEW.model = 'RefreshToken') EXECUTE FUNCTION refuse_refresh_tokens()`);
  try {
    await work();
  } finally {
    await t.tollgate.database.query('DROP TRIGGER refuse_refresh_tokens ON oidc_model');
    await t.tollgate.database.query('DROP FUNCTION refuse_refresh_tokens()');
  }
}

for (const [name, start, skip] of backends) {
  describe(`code redemption under faults (${name})`, { skip }, () => {
    test('a code whose tokens cannot be stored is not spent: sent again after the 503, it yields tokens, one live refresh token', async () => {
      const t = await start();
      try {
        await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], scope: 'openid offline_access basic' });
        await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
        const config = await relyingParty(t, 'web', SECRET);
        const request = await authorizationRequest(config, { scope: 'openid offline_access basic', prompt: 'consent' });
        const callback = await logInWith(new UserAgent(), request.url, { email: 'ada@example.test', password: PASSWORD });
        assert.ok(callback.url.startsWith(REDIRECT), callback.url);
        const exchange = () => oidc.authorizationCodeGrant(config, new URL(callback.url), {
          pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce,
        });

        await whileRefreshTokensCannotBeWritten(t, async () => {
          await assert.rejects(exchange(), (err: Error & { cause?: Response }) => {
            assert.equal(err.cause?.status, 503, `expected 503, got ${err.cause?.status}: ${err.message}`);
            assert.equal(err.cause?.headers.get('retry-after'), '2');
            return true;
          });
        });

        const tokens = await exchange();
        assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token, 'the same code, sent again, yields tokens');
        const grantId = String(decodeJwt(tokens.access_token).gid);
        assert.equal(await t.tollgate.repositories.oidcModels.countByGrant('RefreshToken', grantId), 1, 'one live refresh token: the failed attempt left none behind');
        assert.ok((await oidc.refreshTokenGrant(config, tokens.refresh_token)).refresh_token, 'and it works');
        // Still one use only: once the exchange succeeded, the code is spent.
        await assert.rejects(exchange(), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      } finally {
        await t.close();
        await removeDirs(t.dirs);
      }
    });
  });
}
