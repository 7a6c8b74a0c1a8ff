// The registration rules for a client's URIs (services/redirect-uris.ts):
// which URIs are accepted and refused, for web and native clients, in
// development and in production, and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backchannelLogoutUriProblem, clientUriProblems, redirectUriProblem, type ApplicationType,
} from '../../server/services/redirect-uris.ts';
import { accountClient } from '../../server/oidc/account-client.ts';

const development = { production: false };
const production = { production: true };

/** [uri, application type, the reason it is refused (a pattern of the message), or null when accepted]. */
type Row = [string, ApplicationType, RegExp | null];

const BOTH_MODES: Row[] = [
  // Web clients: https, exact.
  ['https://app.example/cb', 'web', null],
  ['https://app.example/cb?tenant=a', 'web', null],
  ['https://app.example:8443/a/b/', 'web', null],
  ['https://app.example/cb#frag', 'web', /fragment/],
  ['https://app.example/cb#', 'web', /fragment/],
  ['https://*.app.example/cb', 'web', /wildcard/],
  ['https://app.example/*', 'web', /wildcard/],
  ['*', 'web', /wildcard/],
  ['https://user:pw@app.example/cb', 'web', /userinfo/],
  ['https://user@app.example/cb', 'web', /userinfo/],
  ['https://@app.example/cb', 'web', /userinfo/],
  ['https://app.example/cb/../x', 'web', /dot-segment/],
  ['https://app.example/./cb', 'web', /dot-segment/],
  ['https://app.example/cb/..', 'web', /dot-segment/],
  ['https://app.example/cb/%2e%2e/x', 'web', /dot-segment/],
  ['https://app.example/cb/%2E./x', 'web', /dot-segment/],
  ['https://app.example/cb/.%2e/x', 'web', /dot-segment/],
  ['https://app.example/%2e/cb', 'web', /dot-segment/],
  ['https://app.example\\cb', 'web', /backslash/],
  ['/cb', 'web', /absolute/],
  ['app.example/cb', 'web', /absolute|valid/],
  ['https:app.example/cb', 'web', /must start with https:\/\//],
  ['https://', 'web', /valid/],
  ['http://app.example/cb', 'web', /must use https/],
  ['http://192.168.1.10/cb', 'web', /must use https/],
  ['com.example.app:/cb', 'web', /application_type native/],
  ['javascript:alert(1)', 'web', /https URL/],
  // Native clients (RFC 8252).
  ['http://127.0.0.1/cb', 'native', null],
  ['http://127.0.0.1:53123/cb', 'native', null],
  ['http://[::1]:8080/cb', 'native', null],
  ['http://localhost:8080/cb', 'native', /not localhost/],
  ['http://app.example/cb', 'native', /loopback/],
  ['http://10.0.0.1/cb', 'native', /loopback/],
  ['https://app.example/cb', 'native', null],
  ['https://127.0.0.1/cb', 'native', /claims/],
  ['com.example.app:/cb', 'native', null],
  ['com.example.app:/oauth2redirect/provider', 'native', null],
  ['com.example.app://cb', 'native', null],
  ['myapp:/cb', 'native', /reverse-domain/],
  ['myapp://cb', 'native', /reverse-domain/],
  ['javascript:alert(1)', 'native', /reverse-domain/],
  ['data:text/html,hi', 'native', /reverse-domain/],
  ['file:///etc/passwd', 'native', /reverse-domain/],
  ['com.example.app:/cb#x', 'native', /fragment/],
  ['com.example.app:/cb/../x', 'native', /dot-segment/],
  ['com.example.app:/%2e%2e/x', 'native', /dot-segment/],
  ['com.example.app://user@cb', 'native', /userinfo/],
  ['com.example.*:/cb', 'native', /wildcard/],
  ['http://127.0.0.1:*/cb', 'native', /wildcard/],
  ['http://user:pw@127.0.0.1/cb', 'native', /userinfo/],
];

/** Where development and production differ: http on the developer's own machine for web clients. */
const BY_MODE: Array<[string, ApplicationType, { development: RegExp | null; production: RegExp | null }]> = [
  ['http://localhost:5173/cb', 'web', { development: null, production: /NODE_ENV=production/ }],
  ['http://127.0.0.1:5173/cb', 'web', { development: null, production: /NODE_ENV=production/ }],
  ['http://[::1]/cb', 'web', { development: null, production: /NODE_ENV=production/ }],
];

const check = (uri: string, type: ApplicationType, policy: { production: boolean }, expected: RegExp | null) => {
  const problem = redirectUriProblem(uri, type, policy);
  const label = `${type} ${uri} (${policy.production ? 'production' : 'development'})`;
  if (expected === null) assert.equal(problem, undefined, `${label} should be accepted, got: ${problem}`);
  else assert.match(problem ?? '(accepted)', expected, `${label} should be refused`);
};

test('redirect URIs: the same rules in development and production', () => {
  for (const [uri, type, expected] of BOTH_MODES) {
    check(uri, type, development, expected);
    check(uri, type, production, expected);
  }
});

test('redirect URIs: http://localhost for web clients only outside production', () => {
  for (const [uri, type, expected] of BY_MODE) {
    check(uri, type, development, expected.development);
    check(uri, type, production, expected.production);
  }
});

test('a message never repeats the URI (it may hold a password)', () => {
  const problem = redirectUriProblem('https://user:s3cret@app.example/cb', 'web', development)!;
  assert.doesNotMatch(problem, /s3cret/);
});

test('backchannel_logout_uri: absolute, no fragment or userinfo; https in production', () => {
  const rows: Array<[string, RegExp | null, RegExp | null]> = [
    ['https://app.example/logout', null, null],
    ['http://app.internal:8080/logout', null, /https when NODE_ENV=production/],
    ['http://127.0.0.1:9000/logout', null, /https when NODE_ENV=production/],
    ['https://app.example/logout#x', /fragment/, /fragment/],
    ['https://u:p@app.example/logout', /userinfo/, /userinfo/],
    ['https://app.example/a/../logout', /dot-segment/, /dot-segment/],
    ['/logout', /absolute/, /absolute/],
    ['com.example.app:/logout', /https URL/, /https URL/],
  ];
  for (const [uri, dev, prod] of rows) {
    for (const [policy, expected] of [[development, dev], [production, prod]] as const) {
      const problem = backchannelLogoutUriProblem(uri, policy);
      if (expected === null) assert.equal(problem, undefined, `${uri}: ${problem}`);
      else assert.match(problem ?? '(accepted)', expected, uri);
    }
  }
});

test('a whole client: each problem under its field and index; post-logout URIs follow the redirect rules', () => {
  assert.deepEqual(clientUriProblems({
    redirect_uris: ['https://app.example/cb', 'http://app.example/cb'],
    post_logout_redirect_uris: ['https://app.example/bye#x'],
    backchannel_logout_uri: 'https://app.example/logout#x',
  }, development), {
    'redirect_uris.1': redirectUriProblem('http://app.example/cb', 'web', development),
    'post_logout_redirect_uris.0': 'must not contain a fragment (#)',
    backchannel_logout_uri: 'must not contain a fragment (#)',
  });
  assert.deepEqual(clientUriProblems({
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/cb', 'com.example.app:/cb'],
    post_logout_redirect_uris: ['http://[::1]/bye', 'https://*.example/bye'],
  }, production), { 'post_logout_redirect_uris.1': 'must be exact: no wildcards (*)' });
  assert.deepEqual(clientUriProblems({}, production), {});
});

test('the built-in account client satisfies the rules under an issuer with a path, and under http://localhost in development', () => {
  assert.deepEqual(clientUriProblems(accountClient({ issuer: 'https://id.example/tenant-a' }), production), {});
  assert.deepEqual(clientUriProblems(accountClient({ issuer: 'https://id.example' }), production), {});
  assert.deepEqual(clientUriProblems(accountClient({ issuer: 'http://localhost:3000' }), development), {});
  assert.deepEqual(clientUriProblems(accountClient({ issuer: 'http://localhost:3000/base/path' }), development), {});
});
