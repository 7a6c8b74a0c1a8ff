// "Keep me signed in" in Chromium (issue 18): the login page's script keeps
// the passkey and social forms' hidden copies equal to the checkbox, and the
// browser itself holds the session cookie as a session cookie (no expiry)
// when the box is left unchecked, a dated one when it is checked. The
// protocol side (every way of signing in, the ID token's remember_me) is
// test/flows/remember-me.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { launchBrowser, requireChromium } from '../support/browser.ts';

const PASSWORD = 'correct horse battery';

describe('"Keep me signed in" in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    // A provider button on the login page (never followed here).
    await t.tollgate.providers.add({ id: 'corp', type: 'oidc', issuer: 'http://127.0.0.1:9', clientId: 'tollgate', clientSecret: 'not-used-in-this-test', name: 'Corp', autoCreate: true, enabled: true });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  for (const remember of [false, true]) {
    test(`${remember ? 'checked' : 'unchecked'}: the hidden copies follow the box; the browser keeps ${remember ? 'a dated' : 'a session'} cookie; the account page says so`, async () => {
      const browser = await launchBrowser();
      try {
        const page = await browser.context.newPage();
        await page.goto(`${t.issuer}/account`);
        await page.waitForSelector('#remember');
        const copies = () => page.$$eval('input[type="hidden"][data-remember]', (inputs) => inputs.map((i) => (i as unknown as { value: string }).value));
        assert.deepEqual(await copies(), ['', ''], 'the passkey form and the provider button, unchecked');
        await page.check('#remember');
        assert.deepEqual(await copies(), ['on', 'on']);
        if (!remember) {
          await page.uncheck('#remember');
          assert.deepEqual(await copies(), ['', '']);
        }
        await page.fill('input[name="login"]', 'ada@example.test');
        await page.fill('input[name="password"]', PASSWORD);
        await Promise.all([page.waitForURL(`${t.issuer}/account`), page.click('form[action$="/login"] button[type="submit"]')]);
        const cookie = (await browser.context.cookies()).find((c) => c.name === '_session');
        assert.ok(cookie, 'signed in');
        // Playwright reports a session cookie (no Expires, no Max-Age) as expires -1.
        if (remember) assert.ok(cookie.expires > Date.now() / 1000 + 86_400, `a dated cookie: ${cookie.expires}`);
        else assert.equal(cookie.expires, -1);
        assert.equal(await page.getAttribute('[data-session][data-current] [data-remembered]', 'data-remembered'), String(remember));
        assert.match(await page.textContent('[data-session][data-current]') ?? '', remember ? /Remembered/ : /Ends when the browser closes/);
      } finally {
        await browser.close();
      }
    });
  }
});
