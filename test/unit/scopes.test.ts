// Who may have which scope: the consent rule (services/consent.ts) and the
// rule at issuance (apiScopesFor in oidc/configuration.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Grant, KoaContextWithOIDC } from 'oidc-provider';
import { applyConsent, grantableScopes } from '../../server/services/consent.ts';
import { apiScopesFor } from '../../server/oidc/configuration.ts';

const admin = { roles: ['admin'] };
const person = { roles: [] };

test('consent: everything asked for, except admin for an account without the role', () => {
  assert.deepEqual(grantableScopes(person, ['openid', 'basic', 'admin']), { allowed: ['openid', 'basic'], refused: ['admin'] });
  assert.deepEqual(grantableScopes(admin, ['openid', 'basic', 'admin']), { allowed: ['openid', 'basic', 'admin'], refused: [] });
  assert.deepEqual(grantableScopes(person, []), { allowed: [], refused: [] });
});

test('consent: refused scopes are recorded as rejected, so the person is not asked again', () => {
  const calls: string[] = [];
  const grant = new Proxy({}, { get: (_t, name) => (...args: unknown[]) => { calls.push(`${String(name)} ${JSON.stringify(args)}`); } }) as unknown as Grant;
  applyConsent(grant, person, { missingOIDCScope: ['openid', 'admin'], missingOIDCClaims: ['email'], missingResourceScopes: { 'https://api.example': ['basic', 'admin'] } });
  assert.deepEqual(calls, [
    'addOIDCScope ["openid"]',
    'rejectOIDCScope ["admin"]',
    'addOIDCClaims [["email"]]',
    'addResourceScope ["https://api.example","basic"]',
    'rejectResourceScope ["https://api.example","admin"]',
  ]);
});

const context = (route: string, account?: { roles: string[] }) => ({ oidc: { route, account } }) as unknown as KoaContextWithOIDC;

test('issuance: at the token endpoint admin needs the role now, whatever the grant says', () => {
  assert.deepEqual(apiScopesFor(context('token', person)), ['openid', 'profile', 'email', 'basic']);
  assert.deepEqual(apiScopesFor(context('token', admin)), ['openid', 'profile', 'email', 'basic', 'admin']);
  assert.deepEqual(apiScopesFor(context('token', { roles: 'admin' } as never)), ['openid', 'profile', 'email', 'basic'], 'roles that are not a list count as none');
});

test('issuance: client_credentials (no account) gets the API scopes, no userinfo scopes', () => {
  assert.deepEqual(apiScopesFor(context('token')), ['basic', 'admin']);
});

test('elsewhere (the authorization endpoint) every scope may be asked for; consent decides', () => {
  assert.deepEqual(apiScopesFor(context('authorization', person)), ['openid', 'profile', 'email', 'basic', 'admin']);
  assert.deepEqual(apiScopesFor(context('authorization')), ['openid', 'profile', 'email', 'basic', 'admin']);
});
