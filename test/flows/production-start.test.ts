// Production start: the compiled JavaScript in an installation laid out as
// the Docker image lays it out (dist/, views/, prisma/, package.json and the
// production dependencies: no tsx, no TypeScript), and the embedded
// database's first start from the template `npm run build` makes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.ts';
import { ROOT, runCli, startServer } from '../support/processes.ts';
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
