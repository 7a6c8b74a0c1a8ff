// `npm run fuzz`: the full campaign, 20,000 generated requests against a
// real Tollgate (embedded database; `--postgres` or FUZZ_DATABASE=postgres
// for a real PostgreSQL). Options: --requests N, --seed S, --path P (replay
// a failure fast-check printed), --minutes M (time bound, default 20), --survey (record
// every finding and go on, rather than stop at the first and shrink it).
// Exit status 1 when any property failed.
import { parseArgs } from 'node:util';
import { runCampaign, summary } from './campaign.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: process.env.FUZZ_REQUESTS ?? '20000' },
    seed: { type: 'string', default: process.env.FUZZ_SEED },
    path: { type: 'string', default: process.env.FUZZ_PATH },
    minutes: { type: 'string', default: process.env.FUZZ_MINUTES ?? '20' },
    postgres: { type: 'boolean', default: process.env.FUZZ_DATABASE === 'postgres' },
    survey: { type: 'boolean', default: false },
  },
});

const report = await runCampaign({
  requests: Number(values.requests),
  seed: values.seed === undefined ? undefined : Number(values.seed),
  path: values.path,
  postgres: values.postgres,
  survey: values.survey,
  timeLimitMs: Number(values.minutes) * 60_000,
  progress: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${summary(report)}\n`);
for (const f of [...report.findings, ...report.logFindings]) process.stdout.write(`\n${f.kind}: ${f.detail}\n${f.request ? `${f.request}\n` : ''}`);
if (report.failure) process.stdout.write(`\n${report.failure}\n`);
const rssOk = report.rssAfterMb - report.rssBeforeMb <= report.rssLimitMb;
if (!rssOk) process.stdout.write(`\nRSS grew by ${report.rssAfterMb - report.rssBeforeMb} MB, over the limit of ${report.rssLimitMb} MB\n`);
const ok = report.status5xx === 0 && report.findings.length === 0 && report.logFindings.length === 0 && !report.failure && rssOk;
process.stdout.write(`\n${ok ? 'PASS' : 'FAIL'} (replay: npm run fuzz -- --seed ${report.seed}${report.failure ? ' --path <the path above>' : ''})\n`);
process.exit(ok ? 0 : 1);
