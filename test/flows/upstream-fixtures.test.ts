// Self-tests of the upstream identity providers the social-login tests sign
// in through (issue 15): the upstream OpenID Connect provider in its own
// process (test/support/upstream-op.ts) seen by openid-client, each of its
// failure modes as openid-client reports it, and the fixture standing in for
// GitHub and Naver (test/support/oauth2-upstreams.ts) through a whole flow
// of each with plain fetch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startUpstreamOp, type UpstreamOp, type UpstreamUser } from '../support/upstream-op.ts';
import { startOAuth2Upstreams, type OAuth2Upstreams } from '../support/oauth2-upstreams.ts';
import { UserAgent } from '../support/user-agent.ts';
import { launchBrowser, requireChromium } from '../support/browser.ts';

const REDIRECT = 'https://rp.example.test/upstream-callback';
const CLIENT_ID = 'tollgate';
const CLIENT_SECRET = 'an-upstream-client-secret-0123456789';
const ADA: UpstreamUser = { sub: 'upstream-ada', email: 'ada@upstream.test', email_verified: true, name: 'Ada Upstream' };
const UNVERIFIED: UpstreamUser = { sub: 'upstream-eve', email: 'eve@upstream.test', email_verified: false, name: 'Eve Unverified' };

describe('the upstream OpenID Connect provider', () => {
  let op: UpstreamOp;
  before(async () => {
    op = await startUpstreamOp({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT] }], users: [ADA, UNVERIFIED] });
  });
  after(async () => { await op.close(); });

  /** Discovery as a relying party does it; ID token signatures checked against the JWKS unless `trustTls`. */
  async function relyingParty(options: { trustTls?: boolean; timeoutSeconds?: number } = {}) {
    const execute = [oidc.allowInsecureRequests, ...(options.trustTls ? [] : [oidc.enableNonRepudiationChecks])];
    const config = await oidc.discovery(new URL(op.issuer), CLIENT_ID, CLIENT_SECRET, undefined, { execute });
    if (options.timeoutSeconds) config.timeout = options.timeoutSeconds;
    return config;
  }

  /** A person's browser without a browser: follows the redirects to the client's callback, returns its URL. */
  const byAgent = (agent = new UserAgent()) => async (url: string) => (await agent.navigate(url, {}, REDIRECT)).url;

  /** One sign-in at the upstream: authorization request with PKCE, state and nonce; the callback; the code exchange. */
  async function signIn(config: oidc.Configuration, follow = byAgent()) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email profile', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await follow(url.href);
    assert.ok(callback.startsWith(REDIRECT), `the upstream sends the browser back to the client: ${callback}`);
    return oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  }

  /** What openid-client threw, as one line: its message, its code and its cause's message. */
  async function failure(attempt: Promise<unknown>): Promise<string> {
    const err = await attempt.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Error, 'the sign-in fails');
    const cause = err.cause instanceof Error ? err.cause.message : '';
    return `${err.name}: ${err.message} [${(err as { code?: string }).code ?? ''}] ${cause}`;
  }

  test('a code flow with PKCE completes: discovery, code exchange, ID token validated against its JWKS, userinfo', async () => {
    await op.setBehaviour({});
    const config = await relyingParty();
    const metadata = config.serverMetadata();
    assert.equal(metadata.issuer, op.issuer);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    assert.ok(metadata.jwks_uri && metadata.userinfo_endpoint);

    const tokens = await signIn(config);
    const claims = tokens.claims()!;
    assert.equal(claims.iss, op.issuer);
    assert.equal(claims.aud, CLIENT_ID);
    assert.equal(claims.sub, ADA.sub);
    assert.equal(claims.email, ADA.email, 'the e-mail is in the ID token, as Google puts it there');
    assert.equal(claims.email_verified, true);
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, ADA.sub);
    assert.deepEqual({ email: userinfo.email, email_verified: userinfo.email_verified, name: userinfo.name }, { email: ADA.email, email_verified: true, name: ADA.name });

    const received = await op.received();
    const last = received.authorizations.at(-1)!;
    assert.equal(last.code_challenge_method, 'S256');
    assert.ok(last.nonce && last.state);
    assert.equal(received.tokenRequests.at(-1)!.status, 200);
    assert.ok(received.tokenRequests.at(-1)!.codeVerifier);
  });

  test('PKCE is required: an authorization request without a code challenge is refused back to the client', async () => {
    const url = `${op.issuer}/auth?${new URLSearchParams({ client_id: CLIENT_ID, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 's1' })}`;
    const callback = await new UserAgent().navigate(url, {}, REDIRECT);
    const params = new URL(callback.url).searchParams;
    assert.equal(params.get('error'), 'invalid_request');
    assert.match(params.get('error_description')!, /PKCE/);
    assert.equal(params.get('state'), 's1');
  });

  test('which user signs in is switched at run time, in one browser; an unverified e-mail says email_verified false', async () => {
    const config = await relyingParty();
    const agent = byAgent();
    await op.setBehaviour({ signInAs: UNVERIFIED.sub });
    const first = (await signIn(config, agent)).claims()!;
    assert.equal(first.sub, UNVERIFIED.sub);
    assert.equal(first.email, UNVERIFIED.email);
    assert.equal(first.email_verified, false);
    await op.setBehaviour({ signInAs: ADA.sub });
    assert.equal((await signIn(config, agent)).claims()!.sub, ADA.sub, 'no remembered session signs the previous user in');
  });

  test('in Chromium, the sign-in is redirects only: two sign-ins as two users in one browser', { skip: requireChromium() }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      // The callback's host does not exist: the test takes the URL Chromium
      // was sent to (a redirect target is not routable through page.route).
      const inChromium = async (url: string) => {
        const callback = page.waitForRequest((r) => r.url().startsWith(REDIRECT));
        await page.goto(url).catch(() => undefined);
        return (await callback).url();
      };
      const config = await relyingParty();
      // A failure says what openid-client found wrong (its cause), not only "invalid response encountered".
      const explained = (attempt: Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>) => attempt.catch((err: unknown) => {
        const cause = (err as { cause?: unknown }).cause;
        throw new Error(`${(err as Error).message}: ${cause instanceof Error ? cause.message : JSON.stringify(cause)?.slice(0, 500)}`, { cause: err });
      });
      await op.setBehaviour({ signInAs: ADA.sub });
      assert.equal((await explained(signIn(config, inChromium))).claims()!.sub, ADA.sub);
      await op.setBehaviour({ signInAs: UNVERIFIED.sub });
      assert.equal((await explained(signIn(config, inChromium))).claims()!.sub, UNVERIFIED.sub);
    } finally {
      await browser.close();
    }
  });

  test('deny: the callback carries error=access_denied, which openid-client reports', async () => {
    await op.setBehaviour({ authorization: 'deny' });
    const err = await signIn(await relyingParty()).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof oidc.AuthorizationResponseError, String(err));
    assert.equal(err.error, 'access_denied');
  });

  test('wrong state: the callback state is not the one sent, and openid-client refuses it', async () => {
    await op.setBehaviour({ authorization: 'wrong-state' });
    const error = await failure(signIn(await relyingParty()));
    assert.match(error, /OAUTH_INVALID_RESPONSE.*unexpected "state"/);
  });

  test('slow: the token endpoint answers late, and a relying party with a shorter timeout gives up', async () => {
    await op.setBehaviour({ tokenDelayMs: 2_500 });
    const startedAt = Date.now();
    await assert.rejects(signIn(await relyingParty({ timeoutSeconds: 1 })), (e: Error) => e.name === 'TimeoutError' || /timeout|aborted/i.test(`${e.message} ${String(e.cause)}`));
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 1_000 && elapsed < 2_500, `gave up after the 1 s timeout, not the upstream's 2.5 s (${elapsed} ms)`);
  });

  test('wrong nonce: the ID token names another nonce, and openid-client refuses it', async () => {
    await op.setBehaviour({ idToken: 'wrong-nonce' });
    const error = await failure(signIn(await relyingParty()));
    assert.match(error, /OAUTH_JWT_CLAIM_COMPARISON_FAILED.*"nonce"/);
  });

  test('another audience: the ID token is for another client, and openid-client refuses it', async () => {
    await op.setBehaviour({ idToken: 'wrong-audience' });
    const error = await failure(signIn(await relyingParty()));
    assert.match(error, /OAUTH_JWT_CLAIM_COMPARISON_FAILED.*"aud"/);
  });

  test('unknown key: the ID token is signed by a key not in the JWKS; refused when signatures are checked, accepted when only TLS is trusted', async () => {
    await op.setBehaviour({ idToken: 'unknown-key' });
    const error = await failure(signIn(await relyingParty()));
    assert.match(error, /OAUTH_KEY_SELECTION_FAILED/);
    // openid-client's default: an ID token straight from the token endpoint is
    // trusted on TLS (OpenID Connect Core §3.1.3.7, 6.). A relying party that
    // must refuse this token calls enableNonRepudiationChecks.
    assert.equal((await signIn(await relyingParty({ trustTls: true }))).claims()!.sub, ADA.sub);
  });

  test('bad signature: the ID token names the JWKS key but another key signed it, and openid-client refuses it', async () => {
    await op.setBehaviour({ idToken: 'bad-signature' });
    assert.match(await failure(signIn(await relyingParty())), /signature verification failed/);
  });
});

