// The server as a newcomer runs it: `npm start` with nothing configured
// serves discovery; a restart keeps keys, clients and accounts; the same
// with DATABASE_URL; a bad variable stops it with one line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, cleanEnv, ROOT } from '../support/processes.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';
import { spawnSync } from 'node:child_process';

async function clientCredentials(issuer: string, id: string, secret: string) {
  const config = await oidc.discovery(new URL(issuer), id, secret, undefined, { execute: [oidc.allowInsecureRequests] });
  return oidc.clientCredentialsGrant(config, { scope: 'basic' });
}

describe('npm start (embedded database)', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-server-'));
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('serves discovery, JWKS and health; a restart keeps keys, clients and accounts', async () => {
    const issuer = `http://localhost:${env.PORT}`;
    const first = await startServer(env);
    let jwksBefore: unknown;
    try {
      const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
      assert.equal(((await discovery.json()) as { issuer: string }).issuer, issuer);
      jwksBefore = await (await fetch(`${issuer}/jwks`)).json();
      assert.deepEqual(await (await fetch(`${issuer}/healthz`)).json(), { status: 'ok' });
      assert.deepEqual(await (await fetch(`${issuer}/readyz`)).json(), { status: 'ok', checks: { database: 'ok' } });

      // While the server holds the embedded database, the CLI's commands go to it (test/cli/beside-server.test.ts).
      const busy = await runCli(['users', 'list'], env);
      assert.equal(busy.code, 0, busy.stderr);
      assert.deepEqual(JSON.parse(busy.stdout), []);
      // Arguments are checked before the database is opened: still a usage error.
      const bad = await runCli(['users', 'add', '--email', 'not-an-email', '--password', 'long enough password'], env);
      assert.equal(bad.code, 2, bad.stderr);
    } finally {
      await first.stop();
    }
    assert.match(first.output(), /"startup_ms":\d+/);
    // A clean shutdown closes the database, which releases its lock.
    assert.match(first.output(), /"msg":"shutting down"/);
    await assert.rejects(stat(path.join(env.DATA_DIR!, 'pglite.lock')));

    const keyFile = await stat(path.join(env.KEYS_DIR!, 'signing-keys.json'));
    assert.equal(keyFile.mode & 0o777, 0o600, 'private keys are readable by their owner only');

    const added = await runCli(['clients', 'add', '--id', 'svc', '--grant-types', 'client_credentials'], env);
    assert.equal(added.code, 0, added.stderr);
    const { client_secret: secret } = JSON.parse(added.stdout) as { client_secret: string };
    assert.equal((await runCli(['users', 'add', '--email', 'kept@example.test', '--password', 'kept across restarts'], env)).code, 0);

    const second = await startServer(env);
    try {
      assert.deepEqual(await (await fetch(`${issuer}/jwks`)).json(), jwksBefore, 'same keys after a restart');
      const tokens = await clientCredentials(issuer, 'svc', secret);
      assert.ok(tokens.access_token);
    } finally {
      await second.stop();
    }
    const users = JSON.parse((await runCli(['users', 'list'], env)).stdout) as Array<{ email: string }>;
    assert.deepEqual(users.map((u) => u.email), ['kept@example.test']);
  });

  test('a bad variable stops the server with one line naming it', () => {
    const r = spawnSync('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv({ ...env, PORT: 'eighty' }), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^tollgate: invalid configuration: PORT: must be a number$/m);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  test('production refuses an http issuer', () => {
    const r = spawnSync('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv({ ...env, NODE_ENV: 'production', COOKIE_SECRETS: 'x'.repeat(40) }), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ISSUER: must be an https URL when NODE_ENV=production/);
  });
});

const pgSkip = requirePostgres();
describe('npm start (PostgreSQL)', { skip: pgSkip }, () => {
  let pg: PostgresServer;
  let root: string;
  before(async () => {
    pg = await startPostgres();
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-server-pg-'));
  });
  after(async () => {
    pg.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('serves discovery with DATABASE_URL; restarts keep clients; readiness follows the database', async () => {
    const env = { PORT: String(await freePort()), KEYS_DIR: path.join(root, 'keys'), DATA_DIR: path.join(root, 'unused'), DATABASE_URL: await createDatabase(pg, 'server') };
    const issuer = `http://localhost:${env.PORT}`;
    const first = await startServer(env);
    let secret: string;
    try {
      assert.equal((await fetch(`${issuer}/.well-known/openid-configuration`)).status, 200);
      assert.match(first.output(), /"database":"postgresql"/);
      // With PostgreSQL the CLI runs beside the server.
      const added = await runCli(['clients', 'add', '--id', 'svc', '--grant-types', 'client_credentials'], env);
      assert.equal(added.code, 0, added.stderr);
      secret = (JSON.parse(added.stdout) as { client_secret: string }).client_secret;
      assert.ok((await clientCredentials(issuer, 'svc', secret)).access_token);
    } finally {
      await first.stop();
    }
    await assert.rejects(stat(path.join(root, 'unused', 'pglite')), 'no embedded database is created');
    const second = await startServer(env);
    try {
      assert.ok((await clientCredentials(issuer, 'svc', secret)).access_token);
      pg.stop();
      const started = Date.now();
      const ready = await fetch(`${issuer}/readyz`);
      assert.equal(ready.status, 503);
      assert.ok(Date.now() - started < 3_000, 'readiness answers promptly when the database is gone');
      assert.equal((await fetch(`${issuer}/healthz`)).status, 200);
    } finally {
      await second.stop();
    }
  });
});
