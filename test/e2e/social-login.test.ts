// Social login in Chromium (issue 15) against a real OpenID Connect provider
// in its own process (test/support/upstream-op.ts), registered the way an
// operator registers it: `tollgate providers add` on the command line. An
// application signs a person in through Tollgate's login page:
// - the first sign-in with the upstream creates the account; the second
//   signs the same account in; the ID token is Tollgate's, with amr "fed"
//   and idp naming the provider, and the client never sees the upstream's tokens;
// - an upstream identity whose e-mail belongs to an existing account is
//   linked only after that account's password, never on the e-mail alone;
// - the account page lists identities, and refuses to unlink the only way in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { runCli } from '../support/processes.ts';
import { freePort } from '../support/ports.ts';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { startUpstreamOp, type UpstreamOp } from '../support/upstream-op.ts';
import { authorizationRequest, relyingParty, REDIRECT } from '../support/sign-in.ts';
import { launchBrowser, requireChromium, signInOnPage } from '../support/browser.ts';

const CLIENT_SECRET = 'social-login-app-secret-0123456789abcdef';
const UPSTREAM_SECRET = 'upstream-client-secret-for-tollgate-0123456789';
const ADA = { sub: 'corp-ada', email: 'ada@corp.example', email_verified: true, name: 'Ada Lovelace' };
const GRACE = { sub: 'corp-grace', email: 'grace@example.test', email_verified: true, name: 'Grace Hopper' };

