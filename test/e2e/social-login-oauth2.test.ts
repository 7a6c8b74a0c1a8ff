// Social login with the OAuth 2.0 presets (issue 15) in Chromium, without
// JavaScript: GitHub and Naver speak no OpenID Connect (no discovery, no ID
// token), so Tollgate reads the person from their user APIs. A fixture
// stands in for both (test/support/oauth2-upstreams.ts), registered the way an
// operator registers them: `tollgate providers add --type github|naver` with
// its endpoints. What is checked:
// - GitHub: the account gets the PRIMARY address from the e-mails API (not
//   the profile's public one), verified only when GitHub says so; the
//   identity is GitHub's numeric id (a renamed login is the same person);
//   no primary address shared → a page saying one is needed, nothing made;
//   a token error sent with HTTP 200 → a failure page at Tollgate;
// - Naver: its string `expires_in` is taken, its address is never taken as
//   verified, the name is `name` or else `nickname`; a cancel → a page;
// - the login page's buttons in English and Korean ("카카오로 계속하기").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { chromium, type Browser, type Page, type Response } from 'playwright-core';
import { runCli } from '../support/processes.ts';
import { freePort } from '../support/ports.ts';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { startOAuth2Upstreams, type GitHubUser, type NaverUser, type OAuth2Upstreams } from '../support/oauth2-upstreams.ts';
import { authorizationRequest, relyingParty, REDIRECT, type RP } from '../support/sign-in.ts';
import { CHROMIUM, requireChromium } from '../support/browser.ts';

const CLIENT_SECRET = 'oauth2-social-app-secret-0123456789abcdef';
const GITHUB_SECRET = 'github-client-secret-for-tollgate-0123456789';
const NAVER_SECRET = 'naver-client-secret-for-tollgate-0123';

const OCTOCAT: GitHubUser = {
  id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat-public@example.test',
  emails: [
    { email: 'octocat-public@example.test', primary: false, verified: true, visibility: 'public' },
    { email: 'Octo@Example.test', primary: true, verified: true, visibility: 'private' },
  ],
};
const NEWBIE: GitHubUser = { id: 1001, login: 'newbie', name: null, email: null, emails: [{ email: 'newbie@example.test', primary: true, verified: false, visibility: 'private' }] };
/** Shares only a secondary address: no primary one. */
const SECRETIVE: GitHubUser = { id: 1002, login: 'secretive', name: 'Secretive', email: null, emails: [{ email: 'secondary@example.test', primary: false, verified: true, visibility: null }] };
const GILDONG: NaverUser = { id: 'nv-32742776', email: 'gildong@example.test', name: '홍길동', nickname: 'gildong' };
const NICKY: NaverUser = { id: 'nv-555', email: 'nicky@example.test', nickname: 'nicky' };

/** A fresh browser profile (no cookies) in one Chromium, with JavaScript off: every page on the way is a plain form or a redirect. */
async function plainContext(chromiumBrowser: Browser, locale = 'en-US'): Promise<{ page: Page; close(): Promise<void> }> {
  const context = await chromiumBrowser.newContext({ locale, javaScriptEnabled: false, viewport: { width: 480, height: 720 } });
  return { page: await context.newPage(), close: () => context.close() };
}

