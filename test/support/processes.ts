// Runs Tollgate's own commands as a user would: `npm start` and
// `npm run --silent tollgate -- …`, in a fresh environment. Both run the
// compiled JavaScript in dist/ (`npm test` builds it first).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let built = false;
/** Refuses to test a build older than the sources: a test run on its own after an edit would otherwise test the old code. */
export function requireFreshBuild(): void {
  if (built) return;
  const output = path.join(ROOT, 'dist/server/main.js');
  let builtAt: number;
  try {
    builtAt = statSync(output).mtimeMs;
  } catch {
    throw new Error('dist/server is missing: run `npm run build` first (npm test does)');
  }
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? newest(p) : statSync(p).mtimeMs;
  }));
  if (newest(path.join(ROOT, 'server')) > builtAt) throw new Error('server/ changed after the last build: run `npm run build` first (npm test does)');
  built = true;
}

export interface Result { code: number | null; stdout: string; stderr: string }

/** The environment a newcomer has: no Tollgate variables except the ones given. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PORT|ISSUER|DATABASE_URL|DATA_DIR|KEYS_DIR|REDIS_URL|REDIS_CLUSTER_NODES|THEME_DIR|LOG_LEVEL|LOG_FORMAT|METRICS_PORT|COOKIE_SECRETS|NODE_ENV|API_AUDIENCE|NODE_TEST_CONTEXT)$/.test(k)));
  return { ...env, ...extra };
}

/** `cwd`: another installation of the same build (test/flows/production-start.test.ts). */
export function runCli(args: string[], env: Record<string, string>, input?: string, cwd = ROOT): Promise<Result> {
  requireFreshBuild();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'tollgate', '--', ...args], { cwd, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export interface Running { child: ChildProcess; output: () => string; stop(): Promise<number | null> }

/** `npm start`, resolved once the server logs that it listens. */
export function startServer(env: Record<string, string>, timeoutMs = 60_000, cwd = ROOT): Promise<Running> {
  requireFreshBuild();
  return new Promise((resolve, reject) => {
    // Its own process group, so stopping it reaches npm's child too.
    const child = spawn('npm', ['start', '--silent'], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('"tollgate listening"')) {
        clearTimeout(timer);
        resolve({
          child,
          output: () => out,
          stop: () => new Promise((res) => {
            if (child.exitCode !== null) return res(child.exitCode);
            child.once('close', (code) => res(code));
            process.kill(-child.pid!, 'SIGTERM');
          }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
}
