// The account page in Chromium: a person sees where they are signed in and
// which applications they allowed, ends another device's session, removes an
// application's access, and signs out everywhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { signIn } from '../support/sign-in.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'correct horse battery';
const SECRET = 'account-page-client-secret-0123456789ab';

describe('the account page in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: SECRET, redirectUris: ['https://app.example.test/callback'], scope: 'openid offline_access basic' });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('sessions and applications, end one session, remove access, sign out everywhere', async () => {
    // Another device: a sign-in through the photo app, with a refresh token.
    const phone = await signIn(t, { clientId: 'photo-prints', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'ada@example.test', PASSWORD, `${t.issuer}/account`);
      await page.waitForSelector('text=Where you are signed in');
      assert.doesNotMatch(await page.textContent('main') ?? '', /undefined|NaN/);
      assert.equal(await page.locator('[data-session]').count(), 2);
      assert.match(await page.textContent('main') ?? '', /This device/);
      assert.match(await page.textContent('main') ?? '', /Photo Prints/);
      assert.match(await page.textContent('[data-session]:not([data-current])') ?? '', /Applications: Photo Prints/);
      await page.screenshot({ path: `${SHOTS}account-en.png`, fullPage: true });
      // Sessions are named by their uid on the page, never by the session cookie's value.
      const cookie = (await browser.context.cookies()).find((c) => c.name === '_session');
      assert.ok(cookie && !(await page.content()).includes(cookie.value));

      // End the phone's session: its refresh token (bound to it) dies with it.
      const other = page.locator('[data-session]:not([data-current])');
      await Promise.all([page.waitForURL(`${t.issuer}/account`), other.locator('button').click()]);
      assert.equal(await page.locator('[data-session]').count(), 1);
      await assert.rejects(oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      assert.equal((await oidc.tokenIntrospection(phone.config, phone.tokens.access_token)).active, false, 'its access token too');

      // Remove the photo app's access: its grant and tokens go, and it must ask again.
      const again = await signIn(t, { clientId: 'photo-prints', secret: SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
      await page.reload();
      await Promise.all([page.waitForURL(`${t.issuer}/account`), page.locator('[data-grant]', { hasText: 'Photo Prints' }).locator('button').click()]);
      assert.equal(await page.locator('[data-grant]', { hasText: 'Photo Prints' }).count(), 0);
      await assert.rejects(oidc.refreshTokenGrant(again.config, again.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');

      // Sign out everywhere: this browser's session ends too, so the page asks to sign in.
      await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Sign out everywhere")')]);
      await page.waitForSelector('input[name="password"]');
    } finally {
      await browser.close();
    }
  });

  test('posts without the page\'s CSRF token are refused', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'ada@example.test', PASSWORD, `${t.issuer}/account`);
      // The browser's own cookies, a forged token (a page's fetch would be stopped by the CSP first).
      const res = await browser.context.request.post(`${t.issuer}/account/logout-everywhere`, { form: { csrf: 'forged' }, maxRedirects: 0 });
      assert.equal(res.status(), 403);
      await page.reload();
      assert.match(await page.textContent('main') ?? '', /Where you are signed in/, 'still signed in');
    } finally {
      await browser.close();
    }
  });
});