describe('social login with GitHub and Naver (OAuth 2.0, no ID token), in Chromium without JavaScript', { skip: requireChromium() }, () => {
  let upstreams: OAuth2Upstreams;
  let t: TestTollgate;
  let rp: RP;
  let chromiumBrowser: Browser;
  const launchPlainBrowser = (locale?: string) => plainContext(chromiumBrowser, locale);

  before(async () => {
    chromiumBrowser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    upstreams = await startOAuth2Upstreams({
      github: { app: { clientId: 'Iv1.tollgate', clientSecret: GITHUB_SECRET, redirectUris: [`${issuer}/interaction/federated/github/callback`, `${issuer}/interaction/federated/github-profile/callback`] }, users: [OCTOCAT, NEWBIE, SECRETIVE] },
      naver: { app: { clientId: 'naver-tollgate', clientSecret: NAVER_SECRET, redirectUris: [`${issuer}/interaction/federated/naver/callback`] }, users: [GILDONG, NICKY] },
    });
    const dirs = { data: await mkdtemp(path.join(tmpdir(), 'tollgate-data-')), keys: await mkdtemp(path.join(tmpdir(), 'tollgate-keys-')) };
    const env = { DATA_DIR: dirs.data, KEYS_DIR: dirs.keys, ISSUER: issuer };
    const add = async (args: string[], secret = 'unused-secret') => {
      const added = await runCli(['providers', 'add', ...args, '--client-secret-stdin'], env, `${secret}\n`);
      assert.equal(added.code, 0, added.stderr);
      return JSON.parse(added.stdout) as { redirect_uri: string; scope: string };
    };
    const github = await add(['--id', 'github', '--type', 'github', '--client-id', 'Iv1.tollgate',
      '--authorization-endpoint', upstreams.github.authorizationEndpoint, '--token-endpoint', upstreams.github.tokenEndpoint,
      '--userinfo-endpoint', upstreams.github.userEndpoint], GITHUB_SECRET);
    assert.equal(github.redirect_uri, `${issuer}/interaction/federated/github/callback`);
    assert.equal(github.scope, 'read:user user:email');
    // The same GitHub app, asked for the profile only (no user:email): GitHub then hides the addresses.
    await add(['--id', 'github-profile', '--type', 'github', '--client-id', 'Iv1.tollgate', '--scope', 'read:user', '--name', '사내 깃허브',
      '--authorization-endpoint', upstreams.github.authorizationEndpoint, '--token-endpoint', upstreams.github.tokenEndpoint,
      '--userinfo-endpoint', upstreams.github.userEndpoint], GITHUB_SECRET);
    await add(['--id', 'naver', '--type', 'naver', '--client-id', 'naver-tollgate',
      '--authorization-endpoint', upstreams.naver.authorizationEndpoint, '--token-endpoint', upstreams.naver.tokenEndpoint,
      '--userinfo-endpoint', upstreams.naver.userEndpoint], NAVER_SECRET);
    // Shown on the login page only: the page does not contact them.
    await add(['--id', 'kakao', '--type', 'kakao', '--client-id', 'kakao-rest-api-key']);
    await add(['--id', 'acme', '--type', 'oidc', '--issuer', 'https://sso.acme.example', '--client-id', 'tollgate', '--name', 'Acme SSO']);
    t = await startTestTollgate({ dirs, port, env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: CLIENT_SECRET, redirectUris: [REDIRECT], scope: 'openid email profile', firstParty: true });
    rp = await relyingParty(t, 'photo-prints', CLIENT_SECRET);
  });
  after(async () => {
    await chromiumBrowser?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await upstreams?.close();
  });

  /** The application's sign-in through `provider`'s button, in a browser of its own, up to Tollgate's ID token. */
  async function signInWith(provider: string) {
    const browser = await launchPlainBrowser();
    try {
      const request = await authorizationRequest(rp, { scope: 'openid email profile' });
      await browser.page.goto(request.url.href);
      const toApp = browser.page.waitForRequest((r) => r.url().startsWith(REDIRECT));
      await browser.page.click(`form[data-provider="${provider}"] button`);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL((await toApp).url()), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
      return tokens.claims()!;
    } finally {
      await browser.close();
    }
  }

  /** A sign-in through `provider` that ends on a page at Tollgate: its HTTP status, title and text. */
  async function failedSignIn(provider: string, locale = 'en-US'): Promise<{ status: number; title: string; text: string }> {
    const browser = await launchPlainBrowser(locale);
    try {
      const request = await authorizationRequest(rp, { scope: 'openid email profile' });
      await browser.page.goto(request.url.href);
      // The first page at Tollgate after the round trip that is not a redirect.
      const ended = browser.page.waitForResponse((r: Response) => r.request().isNavigationRequest() && r.url().startsWith(`${t.issuer}/`) && (r.status() < 300 || r.status() >= 400));
      await browser.page.click(`form[data-provider="${provider}"] button`);
      const response = await ended;
      await browser.page.waitForLoadState('load');
      return { status: response.status(), title: (await browser.page.textContent('h1')) ?? '', text: (await browser.page.textContent('main')) ?? '' };
    } finally {
      await browser.close();
    }
  }

  const accountsWith = async (email: string) => t.tollgate.accounts.list({ email });

  test('GitHub: the first sign-in creates the account with the primary address; the numeric id is the identity; amr "fed", idp "github"', async () => {
    upstreams.github.setBehaviour({ signInAs: OCTOCAT.id });
    const claims = await signInWith('github');
    assert.equal(claims.iss, t.issuer);
    assert.equal(claims.email, 'octo@example.test', 'the primary address (lower-cased), not the public profile e-mail');
    assert.equal(claims.email_verified, true, 'GitHub marks it verified');
    assert.equal(claims.name, 'The Octocat');
    assert.deepEqual(claims.amr, ['fed']);
    assert.equal(claims.idp, 'github');
    const [account, ...others] = await accountsWith('octo@example.test');
    assert.ok(account && others.length === 0);
    assert.equal(claims.sub, account.id);
    assert.equal(account.has_password, false);
    assert.equal((await accountsWith('octocat-public@example.test')).length, 0);
    const linked = await t.tollgate.repositories.linkedIdentities.listByAccount(account.id);
    assert.deepEqual(linked.map((i) => [i.providerId, i.upstreamSub]), [['github', '583231']], "GitHub's numeric id, as a string");

    // What GitHub received: PKCE (S256) and a state; the secret in the body; JSON asked for.
    const authorize = upstreams.github.received.filter((r) => r.endpoint === 'authorize').at(-1)!;
    assert.equal(authorize.params.code_challenge_method, 'S256');
    assert.ok(authorize.params.code_challenge && authorize.params.state);
    assert.equal(authorize.params.scope, 'read:user user:email');
    assert.equal(authorize.params.redirect_uri, `${t.issuer}/interaction/federated/github/callback`);
    assert.equal(authorize.params.nonce, undefined, 'no nonce: there is no ID token to carry it');
    const token = upstreams.github.received.filter((r) => r.endpoint === 'token').at(-1)!;
    assert.equal(token.status, 200);
    assert.equal(token.clientAuthentication, 'body');
    assert.ok(token.params.code_verifier);
    assert.match(token.accept ?? '', /application\/json/);
    assert.deepEqual(upstreams.github.received.slice(-2).map((r) => [r.endpoint, r.status]), [['user', 200], ['emails', 200]]);

    // A renamed GitHub login is the same person: the same account signs in.
    upstreams.github.users[0] = { ...OCTOCAT, login: 'octocat-renamed' };
    const again = await signInWith('github');
    assert.equal(again.sub, account.id);
    assert.equal((await accountsWith('octo@example.test')).length, 1);
  });

  test('GitHub: an unverified primary address makes an account with email_verified false', async () => {
    upstreams.github.setBehaviour({ signInAs: NEWBIE.id });
    const claims = await signInWith('github');
    assert.equal(claims.email, 'newbie@example.test');
    assert.equal(claims.email_verified, false);
    const [account] = await accountsWith('newbie@example.test');
    assert.equal(account?.email_verified, false);
    assert.equal(account?.id, claims.sub);
  });

  test('GitHub: no primary address shared → "An e-mail address is needed", nothing created', async () => {
    upstreams.github.setBehaviour({ signInAs: SECRETIVE.id });
    const before = (await t.tollgate.accounts.list()).length;
    const page = await failedSignIn('github');
    assert.equal(page.title, 'An e-mail address is needed');
    assert.match(page.text, /GitHub did not share an e-mail address/);
    assert.ok(page.status >= 400 && page.status < 500, `a refusal, not a server error (${page.status})`);
    assert.equal((await t.tollgate.accounts.list()).length, before);
    assert.equal((await accountsWith('secondary@example.test')).length, 0, 'a secondary address is not taken instead');
    assert.equal(await t.tollgate.repositories.linkedIdentities.find('github', String(SECRETIVE.id)), undefined);
  });

  test('GitHub without the user:email scope: its e-mails API answers 404 → "An e-mail address is needed", nothing created', async () => {
    upstreams.github.setBehaviour({ signInAs: OCTOCAT.id });
    const before = (await t.tollgate.accounts.list()).length;
    const page = await failedSignIn('github-profile');
    assert.deepEqual(upstreams.github.received.slice(-2).map((r) => [r.endpoint, r.status]), [['user', 200], ['emails', 404]]);
    assert.equal(page.title, 'An e-mail address is needed');
    assert.match(page.text, /사내 깃허브 did not share an e-mail address/);
    assert.equal((await t.tollgate.accounts.list()).length, before);
    assert.equal(await t.tollgate.repositories.linkedIdentities.find('github-profile', String(OCTOCAT.id)), undefined);
  });

  test('GitHub: a token error sent with HTTP 200 (bad_verification_code) → a failure page at Tollgate, not a 500', async () => {
    upstreams.github.setBehaviour({ signInAs: OCTOCAT.id, token: 'expired-code' });
    try {
      const page = await failedSignIn('github');
      const token = upstreams.github.received.filter((r) => r.endpoint === 'token').at(-1)!;
      assert.equal(token.status, 200, 'GitHub answers its token errors with 200');
      assert.equal(page.status, 502);
      assert.equal(page.title, 'Sign-in failed');
      assert.match(page.text, /GitHub could not complete the sign-in/);
      assert.doesNotMatch(page.text, /bad_verification_code/, "never the upstream's text");
      // The operator's log names GitHub's refusal (its 200 answer read as the error it is, RFC 6749 §5.2).
      assert.ok(t.logs.some((line) => line.includes('social sign-in failed') && line.includes('refused the code exchange: bad_verification_code')), 'the log says why');
      assert.equal(upstreams.github.received.at(-1)!.endpoint, 'token', 'no user API call after a refused exchange');
    } finally {
      upstreams.github.setBehaviour({});
    }
  });

  test('Naver: its string expires_in is taken; the account is unverified; the name is `name`, else `nickname`', async () => {
    upstreams.naver.setBehaviour({ signInAs: GILDONG.id });
    const claims = await signInWith('naver');
    assert.equal(claims.email, 'gildong@example.test');
    assert.equal(claims.email_verified, false, 'Naver states no verification');
    assert.equal(claims.name, '홍길동');
    assert.deepEqual(claims.amr, ['fed']);
    assert.equal(claims.idp, 'naver');
    const [account] = await accountsWith('gildong@example.test');
    assert.equal(account?.email_verified, false);
    assert.equal(account?.name, '홍길동');
    assert.deepEqual((await t.tollgate.repositories.linkedIdentities.listByAccount(account!.id)).map((i) => [i.providerId, i.upstreamSub]), [['naver', GILDONG.id]]);
    const authorize = upstreams.naver.received.filter((r) => r.endpoint === 'authorize').at(-1)!;
    const token = upstreams.naver.received.filter((r) => r.endpoint === 'token').at(-1)!;
    assert.equal(token.status, 200);
    assert.equal(token.clientAuthentication, 'body');
    assert.equal(token.params.state, authorize.params.state, "Naver's token request names the authorization's state");
    assert.equal(upstreams.naver.received.at(-1)!.endpoint, 'me');

    upstreams.naver.setBehaviour({ signInAs: NICKY.id });
    const nicky = await signInWith('naver');
    assert.equal(nicky.name, 'nicky');
    assert.equal((await accountsWith('nicky@example.test'))[0]?.name, 'nicky');
  });

  test('Naver: a token error sent with HTTP 200 → a failure page at Tollgate', async () => {
    upstreams.naver.setBehaviour({ signInAs: NICKY.id, token: 'expired-code' });
    try {
      const page = await failedSignIn('naver');
      assert.equal(upstreams.naver.received.filter((r) => r.endpoint === 'token').at(-1)!.status, 200);
      assert.equal(page.status, 502);
      assert.equal(page.title, 'Sign-in failed');
      assert.equal(upstreams.naver.received.at(-1)!.endpoint, 'token', 'no user API call after a refused exchange');
      assert.ok(t.logs.some((line) => line.includes('social sign-in failed') && line.includes('refused the code exchange: invalid_request')), 'the log says why');
    } finally {
      upstreams.naver.setBehaviour({});
    }
  });

  test('Naver: a cancelled sign-in (error=access_denied) → "Sign-in cancelled", nothing created; in Korean too', async () => {
    upstreams.naver.setBehaviour({ authorization: 'deny' });
    try {
      const before = (await t.tollgate.accounts.list()).length;
      const page = await failedSignIn('naver');
      assert.equal(page.status, 403);
      assert.equal(page.title, 'Sign-in cancelled');
      assert.match(page.text, /Naver did not let you sign in/);
      const korean = await failedSignIn('naver', 'ko-KR');
      assert.equal(korean.title, '로그인 취소됨');
      assert.match(korean.text, /네이버에서 로그인을 허용하지 않았습니다/);
      assert.equal((await t.tollgate.accounts.list()).length, before);
    } finally {
      upstreams.naver.setBehaviour({});
    }
  });

  /** The login page's provider buttons, by provider id. */
  async function buttons(locale: string, params: Record<string, string> = {}): Promise<Record<string, string>> {
    const browser = await launchPlainBrowser(locale);
    try {
      const request = await authorizationRequest(rp, params);
      await browser.page.goto(request.url.href);
      const forms = await browser.page.locator('form[data-provider]').all();
      const labels: Record<string, string> = {};
      for (const form of forms) {
        assert.equal(await form.getAttribute('method'), 'post', 'a plain form');
        labels[(await form.getAttribute('data-provider'))!] = (await form.locator('button').textContent())!.trim();
      }
      return labels;
    } finally {
      await browser.close();
    }
  }

  test('the login page in Korean (Accept-Language or ui_locales): 카카오로, 네이버로, 깃허브로 계속하기; an operator\'s name as written', async () => {
    const expected = { github: '깃허브로 계속하기', 'github-profile': '사내 깃허브로 계속하기', naver: '네이버로 계속하기', kakao: '카카오로 계속하기', acme: 'Acme SSO(으)로 계속하기' };
    assert.deepEqual(await buttons('ko-KR'), expected);
    assert.deepEqual(await buttons('en-US', { ui_locales: 'ko' }), expected);
    assert.deepEqual(await buttons('en-US'), { github: 'Continue with GitHub', 'github-profile': 'Continue with 사내 깃허브', naver: 'Continue with Naver', kakao: 'Continue with Kakao', acme: 'Continue with Acme SSO' });
  });

  test('the log holds no upstream client secret and no upstream access token', () => {
    assert.ok(t.logs.length > 0);
    for (const line of t.logs) {
      assert.ok(!line.includes(GITHUB_SECRET) && !line.includes(NAVER_SECRET), 'a client secret in the log');
      assert.doesNotMatch(line, /gho_[A-Za-z0-9_-]{10}/, 'a GitHub access token in the log');
    }
  });
});
