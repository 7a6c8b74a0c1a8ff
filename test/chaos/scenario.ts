// The chaos scenario: two Tollgate processes (`npm start`) on one real
// PostgreSQL and one real Redis, on loopback; refresh-token families rotate
// through both while instances are SIGKILLed and restarted, PostgreSQL is
// stopped and started, and Redis is killed and restarted. Afterwards every
// family must have exactly one working refresh token unless it was revoked,
// no answer may be a 5xx other than 503, and a client that waited out a 503
// and sent the same token again must carry on.
//
// Used by `npm run chaos` (test/chaos/run.ts, the long form) and by a short
// form in `npm test` (test/chaos/chaos.test.ts).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, type Running } from '../support/processes.ts';
import { createDatabase, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { UserAgent } from '../support/user-agent.ts';
import { loadConfig } from '../../server/config.ts';
import { openDatabase } from '../../server/repositories/database.ts';
import { createOidcModelRepository } from '../../server/repositories/oidc-model-repository.ts';

const REDIRECT = 'https://app.example.test/callback';
const PASSWORD = 'correct horse battery';
/** The reuse grace of the `tolerant` client: a retry of a token whose answer was lost is accepted (Hydra's and Auth0's leeway). */
const GRACE_SECONDS = 30;

export interface ChaosOptions {
  /** Refresh-token families rotating at once (half on a client without reuse grace, half with). */
  families: number;
  /** How long the families rotate under faults (at least until each kind of fault has happened once). */
  durationMs: number;
  /** Pause between two faults. */
  faultEveryMs: number;
  /** Concurrent uses of one refresh token in the race round. */
  raceUses: number;
  /** Stop after this many refresh requests even if time is left (bounds the run). */
  maxRequests: number;
  log?: (line: string) => void;
}

export type Fault = 'sigkill-instance' | 'postgres-restart' | 'redis-kill';

export interface FamilyOutcome {
  client: 'strict' | 'tolerant';
  rotations: number;
  /** Answers whose outcome the client never learnt (the instance died mid-request). */
  lostAnswers: number;
  retriesAfter503: number;
  /** Why the family ended, if it did: the answer that refused its token, and what came just before. */
  revoked?: { after: string };
  liveTokens: number;
  /** The client's last token still works after the run. */
  carriesOn: boolean;
}

export interface ChaosReport {
  durationMs: number;
  requests: number;
  statuses: Record<string, number>;
  /** Requests that could not be sent (instance down) or whose answer was lost (instance killed mid-request). */
  notSent: number;
  lostAnswers: number;
  faults: Record<Fault, number>;
  race: { uses: number; winners: number; statuses: Record<string, number> };
  families: FamilyOutcome[];
  /** Violations of the invariants; empty when the run passed. */
  violations: string[];
  rss: { beforeMb: number[]; afterMb: number[] };
}

interface Family {
  client: 'strict' | 'tolerant';
  grantId: string;
  token: string;
  outcome: FamilyOutcome;
  /** What the previous answer was, to judge a refusal. */
  previous: string;
}

type Answer =
  | { kind: 'answer'; status: number; body: Record<string, string>; retryAfter: number }
  | { kind: 'not-sent' }
  | { kind: 'lost' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS in MB of the node process in `running`'s process group (npm execs node, so it is npm's child). */
function rssMb(running: Running): number {
  const ps = spawnSync('ps', ['-o', 'rss=,comm=', '-g', String(running.child.pid)], { encoding: 'utf8' });
  const node = ps.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find(([, comm]) => comm === 'node');
  return node ? Math.round(Number(node[0]) / 1024) : 0;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const root = await mkdtemp(path.join(tmpdir(), 'tollgate-chaos-'));
  let postgres: PostgresServer | undefined;
  let redis: RedisServer | undefined;
  const instances: Array<Running | undefined> = [undefined, undefined];
  try {
    postgres = await startPostgres();
    redis = await startRedis();
    const ports = [await freePort(), await freePort()];
    const bases = ports.map((p) => `http://localhost:${p}`);
    const env = {
      ISSUER: bases[0]!,
      DATABASE_URL: await createDatabase(postgres, 'chaos'),
      REDIS_URL: redis.url,
      KEYS_DIR: path.join(root, 'keys'),
      COOKIE_SECRETS: 'a-cookie-secret-of-at-least-thirty-two-chars',
    };
    const secrets: Record<string, string> = {};
    for (const [id, grace] of [['strict', '0'], ['tolerant', String(GRACE_SECONDS)]] as const) {
      const added = await runCli(['clients', 'add', '--id', id, '--redirect-uri', REDIRECT, '--scope', 'openid offline_access basic', '--refresh-grace', grace], env);
      if (added.code !== 0) throw new Error(added.stderr);
      secrets[id] = (JSON.parse(added.stdout) as { client_secret: string }).client_secret;
    }
    const user = await runCli(['users', 'add', '--email', 'ada@example.test', '--password', PASSWORD], env);
    if (user.code !== 0) throw new Error(user.stderr);

    const start = async (i: number) => { instances[i] = await startServer({ ...env, PORT: String(ports[i]) }); };
    await Promise.all([start(0), start(1)]);
    const rssBefore = instances.map((r) => rssMb(r!));

    const statuses: Record<string, number> = {};
    let requests = 0;
    let notSent = 0;
    let lostAnswers = 0;
    const tokenRequest = async (instance: number, client: string, body: Record<string, string>): Promise<Answer> => {
      try {
        const res = await fetch(`${bases[instance]}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${client}:${secrets[client]}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(body),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        let parsed: Record<string, string> = {};
        try { parsed = JSON.parse(text) as Record<string, string>; } catch { parsed = { unparsed: text.slice(0, 200) }; }
        return { kind: 'answer', status: res.status, body: parsed, retryAfter: Number(res.headers.get('retry-after') ?? 0) };
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        // Refused: nothing reached the server. Anything else: it may have acted before dying.
        return code === 'ECONNREFUSED' ? { kind: 'not-sent' } : { kind: 'lost' };
      }
    };

    // Families: each a sign-in through the hosted pages in a browser of its
    // own (a session of its own, so a grant of its own) and a code exchange.
    const mint = async (client: 'strict' | 'tolerant'): Promise<Family> => {
      const agent = new UserAgent();
      const verifier = oidc.randomPKCECodeVerifier();
      const params = new URLSearchParams({
        client_id: client, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access basic', prompt: 'consent', state: 's',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      let page = await agent.navigate(`${bases[0]}/auth?${params}`, {}, REDIRECT);
      if (page.body.includes('name="password"')) page = await agent.submit(page, '/login', { login: 'ada@example.test', password: PASSWORD }, REDIRECT);
      if (page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
      const code = new URL(page.url).searchParams.get('code');
      if (!code) throw new Error(`no code: ${page.status} ${page.url}`);
      const answer = await tokenRequest(1, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
      if (answer.kind !== 'answer' || answer.status !== 200) throw new Error(`code exchange failed: ${JSON.stringify(answer)}`);
      return {
        client,
        grantId: String(decodeJwt(answer.body.access_token!).gid),
        token: answer.body.refresh_token!,
        previous: '200',
        outcome: { client, rotations: 0, lostAnswers: 0, retriesAfter503: 0, liveTokens: -1, carriesOn: false },
      };
    };
    const families: Family[] = [];
    for (let i = 0; i < options.families; i += 1) families.push(await mint(i % 2 === 0 ? 'strict' : 'tolerant'));
    log(`minted ${families.length} families`);

    // The race: many concurrent uses of one refresh token, across both instances: exactly one wins.
    const raceFamily = await mint('strict');
    const raceAnswers = await Promise.all(Array.from({ length: options.raceUses }, (_, i) => tokenRequest(i % 2, 'strict', { grant_type: 'refresh_token', refresh_token: raceFamily.token })));
    const raceStatuses: Record<string, number> = {};
    for (const a of raceAnswers) {
      const key = a.kind === 'answer' ? `${a.status}${a.status === 200 ? '' : ` ${a.body.error}`}` : a.kind;
      raceStatuses[key] = (raceStatuses[key] ?? 0) + 1;
    }
    const winners = raceAnswers.filter((a) => a.kind === 'answer' && a.status === 200).length;
    log(`race: ${options.raceUses} uses, ${winners} winner(s) ${JSON.stringify(raceStatuses)}`);

    // Rotation under faults.
    const violations: string[] = [];
    const deadline = Date.now() + options.durationMs;
    // Runs for the duration, and at least until every kind of fault has been injected once.
    let everyFaultInjected = false;
    const running = () => (Date.now() < deadline || !everyFaultInjected) && requests < options.maxRequests;
    const faults: Record<Fault, number> = { 'sigkill-instance': 0, 'postgres-restart': 0, 'redis-kill': 0 };

    const rotate = async (family: Family, index: number) => {
      let instance = index % 2;
      let after503 = false;
      while (running() && !family.outcome.revoked) {
        requests += 1;
        const answer = await tokenRequest(instance, family.client, { grant_type: 'refresh_token', refresh_token: family.token });
        instance = 1 - instance;
        if (answer.kind !== 'answer') {
          if (answer.kind === 'lost') { lostAnswers += 1; family.outcome.lostAnswers += 1; family.previous = 'lost'; } else { notSent += 1; }
          await sleep(50);
          continue;
        }
        const key = `${answer.status}${answer.status === 200 ? '' : ` ${answer.body.error}`}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (answer.status === 200) {
          family.token = answer.body.refresh_token!;
          family.outcome.rotations += 1;
          if (after503) family.outcome.retriesAfter503 += 1;
          after503 = false;
          family.previous = '200';
        } else if (answer.status === 503) {
          if (answer.retryAfter <= 0) violations.push(`a 503 without Retry-After (family ${family.grantId})`);
          after503 = true;
          family.previous = '503';
          await sleep(answer.retryAfter * 1000);
        } else if (answer.status === 400 && answer.body.error === 'invalid_grant') {
          // Refused: legitimate only when the token was presented again after an answer this client never saw.
          family.outcome.revoked = { after: family.previous };
          if (family.previous !== 'lost') violations.push(`family ${family.grantId} (${family.client}) refused after a ${family.previous} answer: its token was spent without a successor delivered`);
          if (family.client === 'tolerant') violations.push(`family ${family.grantId} of the client with a ${GRACE_SECONDS} s reuse grace was revoked`);
        } else {
          violations.push(`unexpected answer ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
          await sleep(100);
        }
      }
    };

    const injector = async () => {
      const plan: Fault[] = ['sigkill-instance', 'postgres-restart', 'redis-kill'];
      let n = 0;
      while (running()) {
        await sleep(options.faultEveryMs);
        if (!running()) break;
        const fault = plan[n % plan.length]!;
        if (fault === 'sigkill-instance') {
          const victim = Math.floor(n / plan.length) % 2;
          process.kill(-instances[victim]!.child.pid!, 'SIGKILL');
          await sleep(300);
          await start(victim);
        } else if (fault === 'postgres-restart') {
          postgres!.down();
          await sleep(2_000);
          postgres!.up();
        } else {
          const killed = spawnSync('pkill', ['-KILL', '-f', `redis-server 127.0.0.1:${redis!.port}`]);
          // Counted only when a process was killed: a pattern that matches nothing must not pass for a fault.
          if (killed.status !== 0) throw new Error(`pkill found no redis-server on port ${redis!.port}`);
          await sleep(1_000);
          await redis!.start();
        }
        faults[fault] += 1;
        log(`fault ${n + 1}: ${fault}`);
        n += 1;
        if (n >= plan.length) everyFaultInjected = true;
      }
    };

    const began = Date.now();
    await Promise.all([injector(), ...families.map((f, i) => rotate(f, i))]);
    const durationMs = Date.now() - began;
    log(`rotation ended after ${durationMs} ms, ${requests} requests`);

    // Afterwards: count live tokens per family in storage, and try each family's last token once.
    const db = await openDatabase(loadConfig({ DATABASE_URL: env.DATABASE_URL }));
    try {
      const models = createOidcModelRepository(db);
      for (const family of families) {
        family.outcome.liveTokens = await models.countByGrant('RefreshToken', family.grantId);
        if (!family.outcome.revoked) {
          const last = await tokenRequest(0, family.client, { grant_type: 'refresh_token', refresh_token: family.token });
          family.outcome.carriesOn = last.kind === 'answer' && last.status === 200;
          if (!family.outcome.carriesOn) violations.push(`family ${family.grantId} (${family.client}) cannot refresh after the run: ${JSON.stringify(last).slice(0, 200)}`);
          if (family.outcome.liveTokens !== 1) violations.push(`family ${family.grantId} had ${family.outcome.liveTokens} live refresh tokens (expected 1)`);
        } else if (family.outcome.liveTokens !== 0) {
          violations.push(`revoked family ${family.grantId} still has ${family.outcome.liveTokens} live refresh tokens`);
        }
      }
    } finally {
      await db.close();
    }
    if (winners !== 1) violations.push(`${winners} winners among ${options.raceUses} concurrent uses of one refresh token`);
    for (const [key, count] of Object.entries({ ...statuses, ...raceStatuses })) {
      if (/^5/.test(key) && !key.startsWith('503')) violations.push(`${count} answers ${key}`);
    }

    return {
      durationMs,
      requests,
      statuses,
      notSent,
      lostAnswers,
      faults,
      race: { uses: options.raceUses, winners, statuses: raceStatuses },
      families: families.map((f) => f.outcome),
      violations,
      rss: { beforeMb: rssBefore, afterMb: instances.map((r) => rssMb(r!)) },
    };
  } finally {
    await Promise.all(instances.map((r) => r?.stop()));
    await redis?.stop();
    postgres?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** A few lines a person reads: the figures the closing note and docs/security.md quote. */
export function summarise(report: ChaosReport): string {
  const carried = report.families.filter((f) => f.carriesOn).length;
  const revoked = report.families.filter((f) => f.revoked);
  const lines = [
    `rotation: ${report.requests} refresh requests in ${(report.durationMs / 1000).toFixed(1)} s; answers ${JSON.stringify(report.statuses)}; not sent (instance down) ${report.notSent}; answers lost (instance killed mid-request) ${report.lostAnswers}`,
    `faults: ${Object.entries(report.faults).map(([k, v]) => `${k} ×${v}`).join(', ')}`,
    `race: ${report.race.uses} concurrent uses of one refresh token → ${report.race.winners} winner(s) ${JSON.stringify(report.race.statuses)}`,
    `families: ${report.families.length} checked; ${carried} carry on with exactly one live token; ${revoked.length} revoked (${revoked.filter((f) => f.revoked!.after === 'lost').length} after an answer lost to a killed instance; client without reuse grace); retries after 503 that went on: ${report.families.reduce((n, f) => n + f.retriesAfter503, 0)}`,
    `instances' RSS before ${report.rss.beforeMb.join(' / ')} MB, after ${report.rss.afterMb.join(' / ')} MB (after: the restarted processes)`,
    `violations: ${report.violations.length ? `\n  - ${report.violations.join('\n  - ')}` : 'none'}`,
  ];
  return lines.join('\n');
}
