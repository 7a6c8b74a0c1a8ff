// Generated requests, one arbitrary per family of routes: the token endpoint
// (every grant type discovery lists, every client authentication method),
// pushed authorization, authorization by GET and POST, the interaction
// forms, the account page, every admin API operation from its OpenAPI
// declarations, introspection, revocation, userinfo, logout, the public
// documents, stray paths, and malformed HTTP on the wire.
//
// A plan holds placeholders (`{{csrf}}`) rather than secrets; send.ts fills
// them in and encodes the request only when it goes out.
import fc from 'fast-check';
import { z } from 'zod';
import { b64, cookieHeader, forgedJwt, hostileString, paramName, randomText } from './hostile.ts';
import type { FuzzTarget } from './target.ts';
import { VICTIM_CLIENTS } from './target.ts';

/** How parameter names and values are written into a query or form body. */
export type Encoding = 'strict' | 'raw' | 'plus';
export interface Params { pairs: Array<[string, string]>; encoding: Encoding }
export type Body =
  | { kind: 'form'; params: Params }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string; latin1?: boolean };

export interface Plan {
  family: string;
  method: string;
  path: string;
  query?: Params;
  headers: Array<[string, string]>;
  body?: Body;
  /** Wire-level: these bytes (Latin-1) are the whole request. */
  raw?: string;
}

const weighted = <T>(arbitrary: fc.Arbitrary<T>, weight: number) => ({ arbitrary, weight });
const mostly = <T>(plausible: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>) => fc.oneof(weighted(plausible, 4), weighted(hostile, 1));
const c = <T>(...values: T[]) => fc.constantFrom(...values);
/** `arbitrary` once in `n` times, else undefined (fc.option's `freq` is the other way round: nil once in `freq`). */
const rarely = <T>(arbitrary: fc.Arbitrary<T>, n: number) => fc.oneof(weighted(fc.constant(undefined), n - 1), weighted(arbitrary, 1));

/** Known parameters (each present three times in four, plausible four times in five), plus stray and repeated ones. */
function params(spec: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<Params> {
  const known = fc.record(Object.fromEntries(Object.entries(spec).map(([name, arb]) => [name, fc.option(mostly(arb, hostileString), { nil: undefined, freq: 4 })])));
  return fc.record({
    known,
    extra: fc.array(fc.tuple(paramName, fc.oneof(hostileString, forgedJwt)), { maxLength: 3 }),
    repeat: rarely(fc.nat(), 6),
    encoding: fc.constantFrom<Encoding>('strict', 'strict', 'strict', 'plus', 'raw'),
  }).map(({ known, extra, repeat, encoding }) => {
    const pairs = [...Object.entries(known).filter((e): e is [string, string] => e[1] !== undefined), ...extra];
    // RFC 6749 §3.1: a repeated parameter is an error; the server must say so, not choke.
    if (repeat !== undefined && pairs.length) pairs.push(pairs[repeat % pairs.length]!);
    return { pairs, encoding };
  });
}

/** A body for an endpoint that takes a form: mostly the form, sometimes the same parameters in another dress. */
function formBody(spec: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<{ body: Body; type?: string }> {
  const form = params(spec);
  return fc.oneof(
    weighted(fc.record({ body: form.map((p): Body => ({ kind: 'form', params: p })), type: c('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED') }), 8),
    weighted(fc.record({ body: form.map((p): Body => ({ kind: 'form', params: p })), type: fc.option(oddContentType, { nil: undefined }) }), 2),
    weighted(fc.record({ body: form.map((p): Body => ({ kind: 'json', value: Object.fromEntries(p.pairs) })), type: c('application/json') }), 1),
    weighted(fc.record({ body: oddBody, type: fc.option(oddContentType, { nil: undefined }) }), 2),
  );
}

const oddContentType = c(
  'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'multipart/form-data', 'application/x-www-form-urlencoded; charset=utf-16',
  'application/x-www-form-urlencoded; charset=bogus', 'application/xml', 'application/jwt', 'application/octet-stream', '*/*', '', ';;', 'text/html; charset="\u0000"',
  'application/json; charset=latin1', 'application/x-www-form-urlencoded, application/json',
);

/** Bodies that are not what any endpoint expects: deep, huge, broken, binary. */
const oddBody: fc.Arbitrary<Body> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value): Body => ({ kind: 'json', value })),
  fc.nat({ max: 20_000 }).map((depth): Body => ({ kind: 'text', text: `${'['.repeat(depth)}${']'.repeat(depth)}` })),
  fc.nat({ max: 5_000 }).map((depth): Body => ({ kind: 'text', text: `${'a[b]'.repeat(1)}${'[c]'.repeat(depth)}=1` })),
  c<Body>(
    { kind: 'text', text: '{"grant_type":' }, { kind: 'text', text: '{"__proto__":{"admin":true}}' }, { kind: 'text', text: 'a=1&a=2&a=3&'.repeat(2_000) },
    { kind: 'text', text: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--' }, { kind: 'text', text: '\u0000'.repeat(100) },
    { kind: 'text', text: 'x'.repeat(70_000) }, { kind: 'text', text: `a=${'b'.repeat(600_000)}` }, { kind: 'text', text: '\xff\xfe\x00a', latin1: true },
    { kind: 'text', text: '%' }, { kind: 'text', text: 'grant_type=%ZZ&client_id=%E0%A4%A' },
  ),
  randomText.map((text): Body => ({ kind: 'text', text })),
);

