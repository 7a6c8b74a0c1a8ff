// Production start: the compiled JavaScript in an installation laid out as
// the Docker image lays it out (dist/, views/, prisma/, package.json and the
// production dependencies: no tsx, no TypeScript), and the embedded
// database's first start from the template `npm run build` makes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.ts';
import { cleanEnv, requireFreshBuild, ROOT, runCli, startServer, type Running } from '../support/processes.ts';
import { drainable } from '../../server/shutdown.ts';
import { loadConfig } from '../../server/config.ts';
import { EMBEDDED_TEMPLATE_DIR, openDatabase, type Database } from '../../server/repositories/database.ts';
import { applyMigrations, readMigrations } from '../../server/repositories/migrations.ts';

/** node_modules with every installed package except the development ones (top level; symlinks into ours). */
async function productionModules(target: string): Promise<void> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const dev = new Set(Object.keys(pkg.devDependencies));
  const source = path.join(ROOT, 'node_modules');
  await mkdir(target);
  for (const entry of await readdir(source)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      await mkdir(path.join(target, entry));
      for (const scoped of await readdir(path.join(source, entry))) {
        if (!dev.has(`${entry}/${scoped}`)) await symlink(path.join(source, entry, scoped), path.join(target, entry, scoped));
      }
    } else if (!dev.has(entry)) {
      await symlink(path.join(source, entry), path.join(target, entry));
    }
  }
}

describe('npm start from the compiled build, as installed in the image', () => {
  let root: string;
  let app: string;
  let env: Record<string, string>;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-production-'));
    app = path.join(root, 'app');
    await mkdir(path.join(app, 'dist'), { recursive: true });
    // What the Dockerfile copies into the runtime image.
    await cp(path.join(ROOT, 'dist/server'), path.join(app, 'dist/server'), { recursive: true });
    await cp(EMBEDDED_TEMPLATE_DIR, path.join(app, 'dist', path.basename(EMBEDDED_TEMPLATE_DIR)), { recursive: true });
    await cp(path.join(ROOT, 'views'), path.join(app, 'views'), { recursive: true });
    await cp(path.join(ROOT, 'prisma'), path.join(app, 'prisma'), { recursive: true });
    await writeFile(path.join(app, 'package.json'), await readFile(path.join(ROOT, 'package.json')));
    await productionModules(path.join(app, 'node_modules'));
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('starts without tsx or TypeScript, reads views and migrations beside dist/, and stops cleanly on SIGTERM to npm', async () => {
    assert.ok(!existsSync(path.join(app, 'node_modules/tsx')) && !existsSync(path.join(app, 'node_modules/typescript')));
    const issuer = `http://localhost:${env.PORT}`;
    const server = await startServer(env, 60_000, app);
    try {
      const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
      // The stylesheet is read from views/ at start-up; the page templates and locales with it.
      const css = await fetch(`${issuer}/assets/tollgate.css`);
      assert.equal(css.status, 200);
      assert.equal(await css.text(), await readFile(path.join(ROOT, 'views/assets/tollgate.css'), 'utf8'));
      // SIGTERM to npm alone (as a process manager sends it) reaches node: `npm start` execs it.
      const closed = new Promise((resolve) => server.child.once('close', resolve));
      process.kill(server.child.pid!, 'SIGTERM');
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 20_000, 'still running'))]);
      assert.equal(outcome, 'closed', server.output());
    } finally {
      await server.stop();
    }
    // The first start applied every migration from prisma/migrations, as before.
    const migrated = server.output().split('\n').find((l) => l.includes('"database migrated"'));
    assert.ok(migrated, server.output());
    const names = (await readMigrations()).map((m) => m.name);
    assert.deepEqual((JSON.parse(migrated) as { migrations: string[] }).migrations, names);
    // Node shut down and closed the database, which released its lock.
    assert.match(server.output(), /"msg":"shutting down"/);
    assert.ok(!existsSync(path.join(env.DATA_DIR!, 'pglite.lock')));

    // The CLI runs from the same build.
    const users = await runCli(['users', 'list'], env, undefined, app);
    assert.equal(users.code, 0, users.stderr);
    assert.deepEqual(JSON.parse(users.stdout), []);
    const migrate = await runCli(['migrate'], env, undefined, app);
    assert.deepEqual(JSON.parse(migrate.stdout), { applied: [] });
  });
});

