// Refresh tokens: rotated on every use for every client; a reused one
// betrays theft and revokes the whole family; of N concurrent uses exactly
// one wins; idle and absolute lifetimes. With openid-client, on the embedded
// database and on PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestTollgate, removeDirs, withTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { signIn } from '../support/sign-in.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'refresh-test-client-secret-0123456789abc';
const REDIRECT = 'https://app.example.test/callback';

async function setUp(t: TestTollgate) {
  await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT] });
  await t.tollgate.clients.register({ id: 'spa', public: true, redirectUris: [REDIRECT], scope: 'openid offline_access basic' });
  await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
}

const signedIn = (t: TestTollgate, clientId = 'web') => signIn(t, {
  clientId, ...(clientId === 'web' ? { secret: SECRET } : {}), email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic',
});

const refreshFails = async (config: oidc.Configuration, token: string) => {
  await assert.rejects(oidc.refreshTokenGrant(config, token), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
};

let pg: PostgresServer | undefined;
after(() => pg?.stop());

const backends: Array<[string, () => Promise<TestTollgate>, string | false]> = [
  ['embedded', () => startTestTollgate(), false],
  ['postgresql', async () => {
    pg ??= await startPostgres();
    return startTestTollgate({ databaseUrl: await createDatabase(pg, `refresh_${Date.now()}`) });
  }, requirePostgres()],
];

for (const [name, start, skip] of backends) {
  describe(`refresh tokens (${name})`, { skip }, () => {
    let t: TestTollgate;
    before(async () => {
      t = await start();
      await setUp(t);
    });
    after(async () => {
      await t.close();
      await removeDirs(t.dirs);
    });

    test('a refresh whose successor cannot be written spends nothing: the same token works once the fault passes', async () => {
      const { config, tokens } = await signedIn(t);
      // A fault at the very write that stores the successor (as a crash or an
      // outage at that moment would be): the presented token must stay live.
      await t.tollgate.database.query(`CREATE FUNCTION refuse_refresh_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END $$`);
      await t.tollgate.database.query(`CREATE TRIGGER refuse_refresh_tokens BEFORE INSERT ON oidc_model FOR EACH ROW
        WHEN (NEW.model = 'RefreshToken') EXECUTE FUNCTION refuse_refresh_tokens()`);
      try {
        await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (err: Error & { cause?: Response }) => err.cause?.status === 503);
      } finally {
        await t.tollgate.database.query('DROP TRIGGER refuse_refresh_tokens ON oidc_model');
        await t.tollgate.database.query('DROP FUNCTION refuse_refresh_tokens()');
      }
      const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.ok(rotated.refresh_token, 'the token survived the failed rotation');
      assert.equal(await t.tollgate.repositories.oidcModels.countByGrant('RefreshToken', String(decodeJwt(rotated.access_token).gid)), 1, 'one live refresh token in the family');
    });

    test('an account disabled in storage (sessions and grants left alone) cannot refresh: the account read with the token is checked', async () => {
      const account = await t.tollgate.accounts.create({ email: `off-${Date.now()}@example.test`, password: PASSWORD });
      const { config, tokens } = await signIn(t, { clientId: 'web', secret: SECRET, email: account.email, password: PASSWORD, scope: 'openid offline_access basic' });
      await t.tollgate.repositories.accounts.update(account.id, { disabled: true });
      await refreshFails(config, tokens.refresh_token!);
      await t.tollgate.repositories.accounts.update(account.id, { disabled: false });
      assert.ok((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).refresh_token, 'the refused attempt spent nothing');
    });

    test('every use rotates, for confidential and public clients alike', async () => {
      for (const clientId of ['web', 'spa']) {
        const { config, tokens } = await signedIn(t, clientId);
        const first = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
        assert.ok(first.refresh_token && first.refresh_token !== tokens.refresh_token, `${clientId} got a new refresh token`);
        assert.ok(first.access_token && first.access_token !== tokens.access_token);
        const second = await oidc.refreshTokenGrant(config, first.refresh_token!);
        assert.ok(second.refresh_token && second.refresh_token !== first.refresh_token);
      }
    });

    test('a reused refresh token is invalid_grant and revokes the family, the newest tokens included', async () => {
      const { config, tokens } = await signedIn(t);
      const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.equal((await oidc.tokenIntrospection(config, rotated.access_token)).active, true);
      await refreshFails(config, tokens.refresh_token!);
      await refreshFails(config, rotated.refresh_token!);
      // The newest access token too, wherever Tollgate is asked (resource servers verifying offline accept it until exp).
      assert.equal((await oidc.tokenIntrospection(config, rotated.access_token)).active, false);
      const me = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${rotated.access_token}` } });
      assert.equal(me.status, 401);
      const [event] = await t.tollgate.repositories.audit.list({ type: 'refresh_token.reuse_detected' });
      const ada = await t.tollgate.repositories.accounts.findByEmail('ada@example.test');
      assert.equal(event?.accountId, ada!.id);
      assert.equal(event?.clientId, 'web');
      assert.equal(event?.details?.family_revoked, true);
      assert.ok(typeof event?.details?.grant_id === 'string');
      assert.ok(!JSON.stringify(event).includes(tokens.refresh_token!), 'no token in the audit trail');
    });

    test('each sign-in is its own family: theft detected on one device leaves the other signed in', async () => {
      const laptop = await signedIn(t);
      const phone = await signedIn(t);
      assert.notEqual(decodeJwt(laptop.tokens.access_token).gid, decodeJwt(phone.tokens.access_token).gid);
      await oidc.refreshTokenGrant(laptop.config, laptop.tokens.refresh_token!);
      await refreshFails(laptop.config, laptop.tokens.refresh_token!);
      assert.ok((await oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!)).refresh_token);
    });

    test('of 50 concurrent refreshes with one token exactly one succeeds', async () => {
      const { config, tokens } = await signedIn(t);
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => oidc.refreshTokenGrant(config, tokens.refresh_token!)));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, results.map((r) => r.status).join(','));
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as oidc.ResponseBodyError).error, 'invalid_grant');
      }
    });
  });
}

describe('refresh token lifetimes', () => {
  test('idle: unused for longer than REFRESH_TOKEN_IDLE_TTL, it has expired; each use starts the idle period again', async () => {
    // Lifetimes are whole seconds (`exp`), so the idle period is 4 s and each wait well inside or outside it.
    await withTestTollgate({ env: { REFRESH_TOKEN_IDLE_TTL: '4', REFRESH_TOKEN_TTL: '3600' } }, async (t) => {
      await setUp(t);
      const { config, tokens } = await signedIn(t);
      await new Promise((r) => setTimeout(r, 2000));
      const kept = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      await new Promise((r) => setTimeout(r, 2000));
      const again = await oidc.refreshTokenGrant(config, kept.refresh_token!);
      assert.ok(again.refresh_token, '4 s after the sign-in, but never 4 s idle');
      await new Promise((r) => setTimeout(r, 5200));
      await refreshFails(config, again.refresh_token!);
    });
  });

  test('absolute: REFRESH_TOKEN_TTL after the sign-in, rotation or not', async () => {
    await withTestTollgate({ env: { REFRESH_TOKEN_IDLE_TTL: '3600', REFRESH_TOKEN_TTL: '3' } }, async (t) => {
      await setUp(t);
      const { config, tokens } = await signedIn(t);
      await new Promise((r) => setTimeout(r, 1000));
      const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.ok(rotated.refresh_token);
      await new Promise((r) => setTimeout(r, 2500));
      await refreshFails(config, rotated.refresh_token!);
    });
  });
});

describe('refresh token reuse grace window (per client)', () => {
  test('the token just rotated away may be retried within the window; an older one, or after it, revokes the family', async () => {
    const t = await startTestTollgate();
    try {
      await setUp(t);
      await t.tollgate.clients.register({ id: 'tabs', secret: SECRET, redirectUris: [REDIRECT], refreshTokenReuseGrace: 2 });
      const tabs = () => signIn(t, { clientId: 'tabs', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });

      const { config, tokens } = await tabs();
      const rt1 = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      const retried = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.ok(retried.refresh_token, 'a second tab retrying the previous token within the window succeeds');
      // The family does not fork: the retry's successor replaces the first one.
      await refreshFails(config, rt1.refresh_token!);
      const rt2 = await oidc.refreshTokenGrant(config, retried.refresh_token!);
      assert.ok(rt2.refresh_token, 'the family was not revoked');
      assert.equal(await t.tollgate.repositories.oidcModels.countByGrant('RefreshToken', String(decodeJwt(rt2.access_token).gid)), 1, 'one live refresh token in the family');
      // Now the first token is two rotations old: reuse betrays theft.
      await refreshFails(config, tokens.refresh_token!);
      await refreshFails(config, rt2.refresh_token!);

      const late = await tabs();
      const next = await oidc.refreshTokenGrant(late.config, late.tokens.refresh_token!);
      await new Promise((r) => setTimeout(r, 2500));
      await refreshFails(late.config, late.tokens.refresh_token!);
      await refreshFails(late.config, next.refresh_token!);

      const bad = await t.tollgate.clients.register({ id: 'bad', secret: SECRET, redirectUris: [REDIRECT], refreshTokenReuseGrace: 301 }).catch((err: Error) => err);
      assert.ok(bad instanceof Error, 'a window over 300 s is refused');
    } finally {
      await t.close();
      await removeDirs(t.dirs);
    }
  });
});
