// Runs Tollgate's own commands as a user would: `npm start` and
// `npm run --silent tollgate -- …`, in a fresh environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Result { code: number | null; stdout: string; stderr: string }

/** The environment a newcomer has: no Tollgate variables except the ones given. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PORT|ISSUER|DATABASE_URL|DATA_DIR|KEYS_DIR|REDIS_URL|LOG_LEVEL|COOKIE_SECRETS|NODE_ENV|API_AUDIENCE|NODE_TEST_CONTEXT)$/.test(k)));
  return { ...env, ...extra };
}

export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'tollgate', '--', ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
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
export function startServer(env: Record<string, string>, timeoutMs = 60_000): Promise<Running> {
  return new Promise((resolve, reject) => {
    // Its own process group, so stopping it reaches npm's child too.
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