describe('embedded database: first start from the template', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-template-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const open = (dir: string) => openDatabase(loadConfig({ DATA_DIR: path.join(root, dir) }));
  const systemId = async (db: Database) => (await db.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
  interface Row { id: string; migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null; applied_steps_count: number }
  const recorded = (db: Database) => db.query<Row>('SELECT * FROM _prisma_migrations ORDER BY migration_name');

  test('an empty DATA_DIR starts from the template, records its migrations as before, and keeps its data', async () => {
    assert.ok(existsSync(path.join(EMBEDDED_TEMPLATE_DIR, 'template.json')), 'no template: run `npm run build` (npm test does)');
    const local = await readMigrations();
    const ids: string[] = [];
    const systems: string[] = [];
    for (const dir of ['a', 'b']) {
      const db = await open(dir);
      try {
        // Copies of one template share its PostgreSQL system identifier; initdb would make a new one.
        systems.push(await systemId(db));
        assert.deepEqual(await applyMigrations(db), local.map((m) => m.name));
        const rows = await recorded(db);
        assert.deepEqual(rows.map((r) => [r.migration_name, r.checksum, r.applied_steps_count]), local.map((m) => [m.name, m.checksum, 1]));
        assert.ok(rows.every((r) => r.finished_at && !r.rolled_back_at));
        ids.push(...rows.map((r) => r.id));
        await db.execute('CREATE TABLE probe (note text)');
        await db.execute('INSERT INTO probe VALUES ($1)', [`kept in ${dir}`]);
      } finally {
        await db.close();
      }
    }
    assert.equal(systems[0], systems[1]);
    assert.equal(new Set(ids).size, ids.length, 'each database records its own migration rows');

    const again = await open('a');
    try {
      assert.equal(await systemId(again), systems[0]);
      assert.deepEqual(await applyMigrations(again), []);
      assert.deepEqual(await again.query('SELECT note FROM probe'), [{ note: 'kept in a' }]);
    } finally {
      await again.close();
    }
  });

  test('an interrupted copy is started over', async () => {
    const dataDir = path.join(root, 'interrupted');
    // A crash during the copy leaves the half-copied directory beside an empty (or absent) database directory.
    await mkdir(path.join(dataDir, 'pglite.copying', 'base'), { recursive: true });
    await writeFile(path.join(dataDir, 'pglite.copying', 'PG_VERSION'), 'half');
    await mkdir(path.join(dataDir, 'pglite'));
    const db = await openDatabase(loadConfig({ DATA_DIR: dataDir }));
    try {
      assert.ok((await applyMigrations(db)).length > 0);
      assert.deepEqual(await db.query('SELECT 1 AS one'), [{ one: 1 }]);
    } finally {
      await db.close();
    }
    assert.ok(!existsSync(path.join(dataDir, 'pglite.copying')));
  });
});

