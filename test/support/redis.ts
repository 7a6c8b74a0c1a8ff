// A real redis-server (Debian's `redis-server`) on loopback for a test: no
// persistence, its own port. It can be stopped and started again on the same
// port, for the fault tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from './ports.ts';

const BINARY = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));

/** false when the tests may run, or why they cannot (under CI a missing Redis is a failure, not a skip). */
export function requireRedis(): string | false {
  if (BINARY && spawnSync(BINARY, ['--version']).status === 0) return false;
  const why = 'redis-server is not installed (apt-get install redis-server)';
  if (process.env.CI) throw new Error(why);
  process.stderr.write(`\n*** SKIPPING Redis suites: ${why} ***\n\n`);
  return why;
}

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(BINARY!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Ready once it accepts a connection.
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not start');
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      const running = child;
      if (!running || running.exitCode !== null) return;
      await new Promise((resolve) => {
        running.once('exit', resolve);
        running.kill('SIGTERM');
      });
    },
  };
}
