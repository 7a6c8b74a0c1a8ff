// The database connection: PostgreSQL through pg when DATABASE_URL is set,
// otherwise the embedded PGlite under DATA_DIR. Both run the same schema and
// migrations; nothing above repositories/ knows which one it has.
//
// Prisma owns the schema: prisma/schema.prisma, migrations in its folder
// format, recorded in its `_prisma_migrations` table, written with its
// migration engine (npm run migration:new). Its query client is not used at
// run time: every repository sends SQL straight to the driver, which costs
// 0.28 ms a query here against the client's 1.2–2.7 ms, and leaving the
// client unloaded spares start-up its modules and memory.
import { constants } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import type { Config } from '../config.ts';
import { DatabaseBusyError } from '../errors.ts';
import { projectPath } from '../paths.ts';
import { LOCK_FILE, ownerAlive, processStart, type LockOwner } from './embedded-lock.ts';

/** One connection on which statements run in order: what the migration runner needs. */
export interface SqlSession {
  /** Runs a script of one or more statements (simple query protocol). */
  exec(sql: string): Promise<void>;
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface Database {
  readonly kind: 'postgresql' | 'embedded';
  /**
   * Parameterised SQL straight to the driver (prepared statements on
   * PostgreSQL). Measured here, sequentially: the driver 0.28 ms (pg) and
   * 0.29 ms (PGlite) a query; Prisma's client 1.2–2.7 ms (raw or not).
   */
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Like query, for statements; resolves with the number of rows affected. */
  execute(sql: string, params?: unknown[]): Promise<number>;
  /** Runs `work` on one dedicated connection (advisory locks and transactions need one). */
  withSession<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  /** PostgreSQL's pool, now: connections open, idle, and queries waiting for one (the metrics). The embedded database has no pool. */
  poolStats?(): { total: number; idle: number; waiting: number };
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
  const statement = preparedStatements();

  return {
    kind: 'postgresql',
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
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
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
  await mkdir(dataDir, { recursive: true });
  // PGlite is a single-process database: a second process opening the same
  // files (the CLI while the server runs) would corrupt them. One lock file,
  // holding the owner's pid, keeps the second one out with a clear message.
  const releaseLock = await lockDataDir(path.join(dataDir, LOCK_FILE));
  let pglite: PGlite;
  try {
    if (await isEmpty(dir) && !(await copyTemplate(dir))) await mkdir(dir, { recursive: true });
    pglite = await PGlite.create(dir, { startParams: EMBEDDED_START_PARAMS });
  } catch (err) {
    await releaseLock();
    throw err;
  }
  // PGlite is one connection in this process; the repositories and the
  // migration runner take turns on it, which is all a single embedded instance needs.
  return {
    kind: 'embedded',
    query: async <Row>(sql: string, params?: unknown[]) => (await pglite.query<Row>(sql, params)).rows,
    execute: async (sql, params) => (await pglite.query(sql, params)).affectedRows ?? 0,
    async withSession(work) {
      return work({
        exec: async (sql) => { await pglite.exec(sql); },
        query: async <Row>(sql: string, params?: unknown[]) => (await pglite.query<Row>(sql, params)).rows,
      });
    },
    async close() {
      // An open PGlite keeps Node alive and must be closed to flush its files.
      await pglite.close();
      await releaseLock();
    },
  };
}

/**
 * PostgreSQL's default buffer pool (128 MB) lives inside PGlite's WebAssembly
 * memory and is touched at start: measured here, 16 MB takes ~125 MB off the
 * process's resident memory. A page that is not in the pool is read from the
 * operating system's file cache through a system call, not from disk, which
 * costs microseconds; a single instance's working set (live tokens, sessions,
 * accounts) is a few MB.
 */
const EMBEDDED_SHARED_BUFFERS = '16MB';
const EMBEDDED_START_PARAMS = [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`];

/**
 * A pristine embedded data directory: initdb's output, made once by
 * `npm run build` (scripts/build-embedded-template.ts), copied into an empty
 * DATA_DIR instead of running initdb at first start. initdb inside PGlite
 * takes seconds and peaks near 1 GB (it runs a second PostgreSQL instance);
 * the copy takes a few hundred milliseconds. Migrations are not in it: they
 * run at start-up as on any database, so a new data directory records them
 * in `_prisma_migrations` when it applies them, as before.
 *
 * A directory copy rather than PGlite's `loadDataDir` tarball: measured here,
 * loading the tarball through PGlite's in-memory file system kept ~120 MB
 * more resident and was slower than opening a copied directory.
 */
export const EMBEDDED_TEMPLATE_DIR = projectPath('dist', 'embedded-database');
const TEMPLATE_DATA = 'pgdata';
const TEMPLATE_MANIFEST = 'template.json';

interface TemplateManifest { pglite: string }

/** The installed PGlite's version: a data directory is only valid for the PGlite (and PostgreSQL) build that made it. */
async function pgliteVersion(): Promise<string> {
  // The package does not export its package.json; it sits above the resolved entry point (dist/index.js).
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const pkg = JSON.parse(await readFile(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function isEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/** Copies the template into `dir` (absent or empty); false when there is no usable template. */
async function copyTemplate(dir: string, template = EMBEDDED_TEMPLATE_DIR): Promise<boolean> {
  let manifest: TemplateManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(template, TEMPLATE_MANIFEST), 'utf8')) as TemplateManifest;
  } catch {
    return false;
  }
  if (manifest.pglite !== await pgliteVersion()) return false;
  // Copied beside it, then renamed into place: an interrupted copy never looks like a database.
  const copying = `${dir}.copying`;
  await rm(copying, { recursive: true, force: true });
  await cp(path.join(template, TEMPLATE_DATA), copying, { recursive: true, mode: constants.COPYFILE_FICLONE });
  await rm(dir, { recursive: true, force: true });
  await rename(copying, dir);
  return true;
}

/**
 * Makes the template in `template` (replacing it) unless one for this PGlite
 * is there already; returns whether it built one. Run by `npm run build`.
 */
export async function buildEmbeddedTemplate(template = EMBEDDED_TEMPLATE_DIR): Promise<boolean> {
  const version = await pgliteVersion();
  try {
    const manifest = JSON.parse(await readFile(path.join(template, TEMPLATE_MANIFEST), 'utf8')) as TemplateManifest;
    if (manifest.pglite === version) return false;
  } catch {
    // None yet, or unreadable: build it.
  }
  const building = `${template}.building`;
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true });
  const pglite = await PGlite.create(path.join(building, TEMPLATE_DATA), { startParams: EMBEDDED_START_PARAMS });
  await pglite.close();
  await writeFile(path.join(building, TEMPLATE_MANIFEST), `${JSON.stringify({ pglite: version } satisfies TemplateManifest)}\n`);
  await rm(template, { recursive: true, force: true });
  await rename(building, template);
  return true;
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
