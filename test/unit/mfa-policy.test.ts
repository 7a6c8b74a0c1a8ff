// MFA_POLICY and a client's require_mfa: who must use a second factor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { mfaRequiredFor } from '../../server/mfa/policy.ts';

test('MFA_POLICY: optional by default; admins and everyone are taken; anything else stops the start naming the variable', () => {
  assert.deepEqual(loadConfig({}).mfa, { policy: 'optional' });
  assert.equal(loadConfig({ MFA_POLICY: 'admins' }).mfa.policy, 'admins');
  assert.equal(loadConfig({ MFA_POLICY: 'everyone' }).mfa.policy, 'everyone');
  for (const bad of ['Admins', 'all', 'required', 'true']) {
    assert.throws(() => loadConfig({ MFA_POLICY: bad }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, ['MFA_POLICY: must be one of optional, admins, everyone']);
      return true;
    }, bad);
  }
});

test('optional: only a client that demands it requires a second factor', () => {
  assert.equal(mfaRequiredFor('optional', [], false), false);
  assert.equal(mfaRequiredFor('optional', ['admin'], false), false);
  assert.equal(mfaRequiredFor('optional', [], true), true);
});

test('admins: accounts with the admin role (and any account at a client that demands it)', () => {
  assert.equal(mfaRequiredFor('admins', ['admin'], false), true);
  assert.equal(mfaRequiredFor('admins', ['editor', 'admin'], false), true);
  assert.equal(mfaRequiredFor('admins', ['editor'], false), false);
  assert.equal(mfaRequiredFor('admins', [], false), false);
  // A role is matched whole: not a prefix, not another case.
  assert.equal(mfaRequiredFor('admins', ['administrator', 'Admin'], false), false);
  assert.equal(mfaRequiredFor('admins', ['editor'], true), true);
});

test('everyone: every account, whatever its roles or client', () => {
  assert.equal(mfaRequiredFor('everyone', [], false), true);
  assert.equal(mfaRequiredFor('everyone', ['admin'], true), true);
});
