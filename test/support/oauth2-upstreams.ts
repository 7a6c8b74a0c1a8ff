// A TEST FIXTURE standing in for GitHub and Naver, which the tests cannot
// reach: one small HTTP server on loopback that implements the endpoints
// their documentation describes, with their answers and their quirks, for
// the OAuth 2.0 presets of social login (issue 15). Neither speaks OpenID
// Connect: no discovery, no ID token; the profile comes from a user API.
//
// GitHub (OAuth apps), after
// https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
// https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors,
// https://docs.github.com/en/rest/users/users#get-the-authenticated-user and
// https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user:
// - GET  /login/oauth/authorize: client_id, redirect_uri (optional: the
//   registered callback URL, or a path beneath it on the same host and
//   port), scope (space-separated), state, code_challenge (S256, optional);
//   redirects with code and state, or error=access_denied /
//   redirect_uri_mismatch (to the registered callback). Unknown client: 404.
// - POST /login/oauth/access_token: client_id, client_secret, code,
//   redirect_uri, code_verifier, as a form, JSON or query (client
//   credentials in HTTP Basic are accepted too). Answers JSON when Accept
//   asks for application/json, otherwise a form-encoded body; errors
//   (incorrect_client_credentials, redirect_uri_mismatch,
//   bad_verification_code) come with status 200. `scope` in the answer is
//   comma-separated.
// - GET  /user (Authorization: Bearer or token): `id` a number, `login`,
//   `name`, `email` (the public e-mail, null when there is none).
// - GET  /user/emails: `[{ email, primary, verified, visibility }]`; needs
//   the `user:email` (or `user`) scope, else 404 as GitHub answers where a
//   token may not see a resource. The API refuses requests without a
//   User-Agent (403), as api.github.com does.
// On github.com the API lives on another host (api.github.com); here both
// are on one server, as on GitHub Enterprise Server (whose API is under
// /api/v3). The e-mails endpoint is the user endpoint + '/emails'.
//
// Naver Login, after https://developers.naver.com/docs/login/api/api.md and
// https://developers.naver.com/docs/login/profile/profile.md:
// - GET  /oauth2.0/authorize: response_type=code, client_id, redirect_uri,
//   state; redirects with code and state, or error=access_denied&
//   error_description=Canceled+By+User. Unknown client or callback: 400 page.
// - GET or POST /oauth2.0/token: grant_type=authorization_code, client_id,
//   client_secret, code, state (query or form). Answers
//   `{ access_token, refresh_token, token_type: "bearer", expires_in: "3600" }`
//   (expires_in a string, as in Naver's examples); errors as
//   `{ error, error_description }` with status 200.
// - GET  /v1/nid/me (Authorization: Bearer): `{ resultcode: "00", message:
//   "success", response: { id, email, name, nickname, ... } }`; a bad token:
//   401 `{ resultcode: "024", message: "Authentication failed / 인증에 실패했습니다." }`.
//   Naver states no e-mail verification.
//
// Sign-in has no page: the authorization endpoint signs in
// `behaviour.signInAs` (else the first user) and consents at once, so a
// browser only follows a redirect. Behaviours per provider, replaced whole by
// `setBehaviour`: authorization 'deny' | 'wrong-state', tokenDelayMs, token
// 'expired-code' (the code is refused at the token endpoint as one past its
// lifetime: GitHub's bad_verification_code, Naver's invalid_request, both
// with status 200).
// Every request is recorded in `received` (client_secret left out) for the
// tests to assert what the relying party sent.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface OAuth2App {
  clientId: string;
  clientSecret: string;
  /** GitHub: the callback URL(s); Naver: the registered Callback URL(s). */
  redirectUris: string[];
}

export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility: 'public' | 'private' | null;
}

export interface GitHubUser {
  id: number;
  login: string;
  name: string | null;
  /** The public e-mail of the profile: null when the user shows none. */
  email: string | null;
  /** What /user/emails lists. */
  emails: GitHubEmail[];
}

export interface NaverUser {
  /** Naver's per-app identifier of the member (a string). */
  id: string;
  email?: string;
  name?: string;
  nickname?: string;
}

