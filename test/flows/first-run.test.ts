// A first start as a new operator has it, through `npm start`: what the log
// says while the embedded database and the keys are made, the bootstrap
// administrator from the environment (a generated password printed once, on
// standard error, never in the JSON log), the next steps, and a busy port
// refused before any database work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.ts';
import { cleanEnv, requireFreshBuild, ROOT, runCli } from '../support/processes.ts';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { createLogger } from '../../server/logger.ts';
import { bootstrapAdministrator } from '../../server/bootstrap.ts';
import { applyMigrations, createRepositories, localInvalidation, openDatabase, type Database } from '../../server/repositories/index.ts';
import { createAccountService, type AccountService } from '../../server/services/accounts.ts';

interface Started { stdout: string; stderr: string; code: number | null }

/** `npm start` with stdout (the JSON log) and stderr kept apart; stopped with SIGTERM once `until` shows in the log. */
function runServer(env: Record<string, string>, until = /"msg":"tollgate listening"/, timeoutMs = 90_000): Promise<Started> {
  requireFreshBuild();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let stopping = false;
    const timer = setTimeout(() => { process.kill(-child.pid!, 'SIGKILL'); reject(new Error(`no ${until} in time:\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (!stopping && until.test(stdout)) {
        stopping = true;
        process.kill(-child.pid!, 'SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

const logLines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string });
const PASSWORD_LINE = /^tollgate: BOOTSTRAP ADMINISTRATOR (\S+) PASSWORD: (\S+) /;

async function openAccounts(dataDir: string): Promise<{ db: Database; accounts: AccountService }> {
  const db = await openDatabase(loadConfig({ DATA_DIR: dataDir }));
  await applyMigrations(db);
  return { db, accounts: createAccountService(createRepositories(db, { invalidation: localInvalidation() }).accounts) };
}

describe('first start through npm start', () => {
  let root: string;
  let env: Record<string, string>;
  let first: Started;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-first-run-'));
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys'), TOLLGATE_ADMIN_EMAIL: 'Root@Example.test' };
    first = await runServer(env, /"msg":"first start: next steps"/);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('says what it does while it creates the database and the keys, then the next steps', () => {
    assert.equal(first.code, 0, first.stderr);
    const messages = logLines(first.stdout).map((l) => l.msg);
    const expected = [
      'creating the embedded database (first start)', 'database migrated', 'generating signing keys (first start)', 'signing keys ready',
      'bootstrap administrator created', 'tollgate listening', 'first start: next steps', 'shutting down', 'stopped',
    ];
    assert.deepEqual(messages.filter((m) => expected.includes(m)), expected);
    const next = logLines(first.stdout).find((l) => l.msg === 'first start: next steps')!;
    const issuer = `http://localhost:${env.PORT}`;
    assert.equal(next.level, 30);
    assert.equal(next.discovery, `${issuer}/.well-known/openid-configuration`);
    assert.equal(next.account_page, `${issuer}/account`);
    assert.match(String(next.register_a_client), /^npm run --silent tollgate -- clients add /);
    assert.equal(next.create_an_administrator, undefined, 'one was asked for');
  });

  test('creates the bootstrap administrator and prints the generated password once, on stderr only', async () => {
    const printed = first.stderr.split('\n').filter((l) => l.includes('BOOTSTRAP ADMINISTRATOR'));
    assert.equal(printed.length, 1, first.stderr);
    const [, email, password] = PASSWORD_LINE.exec(printed[0]!)!;
    assert.equal(email, 'root@example.test');
    assert.ok(password!.length >= 24);
    assert.ok(!first.stdout.includes(password!), 'the password is not in the JSON log');
    const created = logLines(first.stdout).find((l) => l.msg === 'bootstrap administrator created')!;
    assert.equal(created.email, 'root@example.test');

    // A second start with the same environment: the administrator exists, so nothing is created or printed.
    const second = await runServer(env);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(!second.stderr.includes('BOOTSTRAP'), second.stderr);
    const messages = logLines(second.stdout).map((l) => l.msg);
    for (const once of ['bootstrap administrator created', 'first start: next steps', 'creating the embedded database (first start)', 'generating signing keys (first start)']) {
      assert.ok(!messages.includes(once), `${once} on the second start`);
    }

    // The printed password is the administrator's.
    const { db, accounts } = await openAccounts(env.DATA_DIR!);
    try {
      const signedIn = await accounts.authenticate('root@example.test', password!);
      assert.ok(signedIn.ok);
      assert.deepEqual(signedIn.account.roles, ['admin']);
      assert.equal((await accounts.list()).length, 1);
    } finally {
      await db.close();
    }
  });

  test('the next steps\' command registers a client', async () => {
    const next = logLines(first.stdout).find((l) => l.msg === 'first start: next steps')!;
    const args = String(next.register_a_client).replace(/^npm run --silent tollgate -- /, '').split(' ');
    const result = await runCli(args, env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { client: { client_id: string } }).client.client_id, 'my-app');
  });
});

