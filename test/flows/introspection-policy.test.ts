// Who may introspect (RFC 7662) and revoke (RFC 7009) which tokens, as the
// policies in oidc/token-policies.ts state: a client its own tokens; a
// resource server, registered with the audiences it serves, the access
// tokens for those audiences; anyone else learns nothing (`active: false`)
// and revokes nothing. The library prints no notice about default policies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { signIn } from '../support/sign-in.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';

const PASSWORD = 'correct horse battery';
const WEB_SECRET = 'policy-web-client-secret-0123456789abcdef';
const REDIRECT = 'https://app.example.test/callback';

describe('introspection and revocation policies', () => {
  let t: TestTollgate;
  const secrets: Record<string, string> = {};
  /** What the library wrote to the console (its notices go there, not to our log). */
  const console_: string[] = [];
  const saved = { info: console.info, warn: console.warn, log: console.log };

  before(async () => {
    for (const name of ['info', 'warn', 'log'] as const) console[name] = (...args: unknown[]) => { console_.push(args.map(String).join(' ')); };
    t = await startTestTollgate();
    const { clients } = t.tollgate;
    await clients.register({ id: 'web', secret: WEB_SECRET, redirectUris: [REDIRECT], scope: 'openid offline_access basic' });
    secrets.other = (await clients.register({ id: 'other', grantTypes: ['client_credentials'], scope: 'basic' })).client_secret!;
    secrets.ops = (await clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' })).client_secret!;
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    // The resource server of the API registers through the admin API, as an operator would.
    const { machineToken, api } = adminCalls(t);
    const admin = (await machineToken('ops', secrets.ops!, 'admin')).body.access_token!;
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'orders-api', grant_types: ['client_credentials'], introspection_audiences: [t.config.apiAudience] } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.client.introspection_audiences, [t.config.apiAudience]);
    secrets['orders-api'] = created.body.client_secret;
  });
  after(async () => {
    Object.assign(console, saved);
    await t.close();
    await removeDirs(t.dirs);
  });

  const post = async (endpoint: 'introspection' | 'revocation', clientId: string, token: string) => {
    const res = await fetch(`${t.issuer}/token/${endpoint}`, {
      method: 'POST',
      headers: { authorization: basicAuth(clientId, clientId === 'web' ? WEB_SECRET : secrets[clientId]!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return { status: res.status, body: (endpoint === 'introspection' ? await res.json() : await res.text()) as Record<string, unknown> };
  };
  const active = async (clientId: string, token: string) => (await post('introspection', clientId, token)).body.active;
  const session = () => signIn(t, { clientId: 'web', secret: WEB_SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });

  test('a client introspects its own access and refresh tokens', async () => {
    const { tokens } = await session();
    assert.equal(await active('web', tokens.access_token), true);
    assert.equal(await active('web', tokens.refresh_token!), true);
  });

  test('another confidential client learns nothing about them', async () => {
    const { tokens } = await session();
    assert.deepEqual((await post('introspection', 'other', tokens.access_token)).body, { active: false });
    assert.deepEqual((await post('introspection', 'other', tokens.refresh_token!)).body, { active: false });
  });

  test('a registered resource server introspects the access tokens of its audience, and nothing else', async () => {
    const { tokens } = await session();
    const info = (await post('introspection', 'orders-api', tokens.access_token)).body;
    assert.equal(info.active, true);
    assert.equal(info.client_id, 'web');
    // Not the refresh token (it has no audience), not a token for another API (the admin API's).
    assert.equal(await active('orders-api', tokens.refresh_token!), false);
    const adminToken = (await adminCalls(t).machineToken('ops', secrets.ops!, 'admin')).body.access_token!;
    assert.equal(await active('orders-api', adminToken), false);
    assert.equal(await active('ops', adminToken), true);
  });

  test('only the token\'s own client revokes it; another gets 200 and nothing happens', async () => {
    const { tokens } = await session();
    for (const asker of ['other', 'orders-api']) {
      for (const token of [tokens.refresh_token!, tokens.access_token]) {
        const res = await post('revocation', asker, token);
        assert.equal(res.status, 200, `${asker}: ${JSON.stringify(res.body)}`);
      }
    }
    assert.equal(await active('web', tokens.refresh_token!), true);
    assert.equal(await active('web', tokens.access_token), true);
    assert.equal((await post('revocation', 'web', tokens.refresh_token!)).status, 200);
    assert.equal(await active('web', tokens.refresh_token!), false);
  });

  test('introspection_audiences: resource indicators, for confidential clients only; settable by PATCH', async () => {
    const { machineToken, api } = adminCalls(t);
    const admin = (await machineToken('ops', secrets.ops!, 'admin')).body.access_token!;
    const publicClient = await api('POST', '/clients', { token: admin, json: { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], introspection_audiences: [t.config.apiAudience] } });
    assert.equal(publicClient.status, 400, publicClient.text);
    assert.match(publicClient.text, /introspection_audiences/);
    const notAUri = await api('POST', '/clients', { token: admin, json: { client_id: 'rs2', grant_types: ['client_credentials'], introspection_audiences: ['orders#x'] } });
    assert.equal(notAUri.status, 400, notAUri.text);
    const patched = await api('PATCH', '/clients/other', { token: admin, json: { introspection_audiences: [t.config.apiAudience] } });
    assert.equal(patched.status, 200, patched.text);
    const { tokens } = await session();
    assert.equal(await active('other', tokens.access_token), true);
    assert.equal((await api('PATCH', '/clients/other', { token: admin, json: { introspection_audiences: null } })).status, 200);
    assert.equal(await active('other', tokens.access_token), false);
  });

  test('no library notice about default policies, in the console or in our log', () => {
    const notices = [...console_, ...t.logs].filter((line) => /oidc-provider (NOTICE|WARNING)|allowedPolicy|you SHOULD change/.test(line) && !/Unsupported runtime/.test(line));
    assert.deepEqual(notices, []);
  });
});
