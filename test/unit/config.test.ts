// Configuration: defaults, and one clear line for every bad value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';

test('defaults: port 3000, localhost issuer, embedded database under ./data, keys in ./keys', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.equal(config.issuer, 'http://localhost:3000');
  assert.equal(config.database.url, undefined);
  assert.equal(config.database.dataDir, path.resolve('data'));
  assert.equal(config.keysDir, path.resolve('keys'));
  assert.equal(config.apiAudience, 'http://localhost:3000/api');
  assert.equal(config.ttl.accessToken, 900);
  assert.equal(config.accessTokenSigningAlg, 'ES256');
  assert.ok(Object.isFrozen(config));
});

test('the issuer follows PORT and loses a trailing slash; empty variables count as unset', () => {
  assert.equal(loadConfig({ PORT: '8080' }).issuer, 'http://localhost:8080');
  assert.equal(loadConfig({ ISSUER: 'https://id.example.com/' }).issuer, 'https://id.example.com');
  assert.equal(loadConfig({ PORT: '' }).port, 3000);
});

const rejects = (env: Record<string, string>, pattern: RegExp) => {
  assert.throws(() => loadConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
};

test('a bad value names the variable and says what is wrong', () => {
  rejects({ PORT: 'eighty' }, /^PORT: must be a number/);
  rejects({ PORT: '70000' }, /^PORT: must be at most 65535/);
  rejects({ ISSUER: 'not a url' }, /^ISSUER: must be a URL/);
  rejects({ ISSUER: 'https://id.example.com/?x=1' }, /^ISSUER: must not have a query/);
  rejects({ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: must be a URL starting with postgres:/);
  rejects({ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of/);
  rejects({ COOKIE_SECRETS: 'short' }, /^COOKIE_SECRETS: must be comma-separated secrets of at least 32/);
  rejects({ ACCESS_TOKEN_TTL: '5' }, /^ACCESS_TOKEN_TTL: must be at least 60/);
  rejects({ TRUST_PROXY: 'maybe' }, /^TRUST_PROXY: must be true or false/);
});

test('production requires an https issuer and explicit cookie secrets', () => {
  const secrets = 'x'.repeat(32);
  rejects({ NODE_ENV: 'production', COOKIE_SECRETS: secrets }, /^ISSUER: must be an https URL/);
  rejects({ NODE_ENV: 'production', ISSUER: 'https://id.example.com' }, /^COOKIE_SECRETS: required/);
  const ok = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_SECRETS: `${secrets},${'y'.repeat(40)}` });
  assert.deepEqual(ok.cookieSecrets, [secrets, 'y'.repeat(40)]);
});

test('RP_ID: the issuer\'s host by default; a registrable suffix of it is taken; anything else is refused', () => {
  assert.deepEqual(loadConfig({ ISSUER: 'https://login.example.com' }).webauthn, { rpId: 'login.example.com' });
  assert.deepEqual(loadConfig({ ISSUER: 'https://login.example.com', RP_ID: 'Example.COM', RP_NAME: 'Example' }).webauthn, { rpId: 'example.com', rpName: 'Example' });
  for (const rpId of ['com', 'evil.com', 'xample.com', 'other.login.example.com', 'https://example.com', 'example.com:443']) {
    assert.throws(() => loadConfig({ ISSUER: 'https://login.example.com', RP_ID: rpId }), (err: ConfigError) => err.problems.length === 1 && err.problems[0]!.startsWith('RP_ID: '), rpId);
  }
  assert.throws(() => loadConfig({ ISSUER: 'http://127.0.0.1:3000', RP_ID: '0.0.1' }), ConfigError);
  assert.equal(loadConfig({ ISSUER: 'http://localhost:3000', RP_ID: 'localhost' }).webauthn.rpId, 'localhost');
});
