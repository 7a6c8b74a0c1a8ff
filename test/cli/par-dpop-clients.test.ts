// A client's PAR and DPoP requirements as an operator sets them: the admin
// API in RFC 7591 names (`require_pushed_authorization_requests`, RFC 9126
// §6; `dpop_bound_access_tokens`, RFC 9449 §5.2) and the CLI beside a
// server on PostgreSQL (`clients add|update --require-par --require-dpop`
// and their --no- forms). What the running server's oidc-provider loads is
// what decides.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/processes.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls } from '../support/admin.ts';
import { REDIRECT } from '../support/sign-in.ts';

type Policy = { require_pushed_authorization_requests: boolean; dpop_bound_access_tokens: boolean };
const policyOf = (c: Policy) => [c.require_pushed_authorization_requests, c.dpop_bound_access_tokens];

describe('clients: --require-par and --require-dpop (CLI and admin API)', { skip: requirePostgres() }, () => {
  let postgres: PostgresServer;
  let t: TestTollgate;
  let env: Record<string, string>;
  let admin: string;
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });
  const ok = async <T = Record<string, unknown>>(args: string[]) => {
    const r = await runCli(args, env);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  /** What oidc-provider in the running server sees. */
  const loaded = async (id: string) => {
    const c = await t.tollgate.provider.Client.find(id) as unknown as { requirePushedAuthorizationRequests: boolean; dpopBoundAccessTokens: boolean };
    return [c.requirePushedAuthorizationRequests, c.dpopBoundAccessTokens];
  };

  before(async () => {
    postgres = await startPostgres();
    t = await startTestTollgate({ databaseUrl: await createDatabase(postgres, 'par_dpop_cli') });
    env = { DATABASE_URL: t.config.database.url!, DATA_DIR: t.dirs.data, KEYS_DIR: t.dirs.keys, ISSUER: t.issuer };
    const opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    admin = (await machineToken('ops', opsSecret, 'admin')).body.access_token!;
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    postgres?.stop();
  });

  test('clients add --require-par --require-dpop; update with the --no- forms and back; show says so', async () => {
    const added = await ok<{ client: Policy }>(['clients', 'add', '--id', 'bank', '--redirect-uri', REDIRECT, '--require-par', '--require-dpop']);
    assert.deepEqual(policyOf(added.client), [true, true]);
    assert.deepEqual(policyOf((await ok<{ client: Policy }>(['clients', 'add', '--id', 'blog', '--redirect-uri', REDIRECT])).client), [false, false]);
    assert.deepEqual(await loaded('bank'), [true, true]);

    assert.deepEqual(policyOf(await ok<Policy>(['clients', 'update', '--id', 'bank', '--no-require-par'])), [false, true]);
    assert.deepEqual(policyOf(await ok<Policy>(['clients', 'update', '--id', 'bank', '--no-require-dpop', '--require-par'])), [true, false]);
    assert.deepEqual(policyOf(await ok<Policy>(['clients', 'show', '--id', 'bank'])), [true, false]);
    assert.deepEqual(await loaded('bank'), [true, false]);
  });

  test('the admin API registers, reads and patches both; a non-boolean is a 400', async () => {
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'shop', redirect_uris: [REDIRECT], require_pushed_authorization_requests: true, dpop_bound_access_tokens: true } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(policyOf(created.body.client), [true, true]);
    assert.deepEqual(await loaded('shop'), [true, true]);
    const patched = await api('PATCH', '/clients/shop', { token: admin, json: { dpop_bound_access_tokens: false } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(policyOf(patched.body as Policy), [true, false]);
    assert.deepEqual(policyOf((await api('GET', '/clients/shop', { token: admin })).body as Policy), [true, false]);
    for (const json of [{ dpop_bound_access_tokens: 'yes' }, { require_pushed_authorization_requests: 1 }]) {
      assert.equal((await api('PATCH', '/clients/shop', { token: admin, json })).status, 400, JSON.stringify(json));
    }
  });
});
