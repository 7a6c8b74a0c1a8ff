// What the CLI says about itself: each command's --help, --version, a
// suggestion for a mistyped command or option, the usage of the command that
// was wrong and not the whole list, and the documented exit statuses
// (0 done, 1 failed, 2 bad arguments). None of these opens a database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, runCli } from '../support/processes.ts';

describe('tollgate CLI usage', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-usage-'));
    // An unreachable database: nothing here may need one.
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys'), DATABASE_URL: 'postgres://tollgate@127.0.0.1:1/none' };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('each command has its own --help on stdout, exit 0', async () => {
    const r = await runCli(['clients', 'add', '--help'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: tollgate clients add \[options\]/);
    for (const option of ['--id <client-id>', '--redirect-uri <uri>', '--public', '--grant-types <list>', '--introspects <audience>']) {
      assert.ok(r.stdout.includes(option), `clients add --help lists ${option}`);
    }
    assert.ok(!r.stdout.includes('--email'), 'only this command’s options');
    assert.equal(r.stderr, '');

    const reset = await runCli(['users', 'reset-password', '--help'], env);
    assert.equal(reset.code, 0);
    assert.match(reset.stdout, /--password-stdin\s+read the password from standard input \(recommended/);

    const top = await runCli(['--help'], env);
    assert.equal(top.code, 0);
    for (const group of ['migrate', 'users', 'clients', 'keys']) assert.match(top.stdout, new RegExp(`^  ${group}\\b`, 'm'));
    assert.match(top.stdout, /Exit status: 0 done, 1 failed, 2 bad arguments/);
  });

  test('--version prints the package version, exit 0', async () => {
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag], env);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), version);
    }
  });

  test('a mistyped command or option gets a suggestion and the usage of where it went wrong, exit 2', async () => {
    const command = await runCli(['client', 'add', '--id', 'x'], env);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /^tollgate: unknown command 'client'\n\(Did you mean clients add\?\)/);

    const sub = await runCli(['users', 'ad'], env);
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /\(Did you mean add\?\)/);
    assert.match(sub.stderr, /Usage: tollgate users \[options\] \[command\]/);

    const option = await runCli(['users', 'add', '--emial', 'a@example.test', '--password-stdin'], env, 'long enough password\n');
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^tollgate: unknown option '--emial'\n\(Did you mean --email\?\)/);
    assert.equal(option.stdout, '');
  });

  test("bad arguments print that command's usage only, one line per problem, exit 2", async () => {
    const r = await runCli(['users', 'add', '--email', 'not-an-email', '--password', 'short'], env);
    assert.equal(r.code, 2);
    const [problems, usage] = r.stderr.split('\n\n');
    assert.deepEqual(problems!.split('\n'), ['tollgate: --email: must be an e-mail address', 'tollgate: --password: must be at least 8 characters']);
    assert.match(usage!, /^Usage: tollgate users add \[options\]/);
    assert.doesNotMatch(r.stderr, /clients add|keys rotate|--redirect-uri/, 'not the whole usage');
    assert.equal(r.stdout, '');

    const uri = await runCli(['clients', 'add', '--id', 'c1', '--redirect-uri', 'https://a.example/cb', '--redirect-uri', 'https://a.example/cb#x'], env);
    assert.equal(uri.code, 2);
    assert.match(uri.stderr, /^tollgate: --redirect-uri \(2nd\): /m);
    assert.match(uri.stderr, /Usage: tollgate clients add/);

    const missing = await runCli(['users', 'end-session', '--email', 'a@example.test'], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^tollgate: missing --session$/m);

    const none = await runCli([], env);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: tollgate \[options\] \[command\]/);
  });

  test('a command that fails is exit 1 without the usage', async () => {
    const r = await runCli(['users', 'list'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tollgate: /);
    assert.doesNotMatch(r.stderr, /Usage:/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
