// Builds a real Tollgate for a test: real HTTP server on a free loopback
// port, a fresh key directory, and either a fresh embedded database or a
// database on a real PostgreSQL server. Log lines are captured for assertions.
import { createServer, type Server } from 'node:http';
import { cp, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { createTollgate, type Tollgate } from '../../server/tollgate.ts';
import { applyMigrations, readMigrations } from '../../server/repositories/migrations.ts';
import { openDatabase } from '../../server/repositories/database.ts';
import type { MailerOptions } from '../../server/mail/mailer.ts';
import type { TestSmtp } from './smtp.ts';

export interface TestTollgate {
  readonly issuer: string;
  readonly tollgate: Tollgate;
  readonly config: Config;
  /** Every log line written so far, raw. */
  readonly logs: string[];
  readonly dirs: { data: string; keys: string };
  close(): Promise<void>;
}

export interface TestOptions {
  databaseUrl?: string;
  env?: Record<string, string>;
  /** Reuse directories (a restart). */
  dirs?: { data: string; keys: string };
  /** Listen on this port instead of a free one: a restart keeps its issuer. */
  port?: number;
  /** Send mail to this test SMTP server (test/support/smtp.ts): SMTP_URL, MAIL_FROM, and its certificate trusted. */
  smtp?: Pick<TestSmtp, 'url' | 'certificate'>;
  /** The mail queue's options (a retry schedule in milliseconds, say). */
  mailer?: Partial<MailerOptions>;
}

/** The From of test messages. */
export const TEST_MAIL_FROM = 'Tollgate Test <no-reply@tollgate.test>';

/**
 * A migrated, empty embedded database, created once per test run and copied
 * for each test: PGlite's initdb costs ~5 s and ~1 GB, a copy ~50 ms.
 */
async function embeddedTemplate(): Promise<string> {
  const migrations = await readMigrations();
  const key = createHash('sha256').update(migrations.map((m) => m.checksum).join()).digest('hex').slice(0, 16);
  const dir = path.join(tmpdir(), `tollgate-test-pglite-${key}`);
  try {
    await stat(path.join(dir, 'ready'));
    return dir;
  } catch { /* build it */ }
  // Built aside and renamed into place: test files run in parallel
  // processes, and a rename is atomic, so a half-built template is never seen.
  const building = await mkdtemp(path.join(tmpdir(), 'tollgate-template-'));
  const config = loadConfig({ DATA_DIR: building });
  const db = await openDatabase(config);
  await applyMigrations(db);
  await db.close();
  await writeFile(path.join(building, 'ready'), '');
  try {
    await rename(building, dir);
  } catch {
    // Another process won the race; its template is as good as ours.
    await rm(building, { recursive: true, force: true });
  }
  return dir;
}

export async function startTestTollgate(options: TestOptions = {}): Promise<TestTollgate> {
  const dirs = options.dirs ?? {
    data: await mkdtemp(path.join(tmpdir(), 'tollgate-data-')),
    keys: await mkdtemp(path.join(tmpdir(), 'tollgate-keys-')),
  };
  if (!options.dirs && !options.databaseUrl) {
    await cp(path.join(await embeddedTemplate(), 'pglite'), path.join(dirs.data, 'pglite'), { recursive: true });
  }

  // Listen first: the issuer must name the port, which is only known once bound.
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject); // a given port may be taken
    server.listen(options.port ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;

  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    ISSUER: `http://localhost:${port}`,
    DATA_DIR: dirs.data,
    KEYS_DIR: dirs.keys,
    LOG_LEVEL: 'info',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(options.smtp ? { SMTP_URL: options.smtp.url, MAIL_FROM: TEST_MAIL_FROM } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger(config, sink);
  const certificate = options.smtp?.certificate;
  const tollgate = await createTollgate(config, logger, {
    ...(options.mailer || certificate ? { mailer: { ...options.mailer, ...(certificate ? { smtp: { tls: { ca: certificate } } } : {}) } } : {}),
  });
  server.on('request', tollgate.handler);

  return {
    issuer: config.issuer,
    tollgate,
    config,
    logs,
    dirs,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await tollgate.close();
    },
  };
}

export async function removeDirs(dirs: { data: string; keys: string }): Promise<void> {
  await rm(dirs.data, { recursive: true, force: true });
  await rm(dirs.keys, { recursive: true, force: true });
}

/** Runs `work` against a Tollgate of its own, always closed and removed afterwards. */
export async function withTestTollgate(options: TestOptions, work: (t: TestTollgate) => Promise<void>): Promise<void> {
  const t = await startTestTollgate(options);
  try {
    await work(t);
  } finally {
    await t.close();
    await removeDirs(t.dirs);
  }
}
