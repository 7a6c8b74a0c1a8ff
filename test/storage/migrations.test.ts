// The migration runner: Prisma's folder format and bookkeeping, so that
// `prisma migrate deploy` and Tollgate agree about what is applied.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { openDatabase, type Database } from '../../server/repositories/database.ts';
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from '../../server/repositories/migrations.ts';
import { MigrationError } from '../../server/errors.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

interface Row { migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number; id: string }

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<Database>, string | false]> = [
  ['embedded', async () => openDatabase(loadConfig({ DATA_DIR: await mkdtemp(path.join(tmpdir(), 'tollgate-mig-')) })), false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, `mig_${Date.now()}`) }));
  }, requirePostgres()],
];

for (const [name, open, skip] of backends) {
  describe(`migrations (${name})`, { skip }, () => {
    let db: Database;
    let dir: string;
    before(async () => {
      db = await open();
      dir = await mkdtemp(path.join(tmpdir(), 'tollgate-migrations-'));
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
    });
    after(async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    });
    const rows = () => db.withSession((s) => s.query<Row>('SELECT * FROM _prisma_migrations ORDER BY migration_name'));

    test('applies every migration once, recorded as Prisma records them', async () => {
      const applied = await applyMigrations(db, dir);
      const local = await readMigrations(dir);
      assert.deepEqual(applied, local.map((m) => m.name));
      const recorded = await rows();
      assert.equal(recorded.length, local.length);
      for (const [i, row] of recorded.entries()) {
        const sql = await readFile(path.join(dir, row.migration_name, 'migration.sql'), 'utf8');
        assert.equal(row.migration_name, local[i]!.name);
        assert.equal(row.checksum, createHash('sha256').update(sql).digest('hex'));
        assert.ok(row.finished_at);
        assert.equal(row.applied_steps_count, 1);
        assert.match(row.id, /^[0-9a-f-]{36}$/);
      }
      assert.deepEqual(await applyMigrations(db, dir), [], 'a second run applies nothing');
    });

    test('a failing migration leaves neither its changes nor a record, and names itself', async () => {
      const bad = path.join(dir, '29991231000000_broken');
      await mkdir(bad);
      await writeFile(path.join(bad, 'migration.sql'), 'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n');
      await assert.rejects(applyMigrations(db, dir), (err: Error) => err instanceof MigrationError && err.message.includes('29991231000000_broken'));
      const exists = await db.withSession((s) => s.query<{ t: string | null }>("SELECT to_regclass('half_done')::text AS t"));
      assert.equal(exists[0]!.t, null);
      assert.ok(!(await rows()).some((r) => r.migration_name.endsWith('_broken')));
      await rm(bad, { recursive: true });
    });

    test('a migration edited after it was applied is refused', async () => {
      const [first] = await readMigrations(dir);
      const file = path.join(dir, first!.name, 'migration.sql');
      const original = await readFile(file, 'utf8');
      await appendFile(file, '\n-- edited\n');
      await assert.rejects(applyMigrations(db, dir), (err: Error) => err instanceof MigrationError && /edited/.test(err.message));
      await writeFile(file, original);
    });

    test('a migration Prisma recorded as failed stops the runner', async () => {
      await db.withSession((s) => s.query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES ('00000000-0000-4000-8000-000000000000', 'x', '29990101000000_failed', now())",
      ));
      await assert.rejects(applyMigrations(db, dir), (err: Error) => err instanceof MigrationError && /failed earlier/.test(err.message));
    });
  });
}
