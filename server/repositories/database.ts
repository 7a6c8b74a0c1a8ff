// The database connection: PostgreSQL through @prisma/adapter-pg when
// DATABASE_URL is set, otherwise the embedded PGlite under DATA_DIR. Both
// run the same schema, generated client and migrations; nothing above
// repositories/ knows which one it has.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { Config } from '../config.ts';
import { DatabaseBusyError } from '../errors.ts';

/** One connection on which statements run in order: what the migration runner needs. */
export interface SqlSession {
  /** Runs a script of one or more statements (simple query protocol). */
  exec(sql: string): Promise<void>;
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface Database {
  readonly kind: 'postgresql' | 'embedded';
  readonly prisma: PrismaClient;
  /**
   * Parameterised SQL straight to the driver, for the hottest repositories
   * (oidc-provider's models, login counters). Measured here, sequentially:
   * Prisma's client costs 1.2–2.7 ms per query (raw or not), the driver
   * 0.28 ms (pg) and 0.29 ms (PGlite); a sign-in makes ~20 such queries.
   * The schema, migrations and the colder repositories stay with Prisma.
   */
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Like query, for statements; resolves with the number of rows affected. */
  execute(sql: string, params?: unknown[]): Promise<number>;
  /** Runs `work` on one dedicated connection (advisory locks and transactions need one). */
  withSession<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openDatabase(config: Pick<Config, 'database'>): Promise<Database> {
  const { url, poolSize, dataDir } = config.database;
  return url ? openPostgres(url, poolSize) : openEmbedded(dataDir);
}

function openPostgres(url: string, poolSize: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Fail fast instead of queueing when the server is unreachable: the
    // request then answers 503 within ~2 s (and the pool reconnects by itself).
    connectionTimeoutMillis: 1_500,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection emits here; without a listener it would crash the process.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const statement = preparedStatements();

  return {
    kind: 'postgresql',
    prisma,
    query: async <Row>(sql: string, params?: unknown[]) => (await pool.query(statement(sql, params))).rows as Row[],
    execute: async (sql, params) => (await pool.query(statement(sql, params))).rowCount ?? 0,
    async withSession(work) {
      const client = await pool.connect();
      try {
        return await work({
          exec: async (sql) => { await client.query(sql); },
          query: async <Row>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as Row[],
        });
      } finally {
        client.release();
      }
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/**
 * Named (server-side prepared) statements for the repositories' SQL: each
 * connection parses and plans a text once, then only binds and executes it,
 * which saves PostgreSQL a parse and a plan per query on the hot paths
 * (refresh, code exchange, sign-in). The texts are constants of the
 * repositories; past a bound (a text built per call, say) statements go
 * unnamed, so the per-connection cache cannot grow without limit.
 */
function preparedStatements(limit = 256): (text: string, values?: unknown[]) => pg.QueryConfig {
  const names = new Map<string, string>();
  return (text, values) => {
    let name = names.get(text);
    if (name === undefined && names.size < limit) {
      name = `tollgate_${names.size}`;
      names.set(text, name);
    }
    return name === undefined ? { text, values } : { name, text, values };
  };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const dir = path.join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  // PGlite is a single-process database: a second process opening the same
  // files (the CLI while the server runs) would corrupt them. One lock file,
  // holding the owner's pid, keeps the second one out with a clear message.
  const releaseLock = await lockDataDir(path.join(dataDir, 'pglite.lock'));
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dir);
  } catch (err) {
    await releaseLock();
    throw err;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });

  // PGlite is one connection in this process; the adapter and the migration
  // runner take turns on it, which is all a single embedded instance needs.
  return {
    kind: 'embedded',
    prisma,
    query: async <Row>(sql: string, params?: unknown[]) => (await pglite.query<Row>(sql, params)).rows,
    execute: async (sql, params) => (await pglite.query(sql, params)).affectedRows ?? 0,
    async withSession(work) {
      return work({
        exec: async (sql) => { await pglite.exec(sql); },
        query: async <Row>(sql: string, params?: unknown[]) => (await pglite.query<Row>(sql, params)).rows,
      });
    },
    async close() {
      await prisma.$disconnect();
      // An open PGlite keeps Node alive and must be closed to flush its files.
      await pglite.close();
      await releaseLock();
    },
  };
}

/**
 * The owner is identified by pid and, where /proc exists, the process's start
 * time: after a crash in a container the same pid (often 1) belongs to a new
 * process, and a pid alone would keep the database locked forever.
 */
interface LockOwner { pid: number; start?: string }

async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime); the command name in field 2 may contain spaces, so count from its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function ownerAlive(owner: LockOwner): Promise<boolean> {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.start === undefined) return true;
  const now = await processStart(owner.pid);
  return now === undefined || now === owner.start;
}

async function lockDataDir(file: string): Promise<() => Promise<void>> {
  const me: LockOwner = { pid: process.pid, start: await processStart(process.pid) };
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(file, JSON.stringify(me), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner: LockOwner;
      try {
        owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
      } catch {
        owner = { pid: -1 };
      }
      if (await ownerAlive(owner)) {
        throw new DatabaseBusyError(`the embedded database in ${path.dirname(file)} is in use by process ${owner.pid}; stop it first, or use DATABASE_URL (PostgreSQL) to share a database`);
      }
      // The owner died without cleaning up: the lock is stale.
      await rm(file, { force: true });
    }
  }
  throw new DatabaseBusyError(`cannot lock the embedded database (${file})`);
}
