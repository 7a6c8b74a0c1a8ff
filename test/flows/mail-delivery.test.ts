// Outgoing mail against a real SMTP server in this process (test/support/smtp.ts):
// what arrives (multipart, language, From, link), AUTH and STARTTLS, and
// what happens when the server is down or refuses: send returns at once,
// the message is retried and arrives once, or is refused for good, and the
// log says so without the link.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../server/errors.ts';
import { createLogger } from '../../server/logger.ts';
import { createMetrics, type Metrics } from '../../server/metrics.ts';
import { createMailer, type Mailer, type MailerOptions } from '../../server/mail/mailer.ts';
import { createOutbox } from '../../server/mail/outbox.ts';
import type { Locale } from '../../server/i18n.ts';
import { createViews } from '../../server/views/views.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { startTestTollgate, removeDirs, TEST_MAIL_FROM } from '../support/tollgate.ts';

const ISSUER = 'https://id.example.test';
const FROM = 'Example ID <no-reply@example.test>';
const TOKEN = 'tOkEn-that-must-never-be-logged-0123456789ab';
const LINK = `${ISSUER}/verify-email?token=${TOKEN}`;

interface Harness { mailer: Mailer; logs: string[]; metrics: Metrics }

function mailerFor(env: Record<string, string>, options: Partial<MailerOptions> = {}): Harness {
  const config: Config = loadConfig({ NODE_ENV: 'test', ISSUER, ...env });
  // The pages' strings, a theme's over the built-in ones, as tollgate.ts passes them.
  const views = createViews({ assetsPath: '/assets', themeDir: config.themeDir });
  const logs: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, done) { logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)); done(); } });
  const metrics = createMetrics({ signingKeysFile: '/nonexistent' });
  const mailer = createMailer({
    config, logger: createLogger({ logLevel: 'info' }, sink), metrics, translate: views.translator,
    options: { retryDelaysMs: Array(20).fill(150), ...options },
  });
  return { mailer, logs, metrics };
}

async function counted(metrics: Metrics, kind: string, result: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric('tollgate_mail_sent_total');
  const values = (await metric!.get()).values;
  return values.find((v) => v.labels.kind === kind && v.labels.result === result)?.value ?? 0;
}

const logged = (logs: string[], msg: string) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const verify = (to: string, locale: Locale = 'en') => ({ kind: 'verify_email' as const, to, locale, data: { link: LINK, name: 'Ada' }, accountId: '6f1c1d3e-0000-4000-8000-000000000001' });

