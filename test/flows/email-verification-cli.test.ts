// The verification commands as an operator runs them: `users send-verification`
// and `users verify-email`, through a running server's control socket (the
// server's mailer delivers) and directly on the database (the CLI's own
// mailer delivers before it exits), with a real SMTP server receiving, and a
// clear exit 1 when mail is off or the address is already verified.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, type Running } from '../support/processes.ts';
import { startSmtp, type ParsedMail, type TestSmtp } from '../support/smtp.ts';

const json = <T>(stdout: string) => JSON.parse(stdout) as T;
const to = (address: string) => (m: ParsedMail) => JSON.stringify(m.to ?? '').includes(address);

describe('verification commands of the tollgate CLI', () => {
  let root: string;
  let smtp: TestSmtp;
  let env: Record<string, string>;
  let mail: Record<string, string>;
  let server: Running | undefined;
  const cli = async (args: string[], withMail = true) => {
    const r = await runCli(args, { ...env, ...(withMail ? mail : {}) }, args.includes('--password-stdin') ? 'correct horse battery' : undefined);
    return { ...r, out: r.code === 0 ? json<Record<string, unknown>>(r.stdout) : {} };
  };

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-verify-'));
    smtp = await startSmtp();
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    mail = { SMTP_URL: smtp.url, MAIL_FROM: 'Tollgate <no-reply@tollgate.test>' };
  });
  after(async () => {
    await server?.stop();
    await smtp?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('directly on the database: mail off is exit 1 with a clear error; with SMTP_URL the message is delivered before the CLI exits', async () => {
    assert.equal((await cli(['users', 'add', '--email', 'ada@example.test', '--password-stdin'], false)).code, 0);
    const off = await cli(['users', 'send-verification', '--email', 'ada@example.test'], false);
    assert.equal(off.code, 1);
    assert.match(off.stderr, /e-mail is not configured on this server \(set SMTP_URL and MAIL_FROM\)/);

    const sent = await cli(['users', 'send-verification', '--email', 'ada@example.test', '--locale', 'ko']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.out.queued, true);
    // Already here: the CLI waited for the delivery as it closed.
    const message = smtp.messages.find(to('ada@example.test'));
    assert.ok(message, 'delivered before the CLI exited');
    assert.equal(message.headers.get('content-language'), 'ko');
    assert.match(smtp.linkIn(message, `http://localhost:${env.PORT}`), /\/account\/verify-email\?token=/);

    assert.equal((await cli(['users', 'send-verification', '--email', 'ada@example.test', '--locale', 'fr'])).code, 2);
  });

  test('through the running server\'s control socket: send (the server delivers), mark verified, and send again is refused', async () => {
    server = await startServer({ ...env, ...mail });
    assert.equal((await cli(['users', 'add', '--email', 'grace@example.test', '--password-stdin'])).code, 0);
    const sent = await cli(['users', 'send-verification', '--email', 'grace@example.test']);
    assert.equal(sent.code, 0, sent.stderr);
    const message = await smtp.waitFor(to('grace@example.test'));
    assert.equal(message.subject, 'Confirm your e-mail address for Tollgate');

    const verified = await cli(['users', 'verify-email', '--email', 'grace@example.test']);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(verified.out.email_verified, true);

    const again = await cli(['users', 'send-verification', '--email', 'grace@example.test']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already verified/);
  });
});
