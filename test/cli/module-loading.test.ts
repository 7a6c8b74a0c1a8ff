// The CLI loads only what a command needs: `keys list` reads the key file
// without the database, oidc-provider or Koa; the database commands open the
// database without oidc-provider or Koa. (What makes them start fast; their
// speed itself is measured, not tested.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli } from '../support/processes.ts';

// Module resolution hooks (node:module register) that append every resolved URL to a file.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.TOLLGATE_TEST_IMPORTS, resolved.url + '\\n');
  return resolved;
}`;

describe('tollgate CLI module loading', () => {
  let root: string;
  let env: Record<string, string>;
  let trace: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-modules-'));
    trace = path.join(root, 'imports.txt');
    await writeFile(path.join(root, 'hooks.mjs'), HOOKS);
    await writeFile(path.join(root, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(root, 'hooks.mjs')).href)});\n`);
    env = {
      DATA_DIR: path.join(root, 'data'),
      KEYS_DIR: path.join(root, 'keys'),
      NODE_OPTIONS: `--import=${pathToFileURL(path.join(root, 'register.mjs')).href}`,
      TOLLGATE_TEST_IMPORTS: trace,
    };
    // Keys and a database to read.
    assert.equal((await runCli(['keys', 'rotate'], env)).code, 0);
    assert.equal((await runCli(['migrate'], env)).code, 0);
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function packagesLoadedBy(args: string[]): Promise<{ stdout: string; packages: Set<string> }> {
    await writeFile(trace, '');
    const r = await runCli(args, env);
    assert.equal(r.code, 0, r.stderr);
    const packages = new Set((await readFile(trace, 'utf8')).split('\n')
      .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
      .filter((p): p is string => p !== undefined));
    return { stdout: r.stdout, packages };
  }

  test('keys list loads neither the database nor oidc-provider nor Koa', async () => {
    const { stdout, packages } = await packagesLoadedBy(['keys', 'list']);
    assert.ok((JSON.parse(stdout) as Array<{ kid: string }>).every((k) => typeof k.kid === 'string'));
    assert.ok(packages.has('jose'), 'the trace works');
    for (const heavy of ['oidc-provider', 'koa', '@prisma/client', '@electric-sql/pglite', 'pg', 'redis']) {
      assert.ok(!packages.has(heavy), `keys list loaded ${heavy}`);
    }
  });

  test('users list and clients list open the database without oidc-provider or Koa', async () => {
    // (The client repository's cache invalidation brings in the Redis client, even without REDIS_URL.)
    for (const [args, unwanted] of [[['users', 'list'], ['redis']], [['clients', 'list'], []]] as const) {
      const { stdout, packages } = await packagesLoadedBy([...args]);
      assert.deepEqual(JSON.parse(stdout), []);
      assert.ok(packages.has('@electric-sql/pglite'), 'the trace works');
      for (const heavy of ['oidc-provider', 'koa', '@koa/router', 'eta', ...unwanted]) {
        assert.ok(!packages.has(heavy), `${args.join(' ')} loaded ${heavy}`);
      }
    }
  });
});
