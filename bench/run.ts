// npm run bench [-- --duration 10 --connections 32 --database-url postgresql://… --redis-url redis://… --only a,b --metrics]
//
// Starts Tollgate as `npm start` would (compiled; request logging on, at info, to a
// discarded stdout), pinned to one core when taskset exists, with the load
// generator on the other, and reports req/s, p50 and p99 per scenario.
// Figures belong in closing notes and the README, never in test assertions.
//
// Token protection (issue 17; docs/performance.md, "Token protection"):
// - client_credentials_dpop: every request carries a fresh DPoP proof
//   (RFC 9449) for a client registered with --require-dpop; the bare
//   provider does the same with DPoP on. Proofs are signed before each timed
//   window (the load generator's signing is not counted), one per request,
//   each with its own jti and an iat the whole window is within the
//   library's 300 s of; a pool that runs dry is topped up synchronously, and
//   said so on the row.
// - client_credentials_encrypted: tokens for an API registered with
//   `apis add --encrypt --jwks-file` (an RSA-OAEP-256 key): signed, then
//   encrypted to it; the reference is the bare provider's plain client
//   credentials (the row's label says so).
// - token_protection: bench/token-protection.ts, per token on one core
//   (sign, sign + encrypt, decrypt + verify, DPoP proofs), run after the
//   servers have stopped, pinned to the server's core. `--only
//   token_protection` runs it alone, without starting the servers.
//
// Browser apps (issue 18; docs/bff.md, "Cost"):
// - bff_proxy: GET /notes of the example notes API, directly with the
//   access token and through tollgate/bff's /bff/api/* proxy with the
//   browser's cookies (the session opened, the cached access token used),
//   and through a second BFF with DPoP (a proof signed per call, checked by
//   the API); the BFFs and the API in one process on the server's core
//   (bench/bff-app.ts): one request at a time (the added latency, µs
//   resolution) and at --connections (req/s, the BFF's CPU per call).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, sign as signWith } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import * as oidc from 'openid-client';
import { freePort } from '../test/support/ports.ts';
import { hostScopedFetch, UserAgent } from '../test/support/user-agent.ts';
import { startUpstreamOp, type UpstreamOp } from '../test/support/upstream-op.ts';
import { ARGON2_PARAMETERS, hashPassword, verifyPassword } from '../server/services/passwords.ts';
import { compactDecrypt, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { createAccessTokenVerifier } from '../server/resource-server/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `usage: npm run bench -- [options]
  --duration SECONDS       per scenario (default 10)
  --connections N          concurrent connections of the load generator (default 32)
  --database-url URL       PostgreSQL instead of the embedded database
  --redis-url URL          with Redis
  --only NAMES             comma-separated: client_credentials, client_credentials_dpop, client_credentials_encrypted,
                           jwks, discovery, refresh, refresh_openid, verify, login, federated_login, bff_proxy, token_protection
  --metrics                with METRICS_PORT set (Prometheus metrics on), to measure their cost
  BENCH_NODE_ARGS="..."    flags for the server's node (e.g. --cpu-prof --cpu-prof-dir=DIR)
`;
let parsed;
try {
  parsed = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
      only: { type: 'string' },
      metrics: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
const { values: args } = parsed;
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const SCENARIOS = [
  'client_credentials', 'client_credentials_dpop', 'client_credentials_encrypted', 'jwks', 'discovery', 'refresh', 'refresh_openid', 'verify', 'login', 'federated_login',
  'bff_proxy', 'token_protection',
];
/** Scenarios that need the servers running (token_protection does not). */
const HTTP_SCENARIOS = SCENARIOS.filter((name) => name !== 'token_protection');
const unknown = (args.only ?? '').split(',').filter((name) => name && !SCENARIOS.includes(name));
if (unknown.length) {
  process.stderr.write(`bench: no scenario named ${unknown.join(', ')}\n${USAGE}`);
  process.exit(2);
}
const duration = Number(args.duration);
const connections = Number(args.connections);
const want = (name: string) => !args.only || args.only.split(',').includes(name);
// Proofs are signed before the window with an iat in its middle (dpopProofs): oidc-provider takes an iat within 300 s of its clock.
if (want('client_credentials_dpop') && duration > 500) {
  process.stderr.write('bench: client_credentials_dpop needs --duration 500 or less (its proofs are signed before the window)\n');
  process.exit(2);
}
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

interface Bare { child: ChildProcess; base: string; secret: string }

/** Fresh refresh-token families of the bare provider. */
async function bareFamilies(bare: Bare, openid: boolean): Promise<string[]> {
  return (await (await fetch(`${bare.base}/bench/families?openid=${openid ? 1 : 0}`)).json()) as string[];
}

/** The bare oidc-provider (bench/bare-provider.ts) on the server's core: the reference each token scenario is divided by. */
async function startBare(): Promise<Bare> {
  const port = await freePort();
  const child = tsx(['bench/bare-provider.ts', String(port), String(connections)], { ...process.env, NODE_ENV: 'production' }, 0);
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d;
      const line = buffer.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      buffer = '';
      const parsed = JSON.parse(line) as Omit<Bare, 'child' | 'base'>;
      resolve({ child, base: `http://localhost:${port}`, ...parsed });
    });
    child.stderr!.on('data', () => {});
    child.on('close', (code) => reject(new Error(`bare oidc-provider exited (${code}) before listening`)));
  });
}

