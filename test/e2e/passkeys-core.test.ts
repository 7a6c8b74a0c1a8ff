// Passkeys end to end in Chromium with its virtual authenticator (CDP
// WebAuthn domain: ctap2, internal transport, resident keys, user
// verification), before the hosted pages exist: a small server of the test's
// own, on the ISSUER's origin, serves a page that loads Tollgate's own
// script (views/assets/webauthn.js, fetched from Tollgate under its CSP) and
// posts to two endpoints that call Tollgate's passkey service
// (tollgate.passkeys). A second server on another port is the wrong origin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { CDPSession, Page } from 'playwright-core';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { launchBrowser, requireChromium } from '../support/browser.ts';
import { freePort } from '../support/ports.ts';
import { CONTENT_SECURITY_POLICY } from '../../server/middleware/koa-security-headers.ts';
import { PasskeyRefusedError, type Passkeys } from '../../server/mfa/passkeys.ts';

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * The test's pages: GET /test/register?account=…, GET /test/authenticate[?account=…][&allow=id,id]
 * (allow: the test plays a tampering client that swaps allowCredentials), and their POSTs.
 */
function testPages(t: TestTollgate, accounts: Map<string, { id: string; email: string; name: string | null }>) {
  const passkeys: Passkeys = t.tollgate.passkeys;
  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/assets/')) return t.tollgate.handler(req, res); // Tollgate's own asset, with its headers
    const accountId = url.searchParams.get('account') ?? undefined;
    try {
      if (req.method === 'GET') {
        let kind: 'create' | 'get';
        let options: object;
        if (url.pathname === '/test/register') {
          kind = 'create';
          options = await passkeys.registrationOptions(accounts.get(accountId!)!);
        } else {
          kind = 'get';
          const request = await passkeys.authenticationOptions({ accountId });
          const allow = url.searchParams.get('allow');
          options = allow ? { ...request, allowCredentials: allow.split(',').map((id) => ({ id, type: 'public-key' })) } : request;
        }
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CONTENT_SECURITY_POLICY });
        res.end(`<!doctype html><html><head><script src="/assets/webauthn.js" defer></script></head><body>
<form method="post" data-webauthn="${kind}" data-webauthn-options="${escapeHtml(JSON.stringify(options))}">
<input type="hidden" name="webauthn_response"><input name="name" value="${escapeHtml(url.searchParams.get('name') ?? '')}">
<button type="submit">Go</button><p data-webauthn-message hidden data-failed="The passkey did not answer." data-unsupported="No WebAuthn."></p>
</form></body></html>`);
        return;
      }
      const body = await readBody(req);
      const response = body.get('webauthn_response') ?? '';
      if (url.pathname === '/test/register') return json(res, 200, await passkeys.register(accountId!, response, body.get('name') ?? undefined));
      return json(res, 200, await passkeys.authenticate(response, { accountId }));
    } catch (err) {
      if (err instanceof PasskeyRefusedError) return json(res, err.status, { error: err.reason, message: err.message });
      return json(res, 500, { error: 'server_error', message: (err as Error).message });
    }
  };
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => unknown, port: number): Promise<Server> {
  const server = createServer((req, res) => { void handler(req, res); });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

interface Authenticator { page: Page; cdp: CDPSession; id: string }

describe('passkeys core in Chromium', { skip: requireChromium() }, () => {
  let t: TestTollgate;
  let issuerServer: Server;
  let otherServer: Server;
  let origin: string;
  let otherOrigin: string;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  const accounts = new Map<string, { id: string; email: string; name: string | null }>();
  let ada: string;
  let bob: string;

  before(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = await startTestTollgate({ env: { ISSUER: origin } });
    for (const [email, name] of [['ada@example.test', 'Ada'], ['bob@example.test', 'Bob']] as const) {
      const account = await t.tollgate.accounts.create({ email, password: 'correct horse battery', name });
      accounts.set(account.id, { id: account.id, email, name });
    }
    [ada, bob] = [...accounts.keys()] as [string, string];
    const pages = testPages(t, accounts);
    issuerServer = await listen(pages, port);
    const other = await freePort();
    otherOrigin = `http://localhost:${other}`;
    otherServer = await listen(pages, other);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    for (const s of [issuerServer, otherServer]) {
      s?.closeAllConnections();
      await new Promise((r) => s ? s.close(r) : r(undefined));
    }
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  /** A tab with its own virtual authenticator: one "device". */
  async function device(): Promise<Authenticator> {
    const page = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    return { page, cdp, id: authenticatorId };
  }

  /** Opens the page, submits its form (the script runs the ceremony), and returns what the endpoint answered and the posted form. */
  async function ceremony(page: Page, url: string): Promise<{ status: number; body: Record<string, unknown>; posted: string }> {
    await page.goto(url);
    // WebAuthn answers only the focused tab (Chromium: NotAllowedError "the page does not have focus").
    await page.bringToFront();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST', { timeout: 15_000 }),
      page.click('button[type="submit"]'),
    ]);
    return { status: response.status(), body: await response.json() as Record<string, unknown>, posted: response.request().postData() ?? '' };
  }

  let adaPhone: Authenticator;
  let adaLaptop: Authenticator;
  let bobPhone: Authenticator;
  const ids: Record<string, string> = {};

  test('the script is served by Tollgate as JavaScript under its CSP', async () => {
    const response = await fetch(`${origin}/assets/webauthn.js`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await response.text(), /navigator\.credentials\.get/);
  });

  test('register two passkeys on one account (two devices), one on another; list them by name', async () => {
    adaPhone = await device();
    adaLaptop = await device();
    bobPhone = await device();
    const first = await ceremony(adaPhone.page, `${origin}/test/register?account=${ada}&name=${encodeURIComponent('Ada’s phone')}`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    ids.adaPhone = first.body.id as string;
    const second = await ceremony(adaLaptop.page, `${origin}/test/register?account=${ada}&name=Laptop`);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    ids.adaLaptop = second.body.id as string;
    const third = await ceremony(bobPhone.page, `${origin}/test/register?account=${bob}&name=Bob`);
    assert.equal(third.status, 200, JSON.stringify(third.body));
    ids.bobPhone = third.body.id as string;

    const list = await t.tollgate.passkeys.list(ada);
    assert.deepEqual(list.map((p) => p.name), ['Ada’s phone', 'Laptop']);
    assert.ok(list.every((p) => p.lastUsedAt === null && p.createdAt instanceof Date && p.transports.includes('internal')));
    // The authenticator holds them as discoverable (resident) credentials.
    const { credentials } = await adaPhone.cdp.send('WebAuthn.getCredentials', { authenticatorId: adaPhone.id });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.isResidentCredential, true);
  });

  test('registering again on a device that holds one of the account\'s passkeys is refused by the authenticator (excludeCredentials)', async () => {
    await adaPhone.page.goto(`${origin}/test/register?account=${ada}`);
    await adaPhone.page.bringToFront();
    await adaPhone.page.click('button[type="submit"]');
    await adaPhone.page.waitForSelector('[data-webauthn-message]:not([hidden])');
    assert.equal(await adaPhone.page.textContent('[data-webauthn-message]'), 'The passkey did not answer.');
    assert.equal((await t.tollgate.passkeys.list(ada)).length, 2);
  });

  test('second factor: each of the account\'s passkeys; counter and last use recorded', async () => {
    const phone = await ceremony(adaPhone.page, `${origin}/test/authenticate?account=${ada}`);
    assert.equal(phone.status, 200, JSON.stringify(phone.body));
    assert.deepEqual({ accountId: phone.body.accountId, credentialId: phone.body.credentialId }, { accountId: ada, credentialId: ids.adaPhone });
    const laptop = await ceremony(adaLaptop.page, `${origin}/test/authenticate?account=${ada}`);
    assert.equal(laptop.body.credentialId, ids.adaLaptop);
    const stored = await t.tollgate.repositories.webauthnCredentials.find(ids.adaPhone!);
    assert.ok(stored!.lastUsedAt instanceof Date);
    assert.ok(stored!.counter > 0, 'the virtual authenticator counts its uses');
  });

  test('password-less: a discoverable credential names its account, with user verification', async () => {
    const options = await t.tollgate.passkeys.authenticationOptions();
    assert.equal(options.allowCredentials, undefined);
    assert.equal(options.userVerification, 'required');
    const asBob = await ceremony(bobPhone.page, `${origin}/test/authenticate`);
    assert.equal(asBob.status, 200, JSON.stringify(asBob.body));
    assert.deepEqual(asBob.body, { accountId: bob, credentialId: ids.bobPhone, userVerified: true, deviceType: 'singleDevice' });
    const asAda = await ceremony(adaPhone.page, `${origin}/test/authenticate`);
    assert.equal(asAda.body.accountId, ada);
  });

  test('a replayed assertion is refused (its challenge is spent)', async () => {
    const first = await ceremony(adaLaptop.page, `${origin}/test/authenticate?account=${ada}`);
    assert.equal(first.status, 200);
    const replay = await fetch(`${origin}/test/authenticate?account=${ada}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: first.posted });
    assert.equal(replay.status, 400);
    assert.equal((await replay.json() as { error: string }).error, 'challenge');
  });

  test('an expired challenge is refused', async () => {
    await adaLaptop.page.goto(`${origin}/test/authenticate?account=${ada}`);
    await adaLaptop.page.bringToFront();
    await t.tollgate.database.execute("UPDATE webauthn_challenge SET expires_at = now() - interval '1 second'");
    const [response] = await Promise.all([
      adaLaptop.page.waitForResponse((r) => r.request().method() === 'POST'),
      adaLaptop.page.click('button[type="submit"]'),
    ]);
    assert.equal(response.status(), 400);
    assert.equal((await response.json() as { error: string }).error, 'challenge');
  });

  test('a page on another origin than the issuer\'s is refused', async () => {
    for (const path of [`/test/authenticate?account=${ada}`, '/test/authenticate']) {
      const answer = await ceremony(adaPhone.page, `${otherOrigin}${path}`);
      assert.equal(answer.status, 400, path);
      assert.equal(answer.body.error, 'origin', path);
    }
    const register = await ceremony(adaLaptop.page, `${otherOrigin}/test/register?account=${bob}`);
    assert.deepEqual([register.status, register.body.error], [400, 'origin']);
    assert.equal((await t.tollgate.passkeys.list(bob)).length, 1);
  });

  test('another account\'s passkey is refused as the second factor', async () => {
    // The client swaps allowCredentials for Ada's passkey while answering Bob's challenge.
    const answer = await ceremony(adaPhone.page, `${origin}/test/authenticate?account=${bob}&allow=${ids.adaPhone}`);
    assert.deepEqual([answer.status, answer.body.error], [400, 'wrong_account']);
  });

  test('a removed passkey signs in no more (second factor and password-less); rename', async () => {
    assert.equal(await t.tollgate.passkeys.remove(bob, ids.adaPhone!), false, 'not Bob\'s to remove');
    assert.equal((await t.tollgate.passkeys.rename(ada, ids.adaLaptop!, '  Work laptop '))?.name, 'Work laptop');
    assert.equal(await t.tollgate.passkeys.remove(ada, ids.adaPhone!), true);
    assert.deepEqual((await t.tollgate.passkeys.list(ada)).map((p) => p.name), ['Work laptop']);
    const secondFactor = await ceremony(adaPhone.page, `${origin}/test/authenticate?account=${ada}&allow=${ids.adaPhone}`);
    assert.deepEqual([secondFactor.status, secondFactor.body.error], [400, 'unknown_credential']);
    const passwordless = await ceremony(adaPhone.page, `${origin}/test/authenticate`);
    assert.deepEqual([passwordless.status, passwordless.body.error], [400, 'unknown_credential']);
  });

  test('a sign counter that goes backwards (a cloned authenticator) is refused, and the stored counter stays', async () => {
    const before = (await t.tollgate.repositories.webauthnCredentials.find(ids.adaLaptop!))!.counter;
    assert.ok(before >= 2);
    const { credentials } = await adaLaptop.cdp.send('WebAuthn.getCredentials', { authenticatorId: adaLaptop.id });
    // CDP names credentials in base64; ours are base64url. (This device also holds one the wrong-origin test made for Bob.)
    const credential = credentials.find((c) => Buffer.from(c.credentialId, 'base64').toString('base64url') === ids.adaLaptop)!;
    await adaLaptop.cdp.send('WebAuthn.removeCredential', { authenticatorId: adaLaptop.id, credentialId: credential.credentialId });
    await adaLaptop.cdp.send('WebAuthn.addCredential', { authenticatorId: adaLaptop.id, credential: { ...credential, signCount: 0 } });
    const answer = await ceremony(adaLaptop.page, `${origin}/test/authenticate?account=${ada}`);
    assert.deepEqual([answer.status, answer.body.error], [400, 'counter']);
    assert.equal((await t.tollgate.repositories.webauthnCredentials.find(ids.adaLaptop!))!.counter, before);
    const audit = await t.tollgate.audit.page({ limit: 50 });
    assert.ok(audit.events.some((e) => e.type === 'passkey.counter_regression' && e.accountId === ada));
  });

  test('malformed responses and a second factor for an account with no passkey are typed refusals', async () => {
    for (const body of ['', 'webauthn_response=not-json', `webauthn_response=${encodeURIComponent('{"id":"x","rawId":"x","type":"public-key","response":{}}')}`]) {
      const answer = await fetch(`${origin}/test/authenticate?account=${ada}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      assert.equal(answer.status, 400, body);
      assert.equal((await answer.json() as { error: string }).error, 'malformed');
    }
    const none = await t.tollgate.accounts.create({ email: 'carol@example.test', password: 'correct horse battery' });
    await assert.rejects(t.tollgate.passkeys.authenticationOptions({ accountId: none.id }), (err: PasskeyRefusedError) => err.reason === 'no_credentials' && err.status === 400);
    assert.equal(await t.tollgate.passkeys.removeAll(ada), 1);
  });
});
