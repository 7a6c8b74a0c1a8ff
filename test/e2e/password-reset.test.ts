// Forgotten password in Chromium, end to end: an application's sign-in →
// "Forgot password?" → the message at a real SMTP server → its link →
// a new password → back to the application's sign-in, which works with the
// new password only; a refresh token from before the reset is dead; the link
// a second time shows a clear page. The same in Korean, message included.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as oidc from 'openid-client';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { authorizationRequest, relyingParty, signIn, REDIRECT } from '../support/sign-in.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';
const SECRET = 'password-reset-client-secret-0123456789';

describe('forgotten password in Chromium', { skip: requireChromium() }, () => {
  let smtp: TestSmtp;
  let t: TestTollgate;
  let shots: string;

  before(async () => {
    // Kept after the run, beside the other suites' screenshots.
    shots = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
    await mkdir(shots, { recursive: true });
    smtp = await startSmtp();
    t = await startTestTollgate({ smtp, mailer: { retryDelaysMs: [100] } });
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: SECRET, redirectUris: [REDIRECT], scope: 'openid email offline_access', firstParty: true });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await smtp?.close();
  });

  /** The whole journey in a browser of `locale`; returns the page texts met on the way. */
  const journey = async (email: string, locale: 'en' | 'ko') => {
    await t.tollgate.accounts.create({ email, password: PASSWORD });
    // Signed in elsewhere before the reset, with a refresh token.
    const phone = await signIn(t, { clientId: 'photo-prints', secret: SECRET, email, password: PASSWORD, scope: 'openid email offline_access' });
    const rp = await relyingParty(t, 'photo-prints', SECRET);
    const request = await authorizationRequest(rp, { scope: 'openid email' });
    const browser = await launchBrowser({ locale: locale === 'ko' ? 'ko-KR' : 'en-US' });
    try {
      const page = await browser.context.newPage();
      await page.goto(request.url.href);
      await page.waitForSelector('input[name="password"]');
      await page.screenshot({ path: path.join(shots, `password-reset-login-${locale}.png`) });
      await Promise.all([page.waitForURL(/\/account\/forgot-password/), page.click(`a:has-text("${locale === 'ko' ? '비밀번호를 잊으셨나요?' : 'Forgot password?'}")`)]);
      assert.match(new URL(page.url()).searchParams.get('ui_locales') ?? '', new RegExp(locale));
      await page.screenshot({ path: path.join(shots, `password-reset-forgot-${locale}.png`) });
      await page.fill('input[name="email"]', email);
      const count = smtp.messages.length;
      await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
      const sent = await page.textContent('main');
      await page.screenshot({ path: path.join(shots, `password-reset-sent-${locale}.png`) });

      const message = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= count && JSON.stringify(m.to).includes(email));
      const link = smtp.linkIn(message, `${t.issuer}/account/reset-password?token=`);
      await page.goto(link);
      await page.screenshot({ path: path.join(shots, `password-reset-form-${locale}.png`) });
      await page.fill('input[name="password"]', NEW_PASSWORD);
      await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
      const done = await page.textContent('main');
      await page.screenshot({ path: path.join(shots, `password-reset-done-${locale}.png`) });

      // Back to the application's pending sign-in: the old password fails, the new one works.
      await Promise.all([page.waitForSelector('input[name="password"]'), page.click('main a')]);
      await signInOnPage(page, email, PASSWORD);
      const refused = await page.textContent('main');
      // The redirect to the application (a host that does not resolve): its URL is what the client gets.
      await page.fill('input[name="login"]', email);
      await page.fill('input[name="password"]', NEW_PASSWORD);
      const [toApp] = await Promise.all([page.waitForRequest((r) => r.url().startsWith(REDIRECT)), page.click('button[type="submit"]')]);
      const callback = toApp.url();
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
      assert.equal(tokens.claims()?.email, email);
      const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
      assert.equal(userinfo.email, email);

      // What the other device held is dead.
      await assert.rejects(oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      // The link a second time: a clear page, not an error. In a tab of its own: the first one is
      // still turning the callback (a host that does not resolve) into Chromium's error page, a
      // navigation that would interrupt this one.
      const again = await browser.context.newPage();
      const second = await again.goto(link);
      assert.equal(second?.status(), 400);
      const spent = await again.textContent('main');
      await again.screenshot({ path: path.join(shots, `password-reset-spent-${locale}.png`) });
      return { message, sent, done, refused, spent };
    } finally {
      await browser.close();
    }
  };

  test('English: login page → forgot password → e-mail → new password → signed in with it; old password and old refresh token dead; link spent', async () => {
    const r = await journey('ada@example.test', 'en');
    assert.equal(r.message.subject, 'Reset your Tollgate password');
    assert.match(r.message.text ?? '', /works once, for 30 minutes/);
    assert.match(r.message.html || '', /Choose a new password/);
    assert.match(r.sent ?? '', /If an account exists for this address/);
    assert.match(r.done ?? '', /Your password has been changed/);
    assert.match(r.refused ?? '', /The e-mail or password is not right/);
    assert.match(r.spent ?? '', /This link no longer works/);
  });

  test('Korean: the pages and the message in Korean', async () => {
    const r = await journey('jiwoo@example.test', 'ko');
    assert.match(r.message.subject ?? '', /비밀번호/);
    assert.equal(r.message.headers.get('content-language'), 'ko');
    assert.match(r.message.text ?? '', /30분 동안 한 번만 쓸 수 있습니다/);
    assert.match(r.sent ?? '', /이메일을 확인하세요/);
    assert.match(r.done ?? '', /비밀번호가 바뀌었습니다/);
    assert.match(r.spent ?? '', /이 링크는 더 이상 쓸 수 없습니다/);
  });
});
