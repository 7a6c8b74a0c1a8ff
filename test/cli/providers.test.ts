// `tollgate providers ...` (issue 15): add (the secret from standard input,
// the redirect URI to register printed, the secret never printed), list,
// set-secret, remove; `keys rotate-secrets` and `providers re-encrypt`. Run
// as an operator runs them: a process of its own on the embedded database,
// and through a running server's control socket. And `npm start` with a key
// file that does not open the stored secrets: a clear refusal, exit 1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, startServer } from '../support/processes.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { tablesHolding } from '../support/personal-data.ts';
import { serveCliSocket, type CliSocket } from '../../server/cli/socket-server.ts';
import { createLogger } from '../../server/logger.ts';
import { UPSTREAM_SECRET_KEYS_FILE } from '../../server/keys/upstream-secret-keys.ts';
import { freePort } from '../support/ports.ts';

const ISSUER = 'http://localhost:4567';
const secret = (label: string) => `cli-upstream-secret-${label}-${randomUUID()}`;

describe('tollgate providers, on its own', () => {
  let root: string;
  let env: Record<string, string>;
  const secrets: string[] = [];
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-providers-cli-'));
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys'), ISSUER };
  });
  after(() => rm(root, { recursive: true, force: true }));
  const cli = (args: string[], input?: string) => runCli(args, env, input);
  const assertNoSecretIn = (...outputs: string[]) => {
    for (const s of secrets) for (const output of outputs) assert.ok(!output.includes(s), 'a secret was printed');
  };

  test('add reads the secret from standard input, prints the redirect URI to register, never the secret; list shows it without one', async () => {
    secrets.push(secret('corp'));
    const added = await cli(['providers', 'add', '--id', 'corp', '--type', 'oidc', '--issuer', 'http://127.0.0.1:9999', '--client-id', 'tollgate', '--client-secret-stdin', '--name', 'Corp SSO', '--no-auto-create'], `${secrets[0]}\n`);
    assert.equal(added.code, 0, added.stderr);
    const created = JSON.parse(added.stdout) as { id: string; redirect_uri: string; next_step: string; auto_create: boolean; name: string };
    assert.equal(created.redirect_uri, `${ISSUER}/interaction/federated/corp/callback`);
    assert.match(created.next_step, new RegExp(`register ${created.redirect_uri} as the redirect URI of client "tollgate"`));
    assert.equal(created.auto_create, false);
    assert.equal(created.name, 'Corp SSO');
    assert.equal((await stat(path.join(env.KEYS_DIR!, UPSTREAM_SECRET_KEYS_FILE))).mode & 0o777, 0o600, 'the key file, created on first use');

    secrets.push(secret('github'));
    const github = await cli(['providers', 'add', '--id', 'github', '--type', 'github', '--client-id', 'gh', '--client-secret', secrets[1]!]);
    assert.equal(github.code, 0, github.stderr);
    assert.equal(JSON.parse(github.stdout).redirect_uri, `${ISSUER}/interaction/federated/github/callback`);

    const list = await cli(['providers', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as Array<{ id: string }>).map((p) => p.id), ['corp', 'github']);
    assertNoSecretIn(added.stdout, added.stderr, github.stdout, github.stderr, list.stdout, list.stderr);
  });

  test('bad arguments exit 2 with the option that was wrong; a taken id exits 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--id', 'x', '--type', 'oidc', '--client-id', 'c', '--client-secret', 's'], /--issuer: is required for type oidc/],
      [['--id', 'x', '--type', 'github', '--client-id', 'c'], /missing --client-secret-stdin/],
      [['--id', 'x', '--type', 'github', '--client-id', 'c', '--client-secret', 's', '--client-secret-stdin'], /either --client-secret or --client-secret-stdin/],
      [['--id', 'x', '--type', 'oidc', '--issuer', 'http://idp.example.test', '--client-id', 'c', '--client-secret', 's'], /--issuer: must use https/],
      [['--id', 'x', '--type', 'github', '--client-id', 'c', '--client-secret', 's', '--token-endpoint', 'https://u:p@x.example/t'], /--token-endpoint: must not contain a user name/],
      [['--id', 'X!', '--type', 'google', '--client-id', 'c', '--client-secret', 's'], /--id: must be 1 to 40 lower-case/],
      [['--id', 'x', '--type', 'myspace', '--client-id', 'c', '--client-secret', 's'], /--type: must be one of/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['providers', 'add', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const taken = await cli(['providers', 'add', '--id', 'corp', '--type', 'google', '--client-id', 'c', '--client-secret', 's']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /a provider with id "corp" already exists/);
  });

  test('set-secret, keys rotate-secrets, providers re-encrypt, remove: the secrets stay out of every output and the database', async () => {
    secrets.push(secret('corp-rotated'));
    const set = await cli(['providers', 'set-secret', '--id', 'corp'], `${secrets.at(-1)}\n`);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { provider: 'corp', client_secret_changed: true });
    const rotated = await cli(['keys', 'rotate-secrets']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const { added, keys } = JSON.parse(rotated.stdout) as { added: string; keys: string[] };
    assert.equal(keys.length, 2);
    assert.ok(!rotated.stdout.includes('"k"'), 'never key material');
    const reencrypted = await cli(['providers', 're-encrypt']);
    assert.equal(reencrypted.code, 0, reencrypted.stderr);
    assert.deepEqual(JSON.parse(reencrypted.stdout), { key: added, reencrypted: ['corp', 'github'], unchanged: 0 });
    const removed = await cli(['providers', 'remove', '--id', 'github']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(JSON.parse(removed.stdout), { removed: 'github', unlinked_identities: 0 });
    const missing = await cli(['providers', 'remove', '--id', 'github']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no provider with id "github"/);
    assertNoSecretIn(set.stdout, set.stderr, rotated.stdout, reencrypted.stdout, removed.stdout);

    // What the CLI stored, read by a server on the same directories.
    const t = await startTestTollgate({ dirs: { data: env.DATA_DIR!, keys: env.KEYS_DIR! } });
    try {
      assert.equal((await t.tollgate.providers.resolve('corp'))?.clientSecret, secrets.at(-1));
      for (const s of secrets) assert.deepEqual(await tablesHolding(t, s), []);
      const events = (await t.tollgate.audit.page({ limit: 50 })).events.filter((e) => e.type.startsWith('admin.provider.'));
      assert.deepEqual(events.map((e) => e.type).sort(), ['admin.provider.created', 'admin.provider.created', 'admin.provider.deleted', 'admin.provider.updated']);
      assert.ok(events.every((e) => e.actor === 'cli'));
      assertNoSecretIn(JSON.stringify(events));
    } finally {
      await t.close();
    }
  });
});

