// Forgotten password over HTTP, against a real SMTP server in this process:
// the request page answers the same, in the same time, whatever the address;
// requests are throttled per address and per IP; a message queued while the
// mail server is down arrives once it is back; the link works once, only the
// newest works, a bad password spends nothing; the admin API sends a link,
// and says so clearly when mail is off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtp, type ParsedMail, type TestSmtp } from '../support/smtp.ts';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { adminCalls } from '../support/admin.ts';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';

const to = (m: ParsedMail) => JSON.stringify(m.to ?? '');
/** A fresh agent that has loaded the form (its CSRF cookie and token), posting from `ip` (TRUST_PROXY: the last X-Forwarded-For entry). */
async function formAt(t: TestTollgate, ip = '192.0.2.1') {
  const agent = new UserAgent({ 'x-forwarded-for': ip });
  const page = await agent.navigate(`${t.issuer}/account/forgot-password`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  return { agent, page };
}
async function requestReset(t: TestTollgate, email: string, ip = '192.0.2.1') {
  const { agent, page } = await formAt(t, ip);
  return agent.submit(page, '/forgot-password', { email });
}

/** What the timing client runs: one POST per line on stdin, its time, status, headers and body as a line on stdout. */
const TIMING_CLIENT = `
import { createInterface } from 'node:readline';
let config;
for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line);
  if (!config) { config = message; continue; }
  const started = performance.now();
  const res = await fetch(config.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': message.ip, cookie: config.cookie },
    body: new URLSearchParams({ csrf: config.csrf, email: message.email, ui_locales: 'en' }).toString(),
  });
  const body = await res.text();
  const ms = performance.now() - started;
  const headers = [...res.headers.keys()].filter((h) => h !== 'date').sort().join(',');
  process.stdout.write(JSON.stringify({ ms, status: res.status, headers, body }) + '\\n');
}
`;

function timingClient(config: { url: string; csrf: string; cookie: string }) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', TIMING_CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  child.stdin!.write(`${JSON.stringify(config)}\n`);
  return {
    async post(email: string, ip: string): Promise<{ ms: number; status: number; headers: string; body: string }> {
      child.stdin!.write(`${JSON.stringify({ email, ip })}\n`);
      const next = await replies.next();
      if (next.done) throw new Error('the timing client ended');
      return JSON.parse(next.value) as { ms: number; status: number; headers: string; body: string };
    },
    async close() {
      child.stdin!.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

describe('forgotten password (HTTP, real SMTP)', () => {
  let smtp: TestSmtp;
  let t: TestTollgate;
  let ada: string;

  before(async () => {
    smtp = await startSmtp();
    t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100] }, env: { TRUST_PROXY: 'true' } });
    ada = (await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' })).id;
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  test('the answer and its timing are the same for a known, an unknown and a disabled address (means over 50 tries)', async () => {
    const known = await Promise.all(Array.from({ length: 50 }, (_, i) => t.tollgate.accounts.create({ email: `known-${i}@example.test`, password: PASSWORD })));
    const disabled = await t.tollgate.accounts.create({ email: 'gone@example.test', password: PASSWORD });
    await t.tollgate.accounts.update(disabled.id, { disabled: true });
    // One agent, its CSRF cookie loaded once; each try from an address of its own (each counts against its own IP limit).
    const agent = new UserAgent();
    const form = await agent.navigate(`${t.issuer}/account/forgot-password`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
    const cookie = agent.cookieEntries().map(([k, v]) => `${k}=${v}`).join('; ');
    // The timing client is a process of its own, as an attacker is: in this process it would share the
    // event loop with the server's background work (and with the test SMTP server parsing the message).
    const client = timingClient({ url: `${t.issuer}/account/forgot-password`, csrf, cookie });
    // Between tries, the previous try's background work and its delivery are waited for: what is
    // timed is the request path alone (docs/email.md: the work after the answer).
    const settle = async () => {
      await t.tollgate.passwordReset.idle();
      await t.tollgate.mailer.idle();
    };
    const post = async (email: string, ip: string) => {
      const r = await client.post(email, ip);
      await settle();
      return r;
    };
    try {
      // Warm-up, not counted: the first requests pay for compiling and connecting.
      for (let i = 0; i < 10; i += 1) await post(`warm-${i}@example.test`, `198.51.100.${i + 1}`);

      const before = smtp.messages.length;
      const times = { known: [] as number[], unknown: [] as number[] };
      const answers = new Set<string>();
      for (let i = 0; i < 50; i += 1) {
        // Alternated, so drift of the machine's speed falls on both alike.
        for (const kind of (i % 2 ? ['known', 'unknown'] : ['unknown', 'known']) as Array<'known' | 'unknown'>) {
          const email = kind === 'known' ? known[i]!.email : `nobody-${i}@example.test`;
          const r = await post(email, `10.${kind === 'known' ? 1 : 2}.${i}.1`);
          times[kind].push(r.ms);
          answers.add(JSON.stringify({ status: r.status, headers: r.headers, body: r.body }));
        }
      }
      const gone = await post('gone@example.test', '10.3.0.1');
      answers.add(JSON.stringify({ status: gone.status, headers: gone.headers, body: gone.body }));
      assert.equal(answers.size, 1, 'one answer, byte for byte, for every address');
      const [answer] = [...answers].map((a) => JSON.parse(a) as { status: number; body: string });
      assert.equal(answer!.status, 200);
      assert.match(answer!.body, /If an account exists for this address/);

      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      // The slowest 10 % of each set dropped: on this shared machine a try now and then takes 50 ms for
      // reasons of its own (another process, a GC), and one such outlier moves a mean of 50 by 1 ms.
      const trimmed = (xs: number[]) => mean([...xs].sort((a, b) => a - b).slice(0, Math.ceil(xs.length * 0.9)));
      const m = { known: trimmed(times.known), unknown: trimmed(times.unknown) };
      // The bound: the (trimmed) means differ by less than 2 ms, or 20 % of the faster one on a slow day;
      // awaiting the account's work on the request path (lookup, token insert, rendering) measured
      // +5 ms (14.1 against 9.1 ms raw means) here.
      const bound = Math.max(2, 0.2 * Math.min(m.known, m.unknown));
      process.stderr.write(`# forgot-password POST, 50 tries each: means known ${mean(times.known).toFixed(2)} ms, unknown ${mean(times.unknown).toFixed(2)} ms; without the slowest 10 %: known ${m.known.toFixed(2)} ms, unknown ${m.unknown.toFixed(2)} ms; bound ${bound.toFixed(2)} ms\n`);
      assert.ok(Math.abs(m.known - m.unknown) < bound, `known ${m.known.toFixed(2)} ms vs unknown ${m.unknown.toFixed(2)} ms`);

      // The work was done for the known addresses only: 50 messages, none to an unknown or disabled one.
      await smtp.waitFor(() => smtp.messages.length - before >= 50);
      const sent = smtp.messages.slice(before).map(to);
      assert.equal(sent.length, 50);
      assert.ok(sent.every((r) => r.includes('known-')), 'only known addresses got mail');
    } finally {
      await client.close();
    }
    // The audit trail tells them apart (for the operator): the account id when there is one.
    const trail = await t.tollgate.audit.page({ type: 'password.reset_requested', accountId: disabled.id, limit: 5 });
    assert.equal(trail.events[0]?.details?.sent, false);
  });

  test('requests are throttled per address (from anywhere) and per IP (for any address): 429 with Retry-After, the same for an unknown address', async () => {
    for (const email of ['ada@example.test', 'nobody-at-all@example.test']) {
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof requestReset>> | undefined;
      for (let i = 0; i < 6; i += 1) {
        last = await requestReset(t, email, `203.0.113.${i + (email.startsWith('ada') ? 10 : 30)}`);
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429], email);
      assert.ok(Number(last!.headers.get('retry-after')) > 0);
      assert.match(last!.body, /Too many requests/);
    }
    const fromOneIp: number[] = [];
    for (let i = 0; i < 21; i += 1) fromOneIp.push((await requestReset(t, `someone-${i}@example.test`, '203.0.113.99')).status);
    assert.deepEqual(fromOneIp, [...Array(20).fill(200), 429]);
    // Another address is not held back by that IP's count.
    assert.equal((await requestReset(t, 'someone-else@example.test', '203.0.113.100')).status, 200);
    await t.tollgate.passwordReset.idle();
  });

  test('the mail server down at request time: the page answers the same, the message arrives once it is back', async () => {
    const carol = await t.tollgate.accounts.create({ email: 'carol@example.test', password: PASSWORD });
    await smtp.stop();
    try {
      const answer = await requestReset(t, carol.email, '198.51.100.200');
      assert.equal(answer.status, 200);
      assert.match(answer.body, /If an account exists for this address/);
      await t.tollgate.passwordReset.idle();
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await smtp.start();
    }
    const message = await smtp.waitFor((m) => to(m).includes('carol@example.test'));
    assert.match(message.subject ?? '', /Reset your Tollgate password/);
    // Nothing left to retry: a second delivery would be here now.
    await t.tollgate.mailer.idle();
    assert.equal(smtp.messages.filter((m) => to(m).includes('carol@example.test')).length, 1, 'delivered once');
    assert.ok(t.logs.some((l) => l.includes('mail not delivered: will retry')));
    assert.ok(!t.logs.some((l) => l.includes(smtp.linkIn(message, t.issuer).split('token=')[1]!.split('&')[0]!)), 'the token is in no log line');
  });

  test('the link: GET spends nothing, a bad password spends nothing, it works once, only the newest works, tampered links get a clear page', async () => {
    const bob = await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
    const linkFor = async (ip: string) => {
      const count = smtp.messages.length;
      await requestReset(t, bob.email, ip);
      await t.tollgate.passwordReset.idle();
      const m = await smtp.waitFor((x) => smtp.messages.indexOf(x) >= count && to(x).includes('bob@example.test'));
      return smtp.linkIn(m, `${t.issuer}/account/reset-password`);
    };
    const older = await linkFor('198.51.100.210');
    const link = await linkFor('198.51.100.211');
    const agent = new UserAgent();
    assert.equal((await agent.navigate(older)).status, 400, 'an older link stops working when a newer one is sent');

    const page = await agent.navigate(link);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.equal((await agent.navigate(link)).status, 200, 'a GET (a mail scanner) does not spend the link');

    const short = await agent.submit(page, '/reset-password', { password: 'short' });
    assert.equal(short.status, 400);
    assert.match(short.body, /between 8 and 1024 characters/);
    const done = await agent.submit(short, '/reset-password', { password: NEW_PASSWORD });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.match(done.body, /Your password has been changed/);
    assert.equal((await t.tollgate.accounts.authenticate(bob.email, NEW_PASSWORD)).ok, true);
    assert.equal((await t.tollgate.accounts.authenticate(bob.email, PASSWORD)).ok, false);

    // Spent: the GET and a replayed POST both get the clear page; so do tampered and absent tokens.
    const again = await agent.navigate(link);
    assert.equal(again.status, 400);
    assert.match(again.body, /This link no longer works/);
    assert.equal((await agent.submit(page, '/reset-password', { password: 'yet another passphrase' })).status, 400);
    assert.equal((await t.tollgate.accounts.authenticate(bob.email, 'yet another passphrase')).ok, false);
    const token = new URL(link).searchParams.get('token')!;
    for (const bad of [`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'x', '%00', `${token}${token}`, '']) {
      const res = await agent.navigate(`${t.issuer}/account/reset-password?token=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.match(res.body, /This link no longer works/);
    }
    assert.equal((await agent.navigate(`${t.issuer}/account/reset-password`)).status, 400);

    const trail = await t.tollgate.audit.page({ type: 'password.reset', accountId: bob.id, limit: 5 });
    assert.equal(trail.events.length, 1);
    assert.ok(!JSON.stringify(trail.events).includes(NEW_PASSWORD) && !JSON.stringify(trail.events).includes(token));
  });

  test('forms without this browser\'s CSRF cookie and token are refused', async () => {
    const { agent, page } = await formAt(t, '198.51.100.220');
    const forged = await agent.once(`${t.issuer}/account/forgot-password`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ email: 'ada@example.test', csrf: 'forged' }).toString(),
    });
    assert.equal(forged.status, 403);
    const token = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const cookieless = await fetch(`${t.issuer}/account/forgot-password`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ email: 'ada@example.test', csrf: token }).toString(),
    });
    assert.equal(cookieless.status, 403);
  });

  test('admin API: POST /users/{id}/password-reset-email sends a link (202), 404 for an unknown id', async () => {
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    const { machineToken, api } = adminCalls(t);
    const token = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    const count = smtp.messages.length;
    const res = await api('POST', `/users/${ada}/password-reset-email`, { token, json: { locale: 'ko' } });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.account, ada);
    // The link works for 30 minutes.
    const minutesLeft = (Date.parse(res.body.expires_at) - Date.now()) / 60_000;
    assert.ok(minutesLeft > 29 && minutesLeft <= 30, `expires in ${minutesLeft} minutes`);
    const message = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= count && to(m).includes('ada@example.test'));
    // The Korean template's own words, in both parts (not only the subject).
    assert.match(message.subject ?? '', /비밀번호 재설정/);
    assert.match(message.text ?? '', /30분 동안 한 번만 쓸 수 있습니다/);
    assert.match(String(message.html), /새 비밀번호 정하기/);
    const link = smtp.linkIn(message, `${t.issuer}/account/reset-password?token=`);
    assert.equal((await api('POST', '/users/00000000-0000-4000-8000-000000000000/password-reset-email', { token })).status, 404);

    // An operator then sets the password: the link the person was sent stops working.
    assert.equal((await api('POST', `/users/${ada}/password`, { token, json: { password: 'an operator chose this one' } })).status, 204);
    const stale = await new UserAgent().navigate(link);
    assert.equal(stale.status, 400);
    assert.match(stale.body, /이 링크는 더 이상 쓸 수 없습니다/);
    const trail = await t.tollgate.audit.page({ type: 'password.reset_requested', accountId: ada, limit: 1 });
    assert.equal(trail.events[0]?.actor, 'ops');
  });
});

describe('forgotten password without mail', () => {
  let t: TestTollgate;
  before(async () => {
    t = await startTestTollgate();
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('the page says reset by e-mail is unavailable; the admin API answers 503 mail_unavailable', async () => {
    const page = await new UserAgent({ 'accept-language': 'ko' }).navigate(`${t.issuer}/account/forgot-password`);
    assert.equal(page.status, 503);
    assert.match(page.body, /이메일로 비밀번호를 재설정할 수 없습니다/);
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    const { machineToken, api } = adminCalls(t);
    const token = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    const user = await t.tollgate.accounts.create({ email: 'dan@example.test', password: PASSWORD });
    const res = await api('POST', `/users/${user.id}/password-reset-email`, { token });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.error, 'mail_unavailable');
  });
});
