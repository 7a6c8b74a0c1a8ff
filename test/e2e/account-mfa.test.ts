// The account page's second factors in Chromium (issue 16, points 1–3 and 6):
// a person sets up an authenticator app from the QR page (codes computed by
// an independent TOTP implementation, otpauth, from the secret read off the
// page), sees their recovery codes once and how many remain, makes new ones,
// removes the app; adds two passkeys with Chromium's virtual authenticator
// (CDP WebAuthn: ctap2, internal, resident keys, user verification), renames
// one and removes one; and reads the section in Korean. No CSP violation on
// any of these pages (the QR code is a data: image, the script a static file).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as OTPAuth from 'otpauth';
import type { CDPSession, Page } from 'playwright-core';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'correct horse battery';

/** The code an authenticator app shows for `secret` (as the page groups it) at `timestamp`. */
const codeFor = (grouped: string, timestamp = Date.now()) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(grouped.replace(/ /g, '')), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp });

describe('second factors on the account page, in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  const cspViolations: string[] = [];

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    // The issuer is http://localhost:<port>: a secure context for WebAuthn, and the RP ID is its host.
    t = await startTestTollgate();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  const main = async (page: Page) => (await page.textContent('main')) ?? '';
  /** A page of the shared browser, signed in afresh at /account as `email`. */
  const accountPage = async (email: string) => {
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    await page.goto(`${t.issuer}/account`);
    await signInOnPage(page, email, PASSWORD, `${t.issuer}/account`);
    return page;
  };
  /** Clicks a link and waits for the page it leads to. */
  const follow = async (page: Page, selector: string) => {
    await Promise.all([page.waitForEvent('load'), page.click(selector)]);
  };
  /** Runs `act` (a form's submission) and returns the status of the document it ends on (after any redirect). */
  const navigation = async (page: Page, act: () => Promise<unknown>) => {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().frame() === page.mainFrame() && (r.status() < 300 || r.status() >= 400), { timeout: 15_000 }),
      act(),
    ]);
    await page.waitForLoadState('load');
    return response.status();
  };
  const section = (page: Page) => page.locator('#two-step');

  test('authenticator app: set up from the QR page (a wrong code refused), recovery codes once, new codes, set up again, remove', async () => {
    const ada = await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
    const page = await accountPage('ada@example.test');
    assert.match(await section(page).textContent() ?? '', /Two-step verification[\s\S]*Authenticator app[\s\S]*Not set up\.[\s\S]*No recovery codes yet\.[\s\S]*No passkeys yet\./);
    assert.equal(await section(page).locator('[data-form="recovery-codes"]').count(), 0, 'no codes to make without a factor');

    await follow(page, '#two-step a:has-text("Set up")');
    assert.match(page.url(), /\/account\/mfa\/totp$/);
    // The QR code is an image the CSP lets through (img-src data:), and it drew.
    assert.ok(await page.locator('img.qr').evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0), 'the QR code shows');
    assert.equal(await page.locator('img.qr').getAttribute('alt'), 'QR code for your authenticator app');
    assert.equal(await page.getAttribute('#totp-code', 'autocomplete'), 'one-time-code');
    assert.equal(await page.locator('label[for="totp-code"]').textContent(), '6-digit code from the app');
    const secret = (await page.textContent('[data-totp-secret]'))!.trim();
    assert.match(secret, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
    await page.screenshot({ path: `${SHOTS}account-mfa-totp-en.png`, fullPage: true });

    // A wrong code: the same page, the same secret, a message, a 400.
    const wrong = String((Number(codeFor(secret)) + 1) % 1_000_000).padStart(6, '0');
    await page.fill('#totp-code', wrong);
    assert.equal(await navigation(page, () => page.click('button[type="submit"]')), 400);
    assert.match(await main(page), /That code is not right\./);
    assert.equal((await page.textContent('[data-totp-secret]'))!.trim(), secret);
    assert.equal((await t.tollgate.mfa.factorsOf(ada.id)).totp, null);

    // The right code: the first factor, so the recovery codes, once.
    await page.fill('#totp-code', codeFor(secret));
    assert.equal(await navigation(page, () => page.click('button[type="submit"]')), 200);
    const codes = (await page.locator('[data-recovery-codes] li').allTextContents()).map((c) => c.trim());
    assert.equal(codes.length, 10);
    assert.ok(codes.every((c) => /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/.test(c)), codes.join());
    assert.match(await main(page), /will not be shown again/);
    await page.screenshot({ path: `${SHOTS}account-mfa-codes-en.png`, fullPage: true });
    await follow(page, 'a[data-continue]');
    assert.match(await main(page), /The authenticator app is set up\./);
    assert.match(await section(page).textContent() ?? '', /Set up \d/);
    assert.equal(await section(page).locator('[data-remaining]').getAttribute('data-remaining'), '10');
    assert.match(await section(page).textContent() ?? '', /10 of 10 codes left/);
    // Shown once: the account page never carries them.
    await page.reload();
    const html = await page.content();
    assert.ok(codes.every((c) => !html.includes(c)), 'no recovery code on the account page');
    assert.ok(!html.includes(secret) && !html.includes(secret.replace(/ /g, '')), 'nor the secret');

    // One used at sign-in (the sign-in step is the integrator's): the page counts it.
    assert.deepEqual(await t.tollgate.mfa.useRecoveryCode(ada.id, codes[0]), { ok: true, remaining: 9 });
    await page.reload();
    assert.match(await section(page).textContent() ?? '', /9 of 10 codes left/);

    // New codes: ten others; the old ones are void.
    assert.equal(await navigation(page, () => page.click('[data-form="recovery-codes"] button')), 200);
    const fresh = (await page.locator('[data-recovery-codes] li').allTextContents()).map((c) => c.trim());
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !codes.includes(c)));
    assert.deepEqual(await t.tollgate.mfa.useRecoveryCode(ada.id, codes[1]), { ok: false });
    await follow(page, 'a[data-continue]');
    assert.match(await section(page).textContent() ?? '', /10 of 10 codes left/);
    assert.match(await main(page), /old ones no longer work/);

    // Set up again (a new phone): codes stay; the old secret stops working once the new one is confirmed.
    await follow(page, '#two-step a:has-text("Set up again")');
    const second = (await page.textContent('[data-totp-secret]'))!.trim();
    assert.notEqual(second, secret);
    await page.fill('#totp-code', codeFor(second));
    assert.equal(await navigation(page, () => page.click('button[type="submit"]')), 200);
    assert.match(page.url(), /\/account\?mfa=totp_enabled#two-step$/, 'straight back: the codes are unchanged');
    assert.match(await section(page).textContent() ?? '', /10 of 10 codes left/);
    assert.equal(await t.tollgate.mfa.verifyTotp(ada.id, codeFor(secret, Date.now() + 60_000)), 'invalid', 'the first app\'s codes no longer work');
    assert.equal(await t.tollgate.mfa.verifyTotp(ada.id, codeFor(second, Date.now() + 30_000)), 'ok');

    // Remove it.
    assert.equal(await navigation(page, () => page.click('[data-form="remove-totp"] button')), 200);
    assert.match(await main(page), /The authenticator app is removed\./);
    assert.match(await section(page).textContent() ?? '', /Not set up\./);
    assert.equal((await t.tollgate.mfa.factorsOf(ada.id)).totp, null);

    const types = (await t.tollgate.audit.page({ accountId: ada.id, limit: 50 })).events.map((e) => e.type);
    for (const type of ['mfa.totp_enabled', 'mfa.recovery_codes_generated', 'mfa.totp_removed']) assert.ok(types.includes(type), type);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });

  /** A virtual authenticator for `page` (a new one replaces the last: another device). */
  async function authenticator(cdp: CDPSession): Promise<string> {
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    return authenticatorId;
  }

  test('passkeys: add two, rename one, remove one; recovery codes can then be made', async () => {
    const grace = await t.tollgate.accounts.create({ email: 'grace@example.test', password: PASSWORD, name: 'Grace' });
    const page = await accountPage('grace@example.test');
    const cdp = await browser.context.newCDPSession(page);
    let device = await authenticator(cdp);

    const addPasskey = async (name: string) => {
      await follow(page, '#two-step a:has-text("Add a passkey")');
      assert.match(page.url(), /\/account\/mfa\/passkeys\/new$/);
      assert.equal(await page.locator('label[for="passkey-name"]').textContent(), 'Name (optional)');
      await page.fill('#passkey-name', name);
      // WebAuthn answers only the focused tab.
      await page.bringToFront();
      await Promise.all([page.waitForURL(/\/account\?mfa=passkey_added#two-step$/, { timeout: 15_000 }), page.click('button[type="submit"]')]);
    };

    await addPasskey('Laptop');
    assert.match(await main(page), /The passkey is added\./);
    await page.screenshot({ path: `${SHOTS}account-mfa-passkeys-en.png`, fullPage: true });
    // Another device: the first authenticator would refuse (excludeCredentials lists its passkey).
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: device });
    device = await authenticator(cdp);
    await addPasskey('Phone');

    const rows = page.locator('#two-step [data-passkey]');
    assert.deepEqual((await rows.locator('[data-passkey-name]').allTextContents()), ['Laptop', 'Phone']);
    const stored = await t.tollgate.passkeys.list(grace.id);
    assert.deepEqual(stored.map((p) => p.name), ['Laptop', 'Phone']);
    const first = await rows.first().textContent() ?? '';
    assert.match(first, stored[0]!.deviceType === 'multiDevice' ? /synced/ : /on one device/);
    assert.match(first, /Added \d/);

    // Rename the phone's.
    const phone = page.locator(`#two-step [data-passkey="${stored[1]!.id}"]`);
    assert.equal(await phone.locator('label').textContent(), 'Name of "Phone"');
    await phone.locator('input[name="name"]').fill('Old phone');
    assert.equal(await navigation(page, () => phone.locator('[data-form="rename-passkey"] button').click()), 200);
    assert.match(await main(page), /The passkey is renamed\./);
    assert.deepEqual((await rows.locator('[data-passkey-name]').allTextContents()), ['Laptop', 'Old phone']);

    // Remove the laptop's.
    const laptop = page.locator(`#two-step [data-passkey="${stored[0]!.id}"]`);
    assert.equal(await laptop.locator('[data-form="remove-passkey"] button').getAttribute('aria-label'), 'Remove "Laptop"');
    assert.equal(await navigation(page, () => laptop.locator('[data-form="remove-passkey"] button').click()), 200);
    assert.match(await main(page), /The passkey is removed\./);
    assert.deepEqual((await rows.locator('[data-passkey-name]').allTextContents()), ['Old phone']);
    assert.deepEqual((await t.tollgate.passkeys.list(grace.id)).map((p) => p.name), ['Old phone']);

    // A passkey is a factor: recovery codes may now be made.
    assert.equal(await page.locator('[data-form="recovery-codes"]').count(), 1);
    const types = (await t.tollgate.audit.page({ accountId: grace.id, limit: 50 })).events.map((e) => e.type);
    for (const type of ['passkey.registered', 'passkey.renamed', 'passkey.removed']) assert.ok(types.includes(type), type);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });

  test('the section and the enrolment pages in Korean', async () => {
    await t.tollgate.accounts.create({ email: 'sejong@example.test', password: PASSWORD });
    const ko = await launchBrowser({ locale: 'ko-KR' });
    try {
      const page = await ko.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'sejong@example.test', PASSWORD, `${t.issuer}/account`);
      const text = await page.locator('#two-step').textContent() ?? '';
      for (const label of ['2단계 인증', '인증 앱', '설정되지 않았습니다.', '복구 코드', '패스키', '패스키 추가']) assert.ok(text.includes(label), label);
      await page.screenshot({ path: `${SHOTS}account-mfa-ko.png`, fullPage: true });
      await page.click('#two-step a:has-text("설정")');
      await page.waitForURL(/\/account\/mfa\/totp$/);
      assert.equal(await page.locator('h1').textContent(), '인증 앱 설정');
      assert.equal(await page.locator('label[for="totp-code"]').textContent(), '앱의 6자리 코드');
      await page.goto(`${t.issuer}/account/mfa/passkeys/new`);
      assert.equal(await page.locator('h1').textContent(), '패스키 추가');
      assert.equal(await page.locator('label[for="passkey-name"]').textContent(), '이름(선택)');
    } finally {
      await ko.close();
    }
  });
});