export interface OAuth2UpstreamBehaviour {
  /** The user the authorization endpoint signs in (GitHub: id; Naver: id); the first by default. */
  signInAs?: number | string;
  /** 'grant' by default. */
  authorization?: 'grant' | 'deny' | 'wrong-state';
  /** Delay before the token endpoint answers, in ms. */
  tokenDelayMs?: number;
  /** 'grant' by default; 'expired-code': the token endpoint treats every code as expired. */
  token?: 'grant' | 'expired-code';
}

/** One request as the fixture received it. */
export interface OAuth2Request {
  endpoint: 'authorize' | 'token' | 'user' | 'emails' | 'me';
  method: string;
  /** Query and body parameters together, client_secret left out. */
  params: Record<string, string>;
  /** How the client sent its credentials, at the token endpoint. */
  clientAuthentication?: 'basic' | 'body' | 'none';
  accept?: string;
  /** The answer's HTTP status. */
  status: number;
}

interface Upstream<User> {
  readonly app: OAuth2App;
  users: User[];
  behaviour: OAuth2UpstreamBehaviour;
  readonly received: OAuth2Request[];
}

export interface GitHubFixture extends Upstream<GitHubUser> {
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly userEndpoint: string;
  readonly emailsEndpoint: string;
  /** Replaces the behaviour (fields left out go back to their defaults). */
  setBehaviour(b: OAuth2UpstreamBehaviour): void;
}

export interface NaverFixture extends Upstream<NaverUser> {
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly userEndpoint: string;
  setBehaviour(b: OAuth2UpstreamBehaviour): void;
}

export interface OAuth2Upstreams {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly github: GitHubFixture;
  readonly naver: NaverFixture;
  close(): Promise<void>;
}

export interface OAuth2UpstreamsStart {
  github: { app: OAuth2App; users: GitHubUser[]; behaviour?: OAuth2UpstreamBehaviour };
  naver: { app: OAuth2App; users: NaverUser[]; behaviour?: OAuth2UpstreamBehaviour };
  /** 0 (any free port) by default. */
  port?: number;
}

interface IssuedCode { userId: string; redirectUri?: string; scope: string; codeChallenge?: string; expiresAt: number }
interface IssuedToken { userId: string; scope: string }

const CODE_TTL_MS = 10 * 60_000; // GitHub: "codes expire after 10 minutes"
const GITHUB_TROUBLESHOOTING = 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';

const token = (prefix: string) => `${prefix}${randomBytes(18).toString('base64url')}`;

/** Query and body parameters of a request: form, JSON or none. */
async function readParams(req: IncomingMessage, url: URL): Promise<Record<string, string>> {
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  let body = '';
  for await (const chunk of req) body += chunk;
  if (!body) return params;
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    try {
      for (const [k, v] of Object.entries(JSON.parse(body) as Record<string, unknown>)) params[k] = String(v);
    } catch { /* an unreadable body adds nothing: the checks below then refuse */ }
    return params;
  }
  return { ...params, ...Object.fromEntries(new URLSearchParams(body)) };
}

/** Client credentials from HTTP Basic (RFC 6749 §2.3.1) or the parameters. */
function clientCredentials(req: IncomingMessage, params: Record<string, string>): { id?: string; secret?: string; via: 'basic' | 'body' | 'none' } {
  const header = req.headers.authorization ?? '';
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString();
    const colon = decoded.indexOf(':');
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)), via: 'basic' };
  }
  if (params.client_secret !== undefined) return { id: params.client_id, secret: params.client_secret, via: 'body' };
  return { id: params.client_id, via: 'none' };
}

function bearer(req: IncomingMessage): string | undefined {
  return /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  return status;
}

function redirect(res: ServerResponse, to: string, params: Record<string, string | undefined>): number {
  const url = new URL(to);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  res.writeHead(302, { location: url.href }).end();
  return 302;
}

