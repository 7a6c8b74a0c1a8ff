// Applies prisma/migrations/*/migration.sql in order, recording each in
// Prisma's own `_prisma_migrations` table with the checksum Prisma computes,
// so `prisma migrate deploy` (where its native engine exists) and this runner
// agree about what has been applied. We need our own runner because the
// schema engine binary cannot be downloaded on every machine that runs us.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MigrationError } from '../errors.ts';
import { projectPath } from '../paths.ts';
import type { Database, SqlSession } from './database.ts';

export const MIGRATIONS_DIR = projectPath('prisma', 'migrations');

/** The key `prisma migrate` locks; taking the same one serialises us with it and with other instances. */
const PRISMA_ADVISORY_LOCK = 72707369;

interface Migration { name: string; sql: string; checksum: string }
interface AppliedRow { migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null }

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(names.map(async (name) => {
    const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  }));
}

/** Applies every pending migration; returns the names applied now. Throws MigrationError. */
export async function applyMigrations(db: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  return db.withSession(async (session) => {
    await session.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    try {
      await ensureTable(session);
      const rows = await session.query<AppliedRow>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations');
      const applied = checkHistory(rows, migrations);
      const done: string[] = [];
      for (const migration of migrations) {
        if (applied.has(migration.name)) continue;
        await applyOne(session, migration);
        done.push(migration.name);
      }
      return done;
    } finally {
      await session.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]);
    }
  });
}

function ensureTable(session: SqlSession): Promise<void> {
  // Prisma's definition, column for column.
  return session.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`);
}

/** The names already applied; refuses a failed migration or one edited after it ran. */
function checkHistory(rows: AppliedRow[], migrations: Migration[]): Set<string> {
  const byName = new Map(migrations.map((m) => [m.name, m]));
  const applied = new Set<string>();
  for (const row of rows) {
    if (row.rolled_back_at) continue;
    if (!row.finished_at) {
      throw new MigrationError(`migration ${row.migration_name} failed earlier and was not rolled back; resolve it (prisma migrate resolve) before starting`);
    }
    const local = byName.get(row.migration_name);
    if (local && local.checksum !== row.checksum) {
      throw new MigrationError(`migration ${row.migration_name} was edited after it was applied; landed migrations must never change`);
    }
    applied.add(row.migration_name);
  }
  return applied;
}

async function applyOne(session: SqlSession, migration: Migration): Promise<void> {
  // One transaction for the migration and its record: a failure leaves
  // neither behind, so a fixed migration can simply run again.
  await session.exec('BEGIN');
  try {
    await session.exec(migration.sql);
    await session.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), now(), 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
    await session.exec('COMMIT');
  } catch (err) {
    await session.exec('ROLLBACK').catch(() => {});
    throw new MigrationError(`migration ${migration.name} failed: ${(err as Error).message}`);
  }
}