describe('mail over SMTP with AUTH', () => {
  let smtp: TestSmtp;
  let h: Harness;
  before(async () => {
    smtp = await startSmtp({ auth: { user: 'mailer', pass: 'p@ss:word/secret' } });
    h = mailerFor({ SMTP_URL: smtp.url, MAIL_FROM: FROM });
  });
  after(async () => {
    await h.mailer.close();
    await smtp.close();
  });

  test('a verify_email message arrives multipart, in English and in Korean, from MAIL_FROM, with the link in both parts', async () => {
    assert.equal(h.mailer.enabled, true);
    h.mailer.send(verify('ada@example.test', 'en'));
    h.mailer.send(verify('jiwoo@example.test', 'ko'));
    await h.mailer.idle();

    const en = await smtp.waitFor((m) => m.to !== undefined && JSON.stringify(m.to).includes('ada@example.test'));
    const ko = await smtp.waitFor((m) => JSON.stringify(m.to).includes('jiwoo@example.test'));
    assert.equal(en.subject, 'Confirm your e-mail address for Tollgate');
    assert.equal(ko.subject, 'Tollgate 이메일 주소를 확인해 주세요');
    for (const m of [en, ko]) {
      assert.deepEqual(m.from?.value, [{ address: 'no-reply@example.test', name: 'Example ID' }]);
      assert.ok(m.text && m.html, 'a text and an HTML part');
      assert.equal(smtp.linkIn(m, `${ISSUER}/verify-email`), LINK, 'the link, unescaped, in the text part');
      assert.ok(m.html.includes(`href="${LINK}"`), 'the link in the HTML part');
      assert.ok(m.text.includes(ISSUER) && m.html.includes(ISSUER), 'the footer names the issuer');
      assert.equal(m.headers.get('auto-submitted'), 'auto-generated');
    }
    assert.match(en.text!, /Hello Ada/);
    assert.match(ko.text!, /Ada님/);
    assert.equal(ko.headers.get('content-language'), 'ko');
    assert.deepEqual(smtp.deliveries.map((d) => d.user), ['mailer', 'mailer'], 'the credentials of SMTP_URL were used');
    assert.equal(await counted(h.metrics, 'verify_email', 'sent'), 2);
  });

  test('HTML in the data is escaped in the HTML part and left as text in the text part', async () => {
    h.mailer.send({ kind: 'verify_email', to: 'html@example.test', locale: 'en', data: { link: `${ISSUER}/v?a=1&b=2`, name: '<b>Eve</b>' } });
    const m = await smtp.waitFor((x) => JSON.stringify(x.to).includes('html@example.test'));
    assert.ok(m.html && m.html.includes('&lt;b&gt;Eve&lt;/b&gt;') && !m.html.includes('<b>Eve'));
    assert.ok(m.text!.includes('<b>Eve</b>'));
    assert.equal(smtp.linkIn(m, `${ISSUER}/v`), `${ISSUER}/v?a=1&b=2`, 'no &amp; in the text part');
  });

  test('the other three messages render: reset (minutes), e-mail changed (new address masked), account deleted', async () => {
    h.mailer.send({ kind: 'reset_password', to: 'r@example.test', locale: 'en', data: { link: `${ISSUER}/reset?token=x`, minutes: 30 } });
    h.mailer.send({ kind: 'email_changed', to: 'old@example.test', locale: 'ko', data: { newEmail: 'new.address@example.org' } });
    h.mailer.send({ kind: 'account_deleted', to: 'gone@example.test', locale: 'en', data: {} });
    const reset = await smtp.waitFor((m) => JSON.stringify(m.to).includes('r@example.test'));
    assert.equal(reset.subject, 'Reset your Tollgate password');
    assert.match(reset.text!, /for 30 minutes/);
    assert.equal(smtp.linkIn(reset, `${ISSUER}/reset`), `${ISSUER}/reset?token=x`);
    const changed = await smtp.waitFor((m) => JSON.stringify(m.to).includes('old@example.test'));
    assert.equal(changed.subject, 'Tollgate 계정의 이메일 주소가 바뀌었습니다');
    assert.ok(changed.text!.includes('n***@example.org') && !changed.text!.includes('new.address'), 'the new address, masked');
    assert.ok(changed.html && !changed.html.includes('new.address'));
    const deleted = await smtp.waitFor((m) => JSON.stringify(m.to).includes('gone@example.test'));
    assert.equal(deleted.subject, 'Your Tollgate account was deleted');
  });

  test('the SMTP password and the link never reach the log, even when a send fails and is retried', async () => {
    // A logged failure first: successful sends log nothing, which would prove nothing.
    smtp.refuse('temporary');
    h.mailer.send(verify('retried@example.test'));
    await until(() => logged(h.logs, 'mail not delivered: will retry').length > 0);
    smtp.refuse(false);
    await smtp.waitFor((m) => JSON.stringify(m.to).includes('retried@example.test'));
    await h.mailer.idle();
    const all = h.logs.join('\n');
    assert.ok(h.logs.length > 0);
    assert.ok(!all.includes('p@ss:word') && !all.includes(encodeURIComponent('p@ss:word/secret')));
    assert.ok(!all.includes(TOKEN));
    assert.ok(!all.includes('retried@example.test'), 'the recipient address');
  });
});

