// The account page's profile self-service in Chromium (issue 14, point 4):
// a person changes their name, their password and their e-mail address,
// and deletes their account; what they see, what the mail server receives,
// and what applications observe afterwards (userinfo, refresh tokens).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, signIn, authorizationRequest, logInWith, relyingParty } from '../support/sign-in.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { UserAgent } from '../support/user-agent.ts';
import { toAccountView } from '../../server/services/accounts.ts';
import { tablesHolding } from '../support/personal-data.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a different horse, stapled';
const SECRET = 'profile-page-client-secret-0123456789abcd';
const SCOPE = 'openid profile email offline_access';

describe('profile self-service on the account page, in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let smtp: TestSmtp;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    smtp = await startSmtp();
    t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100] } });
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: SECRET, redirectUris: [REDIRECT], scope: SCOPE });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  const appSignIn = (email: string, password = PASSWORD) => signIn(t, { clientId: 'photo-prints', secret: SECRET, email, password, scope: SCOPE });
  /** A sign-in through the app that fails at the login form: its status. */
  const refusedSignIn = async (email: string, password: string) => {
    const request = await authorizationRequest(await relyingParty(t, 'photo-prints', SECRET));
    return (await logInWith(new UserAgent(), request.url, { email, password })).status;
  };
  const main = async (page: Page) => (await page.textContent('main')) ?? '';
  /** A page of the shared browser, signed in afresh at /account as `email` (the earlier test's cookies cleared). */
  const accountPage = async (email: string, password = PASSWORD, issuer = t.issuer) => {
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    await page.goto(`${issuer}/account`);
    await signInOnPage(page, email, password, `${issuer}/account`);
    return page;
  };
  /** Submits one of the profile forms and waits for the page it leads to. */
  const submit = async (page: Page, form: string, fields: Record<string, string>) => {
    for (const [name, value] of Object.entries(fields)) await page.fill(`form[data-form="${form}"] [name="${name}"]`, value);
    await Promise.all([page.waitForLoadState('load'), page.waitForURL(/\/account/), page.click(`form[data-form="${form}"] button[type="submit"]`)]);
  };
  const auditOf = async (accountId: string, type: string) => (await t.tollgate.audit.page({ accountId, type, limit: 10 })).events;

  test('a new name shows on the page and reaches applications (userinfo `name`); audited without the name', async () => {
    const ada = await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
    const page = await accountPage('ada@example.test');
    await submit(page, 'name', { name: 'Ada Lovelace' });
    assert.match(await main(page), /Your name is saved\./);
    assert.equal(await page.inputValue('#profile-name'), 'Ada Lovelace');
    await page.screenshot({ path: `${SHOTS}account-profile-en.png`, fullPage: true });

    const app = await appSignIn('ada@example.test');
    const info = await oidc.fetchUserInfo(app.config, app.tokens.access_token, app.tokens.claims()!.sub);
    assert.equal(info.name, 'Ada Lovelace');

    // A control character is refused, and the name stays.
    await submit(page, 'name', { name: 'Ada\u0007' });
    assert.match(await main(page), /at most 200 characters, and no control characters/);
    assert.equal((await t.tollgate.accounts.get(ada.id)).name, 'Ada Lovelace');

    const [event] = await auditOf(ada.id, 'profile.updated');
    assert.ok(event);
    assert.equal(event.ip, '127.0.0.1');
    assert.ok(!JSON.stringify(event.details).includes('Lovelace'));
  });

  test('password change: a wrong current password changes nothing; the right one ends the other sessions and keeps this one', async () => {
    const grace = await t.tollgate.accounts.create({ email: 'grace@example.test', password: PASSWORD });
    const phone = await appSignIn('grace@example.test');
    const page = await accountPage('grace@example.test');

    await submit(page, 'password', { current_password: 'not the password', new_password: NEW_PASSWORD });
    assert.match(await main(page), /That password is not right\./);
    // Nothing ended: the phone still refreshes.
    const refreshed = await oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!);

    await submit(page, 'password', { current_password: PASSWORD, new_password: 'short' });
    assert.match(await main(page), /at least 8 characters/);

    await submit(page, 'password', { current_password: PASSWORD, new_password: NEW_PASSWORD });
    assert.match(await main(page), /Your password is changed\./);
    // This browser stays signed in, and is the only session left.
    await page.goto(`${t.issuer}/account`);
    assert.match(await main(page), /Where you are signed in/);
    assert.equal(await page.locator('[data-session]').count(), 1);
    // The phone's session ended: its refresh token is dead.
    await assert.rejects(oidc.refreshTokenGrant(phone.config, refreshed.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    assert.equal(await refusedSignIn('grace@example.test', PASSWORD), 401);
    await appSignIn('grace@example.test', NEW_PASSWORD);

    const [event] = await auditOf(grace.id, 'password.changed');
    assert.equal((event?.details as { sessions: number }).sessions, 1);
    assert.ok(!JSON.stringify(event).includes(NEW_PASSWORD) && !JSON.stringify(event).includes(PASSWORD));
  });

  test('e-mail change: a link to the new address; the address changes (verified) only when confirmed; the old address is told', async () => {
    const hopper = await t.tollgate.accounts.create({ email: 'hopper@example.test', password: PASSWORD, name: 'Grace Hopper' });
    await t.tollgate.accounts.create({ email: 'taken@example.test', password: PASSWORD });
    const page = await accountPage('hopper@example.test');

    // A taken address: the same answer, and no mail to it.
    await submit(page, 'email', { email: 'taken@example.test', password: PASSWORD });
    assert.match(await main(page), /If the new address can be used, a link to confirm it is on its way/);
    await t.tollgate.mailer.idle();
    assert.equal(smtp.deliveries.filter((d) => d.rcptTo.includes('taken@example.test')).length, 0);

    await submit(page, 'email', { email: 'wrong-password@example.test', password: 'not the password' });
    assert.match(await main(page), /That password is not right\./);

    await submit(page, 'email', { email: 'Rear.Admiral@Example.test', password: PASSWORD });
    assert.match(await main(page), /If the new address can be used, a link to confirm it is on its way/);
    const message = await smtp.waitFor((m) => m.to !== undefined && JSON.stringify(m.to).includes('rear.admiral@example.test'));
    const link = smtp.linkIn(message, `${t.issuer}/account/confirm-email?token=`);
    assert.equal((await t.tollgate.accounts.get(hopper.id)).email, 'hopper@example.test', 'nothing changes before the confirmation');

    // The message says what was asked, with nothing of the requester's (no name).
    assert.match(message.subject ?? '', /Confirm the new e-mail address/);
    assert.match(message.text ?? '', /sign in to that account and open the link below/);
    assert.doesNotMatch(`${message.text}\n${String(message.html)}`, /Grace Hopper/);

    // GET changes nothing (mail scanners fetch links). Without the session of the
    // account that asked (a scanner, a stranger's browser), it says to sign in first.
    const scanned = await fetch(link);
    assert.equal(scanned.status, 403);
    assert.match(await scanned.text(), /Sign in to the account that asked for this change/);
    assert.equal(scanned.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(scanned.headers.get('cache-control'), 'no-store');
    assert.equal((await t.tollgate.accounts.get(hopper.id)).email, 'hopper@example.test');

    await page.goto(link);
    assert.match(await main(page), /Sign in with rear\.admiral@example\.test from now on\?/);
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    assert.match(await main(page), /Your e-mail address changed/);
    const changed = await t.tollgate.accounts.get(hopper.id);
    assert.equal(changed.email, 'rear.admiral@example.test');
    assert.equal(changed.email_verified, true);

    const told = await smtp.waitFor((m) => JSON.stringify(m.to).includes('hopper@example.test') && /changed/i.test(m.subject ?? ''));
    assert.match(told.text ?? '', /r\*+@example\.test/, 'the new address, masked');

    // The link works once.
    await page.goto(link);
    assert.match(await main(page), /This link does not work/);

    // Sign-in follows the address; applications see it, verified.
    assert.equal(await refusedSignIn('hopper@example.test', PASSWORD), 401);
    const app = await appSignIn('rear.admiral@example.test');
    const info = await oidc.fetchUserInfo(app.config, app.tokens.access_token, app.tokens.claims()!.sub);
    assert.equal(info.email, 'rear.admiral@example.test');
    assert.equal(info.email_verified, true);

    const [event] = await auditOf(hopper.id, 'email.changed');
    assert.ok(event);
    assert.ok(!JSON.stringify(event.details).includes('@'), 'no address in the trail');
  });

  test('an address taken between the request and the confirmation: 409, nothing changes', async () => {
    const racer = await t.tollgate.accounts.create({ email: 'racer@example.test', password: PASSWORD });
    const page = await accountPage('racer@example.test');
    await submit(page, 'email', { email: 'contested@example.test', password: PASSWORD });
    const link = smtp.linkIn(await smtp.waitFor((m) => JSON.stringify(m.to).includes('contested@example.test')), `${t.issuer}/account/confirm-email`);
    await t.tollgate.accounts.create({ email: 'contested@example.test', password: PASSWORD });
    await page.goto(link);
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type="submit"]')]);
    assert.equal(answer.status(), 409);
    assert.match(await main(page), /Another account uses this address now, so yours did not change/);
    assert.equal((await t.tollgate.accounts.get(racer.id)).email, 'racer@example.test');
  });

  test('the profile section and the deletion page in Korean', async () => {
    await t.tollgate.accounts.create({ email: 'sejong@example.test', password: PASSWORD, name: '세종' });
    const korean = await launchBrowser({ locale: 'ko-KR' });
    try {
      const page = await korean.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'sejong@example.test', PASSWORD, `${t.issuer}/account`);
      assert.match(await main(page), /프로필/);
      assert.match(await main(page), /이메일 주소/);
      await page.screenshot({ path: `${SHOTS}account-profile-ko.png`, fullPage: true });
      await page.goto(`${t.issuer}/account/delete`);
      assert.match(await main(page), /sejong@example\.test 계정과 개인 정보를 삭제하고/);
      await page.screenshot({ path: `${SHOTS}account-delete-ko.png`, fullPage: true });
    } finally {
      await korean.close();
    }
  });

  test('a tampered or unknown confirmation link shows a clear page, never an error', async () => {
    for (const token of ['', 'x', 'A'.repeat(43), `${'A'.repeat(42)}%00`]) {
      const res = await fetch(`${t.issuer}/account/confirm-email?token=${token}`);
      assert.equal(res.status, 400, token);
      assert.match(await res.text(), /This link does not work/);
    }
    // A post without a session is sent to sign in; nothing is confirmed.
    const posted = await fetch(`${t.issuer}/account/confirm-email`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=forged' });
    assert.equal(posted.status, 303);
  });

  test('a change link pressed in another account\'s browser attaches nothing, and still works for the account that asked', async () => {
    const lovelace = await t.tollgate.accounts.create({ email: 'lovelace@example.test', password: PASSWORD });
    await t.tollgate.accounts.create({ email: 'babbage@example.test', password: PASSWORD });
    const asking = await accountPage('lovelace@example.test');
    await submit(asking, 'email', { email: 'ada.king@example.test', password: PASSWORD });
    const link = smtp.linkIn(await smtp.waitFor((m) => JSON.stringify(m.to).includes('ada.king@example.test')), `${t.issuer}/account/confirm-email?token=`);

    const other = await launchBrowser();
    try {
      const page = await other.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'babbage@example.test', PASSWORD, `${t.issuer}/account`);
      await page.goto(link);
      assert.match(await main(page), /Sign in to the account that asked for this change/);
      assert.equal(await page.locator('button[type="submit"]').count(), 0);
    } finally {
      await other.close();
    }
    assert.equal((await t.tollgate.accounts.get(lovelace.id)).email, 'lovelace@example.test');

    await asking.goto(link);
    await Promise.all([asking.waitForLoadState('load'), asking.click('button[type="submit"]')]);
    assert.match(await main(asking), /Your e-mail address changed/);
    assert.equal((await t.tollgate.accounts.get(lovelace.id)).email, 'ada.king@example.test');
  });

  test('asking for a taken address supersedes the earlier link as asking for a free one does (the old link tells nothing)', async () => {
    await t.tollgate.accounts.create({ email: 'prober@example.test', password: PASSWORD });
    await t.tollgate.accounts.create({ email: 'someone.else@example.test', password: PASSWORD });
    const page = await accountPage('prober@example.test');
    await submit(page, 'email', { email: 'prober.new@example.test', password: PASSWORD });
    const first = smtp.linkIn(await smtp.waitFor((m) => JSON.stringify(m.to).includes('prober.new@example.test')), `${t.issuer}/account/confirm-email?token=`);
    await submit(page, 'email', { email: 'someone.else@example.test', password: PASSWORD });
    await page.goto(first);
    assert.match(await main(page), /This link does not work/);
  });

  test('e-mail change requests are throttled per account: three per 15 minutes', async () => {
    await t.tollgate.accounts.create({ email: 'eager@example.test', password: PASSWORD });
    const page = await accountPage('eager@example.test');
    for (const n of [1, 2, 3]) {
      await submit(page, 'email', { email: `eager.${n}@example.test`, password: PASSWORD });
      assert.match(await main(page), /a link to confirm it is on its way/);
    }
    await submit(page, 'email', { email: 'eager.two@example.test', password: PASSWORD });
    assert.match(await main(page), /You asked for several address changes in a short time/);
    await t.tollgate.mailer.idle();
    assert.equal(smtp.deliveries.filter((d) => d.rcptTo.includes('eager.two@example.test')).length, 0);
  });

  test('deletion: the password is asked again; then signed out, sign-in and refresh fail, no personal data left, the audit trail kept', async () => {
    const turing = await t.tollgate.accounts.create({ email: 'turing@example.test', password: PASSWORD, name: 'Alan Turing' });
    // As the admin API records a creation: the whole account view, address included.
    await t.tollgate.audit.record('admin.user.created', { accountId: turing.id, actor: 'ops', details: { after: toAccountView((await t.tollgate.repositories.accounts.findById(turing.id))!) } });
    const phone = await appSignIn('turing@example.test');
    const page = await accountPage('turing@example.test');

    await Promise.all([page.waitForURL(`${t.issuer}/account/delete`), page.click('a[href$="/account/delete"]')]);
    await page.fill('input[name="password"]', 'not the password');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    assert.match(await main(page), /That password is not right\./);
    assert.ok(await t.tollgate.repositories.accounts.findById(turing.id), 'still there');

    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    assert.match(await main(page), /Your account was deleted/);
    await page.screenshot({ path: `${SHOTS}account-deleted-en.png`, fullPage: true });
    // Signed out: the account page asks to sign in.
    await page.goto(`${t.issuer}/account`);
    await page.waitForSelector('input[name="password"]');

    // Before any later sign-in attempt: that counts against the typed address, as for any unknown one, for the throttle's window.
    assert.deepEqual(await tablesHolding(t, turing.id), ['audit_event'], 'only the audit trail names the account id');
    assert.deepEqual(await tablesHolding(t, 'turing@example.test'), [], 'nothing holds the address');
    assert.deepEqual(await tablesHolding(t, 'Alan Turing'), [], 'nor the name');

    assert.equal(await refusedSignIn('turing@example.test', PASSWORD), 401);
    await assert.rejects(oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    const goodbye = await smtp.waitFor((m) => JSON.stringify(m.to).includes('turing@example.test') && /deleted/i.test(m.subject ?? ''));
    assert.ok(goodbye);
    const [deleted] = await auditOf(turing.id, 'user.deleted');
    assert.ok(deleted);
    // The trail keeps the account id only: no address or browser of the person's, on any of their events.
    const theirs = (await t.tollgate.audit.page({ accountId: turing.id, limit: 100 })).events.filter((e) => !e.actor);
    assert.ok(theirs.length >= 2, `the person's own events: ${theirs.map((e) => e.type).join(', ')}`);
    for (const event of theirs) assert.deepEqual([event.type, event.ip, event.userAgent], [event.type, undefined, undefined]);
    assert.equal((deleted?.details as { by: string }).by, 'account page');
    assert.ok((await auditOf(turing.id, 'admin.user.created')).length === 1, 'earlier events stay');
  });

  test('without mail, the page says e-mail change is unavailable and refuses it', async () => {
    const quiet = await startTestTollgate();
    try {
      await quiet.tollgate.accounts.create({ email: 'quiet@example.test', password: PASSWORD });
      const page = await accountPage('quiet@example.test', PASSWORD, quiet.issuer);
      assert.match(await page.textContent('[data-unavailable="email"]') ?? '', /not available: this site does not send e-mail/);
      assert.equal(await page.locator('form[data-form="email"]').count(), 0);
      // A post made anyway (an old page) is refused with the same words.
      const csrf = await page.inputValue('form[data-form="name"] input[name="csrf"]');
      const res = await browser.context.request.post(`${quiet.issuer}/account/profile/email`, { form: { csrf, email: 'new@example.test', password: PASSWORD } });
      assert.match(await res.text(), /not available: this site does not send e-mail/);
    } finally {
      await quiet.close();
      await removeDirs(quiet.dirs);
    }
  });
});
