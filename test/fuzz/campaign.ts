// One fuzzing campaign: a real Tollgate, a warm-up, then generated requests
// in small concurrent batches under fast-check, which stops at the first
// batch that breaks a property, shrinks it to a smallest failing case and
// prints the seed and path that replay it. Figures for the report: requests,
// seed, 5xx count, findings, RSS before and after, duration.
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { checkExchange, checkLog, isServerError, type Finding } from './checks.ts';
import { planFor, type Plan } from './requests.ts';
import { send, type Sent } from './send.ts';
import { startFuzzTarget } from './target.ts';

export interface CampaignOptions {
  /** Generated requests to send (shrinking a failure sends more). */
  requests: number;
  seed?: number;
  /** fast-check's replay path, printed with a failure: replays that very case. */
  path?: string;
  /** Requests sent together in one property run. */
  batch?: number;
  postgres?: boolean;
  /** Stops generating after this long (the report says so). */
  timeLimitMs?: number;
  progress?: (line: string) => void;
  /** Survey: record every finding and go on, instead of stopping at the first and shrinking it. */
  survey?: boolean;
}

export interface CampaignReport {
  seed: number;
  database: 'embedded' | 'postgresql';
  /** Generated requests sent, warm-up and shrinking included. */
  requests: number;
  warmUp: number;
  /** Every request the server answered, the fixtures' own included (its request log). */
  answered: number;
  status5xx: number;
  statuses: Record<string, number>;
  /** Per family of routes: requests by status. */
  families: Record<string, Record<string, number>>;
  /** fast-check's account of the first failure (with the seed and path to replay it), if any. */
  failure?: string;
  findings: Finding[];
  logFindings: Finding[];
  interrupted: boolean;
  rssBeforeMb: number;
  rssAfterMb: number;
  /** The growth allowed (see RSS_GROWTH_LIMIT_MB). */
  rssLimitMb: number;
  durationMs: number;
}

/**
 * RSS may grow by at most this much over a campaign, measured after a
 * warm-up and a full garbage collection at both ends. Why 200 MB: the
 * embedded database's working set and V8's heap settle in the warm-up;
 * what grows after it is caches with bounds of their own (oidc-provider's
 * client cache, our prepared documents) and the test's own log capture
 * (~200 bytes a request). A leak of 10 KiB per request, the size of a
 * small token response kept by mistake, would pass the limit in 20,000.
 */
export const RSS_GROWTH_LIMIT_MB = 200;

const collectGarbage = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

