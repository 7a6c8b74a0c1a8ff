// Who may use the admin API, decided on every call: a person's admin token
// stops working the moment their account loses the role or is disabled, not
// when the token expires.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, signIn, adminResource } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';

describe('admin API access for people', () => {
  let t: TestTollgate;

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'console', public: true, redirectUris: [REDIRECT], scope: 'openid admin', firstParty: true });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const users = (token: string) => fetch(`${t.issuer}/admin/v1/users`, { headers: { authorization: `Bearer ${token}` } });
  const adminToken = async (email: string) => (await signIn(t, { clientId: 'console', email, password: PASSWORD, scope: 'openid admin', resource: adminResource(t) })).tokens.access_token;

  test('an account with the admin role gets the admin scope and may call the API', async () => {
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, roles: ['admin'] });
    const res = await users(await adminToken('ada@example.test'));
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { items: Array<{ email: string }> }).items.some((u) => u.email === 'ada@example.test'));
  });

  test('taking the role away refuses the still-unexpired token at once: 403', async () => {
    const account = await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD, roles: ['admin'] });
    const token = await adminToken('bob@example.test');
    assert.equal((await users(token)).status, 200);
    await t.tollgate.accounts.update(account.id, { roles: [] });
    const res = await users(token);
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope", error_description="[^"]*no longer an administrator/);
  });

  test('disabling the account refuses the token at once: 401', async () => {
    const account = await t.tollgate.accounts.create({ email: 'cy@example.test', password: PASSWORD, roles: ['admin'] });
    const token = await adminToken('cy@example.test');
    assert.equal((await users(token)).status, 200);
    await t.tollgate.accounts.update(account.id, { disabled: true });
    const res = await users(token);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test('an account without the role never gets the admin scope', async () => {
    await t.tollgate.accounts.create({ email: 'dee@example.test', password: PASSWORD });
    const res = await users(await adminToken('dee@example.test'));
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="admin"/);
  });

  test("a person's organisation is read from the account, not from the token", async () => {
    const account = await t.tollgate.accounts.create({ email: 'eve@example.test', password: PASSWORD, roles: ['admin'] });
    const token = await adminToken('eve@example.test');
    assert.equal((await fetch(`${t.issuer}/admin/v1/clients`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    // Now an administrator of one customer only: the operator-wide routes close at once.
    await t.tollgate.accounts.update(account.id, { organisation: 'acme' });
    assert.equal((await fetch(`${t.issuer}/admin/v1/clients`, { headers: { authorization: `Bearer ${token}` } })).status, 403);
  });

  test("a machine's admin token ends with its client's admin scope or the client itself", async () => {
    const basicAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const machine = async (id: string, secret: string) => ((await (await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: basicAuth(id, secret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: adminResource(t) }),
    })).json()) as { access_token: string }).access_token;
    const a = (await t.tollgate.clients.register({ id: 'robot-a', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    const b = (await t.tollgate.clients.register({ id: 'robot-b', grantTypes: ['client_credentials'], scope: 'admin' })).client_secret!;
    const tokenA = await machine('robot-a', a);
    const tokenB = await machine('robot-b', b);
    assert.equal((await users(tokenA)).status, 200);
    assert.equal((await users(tokenB)).status, 200);
    await t.tollgate.clients.update('robot-a', { scope: 'basic' });
    await t.tollgate.clients.remove('robot-b');
    for (const token of [tokenA, tokenB]) {
      const res = await users(token);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
  });

  test("an API's token is refused here even with the admin scope: the admin API is its own resource", async () => {
    await t.tollgate.accounts.create({ email: 'fay@example.test', password: PASSWORD, roles: ['admin'] });
    // Without resource=…/admin/v1 the token is for the default API (as a customer API receives it).
    const apiToken = (await signIn(t, { clientId: 'console', email: 'fay@example.test', password: PASSWORD, scope: 'openid admin' })).tokens.access_token;
    const res = await users(apiToken);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token", error_description="this token is for another API; ask for one with resource=/);
  });
});

