// The second step of the sign-in in Chromium (issue 16): a person sets up
// their factors on the account page and signs in to a client with them, as
// a person would, in a real browser. Codes are computed with `otpauth` (an
// implementation that is not ours) from the secret read off the page;
// passkeys live in Chromium's virtual authenticator (CDP WebAuthn: ctap2,
// internal transport, resident keys, user verification). What the client
// gets is read from the ID token it redeems its code for. The same steps
// over HTTP, with their refusals in detail: test/flows/second-factor.test.ts
// and test/flows/passkey-sign-in.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as OTPAuth from 'otpauth';
import * as oidc from 'openid-client';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';
import { authorizationRequest, relyingParty, type RP } from '../support/sign-in.ts';

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'correct horse battery';
const SECRET = 'photo-prints-secret-long-enough-0123456789';
const MFA = 'urn:tollgate:mfa';
const SFA = 'urn:tollgate:sfa';

/** The code an authenticator app shows for `secret` (grouped as the page shows it, or not) `steps` periods from now. */
const codeFor = (secret: string, steps = 0) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret.replace(/ /g, '')), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + steps * 30_000 });

/** A code no authenticator app holding `secret` shows within the accepted drift. */
function wrongCodeFor(secret: string): string {
  const near = new Set([-1, 0, 1, 2].map((s) => codeFor(secret, s)));
  let n = Number(codeFor(secret));
  let code: string;
  do code = String(++n % 1_000_000).padStart(6, '0'); while (near.has(code));
  return code;
}

/** A virtual authenticator for `page`'s tab: one "device" with user verification. */
async function authenticatorFor(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; id: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, id: authenticatorId };
}

/**
 * A Tollgate with the client "Photo Prints" (first party: no consent page),
 * whose callback is a small page of the test's own on loopback (the code
 * lands there as it would at the client), and a browser.
 */
async function setUp(env: Record<string, string> = {}) {
  const t = await startTestTollgate({ env });
  const callbackPage = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Photo Prints</title><h1>Signed in to Photo Prints</h1>'));
  await new Promise<void>((resolve) => callbackPage.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(callbackPage.address() as AddressInfo).port}/callback`;
  await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: SECRET, redirectUris: [redirectUri], scope: 'openid email', firstParty: true });
  const rp = await relyingParty(t, 'photo-prints', SECRET);
  const browser = await launchBrowser();
  const cspViolations: string[] = [];
  browser.context.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${m.page()?.url()}: ${m.text()}`); });
  return {
    t, rp, browser, cspViolations, redirectUri,
    async close() {
      await browser.close();
      callbackPage.closeAllConnections();
      await new Promise((resolve) => callbackPage.close(resolve));
      await t.close();
      await removeDirs(t.dirs);
    },
  };
}

