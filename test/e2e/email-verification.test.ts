// E-mail verification as a person meets it, in Chromium, with a real SMTP
// server: sign up through a third-party app (openid-client), read the message
// that arrived, follow its link, confirm, and see `email_verified` turn true
// in the app's ID token and userinfo. A used or tampered link shows a clear
// page; the account page sends the link again, throttled; an operator sends
// one or marks the address verified (admin API); and with
// REQUIRE_VERIFIED_EMAIL a sign-in gives the app nothing until the address is
// verified.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { startSmtp, type ParsedMail, type TestSmtp } from '../support/smtp.ts';
import { freePort } from '../support/ports.ts';
import { startRelyingPartyApp, type RelyingPartyApp } from '../support/relying-party-app.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';
import { adminCalls } from '../support/admin.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'correct horse battery';
const SECRET = 'photo-prints-client-secret-0123456789abcdef';
const SCOPE = 'openid profile email';

const to = (address: string) => (m: ParsedMail) => m.to !== undefined && JSON.stringify(m.to).includes(address);
const messagesTo = (smtp: TestSmtp, address: string) => smtp.messages.filter(to(address));
const text = async (page: Page) => (await page.textContent('main')) ?? '';

/** A Tollgate with the test SMTP server, and a first-party app that signs people in with openid-client. */
async function setUp(env: Record<string, string>) {
  const smtp = await startSmtp();
  const t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100] }, env: { SIGNUP_ENABLED: 'true', ...env } });
  const port = await freePort();
  await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: SECRET, redirectUris: [`http://127.0.0.1:${port}/callback`], scope: SCOPE, firstParty: true });
  const app = await startRelyingPartyApp({ issuer: t.issuer, clientId: 'photo-prints', clientSecret: SECRET, port, scope: SCOPE });
  return {
    smtp, t, app,
    async close() {
      await app.close();
      await t.close();
      await removeDirs(t.dirs);
      await smtp.close();
    },
  };
}

/** The app's sign-up: the login page's "Create one", then the form. */
async function signUp(page: Page, appOrigin: string, email: string, name: string): Promise<void> {
  await page.goto(`${appOrigin}/login`);
  await page.waitForSelector('input[name="password"]');
  await Promise.all([page.waitForLoadState('load'), page.click('a[href$="/signup"]')]);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="login"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
}

