// A real PostgreSQL server from Debian's binaries, on loopback in a temp dir,
// for the suites that must run against one. Missing binaries are reported
// loudly; under CI they fail the run instead of being skipped.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';

export interface PostgresServer {
  url: string;
  /** The server's log file (statements appear there where log_statement is set). */
  logFile: string;
  /** Stops it for good and removes its files. */
  stop(): void;
  /** Stops the server, keeping its data (a fault, for the fault tests). */
  down(): void;
  /** Starts it again on the same port and data. */
  up(): void;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** Why PostgreSQL cannot run here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  return binDir() ? undefined : 'PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)';
}

/** Call at the top of a PostgreSQL suite: returns the skip reason, or throws under CI. */
export function requirePostgres(): string | false {
  const reason = postgresUnavailable();
  if (!reason) return false;
  const banner = `\n${'!'.repeat(78)}\n!! SKIPPING PostgreSQL SUITE: ${reason}\n${'!'.repeat(78)}\n`;
  process.stderr.write(banner);
  if (process.env.CI) throw new Error(reason);
  return reason;
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  if (!bin) throw new Error(postgresUnavailable());
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-pg-'));
  const port = await freePort();
  // initdb refuses to run as root: run the server as the postgres user then.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]] as const : [path.join(bin, cmd), args] as const;
    const r = spawnSync(full[0], [...full[1]], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  const data = path.join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'tollgate', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  const start = () => run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`, 'start']);
  start();
  return {
    url: `postgresql://tollgate@127.0.0.1:${port}/postgres`,
    logFile: path.join(dir, 'log'),
    down: () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']),
    up: start,
    stop() {
      try { run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']); } catch { /* already gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh database on the server, so suites sharing one server do not see each other. */
export async function createDatabase(server: PostgresServer, name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return server.url.replace(/\/postgres$/, `/${name}`);
}

/**
 * The statements PostgreSQL executed for `work`, read from the server's own
 * log (the database must have log_statement = 'all': logStatements), so
 * every round trip counts, whichever client sent it.
 */
export async function statementsDuring(server: PostgresServer, work: () => Promise<void>): Promise<string[]> {
  const { readFile, stat } = await import('node:fs/promises');
  const from = (await stat(server.logFile)).size;
  await work();
  const log = (await readFile(server.logFile)).subarray(from).toString('utf8');
  return log.split('\n').flatMap((line) => {
    const m = /LOG:  (?:statement|execute [^:]*): (.*)$/.exec(line);
    return m ? [m[1]!] : [];
  });
}

/** Makes PostgreSQL log every statement run in one database (new connections). */
export async function logStatements(server: PostgresServer, database: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`ALTER DATABASE "${database}" SET log_statement = 'all'`);
  } finally {
    await client.end();
  }
}
