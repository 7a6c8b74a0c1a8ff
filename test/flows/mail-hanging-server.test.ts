// A mail server that accepts connections and then hangs must never hold up
// a page: sign-up, the account page's "send the link again", the
// forgot-password form and the profile's e-mail change each answer at once
// while their message sits in a connection that will not move. Two hangs:
// a server that never sends its greeting, and one that greets, answers EHLO
// and then never answers MAIL FROM. The first Tollgate keeps the production
// SMTP time-outs (10 s greeting, 30 s socket: server/mail/mailer.ts;
// nodemailer's own are 30 s and 10 min), far above the 1.5 s a page is
// allowed here, so a page that waited for its message would fail. A second
// Tollgate shortens the time-out through SMTP_URL's query (nodemailer reads
// its options there) to see the failure logged, without the link.
//
// Also a mail server refusing with 451 at flow level: the page answers as
// usual, and the message arrives exactly once when the server accepts again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { startSmtp, type ParsedMail, type TestSmtp } from '../support/smtp.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'correct horse battery';
type Page = Awaited<ReturnType<UserAgent['navigate']>>;
/** Far below the production time-outs (10 s to greet), generous for a loaded 2-core machine (these pages take ~50–200 ms). */
const PAGE_BOUND_MS = 1_500;

type Hang = 'no greeting' | 'no answer to MAIL FROM';

interface HangingSmtp {
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** MAIL FROM commands received (and never answered). */
  readonly mailFroms: () => number;
  close(): Promise<void>;
}

