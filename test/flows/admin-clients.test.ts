// The admin API's clients and users through real HTTP with real tokens:
// every status it promises (201, 204, 400 with fields, 401, 403, 404, 405,
// 409, 415) and that each change really takes effect at the token endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';
import { REDIRECT, signIn, adminResource } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';

describe('admin API: clients and users', () => {
  let t: TestTollgate;
  let admin: string;
  let basicOnly: string;
  let opsSecret: string;

  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });

  before(async () => {
    t = await startTestTollgate();
    opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    admin = (await machineToken('ops', opsSecret, 'admin')).body.access_token!;
    basicOnly = (await machineToken('ops', opsSecret, 'basic')).body.access_token!;
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('no token 401 (no error in the challenge), a bad token 401 invalid_token, no admin scope 403 insufficient_scope', async () => {
    const missing = await api('GET', '/clients');
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate')!, new RegExp(`^Bearer realm="${t.issuer}", DPoP realm="${t.issuer}", algs="[^"]+"$`));
    assert.equal(missing.body.error, 'invalid_token');

    const bad = await api('GET', '/clients', { token: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln' });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate')!, /error="invalid_token"/);

    const weak = await api('GET', '/clients', { token: basicOnly });
    assert.equal(weak.status, 403);
    assert.match(weak.headers.get('www-authenticate')!, /error="insufficient_scope", error_description="[^"]+", scope="admin"/);
    assert.equal(weak.body.error, 'insufficient_scope');

    // The route table is not public: an unknown path is 401 to a stranger, 404 to an admin.
    assert.equal((await api('GET', '/nothing-here')).status, 401);
    const unknown = await api('GET', '/nothing-here', { token: admin });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'not_found');
    const wrongMethod = await api('PUT', '/clients', { token: admin, json: {} });
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
    assert.equal((await fetch(`${t.issuer}/admin/v1/openapi.json`)).status, 200);
  });

  test('register: 201 with Location and the secret once; never shown again; it works at /token', async () => {
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'reports', grant_types: ['client_credentials'], scope: 'basic', client_name: 'Reports' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get('location'), '/admin/v1/clients/reports');
    const secret = created.body.client_secret as string;
    assert.ok(secret.length >= 43);
    assert.equal(created.body.client.client_name, 'Reports');

    const read = await api('GET', '/clients/reports', { token: admin });
    assert.equal(read.status, 200);
    assert.ok(!read.text.includes(secret) && !/digest|"client_secret"/i.test(read.text), read.text);
    assert.ok(!(await api('GET', '/clients', { token: admin })).text.includes(secret));
    assert.equal((await machineToken('reports', secret, 'basic')).status, 200);

    const duplicate = await api('POST', '/clients', { token: admin, json: { client_id: 'reports', grant_types: ['client_credentials'] } });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.error, 'conflict');
  });

  test('bad input: 400 naming each field; unknown fields, non-JSON bodies and wrong media types are refused', async () => {
    const badGrant = await api('POST', '/clients', { token: admin, json: { client_id: 'x1', grant_types: ['implicit'] } });
    assert.equal(badGrant.status, 400);
    assert.equal(badGrant.body.error, 'invalid_request');
    assert.ok(badGrant.body.fields['grant_types.0'], JSON.stringify(badGrant.body));

    const fragment = await api('POST', '/clients', { token: admin, json: { client_id: 'x2', redirect_uris: ['https://app.example/cb#frag'] } });
    assert.equal(fragment.status, 400);
    assert.ok(fragment.body.fields['redirect_uris.0'], JSON.stringify(fragment.body));

    const badId = await api('POST', '/clients', { token: admin, json: { client_id: 'no spaces' } });
    assert.equal(badId.status, 400);
    assert.ok(badId.body.fields.client_id);

    const chosenSecret = await api('POST', '/clients', { token: admin, json: { client_id: 'x3', client_secret: 'mine' } });
    assert.equal(chosenSecret.status, 400, 'secrets are generated, never chosen through the API');

    assert.equal((await api('POST', '/clients', { token: admin, body: '{"client_id":', type: 'application/json' })).status, 400);
    assert.equal((await api('POST', '/clients', { token: admin, body: 'client_id=x4', type: 'text/plain' })).status, 415);
    assert.equal((await api('PATCH', '/clients/reports', { token: admin, json: { client_secret: 'x' } })).status, 400);
    assert.equal((await api('GET', '/users?limit=abc', { token: admin })).status, 400);
    // NUL cannot reach PostgreSQL: a clear 400, never a 500.
    for (const path of ['/users?email=%00', '/users?organisation=a%00', '/audit-events?account_id=%00', '/audit-events?client_id=a%00b']) {
      const res = await api('GET', path, { token: admin });
      assert.equal(res.status, 400, path);
      assert.ok(Object.values(res.body.fields as Record<string, string>).some((m) => /control characters/.test(m)), path);
    }
    assert.equal((await api('GET', '/clients/a%00b', { token: admin })).status, 404);
    for (const [method, path, json] of [
      ['POST', '/clients', { client_id: 'n1', redirect_uris: ['https://app.example/cb\u0000'] }],
      ['POST', '/clients', { client_id: 'n2', redirect_uris: [REDIRECT], backchannel_logout_uri: 'https://app.example/b\u0000' }],
      ['PATCH', '/clients/reports', { post_logout_redirect_uris: ['https://app.example/x\u0000'] }],
      ['PATCH', '/clients/reports', { redirect_uris: ['https://app.example/a b'] }],
    ] as const) {
      const res = await api(method, path, { token: admin, json });
      assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(json)}: ${res.text}`);
    }
    // Nothing of the refused registrations was stored.
    const ids = ((await api('GET', '/clients', { token: admin })).body.items as Array<{ client_id: string }>).map((c) => c.client_id);
    assert.deepEqual(ids.filter((id) => id.startsWith('x')), []);
  });

  test('unknown ids are 404 on every client route', async () => {
    for (const [method, path] of [['GET', '/clients/ghost'], ['PATCH', '/clients/ghost'], ['DELETE', '/clients/ghost'], ['POST', '/clients/ghost/secret']] as const) {
      const res = await api(method, path, { token: admin, ...(method === 'PATCH' ? { json: { scope: 'basic' } } : {}) });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.error, 'not_found');
    }
  });

  test('rotating the secret: the new one works, the old one is refused at once', async () => {
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'rotor', grant_types: ['client_credentials'], scope: 'basic' } });
    const oldSecret = created.body.client_secret as string;
    assert.equal((await machineToken('rotor', oldSecret, 'basic')).status, 200);
    const rotated = await api('POST', '/clients/rotor/secret', { token: admin });
    assert.equal(rotated.status, 200);
    const newSecret = rotated.body.client_secret as string;
    assert.notEqual(newSecret, oldSecret);
    const refused = await machineToken('rotor', oldSecret, 'basic');
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_client');
    assert.equal((await machineToken('rotor', newSecret, 'basic')).status, 200);

    await api('POST', '/clients', { token: admin, json: { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT] } });
    const publicRotate = await api('POST', '/clients/spa/secret', { token: admin });
    assert.equal(publicRotate.status, 400);
    // RFC 6749 §4.4: a public client would get machine tokens for its bare id.
    const publicMachine = await api('POST', '/clients', { token: admin, json: { client_id: 'pubm', token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], scope: 'admin' } });
    assert.equal(publicMachine.status, 400, publicMachine.text);
    assert.equal((await api('PATCH', '/clients/spa', { token: admin, json: { grant_types: ['authorization_code', 'client_credentials'] } })).status, 400);
  });

  test('changing redirect URIs: the new one is accepted at /auth, the old one refused', async () => {
    const newRedirect = 'https://app.example.test/new-callback';
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'photos', redirect_uris: [REDIRECT] } });
    const config = await oidc.discovery(new URL(t.issuer), 'photos', created.body.client_secret as string, undefined, { execute: [oidc.allowInsecureRequests] });
    const authorize = async (redirectUri: string) => {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const res = await fetch(url, { redirect: 'manual' });
      return res.status === 303 && (res.headers.get('location') ?? '').includes('/interaction/');
    };
    assert.equal(await authorize(REDIRECT), true);
    const patched = await api('PATCH', '/clients/photos', { token: admin, json: { redirect_uris: [newRedirect], client_name: 'Photos' } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.redirect_uris, [newRedirect]);
    assert.equal(await authorize(newRedirect), true);
    assert.equal(await authorize(REDIRECT), false);

    const badPatch = await api('PATCH', '/clients/photos', { token: admin, json: { redirect_uris: ['not a url'] } });
    assert.equal(badPatch.status, 400);
    assert.deepEqual((await api('GET', '/clients/photos', { token: admin })).body.redirect_uris, [newRedirect], 'a refused change changes nothing');
  });

  test('deleting a client: 204, then it is unknown at /token and its users\' refresh tokens stop working', async () => {
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'doomed', redirect_uris: [REDIRECT], scope: 'openid offline_access basic', first_party: true } });
    const secret = created.body.client_secret as string;
    await t.tollgate.accounts.create({ email: 'doomed-user@example.test', password: PASSWORD });
    const { tokens } = await signIn(t, { clientId: 'doomed', secret, email: 'doomed-user@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    const deleted = await api('DELETE', '/clients/doomed', { token: admin });
    assert.equal(deleted.status, 204);
    assert.equal((await api('GET', '/clients/doomed', { token: admin })).status, 404);
    const refresh = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: basicAuth('doomed', secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    assert.equal(refresh.status, 401);
    // Its grants are gone with it: the user's access token reads as inactive.
    const grants = await t.tollgate.repositories.oidcModels.listByAccount('Grant', (await t.tollgate.accounts.idForEmail('doomed-user@example.test'))!);
    assert.equal(grants.length, 0);
  });

  test('users: create (no hash anywhere), conflict, per-field errors, read, filter, change roles and organisation', async () => {
    const created = await api('POST', '/users', { token: admin, json: { email: 'Grace@Example.test', password: PASSWORD, name: 'Grace', roles: ['admin'], organisation: 'acme' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.email, 'grace@example.test');
    assert.equal(created.headers.get('location'), `/admin/v1/users/${created.body.id}`);
    // No hash and no password: `has_password` (a flag) is the only word of it.
    assert.ok(!/argon2|"password"|password_hash/i.test(created.text), created.text);
    assert.equal(created.body.has_password, true);
    assert.equal((await api('POST', '/users', { token: admin, json: { email: 'grace@example.test', password: PASSWORD } })).status, 409);
    const short = await api('POST', '/users', { token: admin, json: { email: 'x@example.test', password: 'short' } });
    assert.equal(short.status, 400);
    assert.ok(short.body.fields.password);
    const badRole = await api('POST', '/users', { token: admin, json: { email: 'y@example.test', password: PASSWORD, roles: ['root'] } });
    assert.ok(badRole.body.fields['roles.0']);

    const id = created.body.id as string;
    assert.equal((await api('GET', `/users/${id}`, { token: admin })).body.name, 'Grace');
    assert.equal((await api('GET', '/users/not-a-uuid', { token: admin })).status, 404);
    assert.equal((await api('GET', '/users/00000000-0000-4000-8000-000000000000', { token: admin })).status, 404);
    const filtered = await api('GET', '/users?email=GRACE@example.test', { token: admin });
    assert.deepEqual((filtered.body.items as Array<{ id: string }>).map((u) => u.id), [id]);
    assert.deepEqual((await api('GET', '/users?organisation=nobody', { token: admin })).body.items, []);

    const changed = await api('PATCH', `/users/${id}`, { token: admin, json: { roles: [], organisation: null, name: 'Grace H.' } });
    assert.equal(changed.status, 200, changed.text);
    assert.deepEqual([changed.body.roles, changed.body.organisation, changed.body.name], [[], null, 'Grace H.']);
    assert.equal((await api('PATCH', `/users/${id}`, { token: admin, json: { email: 'new@example.test' } })).status, 400, 'the sign-in name is not changed here');
  });

  test('disable ends everything and refuses sign-in; enable lets them back; a reset password replaces the old', async () => {
    const web = await api('POST', '/clients', { token: admin, json: { client_id: 'web', redirect_uris: [REDIRECT], scope: 'openid offline_access basic', first_party: true } });
    const webSecret = web.body.client_secret as string;
    const user = await api('POST', '/users', { token: admin, json: { email: 'hal@example.test', password: PASSWORD } });
    const id = user.body.id as string;
    const { tokens } = await signIn(t, { clientId: 'web', secret: webSecret, email: 'hal@example.test', password: PASSWORD, scope: 'openid offline_access basic' });

    const sessions = await api('GET', `/users/${id}/sessions`, { token: admin });
    assert.equal(sessions.status, 200);
    assert.equal(sessions.body.sessions.length, 1);
    assert.deepEqual(sessions.body.sessions[0].client_ids, ['web']);
    assert.equal(sessions.body.grants[0].client_id, 'web');

    const disabled = await api('PATCH', `/users/${id}`, { token: admin, json: { disabled: true } });
    assert.equal(disabled.body.disabled, true);
    const refresh = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: basicAuth('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
    assert.deepEqual((await api('GET', `/users/${id}/sessions`, { token: admin })).body.sessions, []);
    await assert.rejects(signIn(t, { clientId: 'web', secret: webSecret, email: 'hal@example.test', password: PASSWORD, scope: 'openid' }));

    await api('PATCH', `/users/${id}`, { token: admin, json: { disabled: false } });
    await signIn(t, { clientId: 'web', secret: webSecret, email: 'hal@example.test', password: PASSWORD, scope: 'openid' });

    const newPassword = 'a brand new passphrase';
    assert.equal((await api('POST', `/users/${id}/password`, { token: admin, json: { password: newPassword } })).status, 204);
    assert.equal((await api('POST', `/users/${id}/password`, { token: admin, json: { password: 'short' } })).status, 400);
    await assert.rejects(signIn(t, { clientId: 'web', secret: webSecret, email: 'hal@example.test', password: PASSWORD, scope: 'openid' }));
    await signIn(t, { clientId: 'web', secret: webSecret, email: 'hal@example.test', password: newPassword, scope: 'openid' });
  });

  test('sessions and grants: end one session, revoke one grant, force logout; unknown ones are 404', async () => {
    const web = await api('GET', '/clients/web', { token: admin });
    assert.equal(web.status, 200);
    const user = await api('POST', '/users', { token: admin, json: { email: 'ivy@example.test', password: PASSWORD } });
    const id = user.body.id as string;
    const rotated = await api('POST', '/clients/web/secret', { token: admin });
    const webSecret = rotated.body.client_secret as string;
    const login = () => signIn(t, { clientId: 'web', secret: webSecret, email: 'ivy@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    const refreshWorks = async (refreshToken: string) => (await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: basicAuth('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    })).status === 200;

    const first = await login();
    const { sessions } = (await api('GET', `/users/${id}/sessions`, { token: admin })).body;
    assert.equal((await api('DELETE', `/users/${id}/sessions/${sessions[0].uid}`, { token: admin })).status, 204);
    assert.equal(await refreshWorks(first.tokens.refresh_token!), false);
    assert.equal((await api('DELETE', `/users/${id}/sessions/${sessions[0].uid}`, { token: admin })).status, 404);

    const second = await login();
    const { grants } = (await api('GET', `/users/${id}/sessions`, { token: admin })).body;
    assert.equal((await api('DELETE', `/users/${id}/grants/${grants[0].id}`, { token: admin })).status, 204);
    assert.equal(await refreshWorks(second.tokens.refresh_token!), false);
    assert.equal((await api('DELETE', `/users/${id}/grants/${grants[0].id}`, { token: admin })).status, 404);

    const third = await login();
    const forced = await api('POST', `/users/${id}/logout`, { token: admin });
    assert.equal(forced.status, 200);
    // The second and third sign-ins' sessions (the first was ended above).
    assert.equal(forced.body.sessions, 2);
    assert.ok(forced.body.refresh_tokens >= 1, JSON.stringify(forced.body));
    assert.equal(await refreshWorks(third.tokens.refresh_token!), false);
  });

  test("an organisation's administrator manages that organisation's users only", async () => {
    await t.tollgate.clients.register({ id: 'console', public: true, redirectUris: [REDIRECT], scope: 'openid admin', firstParty: true });
    await t.tollgate.accounts.create({ email: 'boss@acme.test', password: PASSWORD, roles: ['admin'], organisation: 'acme' });
    const acmeUser = await t.tollgate.accounts.create({ email: 'worker@acme.test', password: PASSWORD, organisation: 'acme' });
    const otherUser = await t.tollgate.accounts.create({ email: 'worker@globex.test', password: PASSWORD, organisation: 'globex' });
    const { tokens } = await signIn(t, { clientId: 'console', email: 'boss@acme.test', password: PASSWORD, scope: 'openid admin', resource: adminResource(t) });
    const boss = tokens.access_token;

    const listed = (await api('GET', '/users', { token: boss })).body.items as Array<{ organisation: string }>;
    assert.ok(listed.length >= 2 && listed.every((u) => u.organisation === 'acme'), JSON.stringify(listed));
    assert.deepEqual((await api('GET', '/users?organisation=globex', { token: boss })).body.items, []);
    assert.equal((await api('GET', `/users/${acmeUser.id}`, { token: boss })).status, 200);
    assert.equal((await api('GET', `/users/${otherUser.id}`, { token: boss })).status, 404);
    assert.equal((await api('POST', `/users/${otherUser.id}/logout`, { token: boss })).status, 404);
    assert.equal((await api('PATCH', `/users/${acmeUser.id}`, { token: boss, json: { organisation: 'globex' } })).status, 400);
    for (const path of ['/clients', '/audit-events']) {
      const res = await api('GET', path, { token: boss });
      assert.equal(res.status, 403, path);
      assert.equal(res.body.error, 'insufficient_scope');
    }
    const created = await api('POST', '/users', { token: boss, json: { email: 'new@acme.test', password: PASSWORD } });
    assert.equal(created.status, 201);
    assert.equal(created.body.organisation, 'acme');
    assert.equal((await api('POST', '/users', { token: boss, json: { email: 'spy@acme.test', password: PASSWORD, organisation: 'globex' } })).status, 400);
  });
});