describe('social login in Chromium, against an upstream OpenID provider', { skip: requireChromium() }, () => {
  let op: UpstreamOp;
  let t: TestTollgate;

  before(async () => {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    op = await startUpstreamOp({
      clients: [{ clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, redirectUris: [`${issuer}/interaction/federated/corp/callback`] }],
      users: [ADA, GRACE],
    });
    const dirs = { data: await mkdtemp(path.join(tmpdir(), 'tollgate-data-')), keys: await mkdtemp(path.join(tmpdir(), 'tollgate-keys-')) };
    // As an operator would: the CLI, on the server's data and keys, before it starts.
    const added = await runCli(['providers', 'add', '--id', 'corp', '--type', 'oidc', '--issuer', op.issuer, '--client-id', 'tollgate', '--client-secret-stdin', '--name', 'Corp'],
      { DATA_DIR: dirs.data, KEYS_DIR: dirs.keys, ISSUER: issuer }, `${UPSTREAM_SECRET}\n`);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).redirect_uri, `${issuer}/interaction/federated/corp/callback`);
    t = await startTestTollgate({ dirs, port, env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: CLIENT_SECRET, redirectUris: [REDIRECT], scope: 'openid email profile offline_access', firstParty: true });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await op?.close();
  });

  /** The application's sign-in up to the redirect back to it; returns the callback URL. */
  async function signInThroughUpstream(page: Page, request: Awaited<ReturnType<typeof authorizationRequest>>, options: { viaLinkPassword?: string } = {}): Promise<string> {
    await page.goto(request.url.href);
    await page.waitForSelector('form[data-provider="corp"]');
    const toApp = page.waitForRequest((r) => r.url().startsWith(REDIRECT));
    await page.click('form[data-provider="corp"] button');
    if (options.viaLinkPassword) {
      await page.waitForSelector('form[data-form="link"]');
      await page.fill('input[name="password"]', options.viaLinkPassword);
      await page.click('form[data-form="link"] button');
    }
    return (await toApp).url();
  }

  test('the first sign-in creates the account, the second signs the same one in; amr "fed", idp "corp"; Tollgate\'s tokens only', async () => {
    const rp = await relyingParty(t, 'photo-prints', CLIENT_SECRET);
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      const first = await authorizationRequest(rp, { scope: 'openid email profile' });
      await op.setBehaviour({ signInAs: ADA.sub });
      const callback = await signInThroughUpstream(page, first);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce });
      const claims = tokens.claims()!;
      assert.equal(claims.iss, t.issuer, 'an ID token of Tollgate');
      assert.equal(claims.email, ADA.email);
      assert.equal(claims.email_verified, true, 'the upstream vouched for it');
      assert.deepEqual(claims.amr, ['fed']);
      assert.equal(claims.idp, 'corp');
      const account = (await t.tollgate.accounts.list({ email: ADA.email }))[0]!;
      assert.equal(claims.sub, account.id);
      assert.equal(account.has_password, false);

      // A new browser: no session; the same upstream person, the same account.
      const again = await launchBrowser();
      try {
        const second = await authorizationRequest(rp, { scope: 'openid email' });
        const callback2 = await signInThroughUpstream(await again.context.newPage(), second);
        const tokens2 = await oidc.authorizationCodeGrant(rp, new URL(callback2), { pkceCodeVerifier: second.verifier, expectedState: second.state, expectedNonce: second.nonce });
        assert.equal(tokens2.claims()!.sub, account.id);
      } finally {
        await again.close();
      }
      assert.equal((await t.tollgate.accounts.list({ email: ADA.email })).length, 1);
      // The upstream saw PKCE (S256), a state and a nonce.
      const asked = (await op.received()).authorizations.at(-1)!;
      assert.equal(asked.code_challenge_method, 'S256');
      assert.ok(asked.state && asked.nonce && asked.code_challenge);
    } finally {
      await browser.close();
    }
  });

  test('an existing e-mail is never linked on its own: the account\'s password first, then linked and signed in', async () => {
    await t.tollgate.accounts.create({ email: GRACE.email, password: 'grace password 123' });
    const rp = await relyingParty(t, 'photo-prints', CLIENT_SECRET);
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await op.setBehaviour({ signInAs: GRACE.sub });
      const request = await authorizationRequest(rp, { scope: 'openid email' });
      await page.goto(request.url.href);
      await page.click('form[data-provider="corp"] button');
      await page.waitForSelector('form[data-form="link"]');
      assert.match(await page.textContent('main') ?? '', /An account with grace@example\.test already exists/);
      const account = (await t.tollgate.accounts.list({ email: GRACE.email }))[0]!;
      assert.deepEqual(await t.tollgate.repositories.linkedIdentities.listByAccount(account.id), [], 'nothing linked before the password');
      // A wrong password: no link.
      await page.fill('input[name="password"]', 'not the password');
      await Promise.all([page.waitForLoadState('load'), page.click('form[data-form="link"] button')]);
      assert.match(await page.textContent('main') ?? '', /The e-mail or password is not right/);
      assert.deepEqual(await t.tollgate.repositories.linkedIdentities.listByAccount(account.id), []);
      // The right one: linked, and signed in.
      const toApp = page.waitForRequest((r) => r.url().startsWith(REDIRECT));
      await page.fill('input[name="password"]', 'grace password 123');
      await page.click('form[data-form="link"] button');
      const tokens = await oidc.authorizationCodeGrant(rp, new URL((await toApp).url()), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
      assert.equal(tokens.claims()!.sub, account.id);
      const linked = await t.tollgate.repositories.linkedIdentities.listByAccount(account.id);
      assert.deepEqual(linked.map((i) => [i.providerId, i.upstreamSub]), [['corp', GRACE.sub]]);
      const events = (await t.tollgate.audit.page({ accountId: account.id, limit: 50 })).events.map((e) => e.type);
      assert.ok(events.includes('identity.link_refused'), 'the refused automatic link is audited');
      assert.ok(events.includes('identity.linked'));
    } finally {
      await browser.close();
    }
  });

  test('the account page lists the identity and will not unlink the only way in', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await op.setBehaviour({ signInAs: ADA.sub });
      await page.goto(`${t.issuer}/account`);
      await page.click('form[data-provider="corp"] button');
      await page.waitForSelector('[data-identity="corp"]');
      assert.match(await page.textContent('[data-identity="corp"]') ?? '', /Corp · ada@corp\.example/);
      assert.equal(await page.locator('[data-identity="corp"] form').count(), 0, 'no unlink button for the only way in');
      assert.match(await page.textContent('[data-identity="corp"]') ?? '', /only way to sign in/);
      // A forged post is refused as well.
      const csrf = await page.getAttribute('input[name="csrf"]', 'value');
      const answer = await page.request.post(`${t.issuer}/account/identities/corp/unlink`, { form: { csrf: csrf! }, maxRedirects: 0 });
      assert.equal(answer.status(), 303);
      assert.match(answer.headers().location ?? '', /identities=last_method/);
      const account = (await t.tollgate.accounts.list({ email: ADA.email }))[0]!;
      assert.equal((await t.tollgate.repositories.linkedIdentities.listByAccount(account.id)).length, 1);
    } finally {
      await browser.close();
    }
  });

  test('a password account links the provider from the account page once its address is proven, and can unlink it', async () => {
    const lin = await t.tollgate.accounts.create({ email: 'lin@example.test', password: 'lin password 1234' });
    await op.setUsers([...op.users, { sub: 'corp-lin', email: 'lin.other@corp.example', email_verified: true, name: 'Lin' }]);
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${t.issuer}/account`);
      await signInOnPage(page, 'lin@example.test', 'lin password 1234', `${t.issuer}/account`);
      await op.setBehaviour({ signInAs: 'corp-lin' });
      // Not yet: nobody has proven the address, and the account may not be its owner's (pre-account takeover).
      await Promise.all([page.waitForURL(/identities=verify_first/), page.click('form[data-link="corp"] button')]);
      assert.match(await page.textContent('#identities') ?? '', /Confirm your e-mail address first/);
      assert.deepEqual(await t.tollgate.repositories.linkedIdentities.listByAccount(lin.id), []);
      await t.tollgate.accounts.update(lin.id, { email_verified: true });
      await Promise.all([page.waitForURL(`${t.issuer}/account`), page.click('form[data-link="corp"] button')]);
      await page.waitForSelector('[data-identity="corp"] form');
      assert.match(await page.textContent('[data-identity="corp"]') ?? '', /lin\.other@corp\.example/);
      await Promise.all([page.waitForURL(/identities=unlinked/), page.click('[data-identity="corp"] form button')]);
      assert.equal(await page.locator('[data-identity="corp"]').count(), 0);
      assert.equal(await page.locator('form[data-link="corp"]').count(), 1);
    } finally {
      await browser.close();
    }
  });
});
