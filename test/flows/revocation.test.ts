// Revocation (RFC 7009) and introspection (RFC 7662) with openid-client, for
// JWT access tokens (which oidc-provider alone refuses as "structured") and
// for refresh tokens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { signIn } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'revocation-client-secret-0123456789abcde';
const RS_SECRET = 'resource-server-secret-0123456789abcdefg';
const REDIRECT = 'https://app.example.test/callback';

describe('revocation and introspection', () => {
  let t: TestTollgate;
  let api: oidc.Configuration;
  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'web', secret: SECRET, redirectUris: [REDIRECT] });
    await t.tollgate.clients.register({ id: 'spa', public: true, redirectUris: [REDIRECT], scope: 'openid offline_access basic' });
    // A resource server: registered for the API's audience, so it may introspect the API's tokens.
    await t.tollgate.clients.register({ id: 'orders-api', secret: RS_SECRET, grantTypes: ['client_credentials'], introspectionAudiences: [t.config.apiAudience] });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    api = await oidc.discovery(new URL(t.issuer), 'orders-api', RS_SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const session = () => signIn(t, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });

  test('a live JWT access token introspects as active, to its client and to a resource server', async () => {
    const { config, tokens } = await session();
    for (const asker of [config, api]) {
      const info = await oidc.tokenIntrospection(asker, tokens.access_token);
      assert.equal(info.active, true);
      assert.equal(info.client_id, 'web');
      assert.equal(info.token_type, 'Bearer');
      assert.equal(info.scope, 'openid basic');
      assert.equal(info.iss, t.issuer);
      assert.ok(typeof info.exp === 'number' && typeof info.sub === 'string');
    }
  });

  test('a revoked JWT access token is inactive at introspection and refused at userinfo until it expires', async () => {
    const { config, tokens } = await session();
    await oidc.tokenRevocation(config, tokens.access_token);
    assert.deepEqual(await oidc.tokenIntrospection(api, tokens.access_token), { active: false });
    const res = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token", error_description="access token was revoked"/);
    const { revokedTokens } = t.tollgate.repositories;
    const jti = String(decodeJwt(tokens.access_token).jti);
    await revokedTokens.purgeExpired(1_000);
    assert.ok(await revokedTokens.isRevoked(jti), 'kept until the token would have expired (the janitor\'s purge leaves it)');
  });

  test('only the token\'s own client can revoke it; others get 200 and nothing happens', async () => {
    const { tokens } = await session();
    await oidc.tokenRevocation(api, tokens.access_token);
    assert.equal((await oidc.tokenIntrospection(api, tokens.access_token)).active, true);
  });

  test('a public client learns nothing about another client\'s token', async () => {
    const { tokens } = await session();
    const spa = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    assert.deepEqual(await oidc.tokenIntrospection(spa, tokens.access_token), { active: false });
  });

  test('refresh tokens: active until revoked; a revoked one no longer refreshes', async () => {
    const { config, tokens } = await session();
    assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active, true);
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active, false);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
  });

  test('tampered, foreign and garbage tokens are inactive; introspection needs client authentication', async () => {
    const { tokens } = await session();
    for (const token of [`${tokens.access_token.slice(0, -4)}AAAA`, 'not-a-token', 'a.b.c']) {
      assert.deepEqual(await oidc.tokenIntrospection(api, token), { active: false }, token);
    }
    const anonymous = await fetch(`${t.issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${tokens.access_token}` });
    assert.ok(anonymous.status === 400 || anonymous.status === 401);
    assert.match(((await anonymous.json()) as { error: string }).error, /invalid_client|invalid_request/);
  });
});