describe('the fixture standing in for GitHub and Naver', () => {
  let upstreams: OAuth2Upstreams;
  const GITHUB_APP = { clientId: 'Iv1.gh-client', clientSecret: 'github-client-secret-0123456789', redirectUris: ['https://rp.example.test/github/callback'] };
  const NAVER_APP = { clientId: 'naver-client', clientSecret: 'naver-secret', redirectUris: ['https://rp.example.test/naver/callback'] };
  before(async () => {
    upstreams = await startOAuth2Upstreams({
      github: {
        app: GITHUB_APP,
        users: [{
          id: 583231, login: 'octocat', name: 'The Octocat', email: null,
          emails: [
            { email: 'octocat@users.noreply.github.com', primary: false, verified: true, visibility: null },
            { email: 'octo@example.test', primary: true, verified: true, visibility: 'private' },
          ],
        }],
      },
      naver: { app: NAVER_APP, users: [{ id: '32742776', email: 'naver-user@example.test', name: '홍길동', nickname: 'gildong' }] },
    });
  });
  after(async () => { await upstreams.close(); });

  async function githubCode(params: Record<string, string>): Promise<URL> {
    const res = await fetch(`${upstreams.github.authorizationEndpoint}?${new URLSearchParams({ client_id: GITHUB_APP.clientId, ...params })}`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    return new URL(res.headers.get('location')!);
  }

  test('GitHub: authorize, token as JSON, /user with a null public e-mail, /user/emails with the primary verified one', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await githubCode({
      redirect_uri: GITHUB_APP.redirectUris[0]!, scope: 'read:user user:email', state: 'st-1',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    assert.equal(callback.origin + callback.pathname, GITHUB_APP.redirectUris[0]);
    assert.equal(callback.searchParams.get('state'), 'st-1');
    const code = callback.searchParams.get('code')!;
    assert.match(code, /^[0-9a-f]{20}$/);

    const tokenRes = await fetch(upstreams.github.tokenEndpoint, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: GITHUB_APP.clientId, client_secret: GITHUB_APP.clientSecret, code, redirect_uri: GITHUB_APP.redirectUris[0]!, code_verifier: verifier }),
    });
    assert.equal(tokenRes.status, 200);
    const token = await tokenRes.json() as { access_token: string; token_type: string; scope: string };
    assert.match(token.access_token, /^gho_/);
    assert.equal(token.token_type, 'bearer');
    assert.equal(token.scope, 'read:user,user:email', 'GitHub answers the scope comma-separated');

    const user = await (await fetch(upstreams.github.userEndpoint, { headers: { authorization: `Bearer ${token.access_token}` } })).json() as Record<string, unknown>;
    assert.equal(user.id, 583231);
    assert.equal(user.login, 'octocat');
    assert.equal(user.name, 'The Octocat');
    assert.equal(user.email, null);
    const emails = await (await fetch(upstreams.github.emailsEndpoint, { headers: { authorization: `token ${token.access_token}` } })).json() as Array<{ email: string; primary: boolean; verified: boolean }>;
    assert.deepEqual(emails.filter((e) => e.primary && e.verified).map((e) => e.email), ['octo@example.test']);

    const tokenRequest = upstreams.github.received.find((r) => r.endpoint === 'token')!;
    assert.equal(tokenRequest.clientAuthentication, 'body');
    assert.equal(tokenRequest.params.code_verifier, verifier);
    assert.equal(tokenRequest.params.client_secret, undefined, 'secrets are not recorded');
  });

  test('GitHub: its answers on the unhappy paths', async () => {
    // Without Accept: application/json, the token answer is form-encoded; a used code is refused, with status 200.
    const code = (await githubCode({ scope: 'read:user', state: 's' })).searchParams.get('code')!;
    const form = { client_id: GITHUB_APP.clientId, client_secret: GITHUB_APP.clientSecret, code };
    const first = await fetch(upstreams.github.tokenEndpoint, { method: 'POST', body: new URLSearchParams(form) });
    assert.match(first.headers.get('content-type')!, /x-www-form-urlencoded/);
    const accessToken = new URLSearchParams(await first.text()).get('access_token')!;
    const again = await fetch(upstreams.github.tokenEndpoint, { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams(form) });
    assert.equal(again.status, 200);
    assert.equal((await again.json() as { error: string }).error, 'bad_verification_code');

    const challenged = (await githubCode({ state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' })).searchParams.get('code')!;
    const wrongVerifier = await fetch(upstreams.github.tokenEndpoint, { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams({ ...form, code: challenged, code_verifier: oidc.randomPKCECodeVerifier() }) });
    assert.equal((await wrongVerifier.json() as { error: string }).error, 'bad_verification_code', 'a code sent with a challenge needs its verifier');

    const code2 = (await githubCode({ state: 's' })).searchParams.get('code')!;
    const wrongSecret = await fetch(upstreams.github.tokenEndpoint, { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams({ ...form, code: code2, client_secret: 'not-it' }) });
    assert.equal((await wrongSecret.json() as { error: string }).error, 'incorrect_client_credentials');

    const emails = await fetch(upstreams.github.emailsEndpoint, { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal(emails.status, 404, 'no user:email scope, no e-mail addresses');
    assert.equal((await fetch(upstreams.github.userEndpoint, { headers: { authorization: 'Bearer gho_not-a-token' } })).status, 401);
    assert.equal((await fetch(upstreams.github.userEndpoint, { headers: { authorization: `Bearer ${accessToken}`, 'user-agent': '' } })).status, 403, 'the API needs a User-Agent');

    const mismatch = await githubCode({ redirect_uri: 'https://rp.example.test/elsewhere', state: 's' });
    assert.equal(mismatch.searchParams.get('error'), 'redirect_uri_mismatch');
    upstreams.github.setBehaviour({ authorization: 'deny' });
    const denied = await githubCode({ state: 's-deny' });
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('state'), 's-deny');
    upstreams.github.setBehaviour({ authorization: 'wrong-state' });
    assert.notEqual((await githubCode({ state: 's-3' })).searchParams.get('state'), 's-3');
    upstreams.github.setBehaviour({});
  });

  test('Naver: authorize, token with expires_in as a string, /v1/nid/me in its envelope; errors with status 200 and its resultcode', async () => {
    const authorize = (state: string) => fetch(`${upstreams.naver.authorizationEndpoint}?${new URLSearchParams({ response_type: 'code', client_id: NAVER_APP.clientId, redirect_uri: NAVER_APP.redirectUris[0]!, state })}`, { redirect: 'manual' });
    const callback = new URL((await authorize('nv-1')).headers.get('location')!);
    assert.equal(callback.searchParams.get('state'), 'nv-1');
    const code = callback.searchParams.get('code')!;

    const tokenUrl = (params: Record<string, string>) => `${upstreams.naver.tokenEndpoint}?${new URLSearchParams({ grant_type: 'authorization_code', client_id: NAVER_APP.clientId, client_secret: NAVER_APP.clientSecret, state: 'nv-1', ...params })}`;
    const token = await (await fetch(tokenUrl({ code }))).json() as Record<string, unknown>;
    assert.equal(token.token_type, 'bearer');
    assert.equal(token.expires_in, '3600');
    assert.ok(typeof token.access_token === 'string' && typeof token.refresh_token === 'string');
    const me = await (await fetch(upstreams.naver.userEndpoint, { headers: { authorization: `Bearer ${token.access_token as string}` } })).json();
    assert.deepEqual(me, { resultcode: '00', message: 'success', response: { id: '32742776', email: 'naver-user@example.test', name: '홍길동', nickname: 'gildong' } });

    const otherState = new URL((await authorize('nv-other')).headers.get('location')!).searchParams.get('code')!;
    assert.equal((await (await fetch(tokenUrl({ code: otherState }))).json() as { error: string }).error, 'invalid_request', 'the token request names the state of its authorization');
    const reused = await fetch(tokenUrl({ code }));
    assert.equal(reused.status, 200);
    assert.equal((await reused.json() as { error: string }).error, 'invalid_request');
    const badToken = await fetch(upstreams.naver.userEndpoint, { headers: { authorization: 'Bearer nope' } });
    assert.equal(badToken.status, 401);
    assert.equal((await badToken.json() as { resultcode: string }).resultcode, '024');

    upstreams.naver.setBehaviour({ authorization: 'deny' });
    const denied = new URL((await authorize('nv-2')).headers.get('location')!);
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('error_description'), 'Canceled By User');
    upstreams.naver.setBehaviour({});
    const wrongCallback = await fetch(`${upstreams.naver.authorizationEndpoint}?${new URLSearchParams({ response_type: 'code', client_id: NAVER_APP.clientId, redirect_uri: 'https://rp.example.test/other', state: 'x' })}`, { redirect: 'manual' });
    assert.equal(wrongCallback.status, 400);
    assert.deepEqual(upstreams.naver.received.filter((r) => r.endpoint === 'token').map((r) => r.clientAuthentication), ['body', 'body', 'body']);
  });
});
