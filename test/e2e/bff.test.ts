// The example single-page app (examples/spa/) behind tollgate/bff, in real
// Chromium: what a person and the page's own scripts observe. The refresh
// token is read by the test only (from Tollgate's answer sealed in the BFF's
// cookie, opened with the BFF's own sealer) to prove that no script ever
// sees it. Tollgate issues access tokens of 60 s (its shortest) and the BFF
// refreshes when less than 59 s are left, so every re-issue after the first
// second is a real refresh at Tollgate; the page's own clock is moved
// forward (Playwright's clock) for its in-memory token to expire.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { BrowserContext, Page, Response } from 'playwright-core';
import { createMemoryStore } from 'tollgate/bff';
import { createSealer } from '../../server/bff/sealed.ts';
import { createNotesApi } from '../../examples/notes-api.ts';
import { startSpaServer } from '../../examples/spa/server.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';
import { adminCalls } from '../support/admin.ts';

const PASSWORD = 'correct horse battery';
const ADA = 'ada@example.test';
const SECRET = 'spa-bff-client-secret-0123456789abcdefgh';
const COOKIE_SECRET = randomBytes(32).toString('base64url');
const REFRESH_COOKIE = 'tollgate-bff-refresh';
/** The page re-issues when its token has less than 10 s left: 55 s on its clock expires a 60 s token. */
const EXPIRE_IN_PAGE = 55_000;

/** A test that breaks waits for a selector that never comes (Playwright's 30 s each): it fails then, it does not hang the run. */
const TEST_TIMEOUT = 120_000;

type Spa = Awaited<ReturnType<typeof startSpaServer>>;

/** Over a second of real time: the BFF's cached access token is then old enough to be refreshed at the next re-issue. */
const aSecond = () => new Promise((resolve) => setTimeout(resolve, 1100));