function page(res: ServerResponse, status: number, text: string): number {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>${status}</title><p>${text}</p>`);
  return status;
}

function withoutSecret(params: Record<string, string>): Record<string, string> {
  const { client_secret: _secret, ...rest } = params;
  return rest;
}

function pkceMatches(challenge: string | undefined, verifier: string | undefined): boolean {
  if (!challenge) return true;
  return verifier !== undefined && createHash('sha256').update(verifier).digest('base64url') === challenge;
}

/** The state to send back: changed when the behaviour says so. */
function callbackState(state: string | undefined, behaviour: OAuth2UpstreamBehaviour): string | undefined {
  return behaviour.authorization === 'wrong-state' && state !== undefined ? `${state}-changed-by-the-upstream-fixture` : state;
}

function createGitHub(start: OAuth2UpstreamsStart['github'], base: string) {
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, IssuedToken>();
  const fixture: GitHubFixture = {
    app: start.app,
    users: start.users,
    behaviour: start.behaviour ?? {},
    received: [],
    authorizationEndpoint: `${base}/login/oauth/authorize`,
    tokenEndpoint: `${base}/login/oauth/access_token`,
    userEndpoint: `${base}/user`,
    emailsEndpoint: `${base}/user/emails`,
    setBehaviour(b) { fixture.behaviour = b; },
  };
  const { app } = fixture;

  // "The redirect URL's host (excluding sub-domains) and port must exactly
  // match the callback URL. The redirect URL's path must reference a
  // subdirectory of the callback URL." (sub-domains not modelled here)
  const redirectAllowed = (uri: string) => app.redirectUris.some((cb) => {
    const [a, b] = [new URL(cb), URL.canParse(uri) ? new URL(uri) : undefined];
    return b !== undefined && a.protocol === b.protocol && a.host === b.host && (b.pathname === a.pathname || b.pathname.startsWith(a.pathname.replace(/\/?$/, '/')));
  });

  function authorize(res: ServerResponse, params: Record<string, string>): number {
    if (params.client_id !== app.clientId) return page(res, 404, 'Not Found');
    const registered = app.redirectUris[0]!;
    const redirectUri = params.redirect_uri;
    if (redirectUri !== undefined && !redirectAllowed(redirectUri)) {
      return redirect(res, registered, {
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch',
        state: params.state,
      });
    }
    const target = redirectUri ?? registered;
    const { behaviour } = fixture;
    if (behaviour.authorization === 'deny') {
      return redirect(res, target, {
        error: 'access_denied',
        error_description: 'The user has denied your application access.',
        error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied',
        state: callbackState(params.state, behaviour),
      });
    }
    const user = fixture.users.find((u) => behaviour.signInAs === undefined || String(u.id) === String(behaviour.signInAs));
    if (!user) return page(res, 400, 'upstream fixture: no such user to sign in');
    if (params.code_challenge !== undefined && (params.code_challenge_method ?? 'plain') !== 'S256') return page(res, 400, 'upstream fixture: only S256 code challenges');
    const code = randomBytes(10).toString('hex'); // GitHub's codes are 20 hex characters
    codes.set(code, { userId: String(user.id), redirectUri, scope: (params.scope ?? '').split(/[\s,]+/).filter(Boolean).join(','), codeChallenge: params.code_challenge, expiresAt: Date.now() + CODE_TTL_MS });
    return redirect(res, target, { code, state: callbackState(params.state, behaviour) });
  }

  async function accessToken(req: IncomingMessage, res: ServerResponse, params: Record<string, string>, client: ReturnType<typeof clientCredentials>): Promise<number> {
    if (fixture.behaviour.tokenDelayMs) await sleep(fixture.behaviour.tokenDelayMs);
    const wantsJson = (req.headers.accept ?? '').includes('application/json');
    const answer = (body: Record<string, string>) => {
      if (wantsJson) return json(res, 200, body);
      res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }).end(new URLSearchParams(body).toString());
      return 200;
    };
    if (client.id !== app.clientId || client.secret !== app.clientSecret) {
      return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.', error_uri: `${GITHUB_TROUBLESHOOTING}#incorrect-client-credentials` });
    }
    const issued = params.code === undefined ? undefined : codes.get(params.code);
    if (params.code !== undefined) codes.delete(params.code); // single use
    if (issued?.redirectUri !== undefined && params.redirect_uri !== undefined && params.redirect_uri !== issued.redirectUri) {
      return answer({ error: 'redirect_uri_mismatch', error_description: 'The redirect_uri MUST match the registered callback URL for this application.', error_uri: `${GITHUB_TROUBLESHOOTING}#redirect-uri-mismatch` });
    }
    const expired = issued !== undefined && (issued.expiresAt < Date.now() || fixture.behaviour.token === 'expired-code');
    if (!issued || expired || !pkceMatches(issued.codeChallenge, params.code_verifier)) {
      return answer({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: `${GITHUB_TROUBLESHOOTING}#bad-verification-code` });
    }
    const accessToken = token('gho_');
    tokens.set(accessToken, { userId: issued.userId, scope: issued.scope });
    return answer({ access_token: accessToken, token_type: 'bearer', scope: issued.scope });
  }

  /** The REST API's checks: a User-Agent, then a known token. */
  function apiCaller(req: IncomingMessage, res: ServerResponse): { user: GitHubUser; scope: string } | number {
    if (!req.headers['user-agent']) {
      return json(res, 403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).' });
    }
    const issued = tokens.get(bearer(req) ?? '');
    const user = issued && fixture.users.find((u) => String(u.id) === issued.userId);
    if (!issued || !user) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    return { user, scope: issued.scope };
  }

  function userEndpoint(req: IncomingMessage, res: ServerResponse): number {
    const caller = apiCaller(req, res);
    if (typeof caller === 'number') return caller;
    const { user } = caller;
    return json(res, 200, {
      login: user.login,
      id: user.id,
      node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
      avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`,
      html_url: `https://github.com/${user.login}`,
      type: 'User',
      site_admin: false,
      name: user.name,
      company: null,
      blog: '',
      location: null,
      email: user.email,
      bio: null,
    }, { 'x-oauth-scopes': caller.scope.split(',').join(', ') });
  }

  function emailsEndpoint(req: IncomingMessage, res: ServerResponse): number {
    const caller = apiCaller(req, res);
    if (typeof caller === 'number') return caller;
    const scopes = caller.scope.split(',');
    if (!scopes.includes('user:email') && !scopes.includes('user')) {
      return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user', status: '404' });
    }
    return json(res, 200, caller.user.emails, { 'x-oauth-scopes': scopes.join(', ') });
  }

  return { fixture, authorize, accessToken, userEndpoint, emailsEndpoint };
}