describe('e-mail verification in Chromium', { skip: requireChromium() }, () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    env = await setUp({});
  });
  after(() => env?.close());

  test('sign up → message → link → confirm → email_verified in the ID token and userinfo; the link then shows a clear page', async () => {
    const { smtp, t, app } = env;
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await signUp(page, app.origin, 'grace@example.test', 'Grace');
      // Sign-up completes as before: the app has its tokens, with the address not yet verified.
      await page.waitForURL(`${app.origin}/callback**`);
      const first = app.sessions.at(-1)!;
      assert.equal(first.userinfo.email, 'grace@example.test');
      assert.equal(first.userinfo.email_verified, false);
      assert.equal(first.tokens.claims()!.email_verified, false);

      const message = await smtp.waitFor(to('grace@example.test'));
      assert.equal(message.subject, 'Confirm your e-mail address for Tollgate');
      // No greeting by name: the name was typed by whoever signed up, and the address is not confirmed yet.
      assert.match(message.text ?? '', /^Confirm your e-mail address$/m);
      assert.doesNotMatch(message.text ?? '', /Grace/);
      assert.equal(message.headers.get('content-language'), 'en');
      const link = smtp.linkIn(message, t.issuer);
      assert.ok(link.startsWith(`${t.issuer}/account/verify-email?token=`), link);

      // Opening the link uses nothing (a mail scanner may fetch it first): a page with a button.
      const opened = await page.goto(link);
      assert.equal(opened!.status(), 200);
      assert.equal(opened!.headers()['referrer-policy'], 'no-referrer');
      assert.match(opened!.headers()['cache-control'] ?? '', /no-store/);
      assert.match(await text(page), /Confirm that grace@example\.test is your address/);
      await page.screenshot({ path: `${SHOTS}verify-email-en.png`, fullPage: true });
      const id = (await t.tollgate.accounts.list({ email: 'grace@example.test' }))[0]!.id;
      assert.equal((await t.tollgate.accounts.get(id)).email_verified, false, 'GET verifies nothing');

      await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Confirm my address")')]);
      assert.match(await text(page), /Address verified/);
      assert.match(await text(page), /grace@example\.test is verified/);
      assert.equal((await t.tollgate.accounts.get(id)).email_verified, true);
      const [audited] = (await t.tollgate.audit.page({ limit: 10, type: 'email.verified' })).events;
      assert.equal(audited?.accountId, id);

      // The app signs in again (the session is alive): now the claims say verified.
      await page.goto(`${app.origin}/login`);
      await page.waitForURL(`${app.origin}/callback**`);
      const second = app.sessions.at(-1)!;
      assert.notEqual(second, first);
      assert.equal(second.userinfo.email_verified, true);
      assert.equal(second.tokens.claims()!.email_verified, true);

      // Used: the same link again is a clear page, never an error.
      const again = await page.goto(link);
      assert.equal(again!.status(), 410);
      assert.match(await text(page), /This link no longer works/);
      // Tampered: one character changed.
      const token = new URL(link).searchParams.get('token')!;
      const tampered = `${t.issuer}/account/verify-email?token=${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
      assert.equal((await page.goto(tampered))!.status(), 410);
      assert.match(await text(page), /This link no longer works/);
      // No token, or junk.
      assert.equal((await page.goto(`${t.issuer}/account/verify-email`))!.status(), 400);
      assert.equal((await page.goto(`${t.issuer}/account/verify-email?token=%00%ff<script>`))!.status(), 410);
      assert.match(await text(page), /This link no longer works/);
    } finally {
      await browser.close();
    }
  });

  test('a Korean browser gets the message and the pages in Korean', async () => {
    const { smtp, t, app } = env;
    const browser = await launchBrowser({ locale: 'ko-KR' });
    try {
      const page = await browser.context.newPage();
      await signUp(page, app.origin, 'sejong@example.test', '세종');
      await page.waitForURL(`${app.origin}/callback**`);
      const message = await smtp.waitFor(to('sejong@example.test'));
      assert.equal(message.subject, 'Tollgate 이메일 주소를 확인해 주세요');
      assert.equal(message.headers.get('content-language'), 'ko');
      // The Korean template's own words, in both parts; no name (the address is not confirmed yet).
      assert.match(message.text ?? '', /이 주소가 본인의 것임을 확인해 주세요/);
      assert.match(String(message.html), /주소 확인하기/);
      assert.doesNotMatch(`${message.text}\n${String(message.html)}`, /세종/);
      assert.match(message.html || '', /lang="ko"/);
      await page.goto(smtp.linkIn(message, t.issuer));
      assert.equal(await page.getAttribute('html', 'lang'), 'ko');
      assert.match(await text(page), /sejong@example\.test이\(가\) 본인의 주소인지 확인해 주세요/);
      await page.screenshot({ path: `${SHOTS}verify-email-ko.png`, fullPage: true });
      await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("내 주소 확인")')]);
      assert.match(await text(page), /주소가 확인되었습니다/);
    } finally {
      await browser.close();
    }
  });

  test('the account page offers the link again, once a minute; the newest link is the one that works', async () => {
    const { smtp, t } = env;
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'ada@example.test', PASSWORD, `${t.issuer}/account`);
      assert.match(await page.textContent('[data-email-verification]') ?? '', /not verified yet/);
      await page.screenshot({ path: `${SHOTS}account-unverified-en.png`, fullPage: true });
      await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Send the verification link again")')]);
      assert.match(await text(page), /We sent a new verification link to ada@example\.test/);
      const message = await smtp.waitFor(to('ada@example.test'));

      // A second click within the minute sends nothing.
      await page.goto(`${t.issuer}/account`);
      const [throttled] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button:has-text("Send the verification link again")')]);
      assert.equal(throttled.status(), 429);
      assert.ok(Number(throttled.headers()['retry-after']) > 0);
      assert.match(await text(page), /A link was sent a moment ago/);
      await t.tollgate.mailer.idle();
      assert.equal(messagesTo(smtp, 'ada@example.test').length, 1);

      // An operator sends another (not throttled): the first link stops working, the new one verifies.
      const { machineToken, api } = adminCalls(t);
      const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
      const admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
      const id = (await t.tollgate.accounts.list({ email: 'ada@example.test' }))[0]!.id;
      const sent = await api('POST', `/users/${id}/verification-email`, { token: admin, json: { locale: 'ko' } });
      assert.equal(sent.status, 202, sent.text);
      assert.equal(sent.body.queued, true);
      assert.ok(Date.parse(sent.body.link_expires_at) > Date.now() + 23 * 3600_000);
      await t.tollgate.mailer.idle();
      const fromOperator = messagesTo(smtp, 'ada@example.test')[1]!;
      assert.equal(fromOperator.headers.get('content-language'), 'ko');
      assert.equal((await page.goto(smtp.linkIn(message, t.issuer)))!.status(), 410, 'the earlier link was replaced');
      await page.goto(smtp.linkIn(fromOperator, t.issuer));
      await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
      assert.equal((await t.tollgate.accounts.get(id)).email_verified, true);
      await page.goto(`${t.issuer}/account`);
      assert.equal(await page.locator('[data-email-verification]').count(), 0, 'nothing to say once verified');

      // Verified: the operator is told so; an unknown user is a 404.
      const twice = await api('POST', `/users/${id}/verification-email`, { token: admin });
      assert.equal(twice.status, 409);
      assert.equal(twice.body.error, 'conflict');
      assert.equal((await api('POST', '/users/00000000-0000-4000-8000-000000000000/verification-email', { token: admin })).status, 404);
      const sends = (await t.tollgate.audit.page({ limit: 10, type: 'email.verification_sent', accountId: id })).events;
      assert.deepEqual(sends.map((e) => e.details?.by), ['admin api', 'account page']);
    } finally {
      await browser.close();
    }
  });

  test('a confirm form posted without the page\'s CSRF token is refused and verifies nothing', async () => {
    const { smtp, t } = env;
    const created = await t.tollgate.accounts.create({ email: 'eve@example.test', password: PASSWORD });
    const sent = await t.tollgate.emailVerification.send({ id: created.id, email: created.email, name: null, emailVerified: false }, 'en');
    assert.equal(sent.sent, true);
    const token = new URL(smtp.linkIn(await smtp.waitFor(to('eve@example.test')), t.issuer)).searchParams.get('token')!;
    const res = await fetch(`${t.issuer}/account/verify-email`, { method: 'POST', body: new URLSearchParams({ token, csrf: 'forged' }) });
    assert.equal(res.status, 403);
    assert.equal((await t.tollgate.accounts.get(created.id)).email_verified, false);
  });
});

describe('REQUIRE_VERIFIED_EMAIL in Chromium', { skip: requireChromium() }, () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  before(async () => {
    env = await setUp({ REQUIRE_VERIFIED_EMAIL: 'true' });
  });
  after(() => env?.close());

  test('an unverified address signs in to nothing until its link is used; then sign-in completes', async () => {
    const { smtp, t, app } = env;
    // An operator's account starts unverified, like any other.
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${app.origin}/login`);
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        signInOnPage(page, 'ada@example.test', PASSWORD),
      ]);
      assert.equal(refused.status(), 403);
      assert.match(await text(page), /Verify your e-mail address first/);
      assert.match(await text(page), /We sent a link to ada@example\.test/);
      assert.equal(app.sessions.length, 0, 'the app got nothing');
      await page.screenshot({ path: `${SHOTS}verify-required-en.png`, fullPage: true });

      const message = await smtp.waitFor(to('ada@example.test'));
      await page.goto(smtp.linkIn(message, t.issuer));
      await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Confirm my address")')]);
      assert.match(await text(page), /Address verified/);

      await page.goto(`${app.origin}/login`);
      await signInOnPage(page, 'ada@example.test', PASSWORD, `${app.origin}/callback**`);
      assert.equal(app.sessions.length, 1);
      assert.equal(app.sessions[0]!.userinfo.email_verified, true);
      assert.equal(app.sessions[0]!.tokens.claims()!.email_verified, true);
    } finally {
      await browser.close();
    }
  });

  test('a sign-up gets one message and the same page, and the app nothing', async () => {
    const { smtp, t, app } = env;
    const before = app.sessions.length;
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await signUp(page, app.origin, 'new@example.test', 'New');
      assert.match(await text(page), /Verify your e-mail address first/);
      assert.equal(app.sessions.length, before);
      await smtp.waitFor(to('new@example.test'));
      await t.tollgate.mailer.idle();
      assert.equal(messagesTo(smtp, 'new@example.test').length, 1, 'the sign-up\'s message, not a second one');
    } finally {
      await browser.close();
    }
  });
});