/**
 * The server as `npm start` runs it: compiled JavaScript (dist/, made by
 * `npm run build`), or the TypeScript sources through tsx where there is
 * no build (a checkout of an older revision, for a before/after pair).
 */
function serverProcess(env: NodeJS.ProcessEnv): ChildProcess {
  const compiled = path.join(ROOT, 'dist/server/main.js');
  if (!existsSync(compiled)) return tsx(['server/main.ts'], env, 0);
  // BENCH_NODE_ARGS: flags for the server's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a scenario.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const [cmd, argv] = pinned(0, process.execPath, [...nodeArgs, compiled]);
  return spawn(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startServer(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; startupMs: number; rssMb: number }> {
  const child = serverProcess(env);
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

interface Row { scenario: string; rps: number; p50: number; p99: number; non2xx: number; errors: number; cpuUs?: number; reference?: Row }

/**
 * The process whose CPU time a scenario is charged to (Tollgate, or the bare
 * provider for its reference rows). CPU per request is what one core can
 * give: on this 2-core machine the load generator and PostgreSQL share the
 * other core, so req/s may be theirs to limit, not the server's.
 */
let measured: number | undefined;
const cpuPerRequest = (before: number | undefined, requests: number) => {
  const after = cpuSeconds(measured);
  return before === undefined || after === undefined || !requests ? undefined : Math.round(((after - before) * 1e6) / requests);
};

async function load(scenario: string, options: autocannon.Options, proofs?: DpopProofs): Promise<Row> {
  // Warm-up: JIT, connection pools, caches.
  proofs?.fill(DPOP_WARM_UP_PROOFS, 2);
  const warmUp = await autocannon({ ...options, ...proofs?.options, duration: 2 });
  // Enough proofs for the window at twice the warm-up's pace (the warm-up is the slower: JIT, first writes), plus each connection's first request.
  proofs?.fill(Math.max(DPOP_WARM_UP_PROOFS, Math.ceil(warmUp.requests.total * duration)) + 2 * connections, duration);
  const cpuBefore = cpuSeconds(measured);
  const result = await autocannon({ ...options, ...proofs?.options, duration, connections: options.connections ?? connections });
  const late = proofs?.signedLate() ? ` (${proofs.signedLate()} proofs signed during the window)` : '';
  return {
    scenario: `${scenario}${late}`,
    cpuUs: cpuPerRequest(cpuBefore, result.requests.total),
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** The warm-up's proofs: 2 s at a pace above any token scenario's here. */
const DPOP_WARM_UP_PROOFS = 10_000;

interface DpopProofs {
  /** Replaces the pool with `count` fresh proofs for a window of `seconds`. */
  fill(count: number, seconds: number): void;
  /** The next proof of the pool (or one signed now, when it is empty). */
  next(): string;
  /** How many requests found the pool empty (their proofs were signed then, by the load generator). */
  signedLate(): number;
  /** autocannon options that put the next proof on each request. */
  options: Pick<autocannon.Options, 'requests'>;
}

/**
 * DPoP proofs (RFC 9449 §4.2) for POSTs to `htu`, by one client key (ES256),
 * signed ahead of the load so that the load generator's signing does not
 * compete with the measured requests. Each has its own `jti` (the provider
 * remembers them: a repeated one is a replay); their `iat` is the middle of
 * the window, so each is within the library's ±300 s at any moment of a
 * window of up to ~9 minutes. node:crypto signs synchronously, which
 * autocannon's setupRequest needs when the pool runs dry.
 */
function dpopProofs(htu: string): DpopProofs {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })).toString('base64url');
  const sign = (iat: number) => {
    const input = `${header}.${Buffer.from(JSON.stringify({ jti: randomUUID(), htm: 'POST', htu, iat })).toString('base64url')}`;
    return `${input}.${signWith('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
  let pool: string[] = [];
  let late = 0;
  const next = () => pool.pop() ?? (late += 1, sign(Math.floor(Date.now() / 1000)));
  return {
    fill(count, seconds) {
      const iat = Math.floor(Date.now() / 1000 + seconds / 2);
      pool = Array.from({ length: count }, () => sign(iat));
      late = 0;
    },
    next,
    signedLate: () => late,
    options: {
      requests: [{
        setupRequest: (request) => {
          request.headers = { ...request.headers, dpop: next() };
          return request;
        },
      }],
    },
  };
}

/** One token request outside the timed window: the scenario does what it says, or the bench stops with the server's answer. */
async function firstToken(url: string, options: autocannon.Options, dpop?: string): Promise<{ access_token: string; token_type: string }> {
  const res = await fetch(url, { method: 'POST', headers: { ...options.headers, ...(dpop ? { dpop } : {}) } as Record<string, string>, body: String(options.body) });
  const body = (await res.json()) as { access_token: string; token_type: string };
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Full sign-ins, one after another, as a browser and a first-party app do
 * them: authorization request, login form (argon2id verify), callback, code
 * exchange. Reported next to the cost of the argon2id verify alone.
 */
/**
 * CPU seconds (user + system, all threads) a process and its descendants
 * have used, from /proc (tsx runs the server as a child); undefined elsewhere.
 */
function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = (Number(fields[11]) + Number(fields[12])) / 100;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return own + children.reduce((sum, child) => sum + (cpuSeconds(Number(child)) ?? 0), 0);
  } catch {
    return undefined;
  }
}

let loginCpuMs: number | undefined;
let federatedCpuMs: number | undefined;

/** How the person signs in on Tollgate's login page: the password form, or an upstream provider's button. */
type SignInOnPage = (agent: UserAgent, page: { url: string; body: string }, redirect: string) => Promise<{ url: string }>;

const withPassword = (email: string, password: string): SignInOnPage => (agent, page, redirect) => agent.submit(page, '/login', { login: email, password }, redirect);
/** The provider's button; the upstream (test/support/upstream-op.ts) signs in at once, so this is the round trip's own cost. */
const withProvider = (id: string): SignInOnPage => (agent, page, redirect) => agent.submit(page, `/federated/${id}`, {}, redirect);

async function logins(label: string, base: string, clientId: string, secret: string, redirect: string, signIn: SignInOnPage, serverPid: number | undefined): Promise<Row & { cpuMs?: number }> {
  const config = await oidc.discovery(new URL(base), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
  const once = async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid email basic', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    // Cookies per host: Tollgate and the upstream are both oidc-provider, with the same cookie names.
    const agent = new UserAgent({}, hostScopedFetch());
    const page = await agent.navigate(url.href, {}, redirect);
    const back = await signIn(agent, page, redirect);
    await oidc.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier });
  };
  for (let i = 0; i < 3; i += 1) await once();
  const times: number[] = [];
  const rounds = Math.max(20, duration * 5);
  const cpuBefore = cpuSeconds(serverPid);
  for (let i = 0; i < rounds; i += 1) {
    const started = performance.now();
    await once();
    times.push(performance.now() - started);
  }
  const cpuAfter = cpuSeconds(serverPid);
  const cpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? Math.round(((cpuAfter - cpuBefore) * 1000) / rounds * 10) / 10 : undefined;
  times.sort((a, b) => a - b);
  const pick = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return { scenario: `${label}, sequential (${rounds} sign-ins)`, rps: Math.round(1000 / mean), p50: pick(0.5), p99: pick(0.99), non2xx: 0, errors: 0, cpuMs };
}

/**
 * Refresh-token families for the rotation scenario, made the way an app
 * makes them: a sign-in through the hosted pages and a code exchange each.
 * `openid` adds an RS256-signed ID token to every rotation.
 */
async function tollgateFamilies(base: string, clientId: string, secret: string, redirect: string, email: string, password: string, openid: boolean): Promise<string[]> {
  const config = await oidc.discovery(new URL(base), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
  const families: string[] = [];
  for (let i = 0; i < connections; i += 1) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: `${openid ? 'openid ' : ''}offline_access basic`, prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const agent = new UserAgent();
    const page = await agent.navigate(url.href, {}, redirect);
    // prompt=consent (required for offline_access): a first-party client is not shown the consent page.
    const back = await agent.submit(page, '/login', { login: email, password }, redirect);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier });
    families.push(tokens.refresh_token!);
  }
  return families;
}

/**
 * Refresh-token rotation under load: one connection per token family, each
 * rotated as fast as its own answers come back (a rotated token is spent,
 * so every request needs the previous answer).
 */
async function rotations(scenario: string, base: string, clientId: string, secret: string, families: string[]): Promise<Row> {
  const authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const latencies: number[] = [];
  let failures = 0;
  const run = async (seconds: number, record: boolean) => {
    const until = performance.now() + seconds * 1000;
    await Promise.all(families.map(async (_, i) => {
      while (performance.now() < until) {
        const started = performance.now();
        const res = await fetch(`${base}/token`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(families[i]!)}`,
        });
        const body = (await res.json()) as { refresh_token?: string };
        if (!res.ok || !body.refresh_token) {
          failures += 1;
          return;
        }
        families[i] = body.refresh_token;
        if (record) latencies.push(performance.now() - started);
      }
    }));
  };
  return rounds(scenario, run, latencies, () => failures);
}

