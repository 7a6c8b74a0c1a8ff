// The URL rules of upstream providers (server/federation/upstream-urls.ts):
// https, plain http only to this machine and never in production; no
// userinfo, no fragment; an issuer without a query.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointProblem, issuerProblem } from '../../server/federation/upstream-urls.ts';

const development = { production: false };
const production = { production: true };

test('https anywhere; http to localhost, 127.0.0.1 or [::1] outside production only', () => {
  for (const url of ['https://idp.example.test', 'https://idp.example.test:8443/oauth/token?x=1']) {
    assert.equal(endpointProblem(url, production), undefined, url);
  }
  for (const url of ['http://localhost:9000/token', 'http://127.0.0.1:9000/token', 'http://[::1]:9000/token']) {
    assert.equal(endpointProblem(url, development), undefined, url);
    assert.match(endpointProblem(url, production) ?? '', /https when NODE_ENV=production/, url);
  }
  assert.match(endpointProblem('http://idp.example.test/token', development) ?? '', /must use https/);
});

test('no userinfo, no fragment, nothing but http(s), nothing relative; the message never repeats the URL', () => {
  const cases: Array<[string, RegExp]> = [
    ['https://user:hunter2@idp.example.test/token', /user name or password/],
    ['https://idp.example.test/token#frag', /fragment/],
    ['javascript:alert(1)', /https/],
    ['/token', /absolute/],
    ['https:idp.example.test/token', /must start with https:\/\//],
  ];
  for (const [url, message] of cases) {
    const problem = endpointProblem(url, development);
    assert.match(problem ?? '', message, url);
    assert.ok(!problem!.includes('hunter2'));
  }
});

test('an issuer has no query', () => {
  assert.equal(issuerProblem('https://accounts.google.com', production), undefined);
  assert.match(issuerProblem('https://idp.example.test/?tenant=a', production) ?? '', /query/);
});