/** The pid of a process's first child: node, which `npm start` execs in place of its shell. */
function childPid(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** CPU time a process has used, in clock ticks (utime + stime). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Waits (up to 30 s) until the server has settled after its start. Right
 * after one, V8 is still compiling the embedded database's WebAssembly to
 * optimised code on background threads, and a process exiting then waits
 * for those compilations (~1-2 s on this machine): a stop measured at rest
 * measures our shutdown, not V8's.
 */
async function settled(pid: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let before = cpuTicks(pid);
  let quiet = 0;
  while (Date.now() < deadline && quiet < 2) {
    await new Promise((r) => setTimeout(r, 1_000));
    const now = cpuTicks(pid);
    quiet = now - before <= 2 ? quiet + 1 : 0;
    before = now;
  }
}

/** The shutdown's own log lines, for a failure message. */
const shutdownLines = (output: string) => output.split('\n').filter((l) => /"msg":"(shutting down|stopped|tollgate listening)"/.test(l)).join('\n');

/** Resolves with npm's exit code and the milliseconds from `since` until both npm and node are gone. */
async function gone(server: Running, node: number, since: number): Promise<{ code: number | null; ms: number }> {
  const code = server.child.exitCode !== null ? server.child.exitCode : await new Promise<number | null>((resolve) => server.child.once('close', resolve));
  while (alive(node)) await new Promise((r) => setTimeout(r, 10));
  return { code, ms: Date.now() - since };
}

describe('signals through npm start', () => {
  let root: string;
  let env: Record<string, string>;
  let issuer: string;
  const lock = () => path.join(env.DATA_DIR!, 'pglite.lock');
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-signals-'));
    env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    issuer = `http://localhost:${env.PORT}`;
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('SIGTERM to npm (a process manager): a request in flight completes, then node is gone and the lock released within 2 s, exit 0', async () => {
    const server = await startServer(env, 90_000);
    try {
      const node = childPid(server.child.pid!)!;
      assert.ok(node && alive(node));
      await settled(node);
      // A request in flight: its headers are in, its body still coming.
      const socket = connect(Number(env.PORT), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      let response = '';
      socket.on('data', (d: Buffer) => { response += d; });
      const ended = new Promise((resolve) => socket.once('close', resolve));
      const body = 'grant_type=client_credentials&client_id=nobody&client_secret=not-the-secret';
      socket.write(`POST /token HTTP/1.1\r\nHost: localhost:${env.PORT}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
      await new Promise((r) => setTimeout(r, 1_000));

      process.kill(server.child.pid!, 'SIGTERM');
      for (const deadline = Date.now() + 10_000; !server.output().includes('"msg":"shutting down"');) {
        if (Date.now() > deadline) assert.fail(`SIGTERM was not acted on within 10 s:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // No new connection is accepted while the request drains.
      await assert.rejects(fetch(`${issuer}/healthz`));
      assert.ok(alive(node), 'node waits for the request in flight');
      socket.write(body.slice(10));
      await ended;
      const answered = Date.now();
      assert.match(response, /^HTTP\/1\.1 401 /, response);
      assert.match(response, /\r\nConnection: close\r\n/i, 'the connection closes after the response');
      assert.match(response, /"error":"invalid_client"/);

      const { code, ms } = await gone(server, node, answered);
      assert.equal(code, 0, server.output());
      assert.ok(ms <= 2_000, `gone ${ms} ms after the last response\n${shutdownLines(server.output())}`);
      assert.ok(!existsSync(lock()), 'the embedded database lock is released');
      const shutdown = server.output().split('\n').find((l) => l.includes('"msg":"shutting down"'))!;
      assert.equal((JSON.parse(shutdown) as { in_flight: number }).in_flight, 1);
      assert.match(server.output(), /"msg":"stopped"/);
    } finally {
      await server.stop();
    }
  });

  test('SIGINT to the process group (Ctrl-C in a terminal): gone and the lock released within 2 s, exit 0; a new server starts on the same DATA_DIR at once', async () => {
    const server = await startServer(env, 90_000);
    let next: Running | undefined;
    try {
      const node = childPid(server.child.pid!)!;
      await settled(node);
      const signalled = Date.now();
      process.kill(-server.child.pid!, 'SIGINT');
      const { code, ms } = await gone(server, node, signalled);
      assert.equal(code, 0, server.output());
      assert.ok(ms <= 2_000, `gone ${ms} ms after SIGINT at ${new Date(signalled).toISOString()}\n${shutdownLines(server.output())}`);
      assert.ok(!existsSync(lock()));
      // node heard it twice (from the terminal and from npm) and stopped once.
      assert.equal(server.output().split('\n').filter((l) => l.includes('"msg":"stopped"')).length, 1);

      next = await startServer(env, 90_000);
      assert.equal((await fetch(`${issuer}/healthz`)).status, 200);
      assert.equal(await next.stop(), 0);
      assert.ok(!existsSync(lock()));
    } finally {
      await server.stop();
      await next?.stop();
    }
  });
});

describe('a signal while starting', () => {
  test('SIGTERM during a first start: the start finishes what it holds, closes the database, releases the lock, exit 0', async () => {
    requireFreshBuild();
    const root = await mkdtemp(path.join(tmpdir(), 'tollgate-signal-starting-'));
    const env = { PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    try {
      const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let output = '';
      child.stdout.on('data', (d: Buffer) => { output += d; });
      child.stderr.on('data', (d: Buffer) => { output += d; });
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      // The database is being made: the lock is taken, nothing is served yet.
      const deadline = Date.now() + 60_000;
      while (!output.includes('"msg":"creating the embedded database (first start)"')) {
        if (child.exitCode !== null || Date.now() > deadline) {
          process.kill(-child.pid!, 'SIGKILL');
          assert.fail(`no "creating the embedded database" line:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      process.kill(child.pid!, 'SIGTERM');
      const code = await Promise.race([closed, new Promise((r) => setTimeout(r, 60_000, 'still running'))]);
      assert.equal(code, 0, output);
      assert.ok(!existsSync(path.join(env.DATA_DIR, 'pglite.lock')), 'the lock is released');
      assert.ok(!output.includes('"msg":"tollgate listening"'), 'it never served');
      assert.match(output, /"msg":"stopped"/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('the drain, in process', () => {
  let server: Server;
  let drain: ReturnType<typeof drainable>;
  let port: number;
  let release: () => void;
  before(async () => {
    server = createServer();
    drain = drainable(server);
    // One endpoint that answers when told to, one that never does.
    server.on('request', drain.track((req, res) => {
      if (req.url === '/slow') release = () => res.end('done');
    }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('waits for requests in flight, then cuts the ones still running at the bound', async () => {
    const slow = fetch(`http://127.0.0.1:${port}/slow`);
    const stuck = fetch(`http://127.0.0.1:${port}/stuck`).catch((err: Error) => err);
    while (drain.inFlight < 2) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    const draining = drain.drain(500);
    release();
    const answer = await slow;
    assert.equal(await answer.text(), 'done');
    assert.equal(answer.headers.get('connection'), 'close');
    assert.deepEqual(await draining, { drained: false, cut: 1 });
    const took = Date.now() - started;
    assert.ok(took >= 500 && took < 2_000, `${took} ms`);
    assert.ok((await stuck) instanceof Error, 'the stuck request was cut');
  });
});