/**
 * A 2 s warm-up, then `duration` seconds of `run`, which records each
 * request's latency when asked; req/s and quantiles from those records.
 */
async function rounds(
  scenario: string, run: (seconds: number, record: boolean) => Promise<void>, latencies: number[], failures = () => 0, digits = 0,
): Promise<Row> {
  await run(2, false);
  const started = performance.now();
  const cpuBefore = cpuSeconds(measured);
  await run(duration, true);
  const cpuUs = cpuPerRequest(cpuBefore, latencies.length);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const scale = 10 ** digits;
  const pick = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * scale) / scale;
  return { scenario, rps: Math.round(latencies.length / elapsed), p50: pick(0.5), p99: pick(0.99), non2xx: failures(), errors: 0, cpuUs };
}

/**
 * The resource-server toolkit's verifyAccessToken, as an API runs it: keys
 * discovered and fetched from the running Tollgate once, then every call an
 * ES256 signature check and the claim checks. Sequential, in this process
 * (on its own core when pinned): verifications per second of one core.
 */
async function verifications(base: string, token: string): Promise<Row> {
  const verifier = createAccessTokenVerifier({ issuer: base, audience: String(decodeJwt(token).aud) });
  const latencies: number[] = [];
  const run = async (seconds: number, record: boolean) => {
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const started = performance.now();
      await verifier.verify(token);
      if (record) latencies.push(performance.now() - started);
    }
  };
  return rounds('verifyAccessToken (toolkit, ES256, sequential, one core)', run, latencies, () => 0, 3);
}