describe('tollgate providers, through a running server', () => {
  let t: TestTollgate;
  let socket: CliSocket;
  before(async () => {
    t = await startTestTollgate();
    socket = await serveCliSocket(t.tollgate, createLogger({ logLevel: 'silent' }));
  });
  after(async () => {
    await socket?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('add, list and remove run in the server; its log never holds the secret', async () => {
    const env = { DATA_DIR: t.dirs.data, KEYS_DIR: t.dirs.keys, ISSUER: t.issuer };
    const clientSecret = secret('socket');
    const added = await runCli(['providers', 'add', '--id', 'naver', '--type', 'naver', '--client-id', 'nv', '--client-secret-stdin'], env, clientSecret);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).redirect_uri, `${t.issuer}/interaction/federated/naver/callback`);
    assert.equal((await t.tollgate.providers.resolve('naver'))?.clientSecret, clientSecret, 'stored by the running server');
    const list = await runCli(['providers', 'list'], env);
    assert.deepEqual((JSON.parse(list.stdout) as Array<{ id: string }>).map((p) => p.id), ['naver']);
    const removed = await runCli(['providers', 'remove', '--id', 'naver'], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(await t.tollgate.providers.list(), []);
    for (const output of [added.stdout, added.stderr, list.stdout, removed.stdout, t.logs.join('\n')]) assert.ok(!output.includes(clientSecret));
  });
});

describe('npm start with a key file that does not open the stored secrets', () => {
  test('exits 1 with one line naming the provider, the key and the file; no stack trace', async () => {
    const t = await startTestTollgate();
    await t.tollgate.providers.add({ id: 'google', type: 'google', clientId: 'g', clientSecret: secret('start'), autoCreate: true, enabled: true });
    await t.close();
    try {
      await rm(path.join(t.dirs.keys, UPSTREAM_SECRET_KEYS_FILE));
      const port = await freePort();
      const failed = await startServer({ DATA_DIR: t.dirs.data, KEYS_DIR: t.dirs.keys, PORT: String(port), ISSUER: `http://localhost:${port}` }, 60_000)
        .then(async (running) => { await running.stop(); return ''; }, (err: Error) => err.message);
      assert.match(failed, /server exited with 1 before listening/);
      assert.match(failed, /tollgate: failed to start: the secret of provider "google" is encrypted with key "[^"]+", which \S+upstream-secret-keys\.json does not hold: restore that file/);
      assert.doesNotMatch(failed, /\n\s+at /, 'no stack trace');
    } finally {
      await removeDirs(t.dirs);
    }
  });
});
