// Deleting an account as an operator (issue 14, point 5): DELETE
// /admin/v1/users/{id} and `tollgate users delete`, and `users set-password`
// reading the password from standard input. The CLI runs as a process of its
// own and reaches this running server through its control socket, as it does
// beside `npm start` on the embedded database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';
import { adminCalls } from '../support/admin.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { runCli } from '../support/processes.ts';
import { serveCliSocket, type CliSocket } from '../../server/cli/socket-server.ts';
import { createLogger } from '../../server/logger.ts';
import { tablesHolding } from '../support/personal-data.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'correct horse battery';
const SCOPE = 'openid email profile offline_access';

describe('deleting accounts and setting passwords as an operator', () => {
  let t: TestTollgate;
  let smtp: TestSmtp;
  let socket: CliSocket;
  let admin: string;
  let webSecret: string;
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });
  const cli = (args: string[], input?: string) => runCli(args, { DATA_DIR: t.dirs.data, KEYS_DIR: t.dirs.keys }, input);

  before(async () => {
    smtp = await startSmtp();
    t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100] } });
    socket = await serveCliSocket(t.tollgate, createLogger({ logLevel: 'silent' }));
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: SCOPE, firstParty: true })).client_secret!;
  });
  after(async () => {
    await socket?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  const webSignIn = (email: string, password = PASSWORD) => signIn(t, { clientId: 'web', secret: webSecret, email, password, scope: SCOPE });

  test('DELETE /admin/v1/users/{id}: 204, everything of theirs ends, personal data goes, the trail stays with the admin as actor; then 404', async () => {
    // Created through the API: its audit event holds the whole account view, address and name included.
    const created = await api('POST', '/users', { token: admin, json: { email: 'mallory@example.test', password: PASSWORD, name: 'Mallory Example' } });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id as string;
    const session = await webSignIn('mallory@example.test');
    // An identity at an upstream provider, with the address it stated (issue 15): it must go too.
    await t.tollgate.providers.add({ id: 'corp', type: 'oidc', issuer: 'https://idp.example.test', clientId: 'c', clientSecret: 's', autoCreate: true, enabled: true });
    await t.tollgate.repositories.linkedIdentities.link({ providerId: 'corp', upstreamSub: 'mallory-upstream', accountId: id, email: 'mallory@example.test', emailVerified: true });
    // A reset asked for: counted under the address, and a link token issued (both must go).
    const browser = new UserAgent();
    const form = await browser.navigate(`${t.issuer}/account/forgot-password`);
    assert.equal((await browser.submit(form, '/forgot-password', { email: 'mallory@example.test' })).status, 200);
    await smtp.waitFor((m) => JSON.stringify(m.to).includes('mallory@example.test') && /password/i.test(m.subject ?? ''));

    const res = await api('DELETE', `/users/${id}`, { token: admin });
    assert.equal(res.status, 204, res.text);
    await assert.rejects(oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    assert.equal((await api('GET', `/users/${id}`, { token: admin })).status, 404);
    assert.deepEqual(await tablesHolding(t, id), ['audit_event']);
    assert.deepEqual(await tablesHolding(t, 'mallory@example.test'), []);
    assert.deepEqual(await tablesHolding(t, 'Mallory Example'), []);
    assert.deepEqual(await tablesHolding(t, 'mallory-upstream'), []);

    const [deleted] = (await t.tollgate.audit.page({ accountId: id, type: 'user.deleted', limit: 1 })).events;
    assert.equal(deleted?.actor, 'ops');
    assert.equal((deleted?.details as { by: string; sessions: number }).by, 'admin api');
    assert.equal((deleted?.details as { sessions: number }).sessions, 1);
    const [creation] = (await t.tollgate.audit.page({ accountId: id, type: 'admin.user.created', limit: 1 })).events;
    assert.ok(creation, 'the creation is still in the trail');
    assert.equal((creation.details as { after: { id: string; email?: string } }).after.id, id);
    assert.equal((creation.details as { after: { email?: string } }).after.email, undefined);

    await smtp.waitFor((m) => JSON.stringify(m.to).includes('mallory@example.test') && /deleted/i.test(m.subject ?? ''));
    const again = await api('DELETE', `/users/${id}`, { token: admin });
    assert.equal(again.status, 404);
    assert.equal(again.body.error, 'not_found');
  });

  test('DELETE needs the admin scope; a malformed id is 404, never an error', async () => {
    assert.equal((await api('DELETE', '/users/00000000-0000-4000-8000-000000000000')).status, 401);
    for (const id of ['not-a-uuid', '%00', 'x'.repeat(300)]) assert.equal((await api('DELETE', `/users/${id}`, { token: admin })).status, 404, id);
  });

  test('`users delete --email` through the running server: the account goes, audited with the CLI as actor', async () => {
    const account = await t.tollgate.accounts.create({ email: 'eve@example.test', password: PASSWORD });
    const session = await webSignIn('eve@example.test');
    const r = await cli(['users', 'delete', '--email', 'EVE@example.test']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { account: string; deleted: boolean; sessions: number };
    assert.equal(report.account, account.id);
    assert.equal(report.deleted, true);
    assert.equal(report.sessions, 1);
    assert.equal(await t.tollgate.repositories.accounts.findById(account.id), undefined);
    await assert.rejects(oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    const [deleted] = (await t.tollgate.audit.page({ accountId: account.id, type: 'user.deleted', limit: 1 })).events;
    assert.equal(deleted?.actor, 'cli');

    const unknown = await cli(['users', 'delete', '--email', 'eve@example.test']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no account with e-mail "eve@example.test"/);
  });

  test('`users set-password` reads the password from standard input; `users reset-password` still works', async () => {
    const account = await t.tollgate.accounts.create({ email: 'trent@example.test', password: PASSWORD });
    const set = await cli(['users', 'set-password', '--email', 'trent@example.test'], 'from standard input, long\n');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { account: account.id, password_reset: true });
    assert.ok(!set.stdout.includes('from standard input') && !set.stderr.includes('from standard input'));
    assert.equal((await t.tollgate.accounts.authenticate('trent@example.test', 'from standard input, long')).ok, true);

    const short = await cli(['users', 'set-password', '--email', 'trent@example.test'], 'short\n');
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 8 characters/);

    const old = await cli(['users', 'reset-password', '--email', 'trent@example.test', '--password-stdin'], 'the old name still works\n');
    assert.equal(old.code, 0, old.stderr);
    assert.equal((await t.tollgate.accounts.authenticate('trent@example.test', 'the old name still works')).ok, true);
  });
});