/** Per path (the API directly, through the BFF, through the BFF with DPoP): one request at a time, then at --connections. */
interface BffRow { path: string; sequential: Row; concurrent: Row }

interface BffClient { id: string; secret: string; port: number }

/**
 * bff_proxy: bench/bff-app.ts (the example app's BFF twice, plain and with
 * DPoP, and the notes API) on the server's core; a person signed in through
 * each BFF (Tollgate's login page, "Keep me signed in"); then GET /notes
 * directly with the access token, and through each BFF's /bff/api/notes
 * with its cookies only. The access token lives 15 minutes and the BFF
 * refreshes in its last 30 s: no refresh (no Set-Cookie) happens during
 * the windows, which is checked.
 */
async function bffProxy(base: string, clients: { plain: BffClient; dpop: BffClient }, email: string, password: string, audience: string): Promise<BffRow[]> {
  const child = tsx(['bench/bff-app.ts'], {
    ...process.env, ISSUER: base, COOKIE_SECRET: randomBytes(32).toString('base64url'), API_AUDIENCE: audience,
    CLIENT_ID: clients.plain.id, CLIENT_SECRET: clients.plain.secret, PORT: String(clients.plain.port),
    DPOP_CLIENT_ID: clients.dpop.id, DPOP_CLIENT_SECRET: clients.dpop.secret, DPOP_PORT: String(clients.dpop.port),
  }, 0);
  try {
    const { app, dpopApp, api } = await new Promise<{ app: string; dpopApp: string; api: string }>((resolve, reject) => {
      let buffer = '';
      child.stdout!.on('data', (d: Buffer) => {
        buffer += d;
        const line = buffer.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as { app: string; dpopApp: string; api: string });
      });
      child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
      child.on('close', (code) => reject(new Error(`bench/bff-app.ts exited (${code}) before listening`)));
    });
    /** Signs in through the BFF at `origin`; its cookies, as the browser would send them to /bff. */
    const signIn = async (origin: string) => {
      const agent = new UserAgent();
      const login = await agent.navigate(`${origin}/bff/login?return_to=%2F`);
      const signedIn = await agent.submit(login, '/login', { login: email, password, remember: 'on' });
      if (signedIn.url !== `${origin}/`) throw new Error(`the sign-in through the BFF ended at ${signedIn.url} (${signedIn.status})`);
      return { agent, cookie: agent.cookieEntries().filter(([name]) => name.startsWith('tollgate-bff-')).map(([k, v]) => `${k}=${v}`).join('; ') };
    };
    const plain = await signIn(app);
    const issued = await plain.agent.once(`${app}/bff/token`, { method: 'POST', headers: { 'x-tollgate-bff': '1', origin: app } });
    const { access_token: token } = (await issued.json()) as { access_token: string };
    const bound = await signIn(dpopApp);
    const targets: Array<{ path: string; url: string; headers: Record<string, string> }> = [
      { path: 'GET /notes at the API, bearer token', url: `${api}/notes`, headers: { authorization: `Bearer ${token}` } },
      { path: 'GET /bff/api/notes through tollgate/bff, cookies', url: `${app}/bff/api/notes`, headers: { cookie: plain.cookie } },
      { path: 'the same, DPoP-bound token (dpop: true, a proof per call, checked by the API)', url: `${dpopApp}/bff/api/notes`, headers: { cookie: bound.cookie } },
    ];
    for (const target of targets) {
      const res = await fetch(target.url, { headers: target.headers });
      if (res.status !== 200 || res.headers.getSetCookie().length) throw new Error(`${target.url} answered ${res.status}${res.headers.getSetCookie().length ? ' with Set-Cookie' : ''}: ${await res.text()}`);
    }
    measured = child.pid;
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    /** One request at a time over one kept-alive connection, each timed in µs. */
    const sequential = (target: { path: string; url: string; headers: Record<string, string> }) => {
      const latencies: number[] = [];
      let failures = 0;
      const once = () => new Promise<number>((resolve, reject) => {
        httpRequest(target.url, { agent: keepAlive, headers: target.headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject).end();
      });
      const run = async (seconds: number, record: boolean) => {
        const until = performance.now() + seconds * 1000;
        while (performance.now() < until) {
          const started = performance.now();
          if (await once() !== 200) failures += 1;
          else if (record) latencies.push(performance.now() - started);
        }
      };
      return rounds(target.path, run, latencies, () => failures, 3);
    };
    const rows: BffRow[] = [];
    for (const target of targets) rows.push({ path: target.path, sequential: await sequential(target), concurrent: await load(target.path, target) });
    keepAlive.destroy();
    return rows;
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('close', resolve));
  }
}