describe('mail when the server is down or refuses', () => {
  let smtp: TestSmtp;
  let h: Harness;
  before(async () => {
    smtp = await startSmtp();
    h = mailerFor({ SMTP_URL: smtp.url, MAIL_FROM: FROM });
  });
  after(async () => {
    await h.mailer.close();
    await smtp.close();
  });

  test('server down: send returns at once, the failure is logged without the link, and the message arrives once when it is back', async () => {
    await smtp.stop();
    const started = performance.now();
    h.mailer.send(verify('down@example.test'));
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 50, `send took ${tookMs.toFixed(1)} ms`);

    await until(() => logged(h.logs, 'mail not delivered: will retry').length >= 2);
    const failure = logged(h.logs, 'mail not delivered: will retry')[0]!;
    assert.equal(failure.kind, 'verify_email');
    assert.equal(failure.account_id, '6f1c1d3e-0000-4000-8000-000000000001');
    assert.equal(failure.attempt, 1);
    assert.equal(failure.error_code, 'ESOCKET');
    assert.ok(!h.logs.join('\n').includes(TOKEN) && !h.logs.join('\n').includes('down@example.test'), 'neither the link nor the address in the log');

    await smtp.start();
    await h.mailer.idle();
    assert.equal(smtp.messages.filter((m) => JSON.stringify(m.to).includes('down@example.test')).length, 1, 'delivered exactly once');
    assert.equal(logged(h.logs, 'mail delivered after retrying').length, 1);
    assert.ok(await counted(h.metrics, 'verify_email', 'retried') >= 2);
    assert.equal(await counted(h.metrics, 'verify_email', 'sent'), 1);
  });

  test('a temporary refusal (451) is retried and the message delivered', async () => {
    smtp.refuse('temporary');
    h.mailer.send(verify('later@example.test'));
    await until(() => logged(h.logs, 'mail not delivered: will retry').some((l) => l.smtp_code === 451));
    smtp.refuse(false);
    await h.mailer.idle();
    assert.equal(smtp.messages.filter((m) => JSON.stringify(m.to).includes('later@example.test')).length, 1);
    assert.equal(await counted(h.metrics, 'verify_email', 'sent'), 2);
  });

  test('a permanent refusal (550) is not retried, and is logged and counted as failed', async () => {
    const retriedBefore = await counted(h.metrics, 'verify_email', 'retried');
    smtp.refuse('permanent');
    h.mailer.send(verify('never@example.test'));
    await h.mailer.idle();
    smtp.refuse(false);
    const refused = logged(h.logs, 'mail refused: not retrying');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.smtp_code, 550);
    assert.equal(refused[0]!.attempt, 1);
    assert.equal(await counted(h.metrics, 'verify_email', 'retried'), retriedBefore, 'no retry');
    assert.equal(await counted(h.metrics, 'verify_email', 'failed'), 1);
    assert.ok(!smtp.messages.some((m) => JSON.stringify(m.to).includes('never@example.test')));
  });

  test('retries stop after the schedule: given up, logged and counted as failed', async () => {
    const { mailer, logs, metrics } = mailerFor({ SMTP_URL: smtp.url, MAIL_FROM: FROM }, { retryDelaysMs: [10, 10] });
    smtp.refuse('temporary');
    try {
      mailer.send(verify('giveup@example.test'));
      await mailer.idle();
    } finally {
      smtp.refuse(false);
      await mailer.close();
    }
    assert.equal(await counted(metrics, 'verify_email', 'retried'), 2);
    assert.equal(await counted(metrics, 'verify_email', 'failed'), 1);
    assert.equal(logged(logs, 'mail not delivered: giving up')[0]?.attempt, 3);
  });
});

describe('STARTTLS', () => {
  let smtp: TestSmtp;
  before(async () => { smtp = await startSmtp({ starttls: true, auth: { user: 'u', pass: 'secret-pass' } }); });
  after(async () => { await smtp.close(); });

  test('smtp:// upgrades with STARTTLS when the server offers it (AUTH inside TLS)', async () => {
    const { mailer } = mailerFor({ SMTP_URL: smtp.url, MAIL_FROM: FROM }, { smtp: { tls: { ca: smtp.certificate } } });
    mailer.send(verify('tls@example.test'));
    await mailer.idle();
    await mailer.close();
    const delivery = smtp.deliveries.find((d) => d.rcptTo.includes('tls@example.test'));
    assert.equal(delivery?.secure, true);
    assert.equal(delivery?.user, 'u');
  });

  test('a certificate the client does not trust: nothing is sent in plain text instead', async () => {
    const { mailer, logs } = mailerFor({ SMTP_URL: smtp.url, MAIL_FROM: FROM }, { retryDelaysMs: [] });
    mailer.send(verify('untrusted@example.test'));
    await mailer.idle();
    await mailer.close();
    assert.ok(!smtp.deliveries.some((d) => d.rcptTo.includes('untrusted@example.test')));
    assert.equal(logged(logs, 'mail not delivered: giving up').length, 1);
  });
});

describe('mail switched off, or to the log', () => {
  test('without SMTP_URL: disabled, and each kind is warned about once and dropped', async () => {
    const { mailer, logs } = mailerFor({});
    assert.equal(mailer.enabled, false);
    mailer.send(verify('a@example.test'));
    mailer.send(verify('b@example.test'));
    mailer.send({ kind: 'account_deleted', to: 'c@example.test', locale: 'en', data: {} });
    await mailer.idle();
    const warnings = logs.map((l) => JSON.parse(l) as { kind: string; level: number }).filter((l) => l.level === 40);
    assert.deepEqual(warnings.map((w) => w.kind), ['verify_email', 'account_deleted']);
  });

  test('MAIL_LOG=true writes the message to the log instead of sending it', async () => {
    const { mailer, logs } = mailerFor({ MAIL_LOG: 'true' });
    assert.equal(mailer.enabled, true);
    mailer.send(verify('log@example.test'));
    await mailer.idle();
    const [line] = logged(logs, 'mail written to the log (MAIL_LOG=true), not sent');
    assert.equal(line?.to, 'log@example.test');
    assert.equal(line?.from, 'Tollgate <no-reply@id.example.test>');
    assert.ok(String(line?.text).includes(LINK));
  });

  test('send never throws: a template that fails (a bad locale) is logged and counted, not thrown', async () => {
    const { mailer, logs, metrics } = mailerFor({ MAIL_LOG: 'true' });
    assert.doesNotThrow(() => mailer.send({ kind: 'nonsense' as never, to: 'x@example.test', locale: 'en', data: {} }));
    assert.doesNotThrow(() => mailer.send({ kind: 'verify_email', to: 'x@example.test', locale: 'xx' as never, data: null as never }));
    await mailer.idle();
    assert.equal(logged(logs, 'mail not rendered: not sent').length, 2);
    assert.ok(await counted(metrics, 'verify_email', 'failed') >= 1);
  });
});

