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
import { exportJWK, generateKeyPair } from 'jose';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

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

  test('clients add --profile fapi2 --jwks-file; the admin API the same with security_profile; refusals exit 2 or answer 400', async () => {
    const jwk = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-fapi-'));
    try {
      const jwksFile = path.join(dir, 'jwks.json');
      await writeFile(jwksFile, JSON.stringify({ keys: [jwk] }));
      const added = await ok<{ client: Record<string, unknown>; client_secret?: string }>(['clients', 'add', '--id', 'fapi-cli', '--redirect-uri', REDIRECT, '--profile', 'fapi2', '--jwks-file', jwksFile]);
      assert.equal(added.client_secret, undefined);
      assert.equal(added.client.security_profile, 'fapi2');
      assert.equal(added.client.token_endpoint_auth_method, 'private_key_jwt');
      assert.deepEqual(policyOf(added.client as Policy), [true, true]);
      assert.deepEqual(await loaded('fapi-cli'), [true, true]);
      // The profile's requirements cannot be turned off while it holds; leaving the profile keeps them until changed.
      const turnOff = await runCli(['clients', 'update', '--id', 'fapi-cli', '--no-require-dpop'], env);
      assert.equal(turnOff.code, 2, turnOff.stderr);
      assert.match(turnOff.stderr, /requires dpop_bound_access_tokens/);
      assert.deepEqual(await loaded('fapi-cli'), [true, true], 'nothing changed');
      const left = await ok<Record<string, unknown>>(['clients', 'update', '--id', 'fapi-cli', '--profile', 'none']);
      assert.equal(left.security_profile, undefined);
      assert.deepEqual(policyOf(left as Policy), [true, true]);
      // No keys: refused before anything is stored.
      const refused = await runCli(['clients', 'add', '--id', 'fapi-nokeys', '--redirect-uri', REDIRECT, '--profile', 'fapi2'], env);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /public keys/);
      assert.equal((await runCli(['clients', 'show', '--id', 'fapi-nokeys'], env)).code !== 0, true, 'nothing stored');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'fapi-api', redirect_uris: [REDIRECT], security_profile: 'fapi2', jwks: { keys: [jwk] } } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.client.security_profile, 'fapi2');
    assert.equal(created.body.client_secret, undefined);
    const contradiction = await api('POST', '/clients', { token: admin, json: { client_id: 'fapi-basic', redirect_uris: [REDIRECT], security_profile: 'fapi2', token_endpoint_auth_method: 'client_secret_basic', jwks: { keys: [jwk] } } });
    assert.equal(contradiction.status, 400, contradiction.text);
    assert.match(contradiction.text, /private_key_jwt/);
    assert.equal((await api('GET', '/clients/fapi-basic', { token: admin })).status, 404, 'nothing stored');
    const offPar = await api('PATCH', '/clients/fapi-api', { token: admin, json: { require_pushed_authorization_requests: false } });
    assert.equal(offPar.status, 400, offPar.text);
    assert.equal((offPar.body as { error: string }).error, 'invalid_client_metadata');
    assert.equal((await api('PATCH', '/clients/fapi-api', { token: admin, json: { security_profile: 'fapi1' } })).status, 400);
    assert.deepEqual(policyOf((await api('GET', '/clients/fapi-api', { token: admin })).body as Policy), [true, true], 'nothing changed');
  });
});
