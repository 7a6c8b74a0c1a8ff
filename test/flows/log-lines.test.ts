// The server's output, as a log collector reads it from `npm start`: every
// line of stdout and stderr is one JSON object, through a whole sign-in,
// token, refresh, userinfo, cross-origin token request, RP-initiated logout
// and shutdown, including what oidc-provider prints itself (its runtime
// warning on Node 20, its notices); the start line names the database and
// the Redis mode. LOG_FORMAT=pretty prints human lines instead.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { freePort } from '../support/ports.ts';
import { spawn } from 'node:child_process';
import { cleanEnv, requireFreshBuild, ROOT, runCli, startServer } from '../support/processes.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';
import type { TestTollgate } from '../support/tollgate.ts';

const BYE = 'https://app.example.test/bye';
const PASSWORD = 'correct horse battery staple';
const SECRET = 'log-lines-client-secret-0123456789abcdef';

describe('log lines through `npm start`', () => {
  let root: string;
  let env: Record<string, string>;
  let issuer: string;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-log-lines-'));
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    issuer = `http://localhost:${env.PORT}`;
    const client = await runCli(['clients', 'add', '--id', 'web', '--secret', SECRET, '--redirect-uri', REDIRECT, '--post-logout-redirect-uri', BYE, '--scope', 'openid offline_access basic'], env);
    assert.equal(client.code, 0, client.stderr);
    const user = await runCli(['users', 'add', '--email', 'ada@example.test', '--password-stdin'], env, `${PASSWORD}\n`);
    assert.equal(user.code, 0, user.stderr);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('sign-in, token, refresh, logout and shutdown: every line is JSON', async () => {
    const server = await startServer(env);
    let output: string;
    try {
      const { config, tokens, agent } = await signIn({ issuer } as TestTollgate, { clientId: 'web', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.ok(refreshed.access_token);
      // A browser's cross-origin call: the CORS policy is decided in our configuration, so the library has no notice to print.
      const cors = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { origin: 'https://app.example.test', authorization: `Basic ${Buffer.from(`web:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! }),
      });
      // A confidential client's secret does not belong in a browser: refused.
      assert.equal(cors.status, 400);
      assert.equal(((await cors.json()) as { error: string }).error, 'invalid_request');
      assert.equal(cors.headers.get('access-control-allow-origin'), null);
      // Failures log as lines too: a replayed refresh token, an unknown path.
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!));
      assert.equal((await fetch(`${issuer}/no-such-page`)).status, 404);
      const end = `${issuer}/session/end?${new URLSearchParams({ id_token_hint: refreshed.id_token!, post_logout_redirect_uri: BYE })}`;
      const confirm = await agent.navigate(end, {}, BYE);
      assert.equal(confirm.status, 200, confirm.body.slice(0, 300));
      const done = await agent.submit(confirm, '/session/end/confirm', { logout: 'yes' }, BYE);
      assert.ok(done.url.startsWith(BYE), done.url);
    } finally {
      assert.equal(await server.stop(), 0);
      output = server.output();
    }

    const lines = output.split('\n').filter((line) => line !== '');
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`a plain-text line in the log: ${JSON.stringify(line)}`);
      }
    });
    for (const entry of parsed) {
      assert.equal(typeof entry.level, 'number');
      assert.equal(typeof entry.time, 'string');
      assert.equal(typeof entry.msg, 'string');
    }
    const messages = parsed.map((entry) => entry.msg);
    for (const expected of ['tollgate listening', 'request', 'audit', 'shutting down']) assert.ok(messages.includes(expected), `a "${expected}" line`);
    const start = parsed.find((entry) => entry.msg === 'tollgate listening')!;
    assert.equal(start.database, 'embedded');
    assert.equal(start.redis, 'none');
    assert.ok(!lines.some((line) => line.includes('NOTICE') || line.includes('clientBasedCORS')), 'no library notice: its policies are configured');
    // oidc-provider warns that Node 20 is not its supported runtime, as it is imported: a JSON warning line.
    if (Number(process.versions.node.split('.')[0]) < 22) {
      const warning = parsed.find((entry) => entry.source === 'oidc-provider');
      assert.ok(warning, 'the library warning is a log line');
      assert.equal(warning.level, 40);
      assert.match(String(warning.msg), /^Unsupported runtime/);
    }
    process.stdout.write(`# ${lines.length} log lines, all JSON\n`);
  });

  test('LOG_FORMAT=pretty prints human lines', async () => {
    // (startServer waits for the JSON form of the start line.)
    requireFreshBuild();
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv({ ...env, LOG_FORMAT: 'pretty' }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line:\n${output}`)), 60_000);
        const onData = (d: Buffer) => {
          output += d;
          if (output.includes('tollgate listening')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exited.then(() => reject(new Error(`exited before listening:\n${output}`)));
      });
      assert.equal((await fetch(`${issuer}/healthz`)).status, 200);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
    const lines = output.split('\n').filter((line) => line.trim() !== '');
    const start = lines.find((line) => line.includes('tollgate listening'));
    assert.ok(start, output);
    // `[12:34:56.789] INFO: tollgate listening`, its fields on the lines below.
    assert.match(start, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: tollgate listening$/);
    assert.ok(lines.some((line) => /^\s+path: "\/healthz"$/.test(line)), 'the fields, one per line');
    assert.ok(!lines.some((line) => line.trimStart().startsWith('{"level"')), 'no JSON line');
  });
});