const rssMb = () => {
  collectGarbage();
  collectGarbage();
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
};

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x100000000)) | 0;
  const batch = options.batch ?? 8;
  const say = options.progress ?? (() => {});
  const started = Date.now();
  const target = await startFuzzTarget({ postgres: options.postgres });
  const statuses: Record<string, number> = {};
  const families: Record<string, Record<string, number>> = {};
  const findings: Finding[] = [];
  let requests = 0;
  let status5xx = 0;
  const crashes: Error[] = [];
  const onCrash = (err: unknown) => { crashes.push(err instanceof Error ? err : new Error(String(err))); };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const sendChecked = async (plan: Plan): Promise<Array<Finding & { sent: Sent }>> => {
    const sent = await send(target, plan);
    requests += 1;
    const status = sent.response?.status ?? 0;
    statuses[status] = (statuses[status] ?? 0) + 1;
    const family = (families[plan.family] ??= {});
    family[status] = (family[status] ?? 0) + 1;
    if (isServerError(status, plan.method, sent.response?.body.toString('utf8'))) status5xx += 1;
    if (requests % 1000 === 0) say(`${requests} requests, ${status5xx} × 5xx, ${Math.round((Date.now() - started) / 1000)} s`);
    return checkExchange(sent, target.secrets).map((f) => ({ ...f, sent }));
  };

  try {
    const plans = planFor(target);
    // Warm-up (another seed): caches, JIT and the database's working set settle before RSS is measured.
    const warmUp = Math.min(500, Math.ceil(options.requests / 10));
    for (const plan of fc.sample(plans, { seed: seed ^ 0x5eed, numRuns: warmUp })) findings.push(...await sendChecked(plan));
    const rssBeforeMb = rssMb();
    say(`warm-up done (${warmUp} requests), RSS ${rssBeforeMb} MB; seed ${seed}`);

    const details = await fc.check(fc.asyncProperty(fc.array(plans, { minLength: batch, maxLength: batch }), async (group) => {
      const found = (await Promise.all(group.map(sendChecked))).flat();
      if (crashes.length) throw crashes[0];
      findings.push(...found);
      if (found.length && !options.survey) {
        throw new Error(found.map((f) => `${f.kind} [${f.sent.plan.family} ${f.sent.plan.method} ${f.sent.plan.path}]: ${f.detail}`).join('\n'));
      }
    }), {
      seed, path: options.path, numRuns: Math.ceil(options.requests / batch),
      ...(options.timeLimitMs ? { interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: false } : {}),
    });
    const rssAfterMb = rssMb();
    const logFindings = checkLog(target.t.logs, target.secrets);
    const answered = target.t.logs.filter((l) => l.includes('"msg":"request"')).length;
    return {
      seed, database: options.postgres ? 'postgresql' : 'embedded', requests, warmUp, answered, status5xx, statuses, families,
      ...(details.failed ? { failure: fc.defaultReportMessage(details) } : {}),
      findings: dedupe(findings, target.secrets), logFindings: dedupe(logFindings, target.secrets), interrupted: details.interrupted,
      rssBeforeMb, rssAfterMb, rssLimitMb: RSS_GROWTH_LIMIT_MB, durationMs: Date.now() - started,
    };
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await target.close();
  }
}

/** One finding of each kind per family of routes, with the request that drew it. */
function dedupe(findings: Array<Finding & { sent?: Sent }>, secrets: ReadonlySet<string>): Finding[] {
  const seen = new Map<string, Finding>();
  for (const f of findings) {
    const key = `${f.kind}|${f.sent?.plan.family ?? ''}`;
    if (!seen.has(key)) seen.set(key, { kind: f.kind, detail: f.detail, ...(f.sent ? { request: describe(f.sent, secrets) } : {}) });
  }
  return [...seen.values()];
}

/** The request as sent, shortened, the suite's secrets masked: reports go to terminals and CI logs. */
function describe(sent: Sent, secrets: ReadonlySet<string>): string {
  let text = sent.bytes.toString('latin1').slice(0, 800);
  for (const s of secrets) text = text.split(s).join('[secret]');
  return text;
}

export function summary(r: CampaignReport): string {
  const statuses = Object.entries(r.statuses).sort(([a], [b]) => Number(a) - Number(b)).map(([s, n]) => `${s}:${n}`).join(' ');
  const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  const families = Object.entries(r.families).sort(([, a], [, b]) => total(b) - total(a))
    .map(([f, counts]) => `    ${f.padEnd(14)} ${String(total(counts)).padStart(6)}  ${Object.entries(counts).map(([s, n]) => `${s}:${n}`).join(' ')}`).join('\n');
  return [
    `fuzz: ${r.requests} generated requests (${r.warmUp} warm-up), ${r.answered} answered in all, seed ${r.seed}, ${r.database} database`,
    `  5xx: ${r.status5xx}   findings: ${r.findings.length}   in the log: ${r.logFindings.length}${r.interrupted ? '   (stopped at the time limit)' : ''}`,
    `  RSS: ${r.rssBeforeMb} MB after warm-up, ${r.rssAfterMb} MB after (limit +${r.rssLimitMb} MB)`,
    `  duration: ${(r.durationMs / 1000).toFixed(1)} s (${Math.round(r.requests / (r.durationMs / 1000))} requests/s)`,
    `  statuses: ${statuses}`,
    '  by family and status:',
    families,
  ].join('\n');
}
