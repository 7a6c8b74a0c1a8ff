// The CLI while `npm start` runs on the embedded database: the server holds
// PGlite (one process only), so the CLI hands its commands to the server's
// control socket in DATA_DIR, and the server runs them with the admin API's
// services. Observed as an operator and a user would: the CLI's output and
// exit status, signing in over HTTP, the server's log, the socket's
// permissions, and what is left on disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, type Running } from '../support/processes.ts';
import { signIn } from '../support/sign-in.ts';
import type { TestTollgate } from '../support/tollgate.ts';

const REDIRECT = 'https://app.example.test/callback';
const json = <T>(stdout: string) => JSON.parse(stdout) as T;
const socketOf = (dataDir: string) => path.join(dataDir, 'control', 'cli.sock');
/** An OAuth error response with this `error` code. */
const oauthError = (code: string) => (err: unknown) => (err as { error?: string }).error === code;

/** The server's log is flushed every second: waits up to 3 s for a line. */
async function logged(server: Running, pattern: RegExp): Promise<void> {
  for (let waited = 0; !pattern.test(server.output()) && waited < 3_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  assert.match(server.output(), pattern);
}

describe('the CLI beside a running server (embedded database)', () => {
  let root: string;
  let env: Record<string, string>;
  let issuer: string;
  let server: Running;
  let webSecret: string;
  const cli = async (args: string[], input?: string) => {
    const r = await runCli(args, env, input);
    assert.equal(r.code, 0, `${args.join(' ')} → ${r.code}: ${r.stderr}`);
    return json<Record<string, unknown>>(r.stdout);
  };
  const signInAs = (email: string, password: string) =>
    signIn({ issuer } as TestTollgate, { clientId: 'web', secret: webSecret, email, password, scope: 'openid offline_access' });

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-server-'));
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    issuer = `http://localhost:${env.PORT}`;
    server = await startServer(env);
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('the control socket is a 0600 socket in a 0700 directory that other users cannot open', async () => {
    const socket = socketOf(env.DATA_DIR!);
    const dirStats = await stat(path.dirname(socket));
    const socketStats = await stat(socket);
    assert.ok(socketStats.isSocket());
    assert.equal(dirStats.mode & 0o777, 0o700);
    assert.equal(socketStats.mode & 0o777, 0o600);
    assert.equal(socketStats.uid, process.getuid!());
    if (process.getuid!() === 0) {
      // Another local user tries to connect.
      const probe = `require('node:net').connect(${JSON.stringify(socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', probe], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.stdout.trim(), 'EACCES', r.stderr);
    }
  });

  test('users add through the running server; that user then signs in over HTTP', async () => {
    const client = await cli(['clients', 'add', '--id', 'web', '--redirect-uri', REDIRECT]) as { client_secret: string };
    webSecret = client.client_secret;
    const user = await cli(['users', 'add', '--email', 'ada@example.test', '--password-stdin', '--name', 'Ada'], 'first password here\n');
    assert.equal(user.email, 'ada@example.test');

    const { tokens } = await signInAs('ada@example.test', 'first password here');
    assert.equal(tokens.claims()!.sub, user.id);
    // The same audit events as the admin API, with the CLI as the actor; never the password.
    await logged(server, /"audit":"admin\.user\.created"[^\n]*"actor":"cli"/);
    const log = server.output();
    assert.match(log, /"audit":"admin\.client\.created"[^\n]*"actor":"cli"/);
    assert.match(log, /"cli_command":"users add","outcome":"done"/);
    assert.ok(!log.includes('first password here'), 'the password is not in the log');
    assert.ok(!log.includes(webSecret), 'the client secret is not in the log');
  });

  test("a user's sessions and grants: list them, end a session, revoke a grant", async () => {
    const { config, tokens } = await signInAs('ada@example.test', 'first password here');
    type Overview = { sessions: Array<{ uid: string; client_ids: string[] }>; grants: Array<{ id: string; client_id: string }> };
    const overview = await cli(['users', 'sessions', '--email', 'ada@example.test']) as unknown as Overview;
    assert.equal(overview.sessions.length, 2, 'one per sign-in');
    assert.deepEqual(overview.sessions[0]!.client_ids, ['web']);
    assert.ok(overview.grants.length >= 1 && overview.grants.every((g) => g.client_id === 'web'));

    // The older one (newest first): ending this sign-in's own would take its refresh token along.
    await cli(['users', 'end-session', '--email', 'ada@example.test', '--session', overview.sessions[1]!.uid]);
    assert.equal((await cli(['users', 'sessions', '--email', 'ada@example.test']) as unknown as Overview).sessions.length, 1);
    const gone = await runCli(['users', 'end-session', '--email', 'ada@example.test', '--session', overview.sessions[1]!.uid], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no session/);

    assert.ok((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).access_token, 'the refresh token works before');
    await cli(['users', 'revoke-grant', '--email', 'ada@example.test', '--grant', overview.grants[0]!.id]);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), oauthError('invalid_grant'));
    await logged(server, /"audit":"admin\.grant\.revoked"[^\n]*"actor":"cli"/);
  });

  test('reset a password from standard input, disable and enable a user', async () => {
    const reset = await runCli(['users', 'reset-password', '--email', 'ada@example.test', '--password-stdin'], env, 'second password here\n');
    assert.equal(reset.code, 0, reset.stderr);
    await assert.rejects(signInAs('ada@example.test', 'first password here'));
    await signInAs('ada@example.test', 'second password here');

    const disabled = await cli(['users', 'disable', '--email', 'ada@example.test']) as { disabled: boolean; ended: { sessions: number } };
    assert.equal(disabled.disabled, true);
    assert.ok(disabled.ended.sessions >= 1, 'its sessions ended');
    await assert.rejects(signInAs('ada@example.test', 'second password here'));
    assert.equal((await cli(['users', 'enable', '--email', 'ada@example.test'])).disabled, false);
    await signInAs('ada@example.test', 'second password here');
    assert.ok(!server.output().includes('second password here'));
  });

  test('rotate a client secret and delete a client', async () => {
    const machine = await cli(['clients', 'add', '--id', 'svc', '--grant-types', 'client_credentials']) as { client_secret: string };
    const grant = (secret: string) => oidc.discovery(new URL(issuer), 'svc', secret, undefined, { execute: [oidc.allowInsecureRequests] })
      .then((c) => oidc.clientCredentialsGrant(c, { scope: 'basic' }));
    assert.ok((await grant(machine.client_secret)).access_token);

    const rotated = await cli(['clients', 'rotate-secret', '--id', 'svc']) as { client_secret: string };
    assert.notEqual(rotated.client_secret, machine.client_secret);
    await assert.rejects(grant(machine.client_secret), oauthError('invalid_client'));
    assert.ok((await grant(rotated.client_secret)).access_token);

    assert.deepEqual(await cli(['clients', 'delete', '--id', 'svc']), { deleted: 'svc' });
    await assert.rejects(grant(rotated.client_secret), oauthError('invalid_client'));
    const list = json<Array<{ client_id: string }>>((await runCli(['clients', 'list'], env)).stdout);
    assert.deepEqual(list.map((c) => c.client_id), ['web']);
    await logged(server, /"audit":"admin\.client\.deleted"[^\n]*"actor":"cli"/);
  });

  test('errors come back typed: not found is exit 1, bad input exit 2 with the usage of that command', async () => {
    const missing = await runCli(['users', 'show', '--email', 'nobody@example.test'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^tollgate: no account with e-mail "nobody@example\.test"$/m);
    const taken = await runCli(['clients', 'add', '--id', 'web', '--redirect-uri', REDIRECT], env);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already exists/);
    const shortPassword = await runCli(['users', 'reset-password', '--email', 'ada@example.test', '--password-stdin'], env, 'short\n');
    assert.equal(shortPassword.code, 2);
    assert.match(shortPassword.stderr, /--password: must be at least 8 characters/);
    assert.match(shortPassword.stderr, /Usage: tollgate users reset-password/);
    assert.deepEqual(await cli(['migrate']), { applied: [] });
  });

  test('the socket file is gone after a clean shutdown', async () => {
    await server.stop();
    await assert.rejects(stat(socketOf(env.DATA_DIR!)), /ENOENT/);
    // And the CLI opens the database itself again.
    assert.equal(json<unknown[]>((await runCli(['users', 'list'], env)).stdout).length, 1);
  });
});

describe('the control socket after a crash, and one that is not ours', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-socket-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('a server killed without closing leaves a stale socket; the next one replaces it and answers', async () => {
    const env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'crash'), KEYS_DIR: path.join(root, 'keys') };
    const first = await startServer(env);
    const exited = new Promise((resolve) => first.child.once('close', resolve));
    process.kill(-first.child.pid!, 'SIGKILL');
    await exited;
    assert.ok((await stat(socketOf(env.DATA_DIR))).isSocket(), 'left behind');
    const second = await startServer(env);
    try {
      const r = await runCli(['users', 'add', '--email', 'after-crash@example.test', '--password-stdin'], env, 'after the crash\n');
      assert.equal(r.code, 0, r.stderr);
      await logged(second, /"cli_command":"users add","outcome":"done"/);
    } finally {
      await second.stop();
    }
  });

  for (const [what, arrange] of [
    ['owned by another user', async (dir: string) => { await chown(dir, 65534, 65534); }],
    ['open to other users', async (dir: string) => { await chmod(dir, 0o755); }],
  ] as const) {
    test(`the CLI sends nothing to a socket whose directory is ${what}`, { skip: process.getuid!() !== 0 && 'needs root to chown' }, async () => {
      const dataDir = await mkdtemp(path.join(root, 'foreign-'));
      // A live process (this one) holds the embedded database, as a server would.
      await writeFile(path.join(dataDir, 'pglite.lock'), JSON.stringify({ pid: process.pid }));
      await mkdir(path.join(dataDir, 'control'), { mode: 0o700 });
      let connections = 0;
      const impostor = net.createServer((s) => { connections += 1; s.destroy(); });
      await new Promise<void>((resolve) => impostor.listen(socketOf(dataDir), resolve));
      await arrange(path.join(dataDir, 'control'));
      try {
        const r = await runCli(['users', 'reset-password', '--email', 'ada@example.test', '--password-stdin'], { DATA_DIR: dataDir, KEYS_DIR: path.join(root, 'keys') }, 'a secret password\n');
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /not a directory private to this user/);
        assert.equal(connections, 0, 'nothing was sent');
      } finally {
        impostor.close();
      }
      assert.ok(!(await readFile(path.join(dataDir, 'pglite.lock'), 'utf8')).includes('secret'));
    });
  }
});
