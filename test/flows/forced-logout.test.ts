// Forced logout from the server: `tollgate users logout --email E` ends
// every session and grant of that user, revokes every refresh token, and
// sends one back-channel logout token per session to every client that
// registered a back-channel URI (OpenID Connect Back-Channel Logout 1.0).
// Run against PostgreSQL, where the CLI works beside a running server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { startLogoutReceiver, type LogoutReceiver } from '../support/logout-receiver.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';
import { signIn, authorizationRequest, REDIRECT } from '../support/sign-in.ts';
import { runCli } from '../support/processes.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'backchannel-client-secret-0123456789abcd';

describe('forced logout (PostgreSQL)', { skip: requirePostgres() }, () => {
  let pg: PostgresServer;
  let t: TestTollgate;
  let receiver: LogoutReceiver;
  let backchannelUri: string;
  let env: Record<string, string>;

  before(async () => {
    pg = await startPostgres();
    const databaseUrl = await createDatabase(pg, 'forced_logout');
    // The receiver is on loopback, which the SSRF guard refuses unless allowed.
    t = await startTestTollgate({ databaseUrl, env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    receiver = await startLogoutReceiver();
    backchannelUri = receiver.uri;
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT], backchannelLogoutUri: backchannelUri });
    await t.tollgate.clients.register({ id: 'other', public: true, redirectUris: [REDIRECT], scope: 'openid offline_access basic' });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
    env = { DATABASE_URL: databaseUrl, KEYS_DIR: t.dirs.keys, DATA_DIR: t.dirs.data, ISSUER: t.issuer, ALLOW_PRIVATE_NETWORK_FETCH: 'true' };
  });
  after(async () => {
    receiver?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
    pg?.stop();
  });

  test('ends every session and grant, revokes refresh tokens, and notifies each session by back-channel', async () => {
    const scope = 'openid offline_access basic';
    const laptop = await signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope });
    const phone = await signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope });
    const elsewhere = await signIn(t, { clientId: 'other', email: 'ada@example.test', password: PASSWORD, scope });
    const bystander = await signIn(t, { clientId: 'web', secret: SECRET, email: 'bob@example.test', password: PASSWORD, scope });
    const sids = [laptop, phone].map((s) => s.tokens.claims()!.sid).sort();
    assert.ok(sids.every(Boolean));

    const r = await runCli(['users', 'logout', '--email', 'Ada@Example.test'], env);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(result.sessions, 3);
    assert.equal(result.backchannel_notified, 2, 'one logout token per session with a back-channel client');
    assert.equal(result.backchannel_failed, 0);
    assert.ok(Number(result.refresh_tokens) >= 3);

    // The logout tokens: signed by Tollgate's keys, for the client, with the session's sid.
    assert.equal(receiver.tokens.length, 2);
    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
    const ada = (await t.tollgate.repositories.accounts.findByEmail('ada@example.test'))!;
    const seen: string[] = [];
    for (const token of receiver.tokens) {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: t.issuer, audience: 'web', typ: 'logout+jwt' });
      assert.equal(protectedHeader.alg, 'RS256');
      assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
      assert.equal(payload.sub, ada.id);
      assert.equal(payload.nonce, undefined, 'a logout token never carries a nonce');
      assert.ok(typeof payload.jti === 'string');
      seen.push(String(payload.sid));
    }
    assert.deepEqual(seen.sort(), sids);

    // Everything of Ada's is gone; Bob is untouched.
    for (const session of [laptop, phone, elsewhere]) {
      await assert.rejects(oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      const silent = await authorizationRequest(session.config, { prompt: 'none', scope: 'openid' });
      const res = await session.agent.navigate(silent.url.href, {}, REDIRECT);
      assert.equal(new URL(res.url).searchParams.get('error'), 'login_required');
    }
    assert.ok((await oidc.refreshTokenGrant(bystander.config, bystander.tokens.refresh_token!)).access_token);

    const [audit] = await t.tollgate.repositories.audit.list({ type: 'user.forced_logout' });
    assert.equal(audit?.accountId, ada.id);
    assert.equal(audit?.details?.sessions, 3);

    const again = await runCli(['users', 'logout', '--email', 'ada@example.test'], env);
    assert.equal(again.code, 0);
    assert.equal((JSON.parse(again.stdout) as { sessions: number }).sessions, 0);
  });

  test('without ALLOW_PRIVATE_NETWORK_FETCH the SSRF guard refuses a loopback receiver, and the logout still happens', async () => {
    await signIn(t, { clientId: 'web', secret: SECRET, email: 'bob@example.test', password: PASSWORD, scope: 'openid basic' });
    const before = receiver.tokens.length;
    const r = await runCli(['users', 'logout', '--email', 'bob@example.test'], { ...env, ALLOW_PRIVATE_NETWORK_FETCH: 'false' });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { sessions: number; backchannel_failed: number };
    assert.ok(result.sessions >= 1);
    assert.ok(result.backchannel_failed >= 1);
    assert.equal(receiver.tokens.length, before, 'nothing reached the loopback receiver');
  });

  test('an unknown e-mail is exit 1 with a clear message', async () => {
    const r = await runCli(['users', 'logout', '--email', 'nobody@example.test'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no account with e-mail/);
  });
});
