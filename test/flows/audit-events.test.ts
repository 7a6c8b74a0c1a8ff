// The audit trail, read back through the admin API: a row for each kind of
// security event with who, when, where from and which client; admin changes
// with their actor and before/after; filters and pages; never a secret.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { authorizationRequest, logInWith, REDIRECT, relyingParty, signIn, adminResource } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'correct horse battery';

interface Event { id: string; at: string; type: string; account_id?: string; client_id?: string; actor?: string; ip?: string; user_agent?: string; details: Record<string, any> }

describe('audit trail', () => {
  let t: TestTollgate;
  let admin: string;
  let accountId: string;
  let webSecret: string;
  let opsSecret: string;
  const secrets: string[] = [];

  const events = async (query = '') => {
    const res = await fetch(`${t.issuer}/admin/v1/audit-events${query}`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    return (await res.json()) as { items: Event[]; next_before: string | null };
  };
  const one = async (type: string, query = '') => {
    const { items } = await events(`?type=${type}${query}`);
    assert.ok(items.length, `no ${type} event`);
    return items[0]!;
  };
  const adminCall = (method: string, path: string, json?: unknown) => fetch(`${t.issuer}/admin/v1${path}`, {
    method, headers: { authorization: `Bearer ${admin}`, 'user-agent': 'ops-script/1.0', ...(json ? { 'content-type': 'application/json' } : {}) }, body: json ? JSON.stringify(json) : undefined,
  });

  before(async () => {
    t = await startTestTollgate();
    opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' })).client_secret!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], postLogoutRedirectUris: ['https://app.example.test/bye'], scope: 'openid offline_access basic' })).client_secret!;
    secrets.push(opsSecret, webSecret, PASSWORD);
    const res = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`ops:${opsSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: adminResource(t) }),
    });
    admin = ((await res.json()) as { access_token: string }).access_token;
    secrets.push(admin);
    accountId = (await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD })).id;
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('sign-in failure and success, consent, logout: who, client, address and browser', async () => {
    const rp = await relyingParty(t, 'web', webSecret);
    const agent = new UserAgent({ 'user-agent': 'AuditBrowser/1.0' });
    const request = await authorizationRequest(rp, { scope: 'openid' });
    const form = await agent.navigate(request.url.href, {}, REDIRECT);
    await agent.submit(form, '/login', { login: 'ada@example.test', password: 'not the password' }, REDIRECT);
    secrets.push('not the password');
    const failure = await one('login.failure');
    assert.equal(failure.account_id, accountId);
    assert.equal(failure.client_id, 'web');
    assert.equal(failure.ip, '127.0.0.1');
    assert.equal(failure.user_agent, 'AuditBrowser/1.0');

    const back = await logInWith(agent, request.url, { email: 'ada@example.test', password: PASSWORD });
    assert.ok(back.url.startsWith(REDIRECT), back.url);
    const success = await one('login.success');
    assert.equal(success.account_id, accountId);
    const consent = await one('consent.granted');
    assert.equal(consent.account_id, accountId);
    assert.equal(consent.client_id, 'web');
    assert.ok(consent.details.scopes.includes('openid'), JSON.stringify(consent.details));

    const code = new URL(back.url).searchParams.get('code')!;
    const tokenRes = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`web:${webSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: request.verifier }),
    });
    const tokens = (await tokenRes.json()) as { id_token: string; access_token: string };
    secrets.push(code, tokens.access_token, tokens.id_token);
    // RP-initiated logout, confirmed on the logout page.
    const logout = await agent.navigate(`${t.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: 'https://app.example.test/bye' })}`, {}, 'https://app.example.test/bye');
    const done = await agent.submit(logout, '/session/end/confirm', { logout: 'yes' }, 'https://app.example.test/bye');
    assert.ok(done.url.startsWith('https://app.example.test/bye'), done.url);
    const loggedOut = await one('logout');
    assert.equal(loggedOut.account_id, accountId);
    assert.equal(loggedOut.client_id, 'web');
  });

  test('refresh token reuse is recorded with the family it revoked', async () => {
    const { tokens } = await signIn(t, { clientId: 'web', secret: webSecret, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    secrets.push(tokens.refresh_token!, tokens.access_token);
    const refresh = () => fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`web:${webSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    assert.equal((await refresh()).status, 200);
    assert.equal((await refresh()).status, 400);
    const reuse = await one('refresh_token.reuse_detected');
    assert.equal(reuse.account_id, accountId);
    assert.equal(reuse.client_id, 'web');
    assert.equal(reuse.details.family_revoked, true);
  });

  test('admin changes: actor, client, before and after; forced logout', async () => {
    const created = await adminCall('POST', '/clients', { client_id: 'audited', grant_types: ['client_credentials'], scope: 'basic' });
    const secret = ((await created.json()) as { client_secret: string }).client_secret;
    secrets.push(secret);
    await adminCall('PATCH', '/clients/audited', { scope: 'basic admin' });
    const rotated = (await (await adminCall('POST', '/clients/audited/secret')).json()) as { client_secret: string };
    secrets.push(rotated.client_secret);
    await adminCall('DELETE', '/clients/audited');
    const user = (await (await adminCall('POST', '/users', { email: 'bob@example.test', password: 'bob password 123' })).json()) as { id: string };
    secrets.push('bob password 123', 'bob new password 456');
    await adminCall('PATCH', `/users/${user.id}`, { roles: ['admin'] });
    await adminCall('POST', `/users/${user.id}/password`, { password: 'bob new password 456' });
    await adminCall('POST', `/users/${accountId}/logout`);

    for (const type of ['admin.client.created', 'admin.client.updated', 'admin.client.secret_rotated', 'admin.client.deleted']) {
      const event = await one(type);
      assert.equal(event.actor, 'ops', type);
      assert.equal(event.client_id, 'audited', type);
      assert.equal(event.details.via_client, 'ops', type);
      assert.equal(event.user_agent, 'ops-script/1.0', type);
    }
    const updated = await one('admin.client.updated');
    assert.equal(updated.details.before.scope, 'basic');
    assert.equal(updated.details.after.scope, 'basic admin');
    for (const type of ['admin.user.created', 'admin.user.updated', 'admin.user.password_reset']) {
      const event = await one(type);
      assert.equal(event.actor, 'ops', type);
      assert.equal(event.account_id, user.id, type);
    }
    const roles = await one('admin.user.updated');
    assert.deepEqual([roles.details.before.roles, roles.details.after.roles], [[], ['admin']]);
    const forced = await one('user.forced_logout');
    assert.equal(forced.account_id, accountId);
    assert.equal(forced.actor, 'ops');
    // Each is a log line too.
    for (const type of ['admin.client.created', 'admin.user.updated', 'user.forced_logout']) {
      assert.ok(t.logs.some((line) => JSON.parse(line).audit === type), `no log line for ${type}`);
    }
  });

  test('never a password, secret or token, in the trail or the logs', async () => {
    const all = JSON.stringify((await events('?limit=1000')).items);
    const logs = t.logs.join('\n');
    for (const secret of secrets) {
      assert.ok(!all.includes(secret), `the trail holds a secret (${secret.slice(0, 6)}…)`);
      assert.ok(!logs.includes(secret), `the logs hold a secret (${secret.slice(0, 6)}…)`);
    }
    assert.ok(!/argon2|password_hash|secret_digest/i.test(all));
  });

  test('filters by user, type and time; pages with no gap and no overlap; bad filters are 400', async () => {
    const everything = (await events('?limit=1000')).items;
    assert.ok(everything.length >= 10);
    assert.ok(everything.every((e, i) => i === 0 || BigInt(e.id) < BigInt(everything[i - 1]!.id)), `newest first: ${everything.map((e) => e.id).join(' ')}`);
    const mine = (await events(`?account_id=${accountId}`)).items;
    assert.ok(mine.length && mine.every((e) => e.account_id === accountId));
    assert.ok((await events('?type=login.success')).items.every((e) => e.type === 'login.success'));
    assert.ok((await events('?client_id=audited')).items.every((e) => e.client_id === 'audited'));

    const middle = everything[Math.floor(everything.length / 2)]!;
    const since = (await events(`?since=${encodeURIComponent(middle.at)}&limit=1000`)).items;
    assert.ok(since.length && since.every((e) => e.at >= middle.at));
    const until = (await events(`?until=${encodeURIComponent(middle.at)}&limit=1000`)).items;
    assert.ok(until.every((e) => e.at < middle.at));
    assert.equal(since.length + until.length, everything.length);

    const paged: Event[] = [];
    let before: string | null = null;
    do {
      const page = await events(`?limit=3${before ? `&before=${before}` : ''}`);
      paged.push(...page.items);
      before = page.next_before;
    } while (before);
    assert.deepEqual(paged.map((e) => e.id), everything.map((e) => e.id));

    for (const bad of ['?type=nonsense', '?since=yesterday', '?before=abc', '?before=9999999999999999999', '?since=0000-01-01T00:00:00Z', '?until=0001-01-01T00:00:00%2B01:00', '?limit=0', '?limit=5000', '?unknown=1']) {
      const res = await fetch(`${t.issuer}/admin/v1/audit-events${bad}`, { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(res.status, 400, bad);
      assert.ok(((await res.json()) as { fields: object }).fields, bad);
    }
  });

  test('append-only: no route changes or deletes an event', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE', 'POST']) {
      const res = await fetch(`${t.issuer}/admin/v1/audit-events`, { method, headers: { authorization: `Bearer ${admin}` } });
      assert.equal(res.status, 405, method);
    }
  });
});