function createNaver(start: OAuth2UpstreamsStart['naver'], base: string) {
  const codes = new Map<string, IssuedCode & { state?: string }>();
  const tokens = new Map<string, IssuedToken>();
  const fixture: NaverFixture = {
    app: start.app,
    users: start.users,
    behaviour: start.behaviour ?? {},
    received: [],
    authorizationEndpoint: `${base}/oauth2.0/authorize`,
    tokenEndpoint: `${base}/oauth2.0/token`,
    userEndpoint: `${base}/v1/nid/me`,
    setBehaviour(b) { fixture.behaviour = b; },
  };
  const { app } = fixture;

  function authorize(res: ServerResponse, params: Record<string, string>): number {
    // Naver shows its own error page, not a redirect, for these.
    if (params.client_id !== app.clientId) return page(res, 400, 'upstream fixture (Naver): unknown client_id');
    if (params.response_type !== 'code') return page(res, 400, 'upstream fixture (Naver): response_type must be code');
    if (!params.redirect_uri || !app.redirectUris.includes(params.redirect_uri)) return page(res, 400, 'upstream fixture (Naver): redirect_uri is not a registered Callback URL');
    if (!params.state) return page(res, 400, 'upstream fixture (Naver): state is required');
    const { behaviour } = fixture;
    if (behaviour.authorization === 'deny') {
      return redirect(res, params.redirect_uri, { error: 'access_denied', error_description: 'Canceled By User', state: callbackState(params.state, behaviour) });
    }
    const user = fixture.users.find((u) => behaviour.signInAs === undefined || u.id === String(behaviour.signInAs));
    if (!user) return page(res, 400, 'upstream fixture: no such user to sign in');
    const code = randomBytes(12).toString('base64url');
    codes.set(code, { userId: user.id, redirectUri: params.redirect_uri, scope: '', state: params.state, expiresAt: Date.now() + CODE_TTL_MS });
    return redirect(res, params.redirect_uri, { code, state: callbackState(params.state, behaviour) });
  }

  async function tokenEndpoint(res: ServerResponse, params: Record<string, string>): Promise<number> {
    if (fixture.behaviour.tokenDelayMs) await sleep(fixture.behaviour.tokenDelayMs);
    // Naver answers its token errors with status 200.
    if (params.grant_type !== 'authorization_code') return json(res, 200, { error: 'unsupported_grant_type', error_description: 'grant_type is not supported by the upstream fixture' });
    if (params.client_id !== app.clientId || params.client_secret !== app.clientSecret) {
      return json(res, 200, { error: 'invalid_client', error_description: 'client authentication failed' });
    }
    const issued = params.code === undefined ? undefined : codes.get(params.code);
    if (params.code !== undefined) codes.delete(params.code);
    const expired = issued !== undefined && (issued.expiresAt < Date.now() || fixture.behaviour.token === 'expired-code');
    if (!issued || expired || (issued.state !== undefined && params.state !== issued.state)) {
      return json(res, 200, { error: 'invalid_request', error_description: 'no valid data in session' });
    }
    const accessToken = token('AAAA');
    tokens.set(accessToken, { userId: issued.userId, scope: '' });
    return json(res, 200, { access_token: accessToken, refresh_token: token(''), token_type: 'bearer', expires_in: '3600' });
  }

  function me(req: IncomingMessage, res: ServerResponse): number {
    const issued = tokens.get(bearer(req) ?? '');
    const user = issued && fixture.users.find((u) => u.id === issued.userId);
    if (!user) return json(res, 401, { resultcode: '024', message: 'Authentication failed / 인증에 실패했습니다.' });
    const response: Record<string, string> = { id: user.id };
    for (const key of ['email', 'name', 'nickname'] as const) if (user[key] !== undefined) response[key] = user[key];
    return json(res, 200, { resultcode: '00', message: 'success', response });
  }

  return { fixture, authorize, tokenEndpoint, me };
}

