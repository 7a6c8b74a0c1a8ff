// URLs come from ISSUER only (issue 12). A request may name any host: a
// forged Host header, X-Forwarded-Host (believed by nothing, TRUST_PROXY or
// not), or a request line in absolute form (`GET http://evil.example/...`).
// Whatever it names, discovery, redirects, form actions, links and the
// admin API's Location carry the issuer's scheme, host, port and path; a
// cache in front can never be handed a poisoned document. Each poisoned
// request here is sent to the real server, as an attacker reaching it
// directly (or through a proxy passing the header on) would.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { freePort } from '../support/ports.ts';
import { UserAgent } from '../support/user-agent.ts';
import { REDIRECT, adminResource, authorizationRequest, logInWith } from '../support/sign-in.ts';
import { basicAuth } from '../support/admin.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';

const PASSWORD = 'correct horse battery';
const WEB_SECRET = 'web-client-secret-long-enough-0123456789';
const OPS_SECRET = 'ops-client-secret-long-enough-0123456789';
const LOGOUT_REDIRECT = 'https://app.example.test/signed-out';
const EVIL = 'evil.example';

interface Poison {
  name: string;
  /** Sent in place of (or beside) the real Host header. */
  headers: Record<string, string>;
  /** The request line names another origin: `GET http://evil.example/path HTTP/1.1`. */
  absoluteForm?: boolean;
}

const HOST: Poison = { name: 'Host: evil.example', headers: { host: EVIL } };
const ABSOLUTE_FORM: Poison = { name: 'absolute-form request target', headers: {}, absoluteForm: true };
const FORWARDED_HOST: Poison = { name: 'X-Forwarded-Host: evil.example (and X-Forwarded-Proto: https)', headers: { 'x-forwarded-host': EVIL, 'x-forwarded-proto': 'https' } };

interface Answer { url: string; status: number; headers: Headers; body: string }

/**
 * A fetch that always connects to the server under test and writes the
 * request with `poison`; every answer is kept in `seen`.
 */
function poisonedFetch(port: number, poison: Poison, seen: Answer[]): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) => new Promise<Response>((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers: Record<string, string> = { host: url.host, ...Object.fromEntries(new Headers(init.headers)), ...poison.headers };
    const body = bodyBytes(init.body);
    if (body) headers['content-length'] = String(body.length);
    const target = `${url.pathname}${url.search}`;
    const req = request({ host: '127.0.0.1', port, method: init.method ?? 'GET', path: poison.absoluteForm ? `http://${EVIL}${target}` : target, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const answerHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) answerHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const text = Buffer.concat(chunks);
        const status = res.statusCode!;
        seen.push({ url: url.href, status, headers: answerHeaders, body: text.toString('utf8') });
        resolve(new Response([204, 304].includes(status) ? null : text, { status, headers: answerHeaders }));
      });
    });
    req.on('error', reject);
    req.end(body);
  })) as typeof fetch;
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return Buffer.from(body as Uint8Array);
  throw new Error('body type not supported by this test fetch');
}

