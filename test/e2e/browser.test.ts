// End to end, as a person does it: a third-party app built on openid-client,
// Tollgate's hosted pages, and real Chromium in between. Screenshots of the
// pages in English and Korean go to test-artifacts/screenshots/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { freePort } from '../support/ports.ts';
import { startRelyingPartyApp, type RelyingPartyApp } from '../support/relying-party-app.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'correct horse battery';
const SECRET = 'photo-prints-client-secret-0123456789abcdef';

describe('in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let app: RelyingPartyApp;
  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    t = await startTestTollgate();
    const port = await freePort();
    await t.tollgate.clients.register({
      id: 'photo-prints', name: 'Photo Prints', secret: SECRET,
      redirectUris: [`http://127.0.0.1:${port}/callback`], postLogoutRedirectUris: [`http://127.0.0.1:${port}/signed-out`],
      scope: 'openid profile email offline_access basic',
    });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada Lovelace' });
    await t.tollgate.accounts.create({ email: 'mallory@example.test', password: PASSWORD });
    app = await startRelyingPartyApp({ issuer: t.issuer, clientId: 'photo-prints', clientSecret: SECRET, port, scope: 'openid profile email offline_access basic' });
  });
  after(async () => {
    await app?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  test('sign in with PKCE, consent, tokens and userinfo; prompt=login asks again; sign out ends the session', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${app.origin}/login?prompt=consent`);
      await page.waitForSelector('input[name="password"]');
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      await page.screenshot({ path: `${SHOTS}login-en.png`, fullPage: true });

      await signInOnPage(page, 'ada@example.test', PASSWORD);
      await page.waitForSelector('text=Allow access');
      assert.match(await page.textContent('main') ?? '', /Photo Prints/);
      assert.match(await page.textContent('main') ?? '', /See your e-mail address/);
      await page.screenshot({ path: `${SHOTS}consent-en.png`, fullPage: true });
      await Promise.all([page.waitForURL(`${app.origin}/callback**`), page.click('button:has-text("Allow")')]);
      assert.equal(await page.textContent('#who'), 'ada@example.test');

      const session = app.sessions.at(-1)!;
      assert.ok(session.tokens.id_token && session.tokens.refresh_token, 'ID token and, with offline_access, a refresh token');
      const at = decodeJwt(session.tokens.access_token);
      assert.equal(at.aud, t.config.apiAudience);
      assert.equal(session.userinfo.name, 'Ada Lovelace');

      // prompt=login: the password again, though the session is alive.
      await page.goto(`${app.origin}/login?prompt=login`);
      await page.waitForSelector('input[name="password"]');
      await signInOnPage(page, 'ada@example.test', PASSWORD);
      await page.waitForURL(`${app.origin}/callback**`);
      assert.equal(app.sessions.length, 2);

      // Without prompt, the live session signs in silently (consent remembered).
      await page.goto(`${app.origin}/login`);
      await page.waitForURL(`${app.origin}/callback**`);
      assert.equal(app.sessions.length, 3);

      // RP-initiated logout.
      await page.goto(`${app.origin}/logout`);
      await page.waitForSelector('button[name="logout"]');
      await Promise.all([page.waitForURL(`${app.origin}/signed-out**`), page.click('button[name="logout"]')]);
      assert.deepEqual(app.signOuts, ['signed-out-state']);
      await page.goto(`${app.origin}/login?prompt=none`);
      await page.waitForURL(`${app.origin}/callback**`);
      assert.equal(await page.textContent('#error'), 'login_required', 'the session is over');
    } finally {
      await browser.close();
    }
  });

  test('the eleventh attempt after ten failures is refused with 429 and a clear message', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${app.origin}/login`);
      for (let i = 1; i <= 10; i += 1) {
        await page.waitForSelector('input[name="password"]');
        const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), signInOnPage(page, 'mallory@example.test', `wrong ${i}`)]);
        assert.equal(response.status(), 401, `attempt ${i}`);
      }
      const [locked] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), signInOnPage(page, 'mallory@example.test', PASSWORD)]);
      assert.equal(locked.status(), 429);
      assert.match(await page.textContent('[role="alert"]') ?? '', /Too many failed attempts/);
      await page.screenshot({ path: `${SHOTS}login-throttled-en.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });

  test('Korean pages, and error pages in both languages (screenshots)', async () => {
    const ko = await launchBrowser({ locale: 'ko-KR' });
    try {
      const page = await ko.context.newPage();
      await page.goto(`${app.origin}/login?prompt=consent`);
      await page.waitForSelector('input[name="password"]');
      assert.equal(await page.getAttribute('html', 'lang'), 'ko');
      assert.match(await page.textContent('h1') ?? '', /로그인/);
      await page.screenshot({ path: `${SHOTS}login-ko.png`, fullPage: true });
      await signInOnPage(page, 'ada@example.test', PASSWORD);
      await page.waitForSelector('text=접근 허용');
      assert.match(await page.textContent('main') ?? '', /이메일 주소 보기/, 'the scopes in Korean, also when consent was given before');
      await page.screenshot({ path: `${SHOTS}consent-ko.png`, fullPage: true });
      await page.goto(`${t.issuer}/auth?client_id=unknown-app&response_type=code&scope=openid&redirect_uri=https://x.example/cb`);
      assert.match(await page.textContent('h1') ?? '', /문제가 발생했습니다/);
      await page.screenshot({ path: `${SHOTS}error-ko.png`, fullPage: true });
    } finally {
      await ko.close();
    }
    const en = await launchBrowser();
    try {
      const page = await en.context.newPage();
      await page.goto(`${t.issuer}/auth?client_id=unknown-app&response_type=code&scope=openid&redirect_uri=https://x.example/cb`);
      assert.match(await page.textContent('main') ?? '', /not registered here/);
      await page.screenshot({ path: `${SHOTS}error-en.png`, fullPage: true });
    } finally {
      await en.close();
    }
  });
});
