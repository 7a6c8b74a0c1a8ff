// The embedded database is single-process: a second opener is refused with
// a clear message while the first lives, and a lock left by a dead process
// (a crash, a container restart reusing pid 1) does not lock it forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { openDatabase } from '../../server/repositories/database.ts';
import { DatabaseBusyError } from '../../server/errors.ts';
import { ownerAlive } from '../../server/repositories/embedded-lock.ts';
import { spawn } from 'node:child_process';

test('a live owner keeps others out; a stale lock (dead pid, or a reused pid) is taken over', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-lock-'));
  try {
    const config = loadConfig({ DATA_DIR: dir });
    const first = await openDatabase(config);
    const lockFile = path.join(dir, 'pglite.lock');
    const owner = JSON.parse(await readFile(lockFile, 'utf8')) as { pid: number; start?: string };
    assert.equal(owner.pid, process.pid);
    await assert.rejects(openDatabase(config), (err: Error) => err instanceof DatabaseBusyError && err.message.includes(String(process.pid)));
    // Simulate a crash: keep the files, leave the lock behind.
    const snapshot = await mkdtemp(path.join(tmpdir(), 'tollgate-lock-copy-'));
    await first.close();
    await cp(dir, snapshot, { recursive: true });

    for (const stale of [{ pid: 2 ** 22 + 7 }, { pid: 1, start: 'not-the-start-of-pid-1' }, { pid: process.pid, start: 'an-earlier-life' }]) {
      await writeFile(path.join(snapshot, 'pglite.lock'), JSON.stringify(stale));
      const reopened = await openDatabase(loadConfig({ DATA_DIR: snapshot }));
      await reopened.close();
    }
    await rm(snapshot, { recursive: true, force: true });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a killed owner not yet reaped (a zombie) holds nothing: its lock is stale', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
  // The child exits 0.3 s later, once its parent has exec'd `sleep`, which never
  // reaps it: a zombie until `sleep` ends. (A child that exited before the exec
  // could be reaped by the shell.)
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 8'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number((await new Promise<Buffer>((resolve) => parent.stdout!.once('data', resolve))).toString().trim());
    let state = '';
    for (let i = 0; i < 150 && state !== 'Z'; i += 1) {
      state = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[0]!;
      if (state !== 'Z') await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(state, 'Z', 'the child did not become a zombie');
    assert.doesNotThrow(() => process.kill(pid, 0), 'kill(0) still succeeds on a zombie');
    assert.equal(await ownerAlive({ pid }), false);
    assert.equal(await ownerAlive({ pid: parent.pid! }), true);
  } finally {
    parent.kill('SIGKILL');
  }
});
