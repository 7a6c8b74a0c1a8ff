// npm run bench [-- --duration 10 --connections 32 --database-url postgresql://…]
//
// Starts Tollgate as `npm start` would (request logging on, at info, to a
// discarded stdout), pinned to one core when taskset exists, with the load
// generator on the other, and reports req/s, p50 and p99 per scenario.
// Figures belong in closing notes and the README, never in test assertions.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort } from '../test/support/ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    'database-url': { type: 'string' },
    only: { type: 'string' },
  },
});
const duration = Number(args.duration);
const connections = Number(args.connections);
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
// The load generator (this process, every thread) on the second core, the server on the first.
if (hasTaskset) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

function pinned(core: number, command: string, argv: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(core), command, ...argv]] : [command, argv];
}

function tsx(argv: string[], env: NodeJS.ProcessEnv, core?: number): ChildProcess {
  const bin = path.join(ROOT, 'node_modules/.bin/tsx');
  const [cmd, full] = core === undefined ? [bin, argv] : pinned(core, bin, argv);
  return spawn(cmd, full, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function cli(env: NodeJS.ProcessEnv, argv: string[]): Promise<string> {
  const child = tsx(['server/cli/main.ts', ...argv], { ...env, LOG_LEVEL: 'warn' });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`tollgate ${argv.join(' ')} failed: ${err}`);
  return out;
}

async function startServer(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; startupMs: number; rssMb: number }> {
  const child = tsx(['server/main.ts'], env, 0);
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (d: Buffer) => {
      buffer += d;
      const line = buffer.split('\n').find((l) => l.includes('"tollgate listening"'));
      if (line) {
        const parsed = JSON.parse(line) as { startup_ms: number; rss_mb: number };
        // From here on the output is only drained (request logging stays on).
        buffer = '';
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({ child, startupMs: parsed.startup_ms, rssMb: parsed.rss_mb });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', () => {});
    child.on('close', (code) => reject(new Error(`server exited (${code}) before listening`)));
  });
}

interface Row { scenario: string; rps: number; p50: number; p99: number; non2xx: number; errors: number }

async function load(scenario: string, options: autocannon.Options): Promise<Row> {
  // Warm-up: JIT, connection pools, caches.
  await autocannon({ ...options, duration: 2 });
  const result = await autocannon({ ...options, duration, connections });
  return {
    scenario,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function main() {
  const root = await mkdtemp(path.join(tmpdir(), 'tollgate-bench-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    DATA_DIR: path.join(root, 'data'),
    KEYS_DIR: path.join(root, 'keys'),
    LOG_LEVEL: 'info',
    ...(args['database-url'] ? { DATABASE_URL: args['database-url'] } : {}),
  };
  const base = `http://localhost:${port}`;
  const clientId = `bench-${Date.now()}`;
  const { client_secret: secret } = JSON.parse(await cli(env, ['clients', 'add', '--id', clientId, '--grant-types', 'client_credentials', '--scope', 'basic'])) as { client_secret: string };

  const server = await startServer(env);
  const rows: Row[] = [];
  try {
    const want = (name: string) => !args.only || args.only.split(',').includes(name);
    if (want('client_credentials')) {
      rows.push(await load('POST /token client_credentials (ES256)', {
        url: `${base}/token`,
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=basic',
      }));
    }
    if (want('jwks')) rows.push(await load('GET /jwks', { url: `${base}/jwks` }));
    if (want('discovery')) rows.push(await load('GET /.well-known/openid-configuration', { url: `${base}/.well-known/openid-configuration` }));
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('close', r));
    await rm(root, { recursive: true, force: true });
  }

  const db = args['database-url'] ? 'PostgreSQL' : 'embedded (PGlite)';
  process.stdout.write(`\nTollgate bench — database: ${db}; server on ${hasTaskset ? 'one pinned core' : 'unpinned cores'}; ${connections} connections, ${duration} s per scenario, request logging on\n`);
  process.stdout.write(`start-up: ${server.startupMs} ms, RSS at listen: ${server.rssMb} MB\n\n`);
  process.stdout.write('| scenario | req/s | p50 ms | p99 ms | non-2xx | errors |\n|---|---:|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.scenario} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} |\n`);
  if (rows.some((r) => r.non2xx || r.errors)) process.exitCode = 1;
}

await main();
