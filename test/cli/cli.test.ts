// The tollgate command, run as operators run it: JSON on stdout, usage and
// exit 2 on bad arguments, a clear error and exit 1 on a duplicate, and
// nothing half-written.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../support/processes.ts';
import { loadConfig } from '../../server/config.ts';
import { openDatabase } from '../../server/repositories/database.ts';
import { createAuditRepository } from '../../server/repositories/audit-repository.ts';

describe('tollgate CLI', () => {
  let env: Record<string, string>;
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-'));
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  const json = <T>(stdout: string) => JSON.parse(stdout) as T;

  test('migrate applies the migrations once and reports them', async () => {
    const first = await runCli(['migrate'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(json<{ applied: string[] }>(first.stdout).applied.length >= 1);
    const second = await runCli(['migrate'], env);
    assert.deepEqual(json(second.stdout), { applied: [] });
  });

  test('users add creates an account and prints it without any password material', async () => {
    const r = await runCli(['users', 'add', '--email', 'Ada@Example.test', '--password', 'correct horse battery', '--name', 'Ada', '--role', 'admin', '--org', 'acme'], env);
    assert.equal(r.code, 0, r.stderr);
    const user = json<Record<string, unknown>>(r.stdout);
    assert.equal(user.email, 'ada@example.test');
    assert.deepEqual(user.roles, ['admin']);
    assert.equal(user.organisation, 'acme');
    assert.match(String(user.id), /^[0-9a-f-]{36}$/);
    assert.ok(!r.stdout.includes('correct horse') && !r.stdout.includes('argon2'));
  });

  test('users add reads the password from stdin with --password-stdin', async () => {
    const r = await runCli(['users', 'add', '--email', 'stdin@example.test', '--password-stdin'], env, 'from standard input\n');
    assert.equal(r.code, 0, r.stderr);
  });

  test('a duplicate e-mail is exit 1 with a clear error, and nothing changes', async () => {
    const before = json<unknown[]>((await runCli(['users', 'list'], env)).stdout).length;
    const r = await runCli(['users', 'add', '--email', 'ada@example.test', '--password', 'another password'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    assert.equal(r.stdout, '');
    const users = json<Array<{ email: string }>>((await runCli(['users', 'list'], env)).stdout);
    assert.equal(users.length, before);
  });

  test('bad arguments print usage on stderr and exit 2', async () => {
    for (const args of [
      ['users', 'add', '--email', 'x@example.test'],
      ['users', 'add', '--email', 'not-an-email', '--password', 'long enough password'],
      ['users', 'add', '--email', 'short@example.test', '--password', 'short'],
      ['users', 'add', '--email', 'r@example.test', '--password', 'long enough password', '--role', 'superuser'],
      ['users', 'add', '--email', 'o@example.test', '--password', 'long enough password', '--org', 'has spaces'],
      ['users', 'add', '--bogus'],
      ['users', 'frobnicate'],
      ['clients', 'add', '--id', 'c1', '--public', '--secret', 'x'.repeat(40), '--redirect-uri', 'https://a.example/cb'],
      ['clients', 'add', '--id', 'c2', '--secret', 'too-short', '--redirect-uri', 'https://a.example/cb'],
      ['clients', 'add', '--id', 'c3', '--redirect-uri', 'https://a.example/cb#fragment'],
      ['clients', 'add', '--id', 'bad id with spaces', '--grant-types', 'client_credentials'],
      ['clients', 'add', '--id', 'c4', '--grant-types', 'implicit'],
      [],
    ]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 2, `${args.join(' ')} → ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, /Usage: tollgate /, args.join(' '));
      assert.equal(r.stdout, '');
    }
    const clients = json<unknown[]>((await runCli(['clients', 'list'], env)).stdout);
    assert.equal(clients.length, 0, 'no rejected client was stored');
  });

  test('clients add generates a 256-bit secret, shows it once, and never lists it', async () => {
    const r = await runCli(['clients', 'add', '--id', 'webapp', '--redirect-uri', 'https://app.example/cb', '--redirect-uri', 'https://app.example/cb2', '--post-logout-redirect-uri', 'https://app.example/bye'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = json<{ client: Record<string, unknown>; client_secret: string }>(r.stdout);
    assert.match(out.client_secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(out.client_secret, 'base64url').length, 32);
    assert.deepEqual(out.client.redirect_uris, ['https://app.example/cb', 'https://app.example/cb2']);
    assert.deepEqual(out.client.grant_types, ['authorization_code', 'refresh_token']);
    assert.equal(out.client.token_endpoint_auth_method, 'client_secret_basic');
    // This command loads oidc-provider, which prints notices (e.g. an unsupported
    // Node.js): on stderr, in the CLI's own one-line form, never bare text.
    for (const line of r.stderr.split('\n').filter(Boolean)) assert.match(line, /^tollgate: /);

    const pub = await runCli(['clients', 'add', '--id', 'spa', '--public', '--redirect-uri', 'http://localhost:5173/cb', '--scope', 'openid basic'], env);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(json<{ client_secret?: string }>(pub.stdout).client_secret, undefined);

    const machine = await runCli(['clients', 'add', '--id', 'cron', '--grant-types', 'client_credentials', '--scope', 'basic admin'], env);
    assert.equal(json<{ client: { scope: string } }>(machine.stdout).client.scope, 'basic admin');

    const list = await runCli(['clients', 'list'], env);
    assert.equal(list.code, 0);
    assert.deepEqual(json<Array<{ client_id: string }>>(list.stdout).map((c) => c.client_id), ['webapp', 'spa', 'cron']);
    assert.ok(!list.stdout.includes(out.client_secret));
    assert.doesNotMatch(list.stdout, /"client_secret"|digest/);
  });

  test('a duplicate client id is exit 1, and the original is untouched', async () => {
    const r = await runCli(['clients', 'add', '--id', 'webapp', '--redirect-uri', 'https://evil.example/cb'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    const list = json<Array<{ client_id: string; redirect_uris: string[] }>>((await runCli(['clients', 'list'], env)).stdout);
    assert.deepEqual(list.find((c) => c.client_id === 'webapp')?.redirect_uris, ['https://app.example/cb', 'https://app.example/cb2']);
    assert.equal(list.length, 3);
  });

  test('an invalid environment variable is one line naming it, exit 1', async () => {
    const r = await runCli(['users', 'list'], { ...env, DATABASE_URL: 'mysql://nope' });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('tollgate:')).length, 1);
    assert.match(r.stderr, /DATABASE_URL: must be a URL starting with postgres:/);
  });

  test('clients add --introspects registers a resource server for an audience; a public one is refused', async () => {
    const r = await runCli(['clients', 'add', '--id', 'orders-api', '--grant-types', 'client_credentials', '--introspects', 'https://api.example/orders'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(json<{ client: { introspection_audiences: string[] } }>(r.stdout).client.introspection_audiences, ['https://api.example/orders']);
    const pub = await runCli(['clients', 'add', '--id', 'spa-rs', '--public', '--redirect-uri', 'http://localhost:5173/cb', '--introspects', 'https://api.example/orders'], env);
    assert.notEqual(pub.code, 0);
    assert.match(pub.stderr, /introspection_audiences/);
  });
  test('without a server, the admin commands open the database themselves and write the audit trail as the CLI', async () => {
    const ok = async (args: string[], input?: string) => {
      const r = await runCli(args, env, input);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return json<Record<string, unknown>>(r.stdout);
    };
    assert.equal((await ok(['users', 'show', '--email', 'ADA@example.test'])).email, 'ada@example.test');
    assert.equal((await ok(['users', 'disable', '--email', 'ada@example.test'])).disabled, true);
    assert.equal((await ok(['users', 'enable', '--email', 'ada@example.test'])).disabled, false);
    assert.equal((await ok(['users', 'reset-password', '--email', 'ada@example.test', '--password-stdin'], 'a brand new password\n')).password_reset, true);
    assert.deepEqual(await ok(['users', 'sessions', '--email', 'ada@example.test']), { sessions: [], grants: [] });
    assert.deepEqual((await ok(['users', 'list', '--org', 'acme'])).length, 1);

    const before = await ok(['clients', 'show', '--id', 'webapp']);
    const rotated = await ok(['clients', 'rotate-secret', '--id', 'webapp']) as { client_secret: string };
    assert.match(rotated.client_secret, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual((await ok(['clients', 'show', '--id', 'webapp'])).redirect_uris, before.redirect_uris);
    const spa = await runCli(['clients', 'rotate-secret', '--id', 'spa'], env);
    assert.equal(spa.code, 2, 'a public client has no secret: bad arguments');
    assert.deepEqual(await ok(['clients', 'delete', '--id', 'webapp']), { deleted: 'webapp' });
    const again = await runCli(['clients', 'delete', '--id', 'webapp'], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^tollgate: no client with id "webapp"$/m);

    const database = await openDatabase(loadConfig({ ...env }));
    try {
      const events = await createAuditRepository(database).list({});
      const byCli = new Set(events.filter((e) => e.actor === 'cli').map((e) => e.type));
      for (const type of ['admin.user.created', 'admin.user.updated', 'admin.user.password_reset', 'admin.client.created', 'admin.client.secret_rotated', 'admin.client.deleted']) {
        assert.ok(byCli.has(type), `${type} recorded with actor "cli"`);
      }
      assert.ok(!JSON.stringify(events).includes('a brand new password') && !JSON.stringify(events).includes(rotated.client_secret));
    } finally {
      await database.close();
    }
  });
});
