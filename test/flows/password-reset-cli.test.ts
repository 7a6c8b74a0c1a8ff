// `tollgate users send-password-reset` as an operator runs it: through the
// running server's control socket (embedded database), and directly once the
// server has stopped; the message reaches a real SMTP server either way.
// Without mail configured, the command says so and fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, type Running } from '../support/processes.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { TEST_MAIL_FROM } from '../support/tollgate.ts';

describe('users send-password-reset (CLI)', () => {
  let root: string;
  let smtp: TestSmtp;
  let env: Record<string, string>;
  let server: Running | undefined;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-reset-cli-'));
    smtp = await startSmtp();
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys'), SMTP_URL: smtp.url, MAIL_FROM: TEST_MAIL_FROM };
    server = await startServer(env);
    const added = await runCli(['users', 'add', '--email', 'ada@example.test', '--password-stdin'], env, 'correct horse battery');
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await server?.stop();
    await smtp?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('through the running server, then directly: the message arrives, in the language asked for', async () => {
    const viaServer = await runCli(['users', 'send-password-reset', '--email', 'ada@example.test', '--locale', 'ko'], env);
    assert.equal(viaServer.code, 0, viaServer.stderr);
    assert.equal((JSON.parse(viaServer.stdout) as { queued: boolean }).queued, true);
    const first = await smtp.waitFor((m) => /비밀번호/.test(m.subject ?? ''));
    assert.ok(smtp.linkIn(first, `http://localhost:${env.PORT}/account/reset-password?token=`));

    await server!.stop();
    server = undefined;
    const direct = await runCli(['users', 'send-password-reset', '--email', 'ada@example.test'], env);
    assert.equal(direct.code, 0, direct.stderr);
    const second = await smtp.waitFor((m) => m.subject === 'Reset your Tollgate password');
    assert.notEqual(smtp.linkIn(second), smtp.linkIn(first));

    const unknown = await runCli(['users', 'send-password-reset', '--email', 'nobody@example.test'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no account with e-mail/);
    const noMail = await runCli(['users', 'send-password-reset', '--email', 'ada@example.test'], { ...env, SMTP_URL: '', MAIL_FROM: '' });
    assert.equal(noMail.code, 1, noMail.stdout);
    assert.match(noMail.stderr, /e-mail is not configured/);
  });
});