/** Every URL emitted in `seen`: Location headers, form actions, links, and URL strings of JSON documents. */
function emittedUrls(seen: Answer[]): Array<{ at: string; url: string }> {
  const urls: Array<{ at: string; url: string }> = [];
  const decode = (s: string) => s.replace(/&#x2F;/g, '/').replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
  for (const answer of seen) {
    const location = answer.headers.get('location');
    if (location) urls.push({ at: `${answer.status} ${answer.url} Location`, url: location });
    for (const m of answer.body.matchAll(/\b(?:action|href|src)="([^"]*)"/g)) urls.push({ at: `${answer.url} attribute`, url: decode(m[1]!) });
    if ((answer.headers.get('content-type') ?? '').includes('json')) {
      JSON.stringify(JSON.parse(answer.body), (_key, value: unknown) => {
        if (typeof value === 'string' && /^https?:/i.test(value)) urls.push({ at: `${answer.url} JSON`, url: value });
        return value;
      });
    }
  }
  return urls;
}

/**
 * Nothing in `seen` names the forged host, and every URL emitted is the
 * issuer's (absolute, or a path below the issuer's path) or one the client
 * registered.
 */
function assertIssuerOnly(seen: Answer[], issuer: string, clientUrls: string[] = []): void {
  assert.ok(seen.length > 0, 'something was answered');
  for (const answer of seen) {
    for (const [name, value] of answer.headers) assert.ok(!value.includes(EVIL), `${answer.url}: header ${name}: ${value}`);
    assert.ok(!answer.body.includes(EVIL), `${answer.url} (${answer.status}) names ${EVIL}: ${answer.body.slice(0, 400)}`);
  }
  const prefix = new URL(issuer).pathname.replace(/\/$/, '');
  for (const { at, url } of emittedUrls(seen)) {
    const ours = url === issuer || url.startsWith(`${issuer}/`) || (url.startsWith(`${prefix}/`) && !url.startsWith('//'));
    assert.ok(ours || clientUrls.some((c) => url.startsWith(c)), `${at}: ${url} is not below ${issuer}`);
  }
}

interface Setup {
  title: string;
  /** ISSUER for a server listening on plain HTTP at `port`. */
  issuer: (origin: string) => string;
  env?: Record<string, string>;
  poisons: Poison[];
}

const SETUPS: Setup[] = [
  { title: 'a root issuer', issuer: (origin) => origin, poisons: [HOST, ABSOLUTE_FORM] },
  { title: 'an issuer with a path, behind a trusted proxy (TRUST_PROXY=true)', issuer: (origin) => `${origin}/id`, env: { TRUST_PROXY: 'true' }, poisons: [FORWARDED_HOST, HOST, ABSOLUTE_FORM] },
  // TLS ends before Tollgate (a proxy TRUST_PROXY does not describe): the scheme comes from ISSUER too.
  { title: 'an https issuer with a path, reached over plain HTTP', issuer: (origin) => `${origin.replace('http:', 'https:')}/tls`, poisons: [HOST] },
];

for (const setup of SETUPS) {
  describe(`URLs come from ISSUER only: ${setup.title}`, () => {
    let t: TestTollgate;
    let port: number;
    let smtp: TestSmtp;
    before(async () => {
      port = await freePort();
      smtp = await startSmtp();
      t = await startTestTollgate({ port, smtp, env: { ISSUER: setup.issuer(`http://localhost:${port}`), ...setup.env } });
      await t.tollgate.clients.register({ id: 'web', secret: WEB_SECRET, redirectUris: [REDIRECT], postLogoutRedirectUris: [LOGOUT_REDIRECT], scope: 'openid email basic' });
      await t.tollgate.clients.register({ id: 'ops', secret: OPS_SECRET, grantTypes: ['client_credentials'], scope: 'basic admin' });
      await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    });
    after(async () => {
      await t.close();
      await removeDirs(t.dirs);
      await smtp.close();
    });

    // First: the document must not be captured from a poisoned first request either.
    test('discovery lists the issuer\'s endpoints, whoever asks first and under whatever host', async () => {
      const discovery = `${t.issuer}/.well-known/openid-configuration`;
      const seen: Answer[] = [];
      for (const poison of setup.poisons) {
        const res = await poisonedFetch(port, poison, seen)(discovery);
        assert.equal(res.status, 200, poison.name);
        const metadata = (await res.json()) as Record<string, string>;
        assert.equal(metadata.issuer, t.issuer);
        assert.equal(metadata.token_endpoint, `${t.issuer}/token`, poison.name);
        assert.equal(metadata.authorization_endpoint, `${t.issuer}/auth`, poison.name);
        assert.equal(metadata.jwks_uri, `${t.issuer}/jwks`, poison.name);
        assert.equal(metadata.end_session_endpoint, `${t.issuer}/session/end`, poison.name);
      }
      // Honest requests, after the poisoned ones: the same document.
      const plain = await poisonedFetch(port, { name: 'none', headers: {} }, seen)(discovery);
      assert.equal(plain.status, 200);
      assert.ok(seen.every((answer) => answer.body === seen[0]!.body), 'one document for every host');
      assertIssuerOnly(seen, t.issuer);
    });

    test('openid-client discovering through a poisoned request gets the issuer\'s endpoints, and a token there', async () => {
      for (const poison of setup.poisons) {
        const seen: Answer[] = [];
        const rp = await oidc.discovery(new URL(t.issuer), 'ops', OPS_SECRET, undefined, {
          execute: [oidc.allowInsecureRequests],
          [oidc.customFetch]: poisonedFetch(port, poison, seen),
        });
        const metadata = rp.serverMetadata();
        for (const endpoint of [metadata.token_endpoint, metadata.authorization_endpoint, metadata.jwks_uri, metadata.introspection_endpoint, metadata.pushed_authorization_request_endpoint]) {
          assert.ok(endpoint?.startsWith(`${t.issuer}/`), `${poison.name}: ${endpoint}`);
        }
        const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'basic' });
        assert.equal(tokens.token_type.toLowerCase(), 'bearer');
        assert.ok(seen.some((answer) => answer.url === `${t.issuer}/token`), poison.name);
        assertIssuerOnly(seen, t.issuer);
      }
    });

    test('sign-in, the account page and logout: every redirect, form action and link is the issuer\'s', async () => {
      for (const poison of setup.poisons) {
        const seen: Answer[] = [];
        const send = poisonedFetch(port, poison, seen);
        const rp = await oidc.discovery(new URL(t.issuer), 'web', WEB_SECRET, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: send });
        const agent = new UserAgent({}, send);

        const signIn = await authorizationRequest(rp);
        const callback = await logInWith(agent, signIn.url, { email: 'ada@example.test', password: PASSWORD });
        assert.ok(callback.url.startsWith(`${REDIRECT}?`), `${poison.name}: ended at ${callback.url}`);
        // The redirect after the login form goes back to the issuer's authorization endpoint.
        const resume = seen.find((answer) => answer.status === 303 && answer.url.endsWith('/login'));
        assert.ok(resume?.headers.get('location')?.startsWith(`${t.issuer}/auth/`), `${poison.name}: ${resume?.headers.get('location')}`);
        const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback.url), { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state, expectedNonce: signIn.nonce });

        const account = await agent.navigate(`${t.issuer}/account`);
        assert.equal(account.status, 200, `${poison.name}: ${account.body.slice(0, 300)}`);
        assert.match(account.body, /<form method="post" action="[^"]+\/logout-everywhere">/);

        const endSession = oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGOUT_REDIRECT, state: 'bye' });
        const confirm = await agent.navigate(endSession.href, {}, LOGOUT_REDIRECT);
        assert.equal(confirm.status, 200);
        // oidc-provider's own hidden form, rendered in our logout page.
        const action = /<form[^>]*id="op\.logoutForm"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*id="op\.logoutForm"/.exec(confirm.body);
        assert.equal(action?.[1] ?? action?.[2], `${t.issuer}/session/end/confirm`, poison.name);
        const done = await agent.submit(confirm, '/session/end/confirm', { logout: 'yes' }, LOGOUT_REDIRECT);
        assert.equal(done.url, `${LOGOUT_REDIRECT}?state=bye`);

        assertIssuerOnly(seen, t.issuer, [REDIRECT, LOGOUT_REDIRECT]);
      }
    });

    test('links in e-mails (a password reset asked for under a poisoned host) are the issuer\'s', async () => {
      for (const poison of setup.poisons) {
        const seen: Answer[] = [];
        const agent = new UserAgent({}, poisonedFetch(port, poison, seen));
        const before = smtp.messages.length;
        const form = await agent.navigate(`${t.issuer}/account/forgot-password`);
        assert.equal(form.status, 200, `${poison.name}: ${form.body.slice(0, 300)}`);
        assert.equal((await agent.submit(form, '/forgot-password', { email: 'ada@example.test' })).status, 200, poison.name);
        const message = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before && JSON.stringify(m.to).includes('ada@example.test'));
        const body = `${message.text ?? ''}\n${typeof message.html === 'string' ? message.html : ''}`;
        assert.ok(!body.includes(EVIL), `${poison.name}: the message names ${EVIL}`);
        const links = [...body.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
        assert.ok(links.some((link) => link.startsWith(`${t.issuer}/account/reset-password?token=`)), `${poison.name}: ${links.join(' ')}`);
        assert.ok(links.every((link) => link.startsWith(t.issuer)), `${poison.name}: ${links.join(' ')}`);
        assertIssuerOnly(seen, t.issuer);
      }
    });

    test('the admin API\'s Location names the issuer\'s path', async () => {
      // Asked honestly (through the same transport: an https issuer here is reached over plain HTTP).
      const honest = poisonedFetch(port, { name: 'none', headers: {} }, []);
      const tokenResponse = await honest(`${t.issuer}/token`, {
        method: 'POST',
        headers: { authorization: basicAuth('ops', OPS_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: adminResource(t) }),
      });
      const token = ((await tokenResponse.json()) as { access_token: string }).access_token;
      for (const [index, poison] of setup.poisons.entries()) {
        const seen: Answer[] = [];
        const res = await poisonedFetch(port, poison, seen)(`${t.issuer}/admin/v1/users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ email: `new-${index}@example.test`, password: PASSWORD }),
        });
        assert.equal(res.status, 201, poison.name);
        assert.match(res.headers.get('location') ?? '', new RegExp(`^${new URL(t.issuer).pathname.replace(/\/$/, '')}/admin/v1/users/[^/]+$`), poison.name);
        assertIssuerOnly(seen, t.issuer);
      }
    });
  });
}