describe('a busy port', () => {
  test('stops the start with one line, before any database work', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'tollgate-busy-port-'));
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const { port } = holder.address() as { port: number };
    try {
      const dataDir = path.join(root, 'data');
      const started = await runServer({ PORT: String(port), DATA_DIR: dataDir, KEYS_DIR: path.join(root, 'keys') }, /never/, 60_000);
      assert.equal(started.code, 1);
      const ours = started.stderr.split('\n').filter((l) => l.startsWith('tollgate:'));
      assert.deepEqual(ours, [`tollgate: port ${port} is already in use: stop the process that holds it, or set PORT to another port`]);
      // No database was opened: no data directory, no lock, no migration, no keys.
      assert.ok(!existsSync(dataDir), 'DATA_DIR was created');
      assert.ok(!existsSync(path.join(root, 'keys')));
      // Nothing of Tollgate's own was logged: only what a library says as it loads
      // (oidc-provider's runtime notice on an old Node.js), as JSON.
      const logged = started.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { source?: string; msg: string });
      assert.deepEqual(logged.filter((l) => l.source === undefined).map((l) => l.msg), []);
    } finally {
      holder.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('a busy metrics port', () => {
  test('one line naming it, exit 1, and the embedded database closed (its lock released)', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'tollgate-busy-metrics-'));
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const { port: metricsPort } = holder.address() as { port: number };
    try {
      const dataDir = path.join(root, 'data');
      const started = await runServer({ PORT: String(await freePort()), METRICS_PORT: String(metricsPort), DATA_DIR: dataDir, KEYS_DIR: path.join(root, 'keys') }, /never/, 60_000);
      assert.equal(started.code, 1);
      const ours = started.stderr.split('\n').filter((l) => l.startsWith('tollgate:'));
      assert.deepEqual(ours, [`tollgate: port ${metricsPort} is already in use: stop the process that holds it, or set METRICS_PORT to another port`]);
      assert.ok(!existsSync(path.join(dataDir, 'pglite.lock')), 'the embedded database lock was left behind');
    } finally {
      holder.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('the bootstrap administrator, against the embedded database', () => {
  let root: string;
  let db: Database;
  let accounts: AccountService;
  let logged: Array<Record<string, unknown>>;
  let announced: string[];
  const run = (email: string, password?: string) => bootstrapAdministrator({
    config: loadConfig({ TOLLGATE_ADMIN_EMAIL: email, ...(password ? { TOLLGATE_ADMIN_PASSWORD: password } : {}) }),
    accounts,
    logger: createLogger({ logLevel: 'info' }, { write: (line: string) => { logged.push(JSON.parse(line) as Record<string, unknown>); } }),
    announce: (line) => announced.push(line),
  });
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-bootstrap-'));
    ({ db, accounts } = await openAccounts(path.join(root, 'data')));
  });
  after(async () => {
    await db.close();
    await rm(root, { recursive: true, force: true });
  });

  test('an account with the e-mail but not the role is left alone, with a warning', async () => {
    logged = [];
    announced = [];
    await accounts.create({ email: 'taken@example.test', password: 'a password of hers' });
    assert.equal(await run('taken@example.test'), 'email-taken');
    assert.deepEqual((await accounts.list()).map((a) => a.roles), [[]]);
    assert.equal(logged.at(-1)?.level, 40);
    assert.deepEqual(announced, []);
  });

  test('TOLLGATE_ADMIN_PASSWORD: created with it, nothing printed; then, an administrator existing, nothing more', async () => {
    logged = [];
    announced = [];
    assert.equal(await run('admin@example.test', 'chosen by the operator'), 'created');
    assert.deepEqual(announced, []);
    assert.ok(!JSON.stringify(logged).includes('chosen by the operator'));
    assert.ok((await accounts.authenticate('admin@example.test', 'chosen by the operator')).ok);
    // Another e-mail later: an administrator exists, so none is made.
    assert.equal(await run('second@example.test'), 'administrator-exists');
    assert.equal(await accounts.idForEmail('second@example.test'), undefined);
    assert.deepEqual(announced, []);
  });

  test('the variables are checked with the rest of the configuration', () => {
    assert.throws(() => loadConfig({ TOLLGATE_ADMIN_PASSWORD: 'long enough password' }), (err) => err instanceof ConfigError && /^TOLLGATE_ADMIN_PASSWORD: set TOLLGATE_ADMIN_EMAIL too/.test(err.message));
    assert.throws(() => loadConfig({ TOLLGATE_ADMIN_EMAIL: 'a@example.test', TOLLGATE_ADMIN_PASSWORD: 'short' }), /TOLLGATE_ADMIN_PASSWORD: must be at least 8 characters/);
    assert.throws(() => loadConfig({ TOLLGATE_ADMIN_EMAIL: 'not an address' }), /TOLLGATE_ADMIN_EMAIL: must be an e-mail address/);
    assert.deepEqual(loadConfig({ TOLLGATE_ADMIN_EMAIL: ' Ada@Example.test ' }).bootstrapAdmin, { email: 'ada@example.test' });
  });
});