async function argon2Cost(): Promise<number> {
  const hash = await hashPassword('bench password 0123456789');
  const times: number[] = [];
  for (let i = 0; i < 10; i += 1) {
    const started = performance.now();
    await verifyPassword(hash, 'bench password 0123456789');
    times.push(performance.now() - started);
  }
  return Math.round(times.sort((a, b) => a - b)[5]! * 10) / 10;
}

/**
 * bench/token-protection.ts, in a process of its own pinned to the server's
 * core (it pins itself), its table passed through.
 */
async function tokenProtection(): Promise<void> {
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['bench/token-protection.ts', '--core', '0'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) process.exitCode = 1;
}

async function main() {
  if (HTTP_SCENARIOS.some(want)) await httpScenarios();
  if (want('token_protection')) await tokenProtection();
}

async function httpScenarios() {
  const root = await mkdtemp(path.join(tmpdir(), 'tollgate-bench-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    DATA_DIR: path.join(root, 'data'),
    KEYS_DIR: path.join(root, 'keys'),
    LOG_LEVEL: 'info',
    ...(args['database-url'] ? { DATABASE_URL: args['database-url'] } : {}),
    ...(args['redis-url'] ? { REDIS_URL: args['redis-url'] } : {}),
    ...(args.metrics ? { METRICS_PORT: String(await freePort()) } : {}),
  };
  const base = `http://localhost:${port}`;
  const clientId = `bench-${Date.now()}`;
  const { client_secret: secret } = JSON.parse(await cli(env, ['clients', 'add', '--id', clientId, '--grant-types', 'client_credentials', '--scope', 'basic'])) as { client_secret: string };
  const loginRedirect = 'https://bench.example/callback';
  const { client_secret: webSecret } = JSON.parse(await cli(env, ['clients', 'add', '--id', `${clientId}-web`, '--first-party', '--redirect-uri', loginRedirect, '--scope', 'openid email offline_access basic'])) as { client_secret: string };
  const loginPassword = 'bench password 0123456789';
  await cli(env, ['users', 'add', '--email', `${clientId}@bench.example`, '--password', loginPassword]);
  // client_credentials_dpop: a client held to DPoP (RFC 9449 §5.2, dpop_bound_access_tokens).
  const dpopSecret = want('client_credentials_dpop')
    ? (JSON.parse(await cli(env, ['clients', 'add', '--id', `${clientId}-dpop`, '--grant-types', 'client_credentials', '--scope', 'basic', '--require-dpop'])) as { client_secret: string }).client_secret
    : undefined;
  // client_credentials_encrypted: an API with an RSA encryption key (made as docs/apis.md shows), and a client of it.
  const encryptedApi = 'https://encrypted.bench.example/api';
  let encrypted: { secret: string; privateKey: CryptoKey } | undefined;
  if (want('client_credentials_encrypted')) {
    const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true });
    const jwksFile = path.join(root, 'encrypted-api.jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench-enc', use: 'enc' }] }));
    await cli(env, ['apis', 'add', '--identifier', encryptedApi, '--name', 'Bench encrypted API', '--scopes', 'bench:read', '--encrypt', '--jwks-file', jwksFile]);
    const { client_secret: encSecret } = JSON.parse(await cli(env, ['clients', 'add', '--id', `${clientId}-enc`, '--grant-types', 'client_credentials', '--scope', 'basic bench:read'])) as { client_secret: string };
    encrypted = { secret: encSecret, privateKey };
  }
  // bff_proxy: first-party web clients for tollgate/bff (one held to DPoP), on ports chosen now (their redirect URIs are registered before they listen).
  let bffClients: { plain: BffClient; dpop: BffClient } | undefined;
  if (want('bff_proxy')) {
    const register = async (id: string, extra: string[]): Promise<BffClient> => {
      const port = await freePort();
      const { client_secret: bffSecret } = JSON.parse(await cli(env, ['clients', 'add', '--id', id, '--first-party', '--redirect-uri', `http://localhost:${port}/bff/callback`, '--scope', 'openid profile email offline_access basic', ...extra])) as { client_secret: string };
      return { id, secret: bffSecret, port };
    };
    bffClients = { plain: await register(`${clientId}-bff`, []), dpop: await register(`${clientId}-bff-dpop`, ['--require-dpop']) };
  }
  let bffRows: BffRow[] | undefined;
  // federated_login: a real OpenID provider in a process of its own on loopback, registered as an operator would.
  let upstream: UpstreamOp | undefined;
  if (want('federated_login')) {
    const upstreamSecret = `bench-upstream-secret-${Date.now()}`;
    upstream = await startUpstreamOp({
      clients: [{ clientId: 'tollgate', clientSecret: upstreamSecret, redirectUris: [`${base}/interaction/federated/corp/callback`] }],
      users: [{ sub: 'bench-person', email: 'bench-person@upstream.example', email_verified: true, name: 'Bench Person' }],
    });
    await cli(env, ['providers', 'add', '--id', 'corp', '--type', 'oidc', '--issuer', upstream.issuer, '--client-id', 'tollgate', '--client-secret', upstreamSecret]);
    env.ALLOW_PRIVATE_NETWORK_FETCH = 'true';
  }

  const server = await startServer(env);
  const bare = await startBare();
  measured = server.child.pid;
  const rows: Row[] = [];
  try {
    const clientCredentials = (url: string, id: string, password: string): autocannon.Options => ({
      url,
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=basic',
    });
    if (want('client_credentials')) {
      const row = await load('POST /token client_credentials (ES256)', clientCredentials(`${base}/token`, clientId, secret));
      measured = bare.child.pid;
      row.reference = await load('bare', clientCredentials(`${bare.base}/token`, 'cc', bare.secret));
      measured = server.child.pid;
      rows.push(row);
    }
    if (want('client_credentials_dpop')) {
      const proofFor = async (server: string) => dpopProofs(((await (await fetch(`${server}/.well-known/openid-configuration`)).json()) as { token_endpoint: string }).token_endpoint);
      const tollgate = clientCredentials(`${base}/token`, `${clientId}-dpop`, dpopSecret!);
      const reference = clientCredentials(`${bare.base}/token`, 'cc-dpop', bare.secret);
      const [ours, theirs] = [await proofFor(base), await proofFor(bare.base)];
      for (const [url, options, proofs] of [[`${base}/token`, tollgate, ours], [`${bare.base}/token`, reference, theirs]] as const) {
        proofs.fill(1, 1);
        const first = await firstToken(url, options, proofs.next());
        if (first.token_type !== 'DPoP') throw new Error(`${url} answered token_type ${first.token_type} to a request with a DPoP proof`);
      }
      const row = await load('POST /token client_credentials, a DPoP proof each (ES256 proof, ES256 token, client --require-dpop)', tollgate, ours);
      measured = bare.child.pid;
      row.reference = await load('bare', reference, theirs);
      measured = server.child.pid;
      rows.push(row);
    }
    if (encrypted) {
      const options = clientCredentials(`${base}/token`, `${clientId}-enc`, encrypted.secret);
      options.body = `grant_type=client_credentials&scope=bench:read&resource=${encodeURIComponent(encryptedApi)}`;
      const { access_token: token } = await firstToken(`${base}/token`, options);
      // A nested JWT only the API's key opens (RFC 7519 §5.2): else the row would measure something else.
      const { alg } = decodeProtectedHeader(token);
      const inner = new TextDecoder().decode((await compactDecrypt(token, encrypted.privateKey)).plaintext);
      if (alg !== 'RSA-OAEP-256' || decodeJwt(inner).aud !== encryptedApi) throw new Error(`the encrypted API's token is not what the scenario measures (alg ${String(alg)})`);
      const row = await load('POST /token client_credentials, encrypted to the API (ES256, then RSA-OAEP-256 + A256GCM; reference: bare, plain ES256)', options);
      measured = bare.child.pid;
      row.reference = await load('bare', clientCredentials(`${bare.base}/token`, 'cc', bare.secret));
      measured = server.child.pid;
      rows.push(row);
    }
    for (const [name, path] of [['jwks', '/jwks'], ['discovery', '/.well-known/openid-configuration']] as const) {
      if (!want(name)) continue;
      const row = await load(`GET ${path}`, { url: `${base}${path}` });
      measured = bare.child.pid;
      row.reference = await load('bare', { url: `${bare.base}${path}` });
      measured = server.child.pid;
      rows.push(row);
    }
    const web = [base, `${clientId}-web`, webSecret, loginRedirect, `${clientId}@bench.example`, loginPassword] as const;
    const refreshScenarios = [
      ['refresh', false, 'POST /token refresh_token rotation, no ID token'],
      ['refresh_openid', true, 'POST /token refresh_token rotation, `openid` (+ RS256 ID token)'],
    ] as const;
    for (const [name, openid, scenario] of refreshScenarios) {
      if (!want(name)) continue;
      const row = await rotations(scenario, base, `${clientId}-web`, webSecret, await tollgateFamilies(...web, openid));
      measured = bare.child.pid;
      row.reference = await rotations('bare', bare.base, 'web', bare.secret, await bareFamilies(bare, openid));
      measured = server.child.pid;
      rows.push(row);
    }
    if (want('verify')) {
      const res = await fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=basic',
      });
      rows.push(await verifications(base, ((await res.json()) as { access_token: string }).access_token));
    }
    if (want('login')) {
      const row = await logins('full login with a password', base, `${clientId}-web`, webSecret, loginRedirect, withPassword(`${clientId}@bench.example`, loginPassword), server.child.pid);
      loginCpuMs = row.cpuMs;
      rows.push(row);
    }
    if (upstream) {
      const row = await logins('full login through an upstream OpenID provider (local, its own process)', base, `${clientId}-web`, webSecret, loginRedirect, withProvider('corp'), server.child.pid);
      federatedCpuMs = row.cpuMs;
      rows.push(row);
    }
    if (bffClients) {
      const res = await fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=basic',
      });
      const audience = String(decodeJwt(((await res.json()) as { access_token: string }).access_token).aud);
      bffRows = await bffProxy(base, bffClients, `${clientId}@bench.example`, loginPassword, audience);
      measured = server.child.pid;
    }
  } finally {
    await upstream?.close();
    for (const child of [server.child, bare.child]) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
    await rm(root, { recursive: true, force: true });
  }

  const db = `${args['database-url'] ? 'PostgreSQL' : 'embedded (PGlite)'}${args['redis-url'] ? ' + Redis' : ''}`;
  process.stdout.write(`\nTollgate bench — database: ${db}; server on ${hasTaskset ? 'one pinned core' : 'unpinned cores'}; ${connections} connections, ${duration} s per scenario, request logging on\n`);
  process.stdout.write(`start-up: ${server.startupMs} ms, RSS at listen: ${server.rssMb} MB\n`);
  process.stdout.write(`argon2id verify alone (m=${ARGON2_PARAMETERS.memoryCost} KiB, t=${ARGON2_PARAMETERS.timeCost}, p=${ARGON2_PARAMETERS.parallelism}): ${await argon2Cost()} ms (median, this process)\n\n`);
  process.stdout.write('| scenario | req/s | p50 ms | p99 ms | non-2xx | errors | server CPU µs/req | bare oidc-provider req/s (p99 ms, CPU µs/req) | ratio req/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n');
  for (const r of rows) {
    const ref = r.reference ? `| ${r.reference.rps} (${r.reference.p99}, ${r.reference.cpuUs ?? '?'}) | ${(r.rps / r.reference.rps).toFixed(2)} |` : '| | |';
    process.stdout.write(`| ${r.scenario} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${r.cpuUs ?? ''} ${ref}\n`);
  }
  if (loginCpuMs !== undefined) process.stdout.write(`\nserver CPU per full sign-in (all threads, argon2id included): ${loginCpuMs} ms\n`);
  if (federatedCpuMs !== undefined) process.stdout.write(`server CPU per sign-in through the upstream (Tollgate's only; the upstream runs in its own process): ${federatedCpuMs} ms\n`);
  if (bffRows) {
    process.stdout.write('\ntollgate/bff API proxy: GET /notes (examples/notes-api.ts) directly and through /bff/api/* (the BFFs and the API in one process on the server\'s core; CPU is that process\'s)\n\n');
    process.stdout.write('| path | connections | req/s | p50 ms | p99 ms | CPU µs/req | req/s ratio to direct | added p50 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n');
    const [direct] = bffRows;
    for (const [n, pick, digits] of [[1, (r: BffRow) => r.sequential, 3], [connections, (r: BffRow) => r.concurrent, 0]] as const) {
      for (const row of bffRows) {
        const r = pick(row);
        const d = pick(direct!);
        const versus = row === direct ? '| |' : `| ${(r.rps / d.rps).toFixed(2)} | ${(r.p50 - d.p50).toFixed(digits)} |`;
        process.stdout.write(`| ${row.path} | ${n} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpuUs ?? '?'} ${versus}\n`);
      }
    }
    rows.push(...bffRows.flatMap((r) => [r.sequential, r.concurrent]));
  }
  if (rows.some((r) => r.non2xx || r.errors || r.reference?.non2xx || r.reference?.errors)) process.exitCode = 1;
}

await main();
