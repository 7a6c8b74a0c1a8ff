// Every configuration error at once: the server and the CLI name each
// invalid variable on its own line, with what is wrong and never the value
// (a DATABASE_URL or COOKIE_SECRETS may hold a secret), and exit 1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { cleanEnv, requireFreshBuild, ROOT, runCli } from '../support/processes.ts';

const BAD = {
  PORT: 'eighty',
  DATABASE_URL: 'mysql://tollgate:hunter2-db-password@db.example/app',
  COOKIE_SECRETS: 'too-short-cookie-secret',
  LOG_LEVEL: 'loud',
  ACCESS_TOKEN_TTL: '5',
};
const EXPECTED = [
  'PORT: must be a number',
  'DATABASE_URL: must be a URL starting with postgres:// or postgresql://',
  'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
  'COOKIE_SECRETS: must be comma-separated secrets of at least 32 characters each',
  'ACCESS_TOKEN_TTL: must be at least 60',
];

function assertAllReported(stderr: string): void {
  const lines = stderr.trim().split('\n').filter((l) => l.startsWith('tollgate:'));
  assert.deepEqual(lines, EXPECTED.map((p) => `tollgate: invalid configuration: ${p}`));
  assert.ok(!stderr.includes('hunter2') && !stderr.includes('too-short-cookie-secret'), 'no value is echoed');
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('configuration errors', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-config-errors-'));
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('loadConfig throws one ConfigError listing every invalid variable, in declaration order', () => {
    assert.throws(() => loadConfig(BAD), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, EXPECTED);
      assert.equal(err.message, EXPECTED.join('\n'));
      return true;
    });
  });

  test('rules across variables are reported with the others', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'loud', REDIS_URL: 'redis://:hunter2@one:6379', REDIS_CLUSTER_NODES: 'a:1' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems.map((p) => p.split(':')[0]), ['LOG_LEVEL', 'REDIS_CLUSTER_NODES', 'ISSUER', 'COOKIE_SECRETS']);
      assert.ok(!err.message.includes('hunter2'));
      return true;
    });
  });

  test('the CLI reports them all, one line each, exit 1', async () => {
    const r = await runCli(['users', 'list'], { ...env, ...BAD });
    assert.equal(r.code, 1);
    assertAllReported(r.stderr);
    assert.equal(r.stdout, '');
  });

  test('npm start reports them all, one line each, exit 1', () => {
    requireFreshBuild();
    const r = spawnSync('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv({ ...env, ...BAD }), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assertAllReported(r.stderr);
  });
});