export async function startOAuth2Upstreams(start: OAuth2UpstreamsStart): Promise<OAuth2Upstreams> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(start.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const github = createGitHub(start.github, url);
  const naver = createNaver(start.naver, url);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestUrl = new URL(req.url ?? '/', url);
    const params = await readParams(req, requestUrl);
    const method = req.method ?? 'GET';
    const record = (into: OAuth2Request[], endpoint: OAuth2Request['endpoint'], status: number, clientAuthentication?: OAuth2Request['clientAuthentication']) => {
      into.push({ endpoint, method, params: withoutSecret(params), status, ...(clientAuthentication && { clientAuthentication }), ...(req.headers.accept && { accept: req.headers.accept }) });
    };
    switch (`${method} ${requestUrl.pathname}`) {
      case 'GET /login/oauth/authorize': return record(github.fixture.received, 'authorize', github.authorize(res, params));
      case 'POST /login/oauth/access_token': {
        const client = clientCredentials(req, params);
        return record(github.fixture.received, 'token', await github.accessToken(req, res, params, client), client.via);
      }
      case 'GET /user': return record(github.fixture.received, 'user', github.userEndpoint(req, res));
      case 'GET /user/emails': return record(github.fixture.received, 'emails', github.emailsEndpoint(req, res));
      case 'GET /oauth2.0/authorize': return record(naver.fixture.received, 'authorize', naver.authorize(res, params));
      case 'GET /oauth2.0/token':
      case 'POST /oauth2.0/token': return record(naver.fixture.received, 'token', await naver.tokenEndpoint(res, params), clientCredentials(req, params).via);
      case 'GET /v1/nid/me': return record(naver.fixture.received, 'me', naver.me(req, res));
      default: json(res, 404, { message: 'Not Found (upstream fixture)' });
    }
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) page(res, 500, `upstream fixture: ${err instanceof Error ? err.message : String(err)}`);
    });
  });

  return {
    url,
    github: github.fixture,
    naver: naver.fixture,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