/** A TCP server on loopback speaking just enough SMTP to hang where `hang` says. */
async function startHangingSmtp(hang: Hang): Promise<HangingSmtp> {
  const sockets = new Set<Socket>();
  let mailFroms = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (hang === 'no greeting') return;
    socket.write('220 hang.test ESMTP\r\n');
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (/^(EHLO|HELO) /i.test(line)) socket.write('250 hang.test\r\n');
        else if (/^MAIL FROM:/i.test(line)) mailFroms += 1; // and never a reply
      }
    });
  });
  let connections = 0;
  server.on('connection', () => { connections += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `smtp://127.0.0.1:${port}`,
    connections: () => connections,
    mailFroms: () => mailFroms,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await work();
  return { ms: performance.now() - started, result };
}

/** A browser signed in at the account page; returns the agent and the page. */
async function accountPage(t: TestTollgate, email: string) {
  const agent = new UserAgent();
  const callback = `${t.issuer}/account?`;
  const login = await agent.navigate(`${t.issuer}/account`, {}, callback);
  const back = await agent.submit(login, '/login', { login: email, password: PASSWORD }, callback);
  const page = await agent.navigate(back.url);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  return { agent, page };
}

for (const hang of ['no greeting', 'no answer to MAIL FROM'] as const) {
  /** How far the message got: the connection (no greeting) or the MAIL FROM (no answer). */
  const reached = (s: HangingSmtp) => (hang === 'no greeting' ? s.connections() : s.mailFroms());

  describe(`a mail server that hangs (${hang}) blocks no page`, () => {
    let smtp: HangingSmtp;
    let t: TestTollgate;

    before(async () => {
      smtp = await startHangingSmtp(hang);
      t = await startTestTollgate({
        smtp: { url: smtp.url },
        env: { SIGNUP_ENABLED: 'true', TRUST_PROXY: 'true' },
        // More sends in flight than the default 2, so that each page's message is seen hanging at
        // the server (not waiting in the queue behind the others); close() waits no 5 s for them.
        mailer: { concurrency: 8, closeTimeoutMs: 100 },
      });
      // Warm-up, not timed, and sending nothing (so that a page that waits for its message fails its
      // own test, not this hook): a fresh process's first sign-in pays for compiling the pages and
      // loading the password hasher (a cold sign-up measured ~1.4 s here, a warm one ~0.1–0.25 s).
      await t.tollgate.accounts.create({ email: 'warm-up@example.test', password: PASSWORD });
      await accountPage(t, 'warm-up@example.test');
      // The sign-up form too, refused (the address is taken): no account, no message.
      await signUp('warm-up@example.test', async (submit) => {
        const refused = await submit();
        assert.equal(refused.status, 409, refused.body.slice(0, 300));
        return undefined;
      });
    });
    after(async () => {
      await t?.close();
      if (t) await removeDirs(t.dirs);
      await smtp?.close();
    });

    /** Signs up from the account page's sign-in; `around` wraps the form's POST. */
    const signUp = async (email: string, around: (submit: () => Promise<Page>) => Promise<Page | undefined> = (submit) => submit()) => {
      const agent = new UserAgent();
      const callback = `${t.issuer}/account?`;
      const login = await agent.navigate(`${t.issuer}/account`, {}, callback);
      const signup = await agent.navigate(new URL(/href="([^"]*\/signup)"/.exec(login.body)![1]!, login.url).href);
      assert.equal(signup.status, 200, signup.body.slice(0, 300));
      const done = await around(() => agent.submit(signup, '/signup', { login: email, password: PASSWORD }, callback));
      if (!done) return;
      assert.ok(done.url.startsWith(callback), `${done.status} ${done.url} ${done.body.slice(0, 300)}`);
    };

    /** Each page answers within the bound, and its message then reaches the server, where it hangs. */
    const answersWhileMailHangs = async <T>(page: string, work: () => Promise<T>): Promise<T> => {
      const before = reached(smtp);
      const { ms, result } = await timed(work);
      process.stderr.write(`# ${hang}: ${page} answered in ${ms.toFixed(0)} ms\n`);
      assert.ok(ms < PAGE_BOUND_MS, `${page} took ${ms.toFixed(0)} ms`);
      await until(() => reached(smtp) > before, `${page}'s message to reach the server`);
      return result;
    };

    test('sign-up (sends the verification link)', async () => {
      await signUp('newcomer@example.test', (submit) => answersWhileMailHangs('sign-up', submit));
      const [sent] = (await t.tollgate.audit.page({ type: 'email.verification_sent', limit: 1 })).events;
      assert.equal(sent?.details?.by, 'sign-up');
    });

    test('the account page\'s "send the link again"', async () => {
      await t.tollgate.accounts.create({ email: 'unverified@example.test', password: PASSWORD });
      const { agent, page } = await accountPage(t, 'unverified@example.test');
      const sent = await answersWhileMailHangs('send the link again', () => agent.submit(page, '/verify-email/send', {}));
      assert.equal(sent.status, 200, sent.body.slice(0, 300));
      assert.match(sent.body, /Check your inbox/);
    });

    test('the forgot-password form', async () => {
      await t.tollgate.accounts.create({ email: 'forgetful@example.test', password: PASSWORD });
      const agent = new UserAgent();
      const form = await agent.navigate(`${t.issuer}/account/forgot-password`);
      const answer = await answersWhileMailHangs('forgot-password POST', () => agent.submit(form, '/forgot-password', { email: 'forgetful@example.test' }));
      assert.equal(answer.status, 200);
      assert.match(answer.body, /If an account exists for this address/);
    });

    test('the profile\'s e-mail change', async () => {
      await t.tollgate.accounts.create({ email: 'mover@example.test', password: PASSWORD });
      const { agent, page } = await accountPage(t, 'mover@example.test');
      const answer = await answersWhileMailHangs('e-mail change', () => agent.submit(page, '/profile/email', { password: PASSWORD, email: 'moved@example.test' }));
      assert.equal(answer.status, 200, answer.body.slice(0, 300));
      assert.match(answer.url, /profile=email_link_sent/);
    });

    test('every message is still in flight: none was delivered or given up while the pages answered', async () => {
      assert.equal(reached(smtp), 4, 'the four pages\' messages');
      const idle = await Promise.race([t.tollgate.mailer.idle().then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]);
      assert.equal(idle, false, 'the outbox still holds the hanging sends');
      assert.ok(!t.logs.some((l) => l.includes('mail not delivered')), 'no time-out yet (10 s greeting, 30 s socket)');
    });
  });

  describe(`a mail server that hangs (${hang}): the time-out is logged, without the link`, () => {
    let smtp: HangingSmtp;
    let t: TestTollgate;
    // Shortened for this test only, through SMTP_URL's query (nodemailer's parseConnectionUrl reads it).
    const timeout = hang === 'no greeting' ? 'greetingTimeout=300' : 'socketTimeout=300';

    before(async () => {
      smtp = await startHangingSmtp(hang);
      t = await startTestTollgate({ smtp: { url: `${smtp.url}/?${timeout}` }, mailer: { retryDelaysMs: [60_000], closeTimeoutMs: 100 } });
    });
    after(async () => {
      await t?.close();
      if (t) await removeDirs(t.dirs);
      await smtp?.close();
    });

    test('"mail not delivered: will retry" with ETIMEDOUT, and no link, token or address in any log line', async () => {
      const account = await t.tollgate.accounts.create({ email: 'slowpoke@example.test', password: PASSWORD });
      const agent = new UserAgent();
      const form = await agent.navigate(`${t.issuer}/account/forgot-password`);
      assert.equal((await agent.submit(form, '/forgot-password', { email: account.email })).status, 200);
      await until(() => t.logs.some((l) => l.includes('mail not delivered: will retry')), 'the time-out to be logged');
      const line = JSON.parse(t.logs.find((l) => l.includes('mail not delivered: will retry'))!) as Record<string, unknown>;
      assert.equal(line.kind, 'reset_password');
      assert.equal(line.account_id, account.id);
      assert.equal(line.error_code, 'ETIMEDOUT');
      assert.equal(line.retry_in_ms, 60_000);
      const logs = t.logs.join('\n');
      for (const secret of ['token=', '/account/reset-password', 'slowpoke@']) assert.ok(!logs.includes(secret), `a log line holds ${secret}`);
    });
  });
}

describe('a mail server refusing for a while (451), at flow level', () => {
  let smtp: TestSmtp;
  let t: TestTollgate;
  const to = (m: ParsedMail) => JSON.stringify(m.to ?? '');

  before(async () => {
    smtp = await startSmtp();
    t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: Array(20).fill(100) } });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  test('"send the link again" answers its usual page; once the server accepts, the link arrives exactly once and works', async () => {
    await t.tollgate.accounts.create({ email: 'patient@example.test', password: PASSWORD });
    const { agent, page } = await accountPage(t, 'patient@example.test');
    smtp.refuse('temporary');
    try {
      const sent = await agent.submit(page, '/verify-email/send', {});
      assert.equal(sent.status, 200, sent.body.slice(0, 300));
      assert.match(sent.body, /Check your inbox/);
      await until(() => t.logs.filter((l) => l.includes('mail not delivered: will retry') && l.includes('"smtp_code":451')).length >= 2, 'two refused tries');
      assert.equal(smtp.messages.filter((m) => to(m).includes('patient@')).length, 0);
    } finally {
      smtp.refuse(false);
    }
    const message = await smtp.waitFor((m) => to(m).includes('patient@example.test'));
    await t.tollgate.mailer.idle();
    assert.ok(t.logs.some((l) => l.includes('mail delivered after retrying')));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(smtp.messages.filter((m) => to(m).includes('patient@')).length, 1, 'delivered exactly once');

    // The link it carries works: the address is verified.
    const link = smtp.linkIn(message, `${t.issuer}/account/verify-email`);
    const done = await agent.submit(await agent.navigate(link), '/verify-email', {});
    assert.equal(done.status, 200, done.body.slice(0, 300));
    const [account] = await t.tollgate.accounts.list({ email: 'patient@example.test' });
    assert.equal(account?.email_verified, true);
  });
});