test("a theme's mail templates and strings replace the built-in ones; a misspelt or broken one stops the start", async () => {
  const theme = await mkdtemp(path.join(tmpdir(), 'tollgate-mail-theme-'));
  try {
    await mkdir(path.join(theme, 'mail'));
    await mkdir(path.join(theme, 'locales'));
    await writeFile(path.join(theme, 'mail', 'verify_email.text.eta'), "<% layout('./mail/layout.text', it) %>Themed: <%= it.link %>\n");
    await writeFile(path.join(theme, 'locales', 'en.json'), JSON.stringify({ 'mail.verify_email.subject': 'Welcome to {brand}', brand: 'Example ID' }));
    const { mailer, logs } = mailerFor({ MAIL_LOG: 'true', THEME_DIR: theme });
    mailer.send(verify('themed@example.test'));
    await mailer.idle();
    const [line] = logged(logs, 'mail written to the log (MAIL_LOG=true), not sent');
    assert.ok(String(line?.text).startsWith(`Themed: ${LINK}`));
    assert.equal(line?.subject, 'Welcome to Example ID');

    await writeFile(path.join(theme, 'mail', 'verify-email.html.eta'), 'misspelt');
    assert.throws(() => mailerFor({ MAIL_LOG: 'true', THEME_DIR: theme }), (err: unknown) => err instanceof ConfigError && /verify-email\.html\.eta: not a mail template/.test(err.message));
    await rm(path.join(theme, 'mail', 'verify-email.html.eta'));
    await writeFile(path.join(theme, 'mail', 'reset_password.html.eta'), '<%= it.nothing.here %>');
    assert.throws(() => mailerFor({ MAIL_LOG: 'true', THEME_DIR: theme }), (err: unknown) => err instanceof ConfigError && /reset_password\.html\.eta/.test(err.message) && !err.message.includes('\n'));
  } finally {
    await rm(theme, { recursive: true, force: true });
  }
});

test('the queue is bounded: beyond maxQueued the oldest waiting message is dropped and logged', async () => {
  const logs: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, done) { logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)); done(); } });
  const delivered: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const outbox = createOutbox<{ kind: string; label: Record<string, unknown>; id: string }>({
    deliver: async (item) => { await gate; delivered.push(item.id); },
    failure: () => ({ permanent: false, details: {} }),
    logger: createLogger({ logLevel: 'info' }, sink),
    options: { maxQueued: 2, concurrency: 1, retryDelaysMs: [] },
  });
  for (const id of ['a', 'b', 'c', 'd']) outbox.push({ kind: 'verify_email', label: { kind: 'verify_email' }, id });
  release();
  await outbox.idle();
  await outbox.close();
  // `a` went into flight at once; of b, c, d waiting, two fit: b was dropped.
  assert.deepEqual(delivered, ['a', 'c', 'd']);
  assert.equal(logged(logs, 'mail queue full: oldest message dropped').length, 1);
});

test('in a running Tollgate: tollgate.mailer sends through SMTP_URL, link tokens come from tollgate.accountLinks', async () => {
  const smtp = await startSmtp();
  const t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100] } });
  try {
    const account = await t.tollgate.accounts.create({ email: 'wired@example.test', password: 'correct horse battery' });
    const token = await t.tollgate.accountLinks.issue('verify_email', account.id, { ttlSeconds: 600 });
    t.tollgate.mailer.send({ kind: 'verify_email', to: account.email, locale: 'en', data: { link: `${t.issuer}/verify?token=${token}` }, accountId: account.id });
    const m = await smtp.waitFor((x) => JSON.stringify(x.to).includes('wired@example.test'));
    assert.equal(m.from?.text, TEST_MAIL_FROM.replace('Tollgate Test', '"Tollgate Test"'));
    const link = new URL(smtp.linkIn(m, t.issuer));
    assert.equal((await t.tollgate.accountLinks.redeem('verify_email', link.searchParams.get('token')!))?.accountId, account.id);
    await t.tollgate.mailer.idle();
    const metrics = await t.tollgate.metrics.registry.getSingleMetricAsString('tollgate_mail_sent_total');
    assert.match(metrics, /tollgate_mail_sent_total\{kind="verify_email",result="sent"\} 1/);
  } finally {
    await t.close();
    await removeDirs(t.dirs);
    await smtp.close();
  }
});