describe('the example app (examples/spa) with tollgate/bff in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let notesApi: Server;
  /** Client notes-web: no back-channel logout, no store (stateless). */
  let spa: Spa;
  /** Client notes-web-bcl: back-channel logout to the BFF, a memory store. */
  let spaBcl: Spa;
  let adaId: string;
  /** A fresh admin token for each call: tokens live 60 s here. */
  let forceLogout: () => Promise<globalThis.Response>;
  const sealer = createSealer([COOKIE_SECRET]);
  /** The Chromium instances of the running test, closed after it (the machine is shared). */
  const browsers: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    t = await startTestTollgate({ env: { ACCESS_TOKEN_TTL: '60', ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    adaId = (await t.tollgate.accounts.create({ email: ADA, password: PASSWORD, name: 'Ada Lovelace' })).id;
    notesApi = createNotesApi({ issuer: t.issuer, audience: t.config.apiAudience, members: {} }).listen(0, '127.0.0.1');
    await new Promise((resolve) => notesApi.once('listening', resolve));
    const apiUrl = `http://127.0.0.1:${(notesApi.address() as { port: number }).port}`;
    const common = { issuer: t.issuer, clientSecret: SECRET, cookieSecret: COOKIE_SECRET, apiUrl, refreshWithin: 59 };
    spa = await startSpaServer({ ...common, clientId: 'notes-web' });
    spaBcl = await startSpaServer({ ...common, clientId: 'notes-web-bcl', store: createMemoryStore() });
    for (const [id, app, backchannel] of [['notes-web', spa, false], ['notes-web-bcl', spaBcl, true]] as const) {
      await t.tollgate.clients.register({
        id, secret: SECRET, firstParty: true, redirectUris: [`${app.origin}/bff/callback`], postLogoutRedirectUris: [`${app.origin}/`],
        ...(backchannel ? { backchannelLogoutUri: `${app.origin}/bff/backchannel-logout` } : {}),
      });
    }
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    forceLogout = async () => {
      const admin = (await adminCalls(t).machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
      return fetch(`${t.issuer}/admin/v1/users/${adaId}/logout`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    };
  });
  afterEach(async () => {
    await Promise.all(browsers.splice(0).map((b) => b.close()));
  });
  after(async () => {
    await Promise.all(browsers.splice(0).map((b) => b.close()));
    await spa?.close();
    await spaBcl?.close();
    notesApi?.closeAllConnections();
    notesApi?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  async function newBrowser() {
    const browser = await launchBrowser();
    browsers.push(browser);
    return browser;
  }

  /** A page whose clock the test can move, and every response body it receives (what scripts could read). */
  async function openApp(context: BrowserContext, app: Spa) {
    const page = await context.newPage();
    await page.clock.install();
    const bodies: Array<{ url: string; body: string }> = [];
    page.on('response', (res: Response) => {
      if (res.status() >= 300 && res.status() < 400) return;
      res.text().then((body) => bodies.push({ url: res.url(), body }), () => {});
    });
    await page.goto(`${app.origin}/`);
    await page.locator('#signed-in:not([hidden]), #signed-out:not([hidden])').first().waitFor();
    return { page, bodies };
  }

  const signedInView = (page: Page) => page.waitForSelector('#signed-in:not([hidden])');
  const signedOutView = (page: Page) => page.waitForSelector('#sign-in:visible');

  async function signIn(page: Page, app: Spa) {
    await signedOutView(page);
    await page.click('#sign-in');
    // A first-party client: no consent page, although the BFF asks offline_access with prompt=consent.
    await signInOnPage(page, ADA, PASSWORD, `${app.origin}/`);
    await signedInView(page);
  }

  /** The refresh token the browser holds, opened with the BFF's own sealer (the test may; no script can). */
  async function refreshTokenIn(context: BrowserContext): Promise<string | undefined> {
    const cookie = (await context.cookies()).find((c) => c.name === REFRESH_COOKIE);
    if (!cookie) return undefined;
    const claims = await sealer.open(REFRESH_COOKIE, cookie.value);
    return claims ? String(claims.rt) : undefined;
  }

  /** Clicks a button and waits for the answer it shows. */
  async function call(page: Page, button: '#call-api' | '#call-proxy') {
    await page.evaluate("document.getElementById('output').removeAttribute('data-status')");
    await page.click(button);
    await page.locator('#output[data-status]').or(page.locator('#sign-in:visible')).waitFor();
    return page.evaluate<{ status?: string; text: string; signedOut: boolean }>("({ status: document.getElementById('output').dataset.status, text: document.getElementById('output').textContent, signedOut: !document.getElementById('signed-out').hidden })");
  }

  /** The access tokens the page sent to the API (Authorization headers), in order. */
  function bearerTokens(page: Page): string[] {
    const seen: string[] = [];
    page.on('request', (req) => {
      const auth = req.headers().authorization;
      if (auth?.startsWith('Bearer ')) seen.push(auth.slice('Bearer '.length));
    });
    return seen;
  }

  test('sign in through the app, call the API both ways, silent re-issue, reload: no script ever sees the refresh token', { timeout: TEST_TIMEOUT }, async () => {
    const { context } = await newBrowser();
    const { page, bodies } = await openApp(context, spa);
    const sent = bearerTokens(page);
    // The page runs under a CSP that allows its own scripts only (app.js: no inline script).
    const csp = (await page.reload())!.headers()['content-security-policy'];
    assert.match(csp ?? '', /script-src 'self';/);
    assert.match(csp ?? '', /connect-src 'self';/);
    await signIn(page, spa);
    assert.equal(await page.textContent('#name'), 'Ada Lovelace');
    const refreshTokens = new Set<string>();
    const note = async () => { const rt = await refreshTokenIn(context); assert.ok(rt && rt.length > 20); refreshTokens.add(rt); };
    await note();

    // The access token from memory, in the Authorization header: the API answers.
    assert.deepEqual(await call(page, '#call-api'), { status: '200', text: '200 {"notes":[]}', signedOut: false });
    await note();
    // Again, within its lifetime: the same token from memory, no request to the BFF.
    const tokenRequests: string[] = [];
    page.on('request', (req) => { if (req.url().endsWith('/bff/token')) tokenRequests.push(req.url()); });
    assert.equal((await call(page, '#call-api')).status, '200');
    assert.deepEqual(tokenRequests, []);
    assert.equal(sent.length, 2);
    assert.equal(sent[0], sent[1]);

    // The token expires (on the page's clock): the next call re-issues silently, the BFF refreshes at Tollgate.
    await aSecond();
    await page.clock.fastForward(EXPIRE_IN_PAGE);
    const rtBefore = await refreshTokenIn(context);
    assert.equal((await call(page, '#call-api')).status, '200');
    assert.equal(tokenRequests.length, 1, 'one silent re-issue');
    assert.notEqual(sent.at(-1), sent[0], 'a new access token');
    await note();
    assert.notEqual(await refreshTokenIn(context), rtBefore, 'the refresh token rotated');

    // Token-handler mode: the BFF attaches the token; the page sends none.
    const before = sent.length;
    assert.deepEqual(await call(page, '#call-proxy'), { status: '200', text: '200 {"notes":[]}', signedOut: false });
    assert.equal(sent.length, before);
    await note();

    // Reload: the page asks the BFF (GET /bff/session) and is signed in again, nothing kept in storage.
    await page.reload();
    await signedInView(page);
    assert.equal(await page.textContent('#name'), 'Ada Lovelace');
    assert.equal((await call(page, '#call-api')).status, '200');
    await note();

    const scriptVisible = await page.evaluate<{ cookie: string; local: string; session: string }>('({ cookie: document.cookie, local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage) })');
    assert.doesNotMatch(scriptVisible.cookie, /tollgate-bff/, 'document.cookie has none of the BFF\'s cookies');
    // Not even a script in a document under the BFF's own path (where Path=/bff would not hide them): HttpOnly.
    await page.goto(`${spa.origin}/bff/session`);
    const atBffPath = await page.evaluate<string>('document.cookie');
    assert.doesNotMatch(atBffPath, /tollgate-bff/, 'HttpOnly');
    await page.goto(`${spa.origin}/`);
    await signedInView(page);
    assert.equal(scriptVisible.local, '{}');
    assert.equal(scriptVisible.session, '{}');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(bodies.length > 10, `${bodies.length} bodies`);
    assert.ok(refreshTokens.size >= 2, 'at least one rotation');
    for (const rt of refreshTokens) {
      assert.ok(!scriptVisible.cookie.includes(rt));
      for (const { url, body } of bodies) assert.ok(!body.includes(rt), `the refresh token in the body of ${url}`);
    }
    // The access token was in memory only: the bodies that carried it are the BFF's /token answers.
    for (const token of new Set(sent)) {
      const carriers = bodies.filter((b) => b.body.includes(token)).map((b) => new URL(b.url).pathname);
      assert.ok(carriers.every((p) => p === '/bff/token'), carriers.join());
    }

    // A fresh browser (no cookies): signed out.
    const fresh = await newBrowser();
    const other = await openApp(fresh.context, spa);
    await signedOutView(other.page);
    assert.equal(await refreshTokenIn(fresh.context), undefined);

    // Sign out: the cookies go, Tollgate's session ends (RP-initiated logout, confirmed on its page), back on the app signed out.
    await Promise.all([page.waitForURL(`${t.issuer}/**`), page.click('#sign-out')]);
    await Promise.all([page.waitForURL(`${spa.origin}/`), page.click('button[name="logout"]')]);
    await signedOutView(page);
    assert.equal(await refreshTokenIn(context), undefined);
  });

  test('forced logout through the admin API: the app\'s next re-issue fails and it shows the sign-in button', { timeout: TEST_TIMEOUT }, async () => {
    const { context } = await newBrowser();
    const { page } = await openApp(context, spa);
    await signIn(page, spa);
    assert.equal((await call(page, '#call-api')).status, '200');
    const res = await forceLogout();
    assert.equal(res.status, 200);
    // Without back-channel logout, the stateless BFF learns it at the next refresh: the reloaded page still shows Ada ...
    await page.reload();
    await signedInView(page);
    // ... until its token expires and the re-issue is refused.
    await aSecond();
    await page.clock.fastForward(EXPIRE_IN_PAGE);
    const after = await call(page, '#call-api');
    assert.equal(after.signedOut, true);
    await signedOutView(page);
    assert.equal(await refreshTokenIn(context), undefined, 'the BFF cleared its cookies');
  });

  test('back-channel logout: a forced logout at Tollgate ends the BFF session at once, the reload shows signed out', { timeout: TEST_TIMEOUT }, async () => {
    const { context } = await newBrowser();
    const { page } = await openApp(context, spaBcl);
    await signIn(page, spaBcl);
    assert.equal((await call(page, '#call-proxy')).status, '200');
    const res = await forceLogout();
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { backchannel_notified: number }).backchannel_notified >= 1);
    // No refresh needed: the session itself is refused now.
    await page.reload();
    await signedOutView(page);
    assert.equal(await refreshTokenIn(context), undefined);
  });

  test('a refresh cookie copied into a second browser, used after the first refreshed: reuse detected, both are signed out', { timeout: TEST_TIMEOUT }, async () => {
    const owner = await newBrowser();
    const { page } = await openApp(owner.context, spa);
    await signIn(page, spa);
    const copied = (await owner.context.cookies()).filter((c) => c.name.startsWith('tollgate-bff-'));
    assert.equal(copied.length, 3);
    // The owner refreshes ...
    await aSecond();
    await page.clock.fastForward(EXPIRE_IN_PAGE);
    assert.equal((await call(page, '#call-api')).status, '200');
    // ... then the copy is used in another browser.
    const thief = await newBrowser();
    await thief.context.addCookies(copied);
    const stolen = await openApp(thief.context, spa);
    await signedInView(stolen.page);
    await aSecond();
    const thiefCall = await call(stolen.page, '#call-api');
    assert.equal(thiefCall.signedOut, true, 'the stale refresh token is refused');
    // The whole family is revoked: the owner's next re-issue fails too.
    await aSecond();
    await page.clock.fastForward(EXPIRE_IN_PAGE);
    assert.equal((await call(page, '#call-api')).signedOut, true);
    await signedOutView(page);
  });

  test('CSRF: a cross-site form POST and cross-origin fetches to /bff/token and /bff/logout are refused; the person stays signed in', { timeout: TEST_TIMEOUT }, async () => {
    const { context } = await newBrowser();
    const { page } = await openApp(context, spa);
    await signIn(page, spa);
    const rtBefore = await refreshTokenIn(context);

    // Another site (127.0.0.1 is another site than localhost) with a form and scripts of its own.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><form id="f" method="post" action="${spa.origin}/bff/logout"><input name="x" value="1"></form>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const evilPage = await context.newPage();
      await evilPage.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      const statuses: Array<[string, number]> = [];
      evilPage.on('response', (res) => { if (res.url().startsWith(`${spa.origin}/bff/`)) statuses.push([`${res.request().method()} ${new URL(res.url()).pathname}`, res.status()]); });

      // A cross-site fetch that would need a preflight (the custom header): the BFF grants no CORS, the fetch fails.
      const withHeader = await evilPage.evaluate(async (origin) => Promise.all(['/bff/token', '/bff/logout'].map((p) => fetch(`${origin}${p}`, { method: 'POST', credentials: 'include', headers: { 'X-Tollgate-BFF': '1' } }).then((r) => `status ${r.status}`, (e: Error) => e.name))), spa.origin);
      assert.deepEqual(withHeader, ['TypeError', 'TypeError']);
      // A "simple" cross-site fetch (no preflight), readable or not: refused by the BFF itself.
      await evilPage.evaluate(async (origin) => { await Promise.all(['/bff/token', '/bff/logout'].map((p) => fetch(`${origin}${p}`, { method: 'POST', mode: 'no-cors', credentials: 'include' }))); }, spa.origin);
      // A cross-site form POST (a navigation): 403.
      const [formAnswer] = await Promise.all([evilPage.waitForResponse(`${spa.origin}/bff/logout`), evilPage.evaluate("document.getElementById('f').submit()")]);
      assert.equal(formAnswer.status(), 403);
      assert.match(await formAnswer.text(), /"error":"forbidden"/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const posts = statuses.filter(([what]) => what.startsWith('POST'));
      assert.ok(posts.length >= 3, JSON.stringify(statuses));
      for (const [what, status] of posts) assert.equal(status, 403, what);
    } finally {
      evil.closeAllConnections();
      evil.close();
    }

    // Nothing happened to the sign-in: the same refresh token, and the app still works.
    assert.equal(await refreshTokenIn(context), rtBefore);
    await page.reload();
    await signedInView(page);
    assert.equal((await call(page, '#call-proxy')).status, '200');
  });

  test('remember me: not remembered, the sign-in ends with the browser; remembered, a reload after a restart is still signed in', { timeout: TEST_TIMEOUT }, async () => {
    /** Signs in with "Keep me signed in" as asked; the BFF's cookies as the browser holds them. */
    async function signInRemembering(remember: boolean) {
      const { context } = await newBrowser();
      const { page } = await openApp(context, spa);
      await signedOutView(page);
      await page.click('#sign-in');
      await page.waitForSelector('input[name="password"]');
      await page.setChecked('#remember', remember);
      await page.fill('input[name="login"]', ADA);
      await page.fill('input[name="password"]', PASSWORD);
      await Promise.all([page.waitForURL(`${spa.origin}/`), page.click('button[type="submit"]')]);
      await signedInView(page);
      const session = (await context.cookies()).find((c) => c.name === 'tollgate-bff-session')!;
      assert.equal((await sealer.open('tollgate-bff-session', session.value))?.rem, remember, 'the ID token\'s remember_me, kept by the BFF');
      return { context, bffCookies: (await context.cookies()).filter((c) => c.name.startsWith('tollgate-bff-')) };
    }
    /** A browser restart keeps persistent cookies only: a new browser given those, and the app opened in it. */
    async function restart(context: BrowserContext) {
      const restarted = await newBrowser();
      await restarted.context.addCookies((await context.cookies()).filter((c) => c.expires !== -1));
      return (await openApp(restarted.context, spa)).page;
    }

    const forgotten = await signInRemembering(false);
    assert.deepEqual(forgotten.bffCookies.map((c) => [c.name, c.expires]).sort(), [['tollgate-bff-access', -1], ['tollgate-bff-refresh', -1], ['tollgate-bff-session', -1]], 'browser-session cookies');
    await signedOutView(await restart(forgotten.context));

    const remembered = await signInRemembering(true);
    const now = Date.now() / 1000;
    assert.equal(remembered.bffCookies.length, 3);
    for (const c of remembered.bffCookies) assert.ok(c.expires > now + 3600, `${c.name} persists (expires ${c.expires})`);
    const after = await restart(remembered.context);
    await signedInView(after);
    assert.equal(await after.textContent('#name'), 'Ada Lovelace');
    assert.equal((await call(after, '#call-proxy')).status, '200');
  });
});
