// A real redis-server (Debian's `redis-server`) on loopback for a test: no
// persistence, its own port. It can be stopped and started again on the same
// port, for the fault tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
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

export interface RedisCluster {
  /** Seed node URLs, as REDIS_CLUSTER_NODES takes them. */
  nodes: string[];
  /** REDIS_CLUSTER_NODES's value. */
  env: string;
  ports: number[];
  /** The keys matching `pattern` on each master in turn, with their TTLs (-1: none). */
  keysOnEveryNode(pattern: string): Promise<Array<Array<{ key: string; ttl: number }>>>;
  /** Stops one master (a fault): its slots cannot be reached until it is started again. */
  stopNode(index: number): Promise<void>;
  /** Starts a stopped master again on its port, with its identity and slots (and no data), and waits until the cluster is whole. */
  startNode(index: number): Promise<void>;
  stop(): Promise<void>;
}

const redisCli = (port: number, args: string[]) => {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

/**
 * A real three-master Redis Cluster on loopback (no replicas, no
 * persistence), formed with `redis-cli --cluster create` as an operator
 * would. Each node's cluster bus gets its own free port (`--cluster-port`):
 * the default, port + 10000, may be taken or beyond 65535.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-redis-cluster-'));
  const ports: number[] = [];
  const busPorts: number[] = [];
  const children: ChildProcess[] = [];
  // A node started again keeps its identity and slots: its nodes-<port>.conf stays in `dir`.
  const spawnNode = (i: number) => {
    children[i] = spawn(BINARY!, [
      '--port', String(ports[i]), '--cluster-port', String(busPorts[i]), '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${ports[i]}.conf`, '--dir', dir,
      // A stopped master is declared failed after 2 s instead of 15: the fault tests see the cluster go down within seconds.
      '--cluster-node-timeout', '2000',
      '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const stopNode = (i: number) => {
    const child = children[i];
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };
  const clusterOk = (port: number) => {
    try {
      return /cluster_state:ok/.test(redisCli(port, ['cluster', 'info']));
    } catch {
      return false;
    }
  };
  try {
    for (let i = 0; i < masters; i++) {
      ports.push(await freePort());
      busPorts.push(await freePort());
      spawnNode(i);
    }
    for (const port of ports) await until(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG', 'redis-server did not start');
    redisCli(ports[0]!, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must agree the slots are covered before a client may rely on the topology.
    for (const port of ports) await until(() => clusterOk(port), 'the cluster did not become ready');
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const nodes = ports.map((p) => `redis://127.0.0.1:${p}`);
  return {
    nodes,
    env: nodes.join(','),
    ports,
    keysOnEveryNode: (pattern) => Promise.all(ports.map(async (port) => {
      // A plain connection to one node sees that node's keys only, which is the point.
      const client = createClient({ url: `redis://127.0.0.1:${port}` });
      await client.connect();
      try {
        const keys: string[] = [];
        for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) keys.push(...batch);
        return await Promise.all(keys.map(async (key) => ({ key, ttl: await client.ttl(key) })));
      } finally {
        await client.close();
      }
    })),
    stopNode,
    async startNode(i) {
      spawnNode(i);
      await until(() => spawnSync('redis-cli', ['-p', String(ports[i]), 'ping']).stdout?.toString().trim() === 'PONG', 'redis-server did not start');
      await until(() => ports.every(clusterOk), 'the cluster did not recover');
    },
    async stop() {
      await Promise.all(ports.map((_, i) => stopNode(i)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function until(ready: () => boolean, failure: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(failure);
}