describe('the second factor in the sign-in, in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let rp: RP;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let cspViolations: string[];
  let callbackUrl: string;
  let close: () => Promise<void>;

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    ({ t, rp, browser, cspViolations, redirectUri: callbackUrl, close } = await setUp());
  });
  after(() => close?.());

  const main = async (page: Page) => (await page.textContent('main')) ?? '';
  const heading = async (page: Page) => ((await page.locator('h1').textContent()) ?? '').trim();

  /** Opens the client's authorization request in `page`; returns what the code exchange needs. */
  async function startSignIn(page: Page, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { redirect_uri: callbackUrl, ...params });
    await page.goto(request.url.href);
    return request;
  }

  /** Runs `act`, which ends at the client's callback, and redeems the code there: the ID token's claims. */
  async function clientGets(page: Page, request: Awaited<ReturnType<typeof startSignIn>>, act: () => Promise<unknown>) {
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callbackUrl), { timeout: 15_000 }), act()]);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    return tokens.claims()!;
  }

  /** Runs `act` (a form's submission) and returns the status of the document it ends on, after any redirect. */
  async function navigation(page: Page, act: () => Promise<unknown>) {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().frame() === page.mainFrame() && (r.status() < 300 || r.status() >= 400), { timeout: 15_000 }),
      act(),
    ]);
    await page.waitForLoadState('load');
    return response.status();
  }

  /** Signs in at /account with the password alone (an account with no factor yet). */
  async function accountPage(page: Page, email: string) {
    await page.goto(`${t.issuer}/account`);
    await signInOnPage(page, email, PASSWORD, `${t.issuer}/account`);
  }

  test('authenticator app: set up on the account page, then password → second-factor page → a wrong code, the right one → the client; a recovery code the next time', async () => {
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
    const page = await browser.context.newPage();
    await accountPage(page, 'ada@example.test');
    await Promise.all([page.waitForURL(/\/account\/mfa\/totp$/), page.click('#two-step a:has-text("Set up")')]);
    const secret = (await page.textContent('[data-totp-secret]'))!.trim();
    await page.fill('#totp-code', codeFor(secret));
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Turn on' }).click()), 200);
    const recoveryCodes = (await page.locator('[data-recovery-codes] li').allTextContents()).map((c) => c.trim());
    assert.equal(recoveryCodes.length, 10);
    await Promise.all([page.waitForURL(/\/account\?/), page.getByRole('link', { name: 'I have saved them, continue' }).click()]);
    assert.match(await page.locator('#two-step').textContent() ?? '', /10 of 10 codes left/);

    // Signs out (every session), and signs in to the client.
    await navigation(page, () => page.getByRole('button', { name: 'Sign out everywhere' }).click());
    const request = await startSignIn(page);
    await signInOnPage(page, 'ada@example.test', PASSWORD);
    assert.match(page.url(), /\/interaction\/[^/]+\/second-factor$/);
    assert.equal(await heading(page), 'Two-step verification');
    assert.match(await main(page), /Your password was right\. Now confirm it is you with your second factor\./);
    assert.equal(await page.getByLabel('Code from your authenticator app').count(), 1);
    assert.equal(await page.locator('input[type="password"]').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Use your passkey' }).count(), 0, 'no passkey: no passkey button');
    await page.screenshot({ path: `${SHOTS}second-factor-en.png`, fullPage: true });

    // A wrong code: the same page, a message, no way on.
    await page.getByLabel('Code from your authenticator app').fill(wrongCodeFor(secret));
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Verify' }).click()), 401);
    assert.match(page.url(), /\/second-factor$/);
    assert.equal(await page.getByRole('alert').textContent(), 'That code or passkey was not accepted. Try again.');
    assert.equal(await heading(page), 'Two-step verification');

    // The right code (the next step's: the one used to set it up is spent).
    await page.getByLabel('Code from your authenticator app').fill(codeFor(secret, 1));
    const claims = await clientGets(page, request, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.equal(claims.email, 'ada@example.test');
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, MFA);

    // The next sign-in, with a recovery code instead (the phone is lost).
    await browser.context.clearCookies();
    const again = await startSignIn(page);
    await signInOnPage(page, 'ada@example.test', PASSWORD);
    assert.match(page.url(), /\/second-factor$/);
    await page.getByLabel('Code from your authenticator app').fill(recoveryCodes[3]!);
    // A page says how many remain before going on.
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Verify' }).click()), 200);
    assert.match(await page.locator('main').textContent() ?? '', /9 remain/);
    const recovered = await clientGets(page, again, () => page.getByRole('link', { name: 'Continue' }).click());
    assert.deepEqual(recovered.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(recovered.acr, MFA);
    // The account page (the same session) counts it.
    await page.goto(`${t.issuer}/account`);
    assert.match(page.url(), /\/account$/);
    assert.match(await page.locator('#two-step').textContent() ?? '', /9 of 10 codes left/);
    // Used once: the same code a second time is refused.
    await browser.context.clearCookies();
    await startSignIn(page);
    await signInOnPage(page, 'ada@example.test', PASSWORD);
    await page.getByLabel('Code from your authenticator app').fill(recoveryCodes[3]!);
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Verify' }).click()), 401);
    assert.equal(await page.getByRole('alert').textContent(), 'That code or passkey was not accepted. Try again.');
    assert.deepEqual(cspViolations, []);
    await page.close();
  });

  test('the second-factor page in Korean (ui_locales=ko): a wrong code, then the right one', async () => {
    const account = await t.tollgate.accounts.create({ email: 'sejong@example.test', password: PASSWORD });
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: account.id, email: account.email });
    assert.equal(await t.tollgate.mfa.confirmTotp(account.id, codeFor(enrolment.secret)), 'ok');
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    const request = await startSignIn(page, { ui_locales: 'ko' });
    await signInOnPage(page, 'sejong@example.test', PASSWORD);
    assert.equal(await heading(page), '2단계 인증');
    assert.equal(await page.locator('html').getAttribute('lang'), 'ko');
    await page.screenshot({ path: `${SHOTS}second-factor-ko.png`, fullPage: true });
    assert.match(await main(page), /비밀번호가 맞습니다\./);
    await page.getByLabel('인증 앱의 코드').fill(wrongCodeFor(enrolment.secret));
    assert.equal(await navigation(page, () => page.getByRole('button', { name: '확인' }).click()), 401);
    assert.equal(await heading(page), '2단계 인증');
    assert.equal(await page.getByRole('alert').textContent(), '코드나 패스키가 받아들여지지 않았습니다. 다시 시도하세요.');
    await page.getByLabel('인증 앱의 코드').fill(codeFor(enrolment.secret, 1));
    const claims = await clientGets(page, request, () => page.getByRole('button', { name: '확인' }).click());
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, MFA);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });

  test('passkeys: added on the account page; the second factor after a password; alone from the login page; a counter gone back refused; removed, no longer signs in', async () => {
    const grace = await t.tollgate.accounts.create({ email: 'grace@example.test', password: PASSWORD, name: 'Grace' });
    await browser.context.clearCookies();
    // One tab, one authenticator, kept throughout: the person's device. Signing out is clearing the cookies.
    const page = await browser.context.newPage();
    const device = await authenticatorFor(browser.context, page);
    await accountPage(page, 'grace@example.test');
    await Promise.all([page.waitForURL(/\/account\/mfa\/passkeys\/new$/), page.click('#two-step a:has-text("Add a passkey")')]);
    await page.fill('#passkey-name', 'Laptop');
    // WebAuthn answers only the focused tab.
    await page.bringToFront();
    await Promise.all([page.waitForURL(/\/account\?mfa=passkey_added#two-step$/, { timeout: 15_000 }), page.getByRole('button', { name: 'Create a passkey' }).click()]);
    assert.deepEqual((await t.tollgate.passkeys.list(grace.id)).map((p) => p.name), ['Laptop']);

    // Password, then the passkey.
    await browser.context.clearCookies();
    const request = await startSignIn(page);
    await signInOnPage(page, 'grace@example.test', PASSWORD);
    assert.match(page.url(), /\/second-factor$/);
    assert.equal(await heading(page), 'Two-step verification');
    assert.equal(await page.locator('input[name="code"]').count(), 0, 'no app, no recovery codes: no code field');
    await page.screenshot({ path: `${SHOTS}second-factor-passkey-en.png`, fullPage: true });
    await page.bringToFront();
    const second = await clientGets(page, request, () => page.getByRole('button', { name: 'Use your passkey' }).click());
    const amr = second.amr as string[];
    assert.equal(amr[0], 'pwd');
    assert.ok(amr.includes('hwk') || amr.includes('swk'), amr.join());
    assert.ok(amr.includes('user') && amr.at(-1) === 'mfa', amr.join());
    assert.equal(second.acr, MFA);

    /** Why the last password-less attempt was refused (the audit trail's reason). */
    const lastPasskeyFailure = async () => {
      const failures = await t.tollgate.repositories.audit.list({ type: 'login.failure', limit: 50 });
      return failures.filter((e) => (e.details as { method?: string }).method === 'passkey').map((e) => (e.details as { reason?: string }).reason).at(0);
    };

    // The passkey alone, from the login page: no password.
    const signInWithPasskey = async () => {
      await browser.context.clearCookies();
      const passwordless = await startSignIn(page);
      await page.waitForSelector('input[name="password"]');
      await page.bringToFront();
      return passwordless;
    };
    const passwordless = await signInWithPasskey();
    const alone = await clientGets(page, passwordless, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    assert.equal(alone.sub, grace.id);
    assert.ok(!(alone.amr as string[]).includes('pwd'), String(alone.amr));
    assert.deepEqual(alone.amr, [amr[1], 'user', 'mfa']);
    assert.equal(alone.acr, MFA);

    // The authenticator's counter set back (a cloned key): refused with a page, no code.
    const [credential] = (await device.cdp.send('WebAuthn.getCredentials', { authenticatorId: device.id })).credentials;
    assert.ok(credential && credential.signCount > 0, `the counter moved: ${credential?.signCount}`);
    const stored = (await t.tollgate.passkeys.list(grace.id))[0]!;
    await device.cdp.send('WebAuthn.removeCredential', { authenticatorId: device.id, credentialId: credential.credentialId });
    await device.cdp.send('WebAuthn.addCredential', { authenticatorId: device.id, credential: { ...credential, signCount: 0 } });
    await signInWithPasskey();
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click()), 401);
    assert.ok(!page.url().startsWith(callbackUrl));
    assert.equal(await heading(page), 'Passkey not accepted');
    assert.match(await main(page), /That passkey could not be used to sign in here/);
    assert.equal(await page.getByRole('link', { name: 'Try again' }).count(), 1);
    await page.screenshot({ path: `${SHOTS}second-factor-passkey-refused-en.png`, fullPage: true });
    assert.equal((await t.tollgate.passkeys.list(grace.id))[0]!.lastUsedAt?.getTime(), stored.lastUsedAt?.getTime(), 'not used');
    assert.equal(await lastPasskeyFailure(), 'counter');

    // Back ahead (the real device again): remove it on the account page (password and passkey).
    await device.cdp.send('WebAuthn.removeCredential', { authenticatorId: device.id, credentialId: credential.credentialId });
    await device.cdp.send('WebAuthn.addCredential', { authenticatorId: device.id, credential: { ...credential, signCount: credential.signCount + 100 } });
    await browser.context.clearCookies();
    await page.goto(`${t.issuer}/account`);
    await signInOnPage(page, 'grace@example.test', PASSWORD);
    await page.bringToFront();
    await Promise.all([page.waitForURL(`${t.issuer}/account`, { timeout: 15_000 }), page.getByRole('button', { name: 'Use your passkey' }).click()]);
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Remove "Laptop"' }).click()), 200);
    assert.match(await main(page), /The passkey is removed\./);
    assert.deepEqual(await t.tollgate.passkeys.list(grace.id), []);

    // The authenticator still offers it; Tollgate no longer knows it.
    const last = await signInWithPasskey();
    assert.equal(await navigation(page, () => page.getByRole('button', { name: 'Sign in with a passkey' }).click()), 401);
    assert.ok(!page.url().startsWith(callbackUrl));
    assert.equal(await heading(page), 'Passkey not accepted');
    assert.equal(await lastPasskeyFailure(), 'unknown_credential');
    // "Try again" leads back to the login page of the same sign-in, where the password still works.
    await Promise.all([page.waitForSelector('input[name="password"]'), page.getByRole('link', { name: 'Try again' }).click()]);
    const plain = await clientGets(page, last, () => signInOnPage(page, 'grace@example.test', PASSWORD));
    assert.deepEqual(plain.amr, ['pwd']);
    assert.equal(plain.acr, SFA);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });

  test('step-up: a password-only session asked for the MFA level proves only the second factor', async () => {
    const bob = await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    const first = await startSignIn(page);
    const once = await clientGets(page, first, () => signInOnPage(page, 'bob@example.test', PASSWORD));
    assert.deepEqual(once.amr, ['pwd']);
    assert.equal(once.acr, SFA);

    // An authenticator app set up meanwhile (elsewhere), then the client asks for more.
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: bob.id, email: bob.email });
    assert.equal(await t.tollgate.mfa.confirmTotp(bob.id, codeFor(enrolment.secret)), 'ok');
    const request = await startSignIn(page, { acr_values: MFA });
    assert.match(page.url(), /\/second-factor$/);
    assert.equal(await heading(page), 'Two-step verification');
    assert.match(await main(page), /Photo Prints asks you to confirm it is you with your second factor\./);
    assert.equal(await page.locator('input[type="password"]').count(), 0, 'no password asked again');
    await page.screenshot({ path: `${SHOTS}second-factor-step-up-en.png`, fullPage: true });
    await page.getByLabel('Code from your authenticator app').fill(codeFor(enrolment.secret, 1));
    const stepped = await clientGets(page, request, () => page.getByRole('button', { name: 'Verify' }).click());
    assert.equal(stepped.sub, bob.id);
    assert.deepEqual(stepped.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(stepped.acr, MFA);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });
});

