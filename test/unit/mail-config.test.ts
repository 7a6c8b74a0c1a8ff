// The mail options: SMTP_URL, MAIL_FROM, MAIL_LOG, REQUIRE_VERIFIED_EMAIL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';

const problemsOf = (env: Record<string, string>): readonly string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
};

test('without SMTP_URL or MAIL_LOG mail is off; REQUIRE_VERIFIED_EMAIL defaults to false', () => {
  const config = loadConfig({});
  assert.equal(config.mail, undefined);
  assert.equal(config.requireVerifiedEmail, false);
  assert.equal(loadConfig({ REQUIRE_VERIFIED_EMAIL: 'true' }).requireVerifiedEmail, true);
});

test('SMTP_URL with MAIL_FROM: smtp mail, the URL kept whole for the transport', () => {
  const url = 'smtp://user:p%40ss@mail.example.com:587';
  assert.deepEqual({ ...loadConfig({ SMTP_URL: url, MAIL_FROM: 'Example <no-reply@example.com>' }).mail }, { kind: 'smtp', url, from: 'Example <no-reply@example.com>' });
  assert.equal(loadConfig({ SMTP_URL: 'smtps://mail.example.com', MAIL_FROM: 'no-reply@example.com' }).mail?.kind, 'smtp');
});

test('every mail problem is reported at once, and none shows the URL or its password', () => {
  const problems = problemsOf({ SMTP_URL: 'http://user:hunter2secret@mail.example.com', MAIL_FROM: 'not an address', REQUIRE_VERIFIED_EMAIL: 'maybe', PORT: 'x' });
  assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['MAIL_FROM', 'PORT', 'REQUIRE_VERIFIED_EMAIL', 'SMTP_URL']);
  assert.ok(!problems.join('\n').includes('hunter2secret'));
  assert.match(problems.find((p) => p.startsWith('SMTP_URL'))!, /smtp:\/\/ or smtps:\/\//);
});

test('MAIL_FROM is required with SMTP_URL, and must be an address or Name <address>', () => {
  assert.deepEqual(problemsOf({ SMTP_URL: 'smtp://user:hunter2secret@mail.example.com' }), ['MAIL_FROM: required with SMTP_URL (the From address of every message)']);
  for (const bad of ['no-reply', 'Name <no-reply>', '<a@b.example> <c@d.example>', 'a@b.example c@d.example']) {
    assert.match(problemsOf({ MAIL_FROM: bad })[0]!, /^MAIL_FROM: must be an e-mail address/, bad);
  }
  assert.equal(loadConfig({ MAIL_LOG: 'true', MAIL_FROM: '"Example, Inc." <id@example.com>' }).mail?.from, '"Example, Inc." <id@example.com>');
});

test('SMTP_URL must be smtp:// or smtps:// with a host', () => {
  for (const bad of ['mail.example.com', 'smtp://', 'https://mail.example.com']) {
    assert.match(problemsOf({ SMTP_URL: bad, MAIL_FROM: 'a@example.com' })[0]!, /^SMTP_URL: must/, bad);
  }
});

test('MAIL_LOG: the log in development (From defaults to the issuer host), refused in production and beside SMTP_URL', () => {
  assert.deepEqual({ ...loadConfig({ MAIL_LOG: 'true', ISSUER: 'http://localhost:4000' }).mail }, { kind: 'log', from: 'Tollgate <no-reply@localhost>' });
  const production = problemsOf({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_SECRETS: 'x'.repeat(32), MAIL_LOG: 'true' });
  assert.deepEqual(production, ['MAIL_LOG: refused when NODE_ENV=production (the log would hold usable links)']);
  assert.deepEqual(problemsOf({ MAIL_LOG: 'true', SMTP_URL: 'smtp://mail.example.com', MAIL_FROM: 'a@example.com' }), ['MAIL_LOG: set either SMTP_URL (send) or MAIL_LOG (write to the log), not both']);
  assert.equal(loadConfig({ MAIL_LOG: 'false' }).mail, undefined);
});