/** Extra request headers: proxies, caches, encodings, and the oversized and the duplicated. */
const extraHeaders: fc.Arbitrary<Array<[string, string]>> = fc.array(fc.oneof(
  fc.tuple(c('Accept'), c('application/json', 'text/html', '*/*', 'image/png', '', 'text/html;q=0, application/json;q=0')),
  fc.tuple(c('Accept-Language'), fc.oneof(c('ko', 'en-GB,en;q=0.9', 'xx', '*', ';q=', 'ko;q=abc'), hostileString)),
  // X-Request-Id is logged as sent (a correlation id the caller chose): it gets hostile values, never the suite's secrets.
  fc.tuple(c('X-Request-Id'), hostileString),
  fc.tuple(c('X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'Forwarded', 'X-Real-IP', 'Origin', 'Referer', 'User-Agent', 'If-None-Match', 'Range', 'Expect', 'Content-Encoding', 'Transfer-Encoding', 'Host', 'DPoP'), fc.oneof(hostileString, forgedJwt, c('gzip', 'br', 'chunked', 'evil.example', 'https', '100-continue', 'bytes=0-1,5-'))),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), hostileString),
  fc.tuple(c('X-Big'), fc.nat({ max: 20_000 }).map((n) => 'h'.repeat(n))),
), { maxLength: 3 });

const methodFor = (usual: string) => fc.oneof(weighted(c(usual), 12), weighted(c('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'get'), 1));

/** An endpoint: its usual method, query parameters for GET, form body for POST. */
function endpoint(family: string, path: string, usual: 'GET' | 'POST', spec: Record<string, fc.Arbitrary<string>>, auth: fc.Arbitrary<Array<[string, string]>> = fc.constant([])): fc.Arbitrary<Plan> {
  return fc.record({ method: methodFor(usual), query: params(spec), form: formBody(spec), auth, extra: extraHeaders, pathTail: rarely(c('/', '//', '/x', '%2F', '/..', ';x', '.json'), 20) })
    .map(({ method, query, form, auth, extra, pathTail }) => {
      const post = method !== 'GET' && method !== 'HEAD';
      return {
        family, method, path: path + (pathTail ?? ''),
        ...(post ? { body: form.body } : { query }),
        headers: [...auth, ...(post && form.type !== undefined ? [['Content-Type', form.type] as [string, string]] : []), ...extra],
      };
    });
}

const plausibleScope = c('openid', 'openid email', 'openid email offline_access basic', 'basic', 'admin', 'admin basic', 'profile', 'openid admin', '', 'openid openid');
const plausibleResource = c('{{issuer}}/api', '{{issuer}}/admin/v1', 'https://evil.example', 'urn:x', '{{issuer}}/api#f', 'relative');
const clientIds = c('fuzz-web', 'fuzz-third', 'ops', 'tollgate-account', ...VICTIM_CLIENTS, 'nobody', '');

/** Every client authentication method: its header and body parameters (RFC 6749 §2.3, RFC 7523). */
function clientAuthentication(methods: string[]): fc.Arbitrary<{ headers: Array<[string, string]>; params: Record<string, fc.Arbitrary<string>> }> {
  const none = { headers: [] as Array<[string, string]>, params: {} };
  const options: Record<string, fc.Arbitrary<typeof none>> = {
    client_secret_basic: fc.oneof(
      c('Basic {{basic_web}}', 'Basic {{basic_ops}}', `Basic ${b64('fuzz-web:wrong')}`, `Basic ${b64('nobody:x')}`, `Basic ${b64(':')}`, 'Basic', 'Basic !!!', `Basic ${b64('fuzz-web')}`, `Basic ${b64('fuzz%2Dweb:%ZZ')}`, 'basic {{basic_web}}', 'Basic {{basic_web}}=='),
      hostileString.map((s) => `Basic ${b64(`${s}:${s}`)}`),
      hostileString.map((s) => `Basic ${s}`),
    ).map((value) => ({ headers: [['Authorization', value]] as Array<[string, string]>, params: {} })),
    client_secret_post: fc.constant({ headers: [], params: { client_id: c('{{web_id}}', 'ops', 'fuzz-third'), client_secret: c('{{web_secret}}', 'wrong', '') } }),
    private_key_jwt: fc.constant({ headers: [], params: { client_id: c('{{web_id}}'), client_assertion_type: c('urn:ietf:params:oauth:client-assertion-type:jwt-bearer'), client_assertion: fc.oneof(c('{{client_assertion}}'), forgedJwt) } }),
    none: fc.constant({ headers: [], params: { client_id: clientIds } }),
  };
  const offered = methods.filter((m) => options[m]).map((m) => options[m]!);
  return fc.oneof(...offered, fc.constant(none),
    // Two methods at once: RFC 6749 §2.3 allows one only.
    fc.tuple(options.client_secret_basic!, options.client_secret_post!).map(([a, b]) => ({ headers: a.headers, params: b.params })));
}

export function planFor(target: FuzzTarget): fc.Arbitrary<Plan> {
  const e = target.discovered.endpoints;
  const auth = clientAuthentication(target.discovered.authMethods);
  const grantTypes = [...target.discovered.grantTypes, 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:token-exchange'];

  const token = auth.chain(({ headers, params: authParams }) => endpoint('token', e.token_endpoint!, 'POST', {
    ...authParams,
    grant_type: c(...grantTypes),
    code: c('{{code}}', 'not-a-code'), code_verifier: c('{{code_verifier}}', 'x'.repeat(43), 'short'), redirect_uri: c('{{redirect_uri}}', 'https://evil.example/cb'),
    refresh_token: c('{{refresh_token}}', '{{access_token}}', 'not-a-refresh-token'), scope: plausibleScope, resource: plausibleResource,
    device_code: c('x'), auth_req_id: c('x'), subject_token: forgedJwt, assertion: forgedJwt,
  }, fc.constant(headers)));

  // Well-formed grants with one thing wrong (or nothing): these get past authentication and into each grant's own checks, and succeed.
  const grant = fc.record({
    params: c<Record<string, string>>(
      { grant_type: 'client_credentials', scope: 'basic' },
      { grant_type: 'client_credentials', scope: 'admin', resource: '{{issuer}}/admin/v1' },
      { grant_type: 'refresh_token', refresh_token: '{{refresh_token}}' },
      { grant_type: 'authorization_code', code: '{{code}}', code_verifier: '{{code_verifier}}', redirect_uri: '{{redirect_uri}}' },
    ),
    auth: c<Array<[string, string]>>([['Authorization', 'Basic {{basic_web}}']], [['Authorization', 'Basic {{basic_ops}}']]),
    change: rarely(fc.tuple(c('grant_type', 'code', 'code_verifier', 'redirect_uri', 'refresh_token', 'scope', 'resource', 'client_id', 'client_secret'), hostileString), 2),
  }).map(({ params: p, auth: a, change }): Plan => {
    const pairs = Object.entries(p);
    if (change) pairs.push(change);
    return { family: 'token', method: 'POST', path: e.token_endpoint!, body: { kind: 'form', params: { pairs, encoding: 'strict' } }, headers: [...a, ['Content-Type', 'application/x-www-form-urlencoded']] };
  });

  const par = e.pushed_authorization_request_endpoint
    ? auth.chain(({ headers, params: authParams }) => endpoint('par', e.pushed_authorization_request_endpoint!, 'POST', { ...authParams, ...authorizationParams }, fc.constant(headers)))
    : undefined;

  const introspection = auth.chain(({ headers, params: authParams }) => endpoint('introspection', e.introspection_endpoint!, 'POST', {
    ...authParams, token: fc.oneof(c('{{access_token}}', '{{machine_token}}', '{{refresh_token}}', '{{id_token}}', '{{admin_token}}'), forgedJwt), token_type_hint: c('access_token', 'refresh_token', 'id_token', 'x'),
  }, fc.constant(headers)));
  // Revocation spends what it is given: only tokens minted for the occasion, never the keeper's.
  const revocation = auth.chain(({ headers, params: authParams }) => endpoint('revocation', e.revocation_endpoint!, 'POST', {
    ...authParams, token: fc.oneof(c('{{machine_token}}'), forgedJwt.filter((j) => !j.includes('{{'))), token_type_hint: c('access_token', 'refresh_token', 'x'),
  }, fc.constant(headers)));

  const sessionCookies = fc.option(cookieHeader(c('{{keeper_cookies}}', '{{victim_cookies}}')).map((v) => [['Cookie', v]] as Array<[string, string]>), { nil: [], freq: 3 });
  const authorization = endpoint('authorization', e.authorization_endpoint!, 'GET', authorizationParams, sessionCookies);

  const bearer = fc.oneof(
    c('Bearer {{access_token}}', 'Bearer {{victim_access_token}}', 'Bearer {{admin_token}}', 'DPoP {{access_token}}', 'bearer {{access_token}}', 'Bearer', 'Bearer  {{access_token}}', 'Basic {{basic_web}}', 'Bearer {{id_token}}', 'Bearer {{refresh_token}}'),
    forgedJwt.map((j) => `Bearer ${j}`),
    hostileString.map((s) => `Bearer ${s}`),
  ).map((v) => [['Authorization', v]] as Array<[string, string]>);
  const userinfo = endpoint('userinfo', e.userinfo_endpoint!, 'GET', { access_token: c('{{access_token}}'), claims: c('{"userinfo":{"email":null}}', '{') }, fc.option(bearer, { nil: [], freq: 5 }));

  const endSession = fc.oneof(
    endpoint('end_session', e.end_session_endpoint!, 'GET', {
      id_token_hint: fc.oneof(c('{{id_token}}'), forgedJwt), post_logout_redirect_uri: c('{{redirect_uri}}', 'https://evil.example'), client_id: clientIds, state: hostileString, ui_locales: c('ko', 'en'), logout_hint: hostileString,
    }, sessionCookies),
    endpoint('end_session', `${e.end_session_endpoint}/confirm`, 'POST', { xsrf: c('{{logout_xsrf}}', 'forged'), logout: c('yes', '') },
      fc.option(cookieHeader(c('{{victim_cookies}}')).map((v) => [['Cookie', v]] as Array<[string, string]>), { nil: [], freq: 4 })),
  );

  // The interaction forms: the live interaction's cookie and CSRF token, someone else's, or none.
  const loginForm = { login: c('victim@fuzz.test', 'nobody@fuzz.test', 'VICTIM@fuzz.test', 'victim@fuzz.test '), password: c('wrong password here', 'short'), csrf: c('{{csrf}}', '{{consent_csrf}}', 'forged') };
  const interactionCookie = (real: string) => fc.option(cookieHeader(c(real)).map((v) => [['Cookie', v]] as Array<[string, string]>), { nil: [], freq: 5 });
  const uidFor = (real: string) => fc.oneof(weighted(c(real), 6), weighted(fc.oneof(hostileString.map(encodeURIComponentSafe), c('x', '..', '%2e%2e', '%ZZ', '%00')), 1));
  const interaction = fc.oneof(
    fc.tuple(uidFor('{{uid}}'), fc.constantFrom('', '/login', '/signup', '/abort'), interactionCookie('{{interaction_cookies}}')).chain(([uid, step, cookies]) =>
      endpoint('interaction', `/interaction/${uid}${step}`, step === '' || step === '/signup' ? 'GET' : 'POST',
        step === '/signup' ? { email: c('new@fuzz.test', 'victim@fuzz.test'), password: c('a new long passphrase', 'short'), name: hostileString, csrf: c('{{csrf}}', 'forged') } : loginForm,
        fc.constant(cookies))),
    fc.tuple(uidFor('{{uid}}'), interactionCookie('{{interaction_cookies}}')).chain(([uid, cookies]) =>
      endpoint('interaction', `/interaction/${uid}/signup`, 'POST', { email: c('new@fuzz.test', 'victim@fuzz.test'), password: c('a new long passphrase', 'short'), name: hostileString, csrf: c('{{csrf}}', 'forged') }, fc.constant(cookies))),
    fc.tuple(uidFor('{{consent_uid}}'), fc.constantFrom('', '/confirm', '/abort', '/login'), interactionCookie('{{consent_cookies}}')).chain(([uid, step, cookies]) =>
      endpoint('interaction', `/interaction/${uid}${step}`, step === '' ? 'GET' : 'POST', { csrf: c('{{consent_csrf}}', '{{csrf}}', 'forged'), ...(step === '/login' ? loginForm : {}) }, fc.constant(cookies))),
  );

  // The account page: the victim's own session and CSRF token (the keeper's session must survive the run).
  const accountCookies = fc.option(cookieHeader(c('{{victim_cookies}}')).map((v) => [['Cookie', v]] as Array<[string, string]>), { nil: [], freq: 5 });
  const account = fc.oneof(
    endpoint('account', '/account', 'GET', { code: c('x'), state: c('x'), iss: c('{{issuer}}') }, fc.option(cookieHeader(c('{{keeper_cookies}}', '{{victim_cookies}}')).map((v) => [['Cookie', v]] as Array<[string, string]>), { nil: [], freq: 4 })),
    fc.tuple(c('/sessions/{id}/end', '/grants/{id}/revoke', '/logout-everywhere'), fc.oneof(hostileString.map(encodeURIComponentSafe), c('x', '{{victim_id}}')), accountCookies)
      .chain(([p, id, cookies]) => endpoint('account', `/account${p.replace('{id}', id)}`, 'POST', { csrf: c('{{victim_csrf}}', 'forged', '') }, fc.constant(cookies))),
  );

  const admin = adminPlans(target, bearer);

  const documents = fc.record({
    path: c(e.jwks_uri!, '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/healthz', '/readyz', '/assets/tollgate.css', '/admin/v1/openapi.json', '/.well-known/openid-configuration/', '/jwks.json'),
    method: methodFor('GET'),
    query: params({ x: hostileString }),
    headers: extraHeaders,
  }).map(({ path, method, query, headers }): Plan => ({ family: 'documents', method, path, query, headers }));

  const stray = fc.record({
    path: fc.oneof(
      fc.webPath().map((p) => p || '/'),
      fc.tuple(c(...Object.values(e), '/interaction', '/account', '/admin/v1', '/me', '/auth'), hostileString.map(encodeURIComponentSafe)).map(([a, b]) => `${a}/${b}`),
      c('/', '//', '/%', '/%ZZ', '/%00', '/..%2f..%2fetc%2fpasswd', '/./auth', '/AUTH', '/auth/', '/token/', '/admin/v1/../../token', '/*', `/${'a/'.repeat(2_000)}`, `/${'x'.repeat(9_000)}`, '/admin/v1/users/%E0%A4%A'),
    ),
    method: fc.oneof(c('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'CONNECT', 'M-SEARCH', 'BREW')),
    headers: extraHeaders,
    body: fc.option(oddBody, { nil: undefined }),
  }).map((p): Plan => ({ family: 'stray', ...p }));

  const wire = fc.oneof(
    c('GET / HTTP/1.1\r\n\r\n', 'GET /auth HTTP/1.0\r\n\r\n', 'GET /auth\r\n\r\n', 'GET\r\n\r\n', '\r\n\r\n', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n', 'G\u0000T / HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef', 'POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
      'POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      'POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\ngrant_type=',
      'POST /admin/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{admin_token}}\r\nContent-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{"a":',
      'GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{access_token}}\u0000\r\nConnection: close\r\n\r\n', 'GET /auth HTTP/1.1\nHost: x\nConnection: close\n\n',
      'GET /auth HTTP/1.1\r\nHost: x\r\n Folded: header\r\nConnection: close\r\n\r\n', 'GET /auth HTTP/1.1\r\nHost: x\r\nBad Header: x\r\nConnection: close\r\n\r\n',
      `GET /auth?${'a=b&'.repeat(5_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, `GET /healthz HTTP/1.1\r\nHost: x\r\nX: ${'y'.repeat(17_000)}\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(3_000)}Connection: close\r\n\r\n`, 'POST /interaction/x/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd'),
    fc.tuple(c('GET', 'POST', 'PUT'), c('/token', '/auth', '/me', '/admin/v1/clients', '/interaction/x/login', '/session/end'), randomText)
      .map(([m, p, junk]) => `${m} ${p} HTTP/1.1\r\nHost: x\r\n${junk}\r\nConnection: close\r\n\r\n`),
  ).map((raw): Plan => ({ family: 'wire', method: raw.split(' ')[0] ?? 'GET', path: '', headers: [], raw }));

  return fc.oneof(
    weighted(token, 4), weighted(grant, 2), ...(par ? [weighted(par, 1)] : []), weighted(authorization, 3),
    weighted(authorization.map((p): Plan => p.method === 'GET' ? { ...p, method: 'POST', body: { kind: 'form', params: p.query! }, query: undefined, headers: [['Content-Type', 'application/x-www-form-urlencoded'], ...p.headers] } : p), 1),
    weighted(interaction, 4), weighted(account, 2), weighted(admin, 5), weighted(introspection, 2), weighted(revocation, 1), weighted(userinfo, 2),
    weighted(endSession, 2), weighted(documents, 2), weighted(stray, 2), weighted(wire, 1),
  );
}

const authorizationParams: Record<string, fc.Arbitrary<string>> = {
  client_id: clientIds, response_type: c('code', 'token', 'id_token', 'code id_token', 'none', ''), redirect_uri: c('{{redirect_uri}}', 'https://evil.example/cb', 'https://app.example.test/callback/../x', 'http://localhost/cb'),
  scope: plausibleScope, state: hostileString, nonce: hostileString, code_challenge: c('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'x', ''), code_challenge_method: c('S256', 'plain', 'S512'),
  prompt: c('login', 'consent', 'none', 'select_account', 'create', 'login consent', 'bogus'), max_age: c('0', '-1', '1e9', 'x'), ui_locales: c('ko', 'en', 'xx', '*'),
  login_hint: hostileString, id_token_hint: fc.oneof(c('{{id_token}}'), forgedJwt), request: forgedJwt, request_uri: c('urn:ietf:params:oauth:request_uri:x', 'https://evil.example/r'),
  claims: c('{"userinfo":{"email":{"essential":true}}}', '{', '[]', '{"id_token":{"acr":{"values":["x"]}}}', '{"__proto__":{"x":1}}'), resource: plausibleResource, response_mode: c('query', 'fragment', 'form_post', 'jwt', 'x'),
  acr_values: hostileString, display: c('page', 'popup', 'x'), registration: c('{}'), dpop_jkt: c('x'),
};

/** Every admin API operation (from the routes its OpenAPI document is built from), with bodies derived from its schema, mutated. */
function adminPlans(target: FuzzTarget, bearer: fc.Arbitrary<Array<[string, string]>>): fc.Arbitrary<Plan> {
  const pathParam = (name: string) => {
    // The keeper and the fuzzer's own clients stay out of reach: deleting them would end the run's coverage, not find a bug.
    const real = name === 'id' ? c('{{victim_id}}', ...VICTIM_CLIENTS, 'nobody') : c('x', '00000000-0000-0000-0000-000000000000');
    return mostly(real, hostileString.map(encodeURIComponentSafe));
  };
  const operations = target.adminRoutes.map(({ method, path, route }) => {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    const body = route.body ? fromJsonSchema(z.toJSONSchema(route.body, { io: 'input', unrepresentable: 'any' }) as JsonSchema) : fc.constant(undefined);
    const query = route.query ? fromJsonSchema(z.toJSONSchema(route.query, { io: 'input', unrepresentable: 'any' }) as JsonSchema) : fc.constant({});
    return fc.record({
      method: methodFor(method), ids: fc.tuple(...names.map(pathParam)), body: fc.oneof(weighted(body, 5), weighted(oddBody.map((b) => ({ [ODD]: b })), 1)),
      query, type: fc.oneof(weighted(c('application/json'), 8), weighted(oddContentType, 1)), auth: fc.oneof(weighted(c([['Authorization', 'Bearer {{admin_token}}']] as Array<[string, string]>), 8), weighted(bearer, 1), weighted(c([] as Array<[string, string]>), 1)),
      extra: extraHeaders,
    }).map(({ method: m, ids, body: b, query: q, type, auth, extra }): Plan => {
      let concrete = path;
      names.forEach((n, i) => { concrete = concrete.replace(`{${n}}`, ids[i]!); });
      const pairs = Object.entries((q ?? {}) as Record<string, unknown>).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
      const withBody = m !== 'GET' && m !== 'HEAD' && b !== undefined;
      const asBody: Body | undefined = !withBody ? undefined : typeof b === 'object' && b !== null && ODD in b ? (b as Record<symbol, Body>)[ODD] : { kind: 'json', value: b };
      return { family: 'admin', method: m, path: `/admin/v1${concrete}`, query: { pairs, encoding: 'strict' }, ...(asBody ? { body: asBody } : {}), headers: [...auth, ...(withBody ? [['Content-Type', type] as [string, string]] : []), ...extra] };
    });
  });
  return fc.oneof(...operations);
}

const ODD = Symbol('odd body');

interface JsonSchema { type?: string | string[]; properties?: Record<string, JsonSchema>; items?: JsonSchema; enum?: unknown[]; anyOf?: JsonSchema[]; oneOf?: JsonSchema[]; const?: unknown; default?: unknown }

/** Values shaped by a JSON Schema, each part sometimes replaced by a wrong type or a hostile string. */
function fromJsonSchema(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const wrong = fc.oneof(hostileString, fc.constantFrom<unknown>(null, true, 0, -1, 1e308, [], {}, [[[]]], { __proto__: { admin: true } }, 'x'.repeat(3000)), fc.jsonValue({ maxDepth: 2 }));
  return fc.oneof(weighted(shaped(schema, depth), 6), weighted(wrong, 1));
}

function shaped(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => shaped(s, depth)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const props = Object.entries(schema.properties ?? {});
      if (depth > 3 || props.length === 0) return fc.constant({});
      return fc.record(Object.fromEntries(props.map(([k, s]) => [k, fromJsonSchema(s, depth + 1)])), { requiredKeys: [] });
    }
    case 'array': return fc.array(schema.items ? fromJsonSchema(schema.items, depth + 1) : fc.jsonValue({ maxDepth: 1 }), { maxLength: 4 });
    case 'string': return fc.oneof(c('victim@fuzz.test', 'new@fuzz.test', 'https://app.example.test/callback', 'openid basic', 'admin', 'a long enough passphrase', 'fuzz-new', 'org.one', 'client_credentials', 'authorization_code'), fc.string({ maxLength: 20 }));
    case 'integer': case 'number': return fc.oneof(fc.integer({ min: -10, max: 100_000 }), c(60, 300, 86_400));
    case 'boolean': return fc.boolean();
    case 'null': return fc.constant(null);
    default: return fc.jsonValue({ maxDepth: 2 });
  }
}

/** encodeURIComponent that does not throw on lone surrogates (they go out as the UTF-8 of U+FFFD, as a browser sends them). */
export function encodeURIComponentSafe(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((byte) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}