describe('enrolment during the sign-in (MFA_POLICY=everyone), in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let rp: RP;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let cspViolations: string[];
  let callbackUrl: string;
  let close: () => Promise<void>;

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    ({ t, rp, browser, cspViolations, redirectUri: callbackUrl, close } = await setUp({ MFA_POLICY: 'everyone' }));
  });
  after(() => close?.());

  /** Password at the client's sign-in: the enrolment page, with both ways. */
  async function toEnrolment(page: Page, email: string) {
    await t.tollgate.accounts.create({ email, password: PASSWORD });
    await browser.context.clearCookies();
    const request = await authorizationRequest(rp, { redirect_uri: callbackUrl });
    await page.goto(request.url.href);
    await signInOnPage(page, email, PASSWORD);
    assert.match(page.url(), /\/interaction\/[^/]+\/enrol$/);
    assert.equal(await page.locator('h1').textContent(), 'Set up two-step verification');
    assert.match(await page.textContent('main') ?? '', /To sign in to Photo Prints, your account needs a second factor\./);
    return request;
  }

  /** The recovery codes page: ten codes, said to be shown once; its button finishes the sign-in. */
  async function throughRecoveryCodes(page: Page, request: Awaited<ReturnType<typeof toEnrolment>>) {
    assert.equal(await page.locator('h1').textContent(), 'Your recovery codes');
    const codes = (await page.locator('[data-recovery-codes] li').allTextContents()).map((c) => c.trim());
    assert.equal(codes.length, 10);
    assert.ok(codes.every((c) => /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/.test(c)), codes.join());
    assert.match(await page.textContent('main') ?? '', /they will not be shown again/);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callbackUrl), { timeout: 15_000 }), page.getByRole('button', { name: 'I have saved them, continue' }).click()]);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    return tokens.claims()!;
  }

  test('with an authenticator app: the enrolment page → the QR page → a code → the recovery codes once → Continue → the client, at the MFA level', async () => {
    const page = await browser.context.newPage();
    const request = await toEnrolment(page, 'carol@example.test');
    await page.screenshot({ path: `${SHOTS}second-factor-enrol-en.png`, fullPage: true });
    await Promise.all([page.waitForURL(/\/enrol\/totp$/), page.getByRole('link', { name: 'Set up an authenticator app' }).click()]);
    assert.equal(await page.locator('h1').textContent(), 'Set up an authenticator app');
    assert.ok(await page.locator('img.qr').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0), 'the QR code shows');
    const secret = (await page.textContent('[data-totp-secret]'))!.trim();
    await page.getByLabel('6-digit code from the app').fill(codeFor(secret));
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Turn on' }).click()]);
    const claims = await throughRecoveryCodes(page, request);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, MFA);
    assert.ok((await t.tollgate.mfa.factorsOf(String(claims.sub))).totp);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });

  test('with a passkey: the enrolment page → "Create a passkey" → the recovery codes → Continue → the client, at the MFA level', async () => {
    const page = await browser.context.newPage();
    await authenticatorFor(browser.context, page);
    const request = await toEnrolment(page, 'dan@example.test');
    await page.getByLabel('Name (optional)').fill('Phone');
    await page.bringToFront();
    await Promise.all([page.waitForURL(/\/enrol\/passkey$/, { timeout: 15_000 }), page.getByRole('button', { name: 'Create a passkey' }).click()]);
    const claims = await throughRecoveryCodes(page, request);
    const amr = claims.amr as string[];
    assert.equal(amr[0], 'pwd');
    assert.ok(amr.includes('hwk') || amr.includes('swk'), amr.join());
    assert.ok(amr.includes('user') && amr.at(-1) === 'mfa', amr.join());
    assert.equal(claims.acr, MFA);
    assert.deepEqual((await t.tollgate.passkeys.list(String(claims.sub))).map((p) => p.name), ['Phone']);
    assert.deepEqual(cspViolations, []);
    await page.close();
  });
});
